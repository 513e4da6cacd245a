"""Unpacking the kernel packages, with dpkg-deb replaced by fakes."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from kmodlab import kernel
from kmodlab.errors import SetupError
from kmodlab.guest.initramfs import BOOT_MODULES
from kmodlab.kernel import Result, unpack
from kmodlab.paths import LAYOUT_VERSION, KernelLayout

ABI = "6.1.0-56-amd64"
COMMON = "linux-headers-6.1.0-56-common"
APT = Path(__file__).parents[1] / "data" / "apt"


def tar_of(files: dict[str, bytes]) -> bytes:
    """A tar as dpkg-deb --fsys-tarfile writes it: "./"-prefixed names."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo("./" + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def image_files(abi: str = ABI) -> dict[str, bytes]:
    return {
        f"boot/vmlinuz-{abi}": b"bzImage",
        f"boot/config-{abi}": b"CONFIG_KERNEL_XZ=y\n",
        f"boot/System.map-{abi}": b"ffffffffffffffff B The real System.map is in -dbg\n",
        f"lib/modules/{abi}/kernel/fs/9p/9p.ko": b"\x7fELF module",
        f"lib/modules/{abi}/modules.builtin": b"kernel/fs/ext4/ext4.ko\n",
        f"lib/modules/{abi}/modules.builtin.modinfo": b"ext4.license=GPL\x00",
        f"lib/modules/{abi}/modules.order": b"kernel/fs/9p/9p.ko\n",
        **{f"lib/modules/{abi}/{rel}": b"\x7fELF virtio" for rel in BOOT_MODULES},
    }


def fake_stream(monkeypatch: pytest.MonkeyPatch, data: bytes) -> list[list[str]]:
    calls: list[list[str]] = []

    @contextmanager
    def stream(argv: list[str]) -> Iterator[io.BytesIO]:
        calls.append(list(argv))
        yield io.BytesIO(data)

    monkeypatch.setattr(kernel, "stdout_stream", stream)
    return calls


def staged(tmp_path: Path) -> KernelLayout:
    root = tmp_path / "staging"
    root.mkdir()
    return KernelLayout(abi=ABI, root=root)


def test_relocatable_makefile_from_captured_one_liner() -> None:
    text, common = unpack.relocatable_makefile(
        (APT / "headers-Makefile-6.1.0-56-amd64.txt").read_text()
    )
    assert common == COMMON
    assert text == f"include $(dir $(lastword $(MAKEFILE_LIST)))../{COMMON}/Makefile\n"


def test_unexpected_makefile_is_a_setup_error() -> None:
    with pytest.raises(SetupError, match="unexpected headers Makefile"):
        unpack.relocatable_makefile("obj-y += foo.o\nall:\n")


def test_relative_link_target() -> None:
    link = f"lib/modules/{ABI}/build"
    target = f"/usr/src/linux-headers-{ABI}"
    assert unpack.relative_link_target(link, target) == f"../../../usr/src/linux-headers-{ABI}"


def test_extract_image_keeps_only_the_wanted_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = fake_stream(monkeypatch, tar_of(image_files()))
    layout = staged(tmp_path)
    unpack.extract_image(tmp_path / "image.deb", layout)
    assert calls == [["dpkg-deb", "--fsys-tarfile", str(tmp_path / "image.deb")]]
    assert layout.vmlinuz.read_bytes() == b"bzImage"
    assert layout.config.read_text() == "CONFIG_KERNEL_XZ=y\n"
    assert sorted(p.name for p in layout.modules_meta.iterdir()) == list(unpack.MODULES_META)
    # Of the image's modules, only the guest's own virtio drivers are kept.
    kept = sorted(str(p.relative_to(layout.guest_modules)) for p in layout.root.rglob("*.ko"))
    assert kept == sorted(BOOT_MODULES)
    assert not (layout.root / "lib").exists()


def test_extract_image_names_what_the_package_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = image_files()
    del files[f"boot/config-{ABI}"]
    fake_stream(monkeypatch, tar_of(files))
    with pytest.raises(SetupError, match=f"image.deb lacks boot/config-{ABI}"):
        unpack.extract_image(tmp_path / "image.deb", staged(tmp_path))


def fake_dpkg_x(argv: list[str], **_: object) -> Result:
    """dpkg-deb -x of the three header packages, reduced to what the checks look at."""
    assert argv[:2] == ["dpkg-deb", "-x"]
    deb, root = Path(argv[2]), Path(argv[3])
    src = root / "usr" / "src"
    if deb.name.startswith(f"linux-headers-{ABI}_"):
        headers = src / f"linux-headers-{ABI}"
        (headers / "include" / "generated").mkdir(parents=True)
        (headers / "Makefile").write_text((APT / "headers-Makefile-6.1.0-56-amd64.txt").read_text())
        for name in (".config", "Module.symvers", "include/generated/autoconf.h"):
            (headers / name).write_text("x\n")
        (headers / "scripts").symlink_to("../../lib/linux-kbuild-6.1/scripts")
        build = root / "lib" / "modules" / ABI / "build"
        build.parent.mkdir(parents=True)
        build.symlink_to(f"/usr/src/linux-headers-{ABI}")
    elif deb.name.startswith(COMMON):
        (src / COMMON).mkdir(parents=True)
        (src / COMMON / "Makefile").write_text("VERSION = 6\n")
    else:
        modpost = root / "usr" / "lib" / "linux-kbuild-6.1" / "scripts" / "mod" / "modpost"
        modpost.parent.mkdir(parents=True)
        modpost.write_text("#!\n")
    return Result(tuple(argv), 0)


HEADER_DEBS = [
    Path(f"linux-headers-{ABI}_6.1.192-2_amd64.deb"),
    Path(f"{COMMON}_6.1.192-2_all.deb"),
    Path("linux-kbuild-6.1_6.1.192-2_amd64.deb"),
]


def test_unpack_headers_makes_the_tree_relocatable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kernel, "run", fake_dpkg_x)
    layout = staged(tmp_path)
    assert unpack.unpack_headers(HEADER_DEBS, layout) == COMMON
    assert "$(MAKEFILE_LIST)" in (layout.headers / "Makefile").read_text()
    build = layout.tree / "lib" / "modules" / ABI / "build"
    assert not build.readlink().is_absolute()
    assert build.resolve() == layout.headers.resolve()
    assert (layout.headers / "scripts" / "mod" / "modpost").is_file()


def test_missing_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernel, "run", fake_dpkg_x)
    fake_stream(monkeypatch, tar_of(image_files()))
    layout = staged(tmp_path)
    unpack.extract_image(Path("image.deb"), layout)
    common = unpack.unpack_headers(HEADER_DEBS, layout)
    assert unpack.missing_files(layout, common) == ["vmlinux"]
    layout.vmlinux.write_bytes(b"elf")
    assert unpack.missing_files(layout, common) == []


def test_unpack_failure_names_the_deb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(argv: list[str], **_: object) -> Result:
        return Result(tuple(argv), 2, "", "dpkg-deb: error: unexpected end of file in archive")

    monkeypatch.setattr(kernel, "run", failing)
    with pytest.raises(SetupError, match=f"cannot unpack {HEADER_DEBS[0].name}: dpkg-deb: error"):
        unpack.unpack_headers(HEADER_DEBS, staged(tmp_path))


def test_staging_is_removed_when_the_build_fails(tmp_path: Path) -> None:
    layout = KernelLayout(abi=ABI, root=tmp_path / "kernels" / ABI)
    with pytest.raises(KeyboardInterrupt), unpack.staging(layout) as stage:
        (stage.root / "vmlinux").write_bytes(b"half")
        raise KeyboardInterrupt
    assert list((tmp_path / "kernels").iterdir()) == []


def test_commit_replaces_an_incomplete_leftover(tmp_path: Path) -> None:
    layout = KernelLayout(abi=ABI, root=tmp_path / "kernels" / ABI)
    layout.root.mkdir(parents=True)
    (layout.root / "stale").write_text("old")
    with unpack.staging(layout) as stage:
        assert stage.root.parent == layout.root.parent
        assert stage.root.name.startswith(f".{unpack.STAGING_PREFIX}")
        (stage.root / "kernel.json").write_text(json.dumps({"layout": LAYOUT_VERSION}))
        unpack.commit(stage, layout)
    assert sorted(p.name for p in (tmp_path / "kernels").iterdir()) == [ABI]
    assert layout.is_complete()
    assert not (layout.root / "stale").exists()
    assert oct(layout.root.stat().st_mode & 0o777) == "0o755"
