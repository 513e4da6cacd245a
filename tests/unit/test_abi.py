"""Kernel ABI and package names, from captured apt output and .deb file names."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmodlab.errors import SetupError
from kmodlab.kernel.abi import (
    KernelPackages,
    abi_base,
    abi_from_deb_names,
    abi_sort_key,
    image_abi_from_depends,
    is_abi,
    match_debs,
    packages_for,
    parse_apt_depends,
    parse_control_depends,
    parse_deb_filename,
)

APT = Path(__file__).parents[1] / "data" / "apt"

# The four files `apt-get download` wrote on 2026-11-25.
BOOKWORM_DEBS = [
    "linux-headers-6.1.0-56-amd64_6.1.192-2_amd64.deb",
    "linux-headers-6.1.0-56-common_6.1.192-2_all.deb",
    "linux-image-6.1.0-56-amd64_6.1.192-2_amd64.deb",
    "linux-kbuild-6.1_6.1.192-2_amd64.deb",
]


def captured(name: str) -> str:
    return (APT / name).read_text()


@pytest.mark.parametrize(
    ("sample", "abi"),
    [
        ("depends-linux-image-amd64.txt", "6.1.0-56-amd64"),
        ("depends-handmade-several.txt", "6.1.0-56-amd64"),
        ("depends-handmade-virtual.txt", "6.1.0-56-amd64"),
        ("depends-handmade-trixie.txt", "6.12.48+deb13-amd64"),
        ("depends-handmade-no-depends.txt", None),
        ("depends-no-lists.txt", None),
        ("depends-linux-image-6.1.0-56-amd64.txt", None),
    ],
)
def test_image_abi_from_depends(sample: str, abi: str | None) -> None:
    assert image_abi_from_depends(captured(sample)) == abi


def test_depends_skips_virtual_entries_and_their_providers() -> None:
    names = parse_apt_depends(captured("depends-linux-image-6.1.0-56-amd64.txt"))
    assert names == ["kmod", "linux-base", "initramfs-tools"]


def test_depends_ignores_predepends_and_recommends() -> None:
    names = parse_apt_depends(captured("depends-handmade-several.txt"))
    assert "linux-image-6.1.0-99-amd64" not in names
    assert "linux-image-6.1.0-98-amd64" not in names


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("6.1.0-56-amd64", True),
        ("6.12.48+deb13-amd64", True),
        ("6.1.0-0.deb11.21-amd64", True),
        ("6.1.0-56-cloud-amd64", False),
        ("6.1.0-56-rt-amd64", False),
        ("6.1.0-56-amd64-unsigned", False),
        ("amd64", False),
    ],
)
def test_is_abi(text: str, expected: bool) -> None:
    assert is_abi(text) is expected


def test_abi_order_is_numeric() -> None:
    assert abi_sort_key("6.1.0-56-amd64") > abi_sort_key("6.1.0-9-amd64")
    assert abi_base("6.1.0-56-amd64") == "6.1.0-56"


def test_packages_from_captured_headers_depends() -> None:
    deps = parse_apt_depends(captured("depends-linux-headers-6.1.0-56-amd64.txt"))
    packages = packages_for("6.1.0-56-amd64", deps)
    assert packages == KernelPackages(
        "6.1.0-56-amd64", "linux-headers-6.1.0-56-common", "linux-kbuild-6.1"
    )
    assert packages.names == (
        "linux-image-6.1.0-56-amd64",
        "linux-headers-6.1.0-56-amd64",
        "linux-headers-6.1.0-56-common",
        "linux-kbuild-6.1",
    )


def test_packages_trixie_kbuild_comes_from_depends() -> None:
    deps = parse_apt_depends(captured("depends-handmade-trixie-headers.txt"))
    packages = packages_for("6.12.48+deb13-amd64", deps)
    assert packages.common == "linux-headers-6.12.48+deb13-common"
    assert packages.kbuild == "linux-kbuild-6.12.48+deb13"


def test_packages_without_depends_are_derived() -> None:
    packages = packages_for("6.1.0-56-amd64")
    assert (packages.common, packages.kbuild) == (
        "linux-headers-6.1.0-56-common",
        "linux-kbuild-6.1",
    )


def test_control_depends_from_captured_headers_deb() -> None:
    names = parse_control_depends(captured("control-depends-linux-headers-6.1.0-56-amd64.txt"))
    assert names == [
        "linux-headers-6.1.0-56-common",
        "linux-kbuild-6.1",
        "linux-compiler-gcc-12-x86",
    ]
    assert parse_control_depends("a (>= 1) | b:any, c") == ["a", "b", "c"]


def test_deb_filename() -> None:
    assert parse_deb_filename("linux-kbuild-6.1_6.1.192-2_amd64.deb") == (
        "linux-kbuild-6.1",
        "6.1.192-2",
        "amd64",
    )
    assert parse_deb_filename("notes.txt") is None


def test_abi_from_deb_names() -> None:
    assert abi_from_deb_names(BOOKWORM_DEBS) == "6.1.0-56-amd64"


def test_abi_from_deb_names_picks_highest_and_skips_other_flavours() -> None:
    names = [
        "linux-image-6.1.0-9-amd64_6.1.27-1_amd64.deb",
        "linux-image-6.1.0-56-amd64_6.1.192-2_amd64.deb",
        "linux-image-6.1.0-57-cloud-amd64_6.1.193-1_amd64.deb",
        "linux-image-6.1.0-58-amd64-dbg_6.1.194-1_amd64.deb",
        "linux-image-6.1.0-59-amd64-unsigned_6.1.195-1_amd64.deb",
        "README",
    ]
    assert abi_from_deb_names(names) == "6.1.0-56-amd64"


def test_abi_from_headers_when_image_is_missing() -> None:
    names = [n for n in BOOKWORM_DEBS if not n.startswith("linux-image-")]
    assert abi_from_deb_names(names) == "6.1.0-56-amd64"
    assert abi_from_deb_names(["linux-kbuild-6.1_6.1.192-2_amd64.deb"]) is None


def test_match_debs_names_the_missing_packages() -> None:
    packages = packages_for("6.1.0-56-amd64")
    found, missing = match_debs(BOOKWORM_DEBS[:2], packages)
    assert missing == ["linux-image-6.1.0-56-amd64", "linux-kbuild-6.1"]
    assert found["linux-headers-6.1.0-56-amd64"] == BOOKWORM_DEBS[0]


def test_match_debs_refuses_two_revisions_of_one_package() -> None:
    names = [*BOOKWORM_DEBS, "linux-kbuild-6.1_6.1.192-1_amd64.deb"]
    with pytest.raises(SetupError, match="several .deb files for linux-kbuild-6.1"):
        match_debs(names, packages_for("6.1.0-56-amd64"))
