"""`kmodlab setup` end to end, with every command replaced by a fake host.

The fake answers with outputs captured on a real Debian 12 machine (tests/data/apt),
so these tests prove the flow (idempotence, offline, --debs, host packages) without
network, root or dpkg.
"""

from __future__ import annotations

import io
import json
import lzma
import tarfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kmodlab import kernel, paths
from kmodlab.errors import SetupError
from kmodlab.guest.initramfs import BOOT_MODULES
from kmodlab.kernel import Result, hostpkgs
from kmodlab.kernel.abi import packages_for
from kmodlab.kernel.fetch import download_failure, parse_apt_status
from kmodlab.setup import check_host_packages, make_manifest, setup

APT = Path(__file__).parents[1] / "data" / "apt"
ABI = "6.1.0-56-amd64"
COMMON = "linux-headers-6.1.0-56-common"
DEBS = {
    f"linux-image-{ABI}": f"linux-image-{ABI}_6.1.192-2_amd64.deb",
    f"linux-headers-{ABI}": f"linux-headers-{ABI}_6.1.192-2_amd64.deb",
    COMMON: f"{COMMON}_6.1.192-2_all.deb",
    "linux-kbuild-6.1": "linux-kbuild-6.1_6.1.192-2_amd64.deb",
}
X86_64_ELF = b"\x7fELF\x02\x01\x01" + bytes(9) + b"\x02\x00\x3e\x00" + bytes(4000)


def captured(name: str) -> str:
    return (APT / name).read_text()


def image_tar() -> bytes:
    bzimage = b"boot code" + lzma.compress(X86_64_ELF, format=lzma.FORMAT_XZ) + b"\0\0\0\0"
    files = {
        f"boot/vmlinuz-{ABI}": bzimage,
        f"boot/config-{ABI}": b"CONFIG_PVH=y\n",
        f"boot/System.map-{ABI}": b"ffffffffffffffff B stub\n",
        f"lib/modules/{ABI}/kernel/fs/9p/9p.ko": b"module",
        **{f"lib/modules/{ABI}/{n}": b"x\n" for n in ("modules.builtin", "modules.order")},
        f"lib/modules/{ABI}/modules.builtin.modinfo": b"x\0",
        **{f"lib/modules/{ABI}/{rel}": b"\x7fELF virtio" for rel in BOOT_MODULES},
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo("./" + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def unpack_header_deb(deb: Path, root: Path) -> None:
    """What `dpkg-deb -x` of each header package puts where the checks look."""
    src = root / "usr" / "src"
    files: dict[str, str] = {}
    if deb.name == DEBS[f"linux-headers-{ABI}"]:
        base = f"usr/src/linux-headers-{ABI}"
        files = {f"{base}/{n}": "x\n" for n in (".config", "Module.symvers")}
        files[f"{base}/include/generated/autoconf.h"] = "x\n"
        files[f"{base}/Makefile"] = captured("headers-Makefile-6.1.0-56-amd64.txt")
    elif deb.name == DEBS[COMMON]:
        files = {f"usr/src/{COMMON}/Makefile": "VERSION = 6\n"}
    else:
        files = {"usr/lib/linux-kbuild-6.1/scripts/mod/modpost": "#!\n"}
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    if deb.name == DEBS[f"linux-headers-{ABI}"]:
        (src / f"linux-headers-{ABI}" / "scripts").symlink_to("../../lib/linux-kbuild-6.1/scripts")


def policy_entry(name: str) -> str:
    return f"{name}:\n  Installed: (none)\n  Candidate: 1.0-1\n  Version table:\n"


class FakeHost:
    """Stands in for dpkg, apt and the network at kmodlab.kernel's process boundary."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[list[str]] = []
        self.downloads = 0
        self.unpacks = 0
        self.online = True
        self.lists = True
        self.dpkg_query = captured("dpkg-query-all-installed.txt")
        self.install_rcs = [0]
        self.kill_while_unpacking = False
        self.not_in_archive: set[str] = set()
        monkeypatch.setattr(kernel, "run", self.run)
        monkeypatch.setattr(kernel, "run_with_status", self.run_with_status)
        monkeypatch.setattr(kernel, "stdout_stream", self.stdout_stream)

    def run(self, argv: list[str], **_: object) -> Result:
        argv = list(argv)
        self.calls.append(argv)
        ok = Result(tuple(argv), 0)
        match argv:
            case ["dpkg-query", *_]:
                return Result(tuple(argv), 0, self.dpkg_query)
            case ["apt-cache", "depends", "linux-image-amd64"] if self.lists:
                return Result(tuple(argv), 0, captured("depends-linux-image-amd64.txt"))
            case ["apt-cache", "depends", "linux-image-amd64"]:
                return Result(tuple(argv), 100, "", "E: No packages found\n")
            case ["apt-cache", "depends", _]:
                return Result(tuple(argv), 0, captured("depends-linux-headers-6.1.0-56-amd64.txt"))
            case ["dpkg-deb", "--field", _, "Version"]:
                return Result(tuple(argv), 0, "6.1.192-2\n")
            case ["dpkg-deb", "--field", _, "Depends"]:
                return Result(
                    tuple(argv), 0, captured("control-depends-linux-headers-6.1.0-56-amd64.txt")
                )
            case ["dpkg-deb", "-x", deb, root]:
                if self.kill_while_unpacking:
                    raise KeyboardInterrupt
                unpack_header_deb(Path(deb), Path(root))
                return ok
            case ["apt-get", "install", *_]:
                return Result(
                    tuple(argv), self.install_rcs.pop(0), "", "E: Unable to locate package"
                )
            case ["apt-get", "update"]:
                return ok
            case ["apt-cache", "policy", *names]:
                known = [n for n in names if n not in self.not_in_archive]
                return Result(tuple(argv), 0, "".join(policy_entry(n) for n in known))
        raise AssertionError(f"unexpected command {argv}")

    def run_with_status(
        self, argv: list[str], *, cwd: Path, on_status: Callable[[str], None]
    ) -> Result:
        self.downloads += 1
        assert "download" in argv
        if not self.online:
            for line in captured("dlstatus-offline.txt").splitlines():
                on_status(line)
            return Result(tuple(argv), 100, captured("apt-get-download-offline.txt"))
        for line in captured("dlstatus-download-4.txt").splitlines():
            on_status(line)
        for name in DEBS.values():
            (cwd / name).write_bytes(b"deb")
        return Result(tuple(argv), 0)

    @contextmanager
    def stdout_stream(self, argv: list[str]) -> Iterator[io.BytesIO]:
        self.unpacks += 1
        yield io.BytesIO(image_tar())


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHost:
    monkeypatch.setenv("KMODLAB_HOME", str(tmp_path / "home"))
    return FakeHost(monkeypatch)


def debs_folder(tmp_path: Path, leave_out: str = "") -> Path:
    folder = tmp_path / "debs"
    folder.mkdir()
    for pkg, name in DEBS.items():
        if pkg != leave_out:
            (folder / name).write_bytes(b"deb")
    return folder


# --- the whole flow ----------------------------------------------------------


def test_first_run_builds_the_kernel_and_makes_it_current(host: FakeHost) -> None:
    layout = setup(quiet=True)
    assert layout.abi == ABI
    assert layout.root == paths.home() / "kernels" / ABI
    assert layout.vmlinux.read_bytes() == X86_64_ELF
    manifest = layout.read_manifest()
    assert manifest["abi"] == ABI
    assert manifest["version"] == "6.1.192-2"
    assert manifest["source"] == "apt"
    assert len(manifest["vmlinux_sha256"]) == 64
    assert paths.current_kernel() == layout
    assert {p.name for p in layout.root.rglob("*.ko")} == {r.split("/")[-1] for r in BOOT_MODULES}
    # The .debs are gone once unpacked, and no staging or partial folder is left.
    assert list((paths.home() / "downloads").iterdir()) == []
    assert [p.name for p in (paths.home() / "kernels").iterdir()] == [ABI]


def test_second_run_downloads_and_unpacks_nothing(host: FakeHost) -> None:
    first = setup(quiet=True)
    host.downloads = host.unpacks = 0
    host.calls.clear()
    assert setup(quiet=True) == first
    assert (host.downloads, host.unpacks) == (0, 0)
    assert not [c for c in host.calls if c[0] == "dpkg-deb"]


def test_offline_download_failure_is_one_line_with_the_debs_hint(host: FakeHost) -> None:
    host.online = False
    with pytest.raises(SetupError) as caught:
        setup(quiet=True)
    line = caught.value.line()
    assert "\n" not in line
    assert line.startswith("cannot download the guest kernel packages (no network?): connect, ")
    assert "--debs DIR holding" in line
    for pkg in DEBS:
        assert f"{pkg}_*.deb" in line
    assert not (paths.home() / "kernels" / ABI).exists()
    assert list((paths.home() / "downloads").iterdir()) == []


def test_offline_keeps_the_kernel_set_up_earlier(host: FakeHost) -> None:
    first = setup(quiet=True)
    host.online = host.lists = False
    assert setup(quiet=True) == first
    assert host.downloads == 1


def test_offline_without_lists_and_without_kernel_says_what_to_do(host: FakeHost) -> None:
    host.lists = False
    with pytest.raises(SetupError, match="cannot tell which guest kernel.*--debs DIR"):
        setup(quiet=True)


def test_debs_dir_builds_without_apt(host: FakeHost, tmp_path: Path) -> None:
    folder = debs_folder(tmp_path)
    layout = setup(debs_dir=folder, quiet=True)
    assert layout.read_manifest()["source"] == f"debs:{folder}"
    assert host.downloads == 0
    assert not [c for c in host.calls if c[0] == "apt-cache"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(DEBS.values())  # left alone


def test_debs_dir_names_the_missing_file(host: FakeHost, tmp_path: Path) -> None:
    folder = debs_folder(tmp_path, leave_out="linux-kbuild-6.1")
    with pytest.raises(SetupError) as caught:
        setup(debs_dir=folder, quiet=True)
    assert caught.value.problem == f"{folder} lacks linux-kbuild-6.1_*.deb"
    assert "`apt-get download linux-kbuild-6.1`" in caught.value.fix


def test_debs_dir_without_any_kernel_deb(host: FakeHost, tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    with pytest.raises(SetupError, match="no linux-image-<abi>_"):
        setup(debs_dir=folder, quiet=True)


def test_a_killed_build_leaves_no_kernel(host: FakeHost) -> None:
    host.kill_while_unpacking = True
    with pytest.raises(KeyboardInterrupt):
        setup(quiet=True)
    assert list((paths.home() / "kernels").iterdir()) == []
    # The downloaded .debs stay, and the next run uses them instead of downloading.
    host.kill_while_unpacking = False
    assert setup(quiet=True).is_complete()
    assert host.downloads == 1


def test_leftover_staging_is_cleaned(host: FakeHost) -> None:
    stale = paths.home() / "kernels" / f".staging-{ABI}-abc"
    stale.mkdir(parents=True)
    setup(quiet=True)
    assert not stale.exists()


def test_status_lines_go_to_stderr(host: FakeHost, capsys: pytest.CaptureFixture[str]) -> None:
    setup()
    out, err = capsys.readouterr()
    assert out == ""
    assert "kmodlab setup: downloading" in err
    assert f"kmodlab setup: guest kernel {ABI} ready in" in err


# --- host packages -----------------------------------------------------------


def test_missing_from_captured_outputs() -> None:
    assert (
        hostpkgs.missing_from(hostpkgs.HOST_PACKAGES, captured("dpkg-query-all-installed.txt"))
        == []
    )
    mixed = captured("dpkg-query-handmade-mixed.txt")
    assert hostpkgs.missing_from(("qemu-system-x86", "busybox-static", "bubblewrap"), mixed) == [
        "busybox-static",
        "bubblewrap",
    ]
    # half-installed, unpacked and never-heard-of all need installing
    assert hostpkgs.missing_from(("gcc", "gcc-12", "flex"), mixed) == ["gcc", "gcc-12", "flex"]


def test_check_host_packages_in_declared_order(host: FakeHost) -> None:
    host.dpkg_query = "gcc installed\nmake installed\n"
    missing = check_host_packages()
    assert missing == [p for p in hostpkgs.HOST_PACKAGES if p not in ("gcc", "make")]


def test_missing_apt_get_names_the_packages(
    host: FakeHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    host.dpkg_query = captured("dpkg-query-handmade-mixed.txt")
    monkeypatch.setattr("shutil.which", lambda _: None)
    with pytest.raises(SetupError) as caught:
        setup(quiet=True)
    assert "busybox-static" in caught.value.problem
    assert "bison" in caught.value.problem
    assert "apt-get not found" in caught.value.problem


def test_not_root_gives_the_install_command(
    host: FakeHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    host.dpkg_query = captured("dpkg-query-all-installed.txt").replace("bc installed", "")
    monkeypatch.setattr("shutil.which", lambda _: "/usr/bin/apt-get")
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    with pytest.raises(SetupError) as caught:
        setup(quiet=True)
    assert caught.value.line() == "missing host packages: bc: run `sudo apt-get install -y bc`"


def test_install_retries_once_after_apt_get_update(
    host: FakeHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    host.dpkg_query = "gcc installed\n"
    host.install_rcs = [100, 0]
    monkeypatch.setattr("shutil.which", lambda _: "/usr/bin/apt-get")
    monkeypatch.setattr("os.geteuid", lambda: 0)
    setup(quiet=True)
    apt = [c[:2] for c in host.calls if c[0] == "apt-get"]
    assert apt == [["apt-get", "install"], ["apt-get", "update"], ["apt-get", "install"]]
    assert "gcc" not in next(c for c in host.calls if c[:2] == ["apt-get", "install"])


def test_install_failing_twice_is_a_setup_error(
    host: FakeHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    host.dpkg_query = ""
    host.install_rcs = [100, 100]
    monkeypatch.setattr("shutil.which", lambda _: "/usr/bin/apt-get")
    monkeypatch.setattr("os.geteuid", lambda: 0)
    with pytest.raises(SetupError, match="cannot install host packages.*Unable to locate"):
        setup(quiet=True)


def test_a_package_the_archive_lacks_is_named_in_one_line(
    host: FakeHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When apt-get cannot install, does set-up name exactly the packages this archive
    lacks (not the whole list), with the distribution and what to change, in one line?"""
    host.dpkg_query = ""
    host.install_rcs = [100, 100]
    host.not_in_archive = {"gcc-12", "busybox-static"}
    monkeypatch.setattr("shutil.which", lambda _: "/usr/bin/apt-get")
    monkeypatch.setattr("os.geteuid", lambda: 0)
    with pytest.raises(SetupError) as caught:
        setup(quiet=True)
    line = caught.value.line()
    assert "\n" not in line
    assert "has no busybox-static, gcc-12:" in line
    assert "qemu-system-x86" not in line


def test_unavailable_packages_from_ubuntus_apt_cache_policy() -> None:
    """Does the apt-cache policy parser, on Ubuntu 22.04's real output, find every package
    kmodlab names there and call an unknown name unavailable (apt prints nothing for it)?"""
    text = captured("policy-ubuntu-22.04.txt")
    assert hostpkgs.parse_candidates(text)["gcc-12"] == "12.3.0-1ubuntu1~22.04.3"
    wanted = ["qemu-system-x86", "busybox-static", "bubblewrap", "gcc-12", "make"]
    assert hostpkgs.unavailable_from(wanted, text) == []
    assert hostpkgs.unavailable_from(["make", "no-such-package"], text) == ["no-such-package"]
    none = "gcc-12:\n  Installed: (none)\n  Candidate: (none)\n  Version table:\n"
    assert hostpkgs.unavailable_from(["gcc-12"], none) == ["gcc-12"]


@pytest.mark.parametrize(
    ("release", "says"),
    [("os-release-ubuntu-22.04.txt", "-updates"), ("os-release-debian-12.txt", "Debian 12")],
)
def test_the_hint_for_a_missing_package_fits_the_distribution(release: str, says: str) -> None:
    """Does /etc/os-release (real ones, Ubuntu 22.04 and Debian 12) pick the hint: on
    Ubuntu the -updates suite (gcc-12's only home on 22.04) and universe?"""
    fields = hostpkgs.os_release(captured(release))
    assert fields["ID"] in ("ubuntu", "debian") and fields["PRETTY_NAME"].count('"') == 0
    assert says in hostpkgs.archive_hint(fields)


def test_no_install_only_warns(host: FakeHost, capsys: pytest.CaptureFixture[str]) -> None:
    host.dpkg_query = ""
    assert setup(install_packages=False).is_complete()
    assert "sudo apt-get install -y qemu-system-x86" in capsys.readouterr().err
    assert not [c for c in host.calls if c[:2] == ["apt-get", "install"]]


# --- small pure pieces -------------------------------------------------------


def test_apt_status_lines() -> None:
    statuses = [parse_apt_status(line) for line in captured("dlstatus-download-4.txt").splitlines()]
    assert all(statuses)
    assert statuses[-1] is not None and statuses[-1].percent == 100.0
    assert statuses[-1].message == "Retrieving file 4 of 4"
    assert parse_apt_status("pmstatus:gcc:10.0:Installing gcc") is None
    assert parse_apt_status("dlstatus:1:abc:x") is None
    assert (
        parse_apt_status("dlstatus:1:12.5:Retrieving: with colon").message
        == "Retrieving: with colon"
    )


def test_download_failures_from_captured_outputs() -> None:
    packages = packages_for(ABI)
    offline = download_failure(captured("apt-get-download-offline.txt"), packages)
    assert offline.problem == "cannot download the guest kernel packages (no network?)"
    unknown = download_failure(captured("apt-get-download-unknown.txt"), packages)
    assert "apt does not know" in unknown.problem and "apt-get update" in unknown.fix
    gone = download_failure(
        "Err:1 http://deb.debian.org ... 404  Not Found [IP: 1.2.3.4 80]", packages
    )
    assert "out of date" in gone.problem


def test_manifest_fields() -> None:
    manifest = make_manifest(
        abi=ABI,
        version="6.1.192-2",
        vmlinux_sha256="0" * 64,
        source="apt",
        debs=sorted(DEBS.values()),
        created=datetime(2026, 11, 25, 21, 0, tzinfo=UTC),
    )
    assert manifest["created"] == "2026-11-25T21:00:00+00:00"
    assert json.loads(json.dumps(manifest)) == manifest


# --- the real process layer, with harmless commands ----------------------------


def test_run_reports_a_missing_command() -> None:
    result = kernel.run(["kmodlab-no-such-command"])
    assert (result.ok, result.returncode) == (False, kernel.NOT_FOUND)


def test_run_with_status_reads_the_status_fd(tmp_path: Path) -> None:
    fake_apt = tmp_path / "fake-apt-get"
    # Called as `fake-apt-get -o APT::Status-Fd=N download`; /dev/fd/N because dash's
    # `>&N` takes one digit only and N is usually higher.
    fake_apt.write_text(
        "#!/bin/sh\n"
        'fd="${2#APT::Status-Fd=}"\n'
        'echo "dlstatus:1:50.0:Retrieving file 1 of 2" >/dev/fd/"$fd"\n'
        'echo "Get:1 chatter"\n'
        'echo "dlstatus:2:100.0:Retrieving file 2 of 2" >/dev/fd/"$fd"\n'
    )
    fake_apt.chmod(0o755)
    lines: list[str] = []
    result = kernel.run_with_status(
        [str(fake_apt), "download"], cwd=tmp_path, on_status=lines.append
    )
    assert result.ok
    assert lines == [
        "dlstatus:1:50.0:Retrieving file 1 of 2",
        "dlstatus:2:100.0:Retrieving file 2 of 2",
    ]
    assert "Get:1 chatter" in result.stdout


def test_stdout_stream_drains_and_reports_failure() -> None:
    with kernel.stdout_stream(["sh", "-c", "head -c 3000000 /dev/zero"]) as stream:
        assert stream.read(10) == bytes(10)  # the rest is drained, no SIGPIPE failure
    with (
        pytest.raises(SetupError, match="failed: broken deb"),
        kernel.stdout_stream(["sh", "-c", "echo broken deb >&2; exit 2"]) as stream,
    ):
        stream.read()
