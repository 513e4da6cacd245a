"""No root after set-up: a shared kernel cache that users only read, their own for the rest."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from kmodlab import paths
from kmodlab.setup import setup
from kmodlab.vm import accel, hostclock
from kmodlab.vm.qemu import ACCELERATORS, MachineSpec
from tests.unit.test_setup import ABI, FakeHost, host  # noqa: F401 (host is a fixture)


@pytest.fixture
def shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "shared"
    monkeypatch.setenv("KMODLAB_SHARED_CACHE", str(folder))
    return folder


def _files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


def test_a_user_with_no_kernel_of_their_own_uses_the_shared_one(
    host: FakeHost,  # noqa: F811
    shared: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After `setup --shared`, does a user's own `kmodlab setup` (as `lab` and `test` run it)
    use the shared kernel, downloading nothing and writing nothing in the shared cache?"""
    made = setup(quiet=True, shared=True)
    assert made.root == shared / "kernels" / ABI
    before = _files(shared)
    monkeypatch.setenv("KMODLAB_HOME", str(tmp_path / "user"))
    host.downloads = host.unpacks = 0
    assert setup(quiet=True) == made == paths.current_kernel()
    assert (host.downloads, host.unpacks) == (0, 0)
    assert _files(shared) == before
    assert not (tmp_path / "user" / "kernels").exists()


def test_a_users_own_kernel_comes_before_the_shared_one(
    host: FakeHost,  # noqa: F811
    shared: Path,
) -> None:
    """Does a user who set up a kernel of their own keep using it?"""
    own = setup(quiet=True)
    assert own.root == paths.home() / "kernels" / ABI
    shared.mkdir()
    (shared / paths.CURRENT).write_text("6.1.0-99-amd64\n")
    assert paths.kernel_home() == paths.home()
    assert paths.current_kernel() == own


def test_no_kernel_anywhere_names_the_shared_set_up(shared: Path, tmp_path, monkeypatch):
    """Does the error say how an administrator sets up for everyone?"""
    monkeypatch.setenv("KMODLAB_HOME", str(tmp_path / "user"))
    with pytest.raises(paths.SetupError) as caught:
        paths.current_kernel()
    assert "sudo kmodlab setup --shared" in caught.value.fix and str(shared) in caught.value.fix


def test_content_keyed_files_are_read_from_the_shared_cache_and_made_in_the_users(
    shared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Is a file found in the user's cache first, then in the shared one (unless others could
    have written it there), and one found in neither to be made in the user's own?"""
    own = tmp_path / "user"
    monkeypatch.setenv("KMODLAB_HOME", str(own))
    rel = Path("guest") / "agent-0123"
    assert paths.cached(rel) == own / rel
    (shared / "guest").mkdir(parents=True)
    (shared / rel).write_bytes(b"agent")
    assert paths.cached(rel) == shared / rel
    (shared / rel).chmod(0o666)  # anyone could have planted it: not used
    assert paths.cached(rel) == own / rel
    (shared / rel).chmod(0o644)
    (own / "guest").mkdir(parents=True)
    (own / rel).write_bytes(b"agent")
    assert paths.cached(rel) == own / rel


def test_a_shared_cache_is_opened_to_every_user_but_never_for_writing(tmp_path: Path) -> None:
    """Made under umask 077, do files become readable, folders and programs usable by all,
    and nothing writable by others?"""
    base = tmp_path / "cache"
    (base / "kernels").mkdir(parents=True, mode=0o700)
    data, program = base / "kernels" / "vmlinux", base / "agent"
    data.write_bytes(b"x")
    program.write_bytes(b"x")
    data.chmod(0o600)
    program.chmod(0o700)
    (base / "link").symlink_to("/nonexistent")
    paths.open_to_all(base)
    modes = {p: stat.S_IMODE(p.stat().st_mode) for p in (base / "kernels", data, program)}
    assert modes == {base / "kernels": 0o755, data: 0o644, program: 0o755}


def test_the_host_clock_is_read_from_the_shared_cache_and_a_readonly_home_is_no_error(
    shared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Is the administrator's measurement of this boot used as it is, and does a cache the
    user cannot write cost only a new measurement, never an error?"""
    boot = tmp_path / "boot_id"
    boot.write_text("boot-1\n")
    monkeypatch.setattr(hostclock, "BOOT_ID", boot)
    calls: list[int] = []
    monkeypatch.setattr(hostclock, "measure", lambda: calls.append(1) or 2_600_000)
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv("KMODLAB_HOME", str(blocked / "kmodlab"))  # mkdir fails under a file
    assert hostclock.tsc_khz() == 2_600_000 and len(calls) == 1
    shared.mkdir()
    key = f"{__import__('platform').node()}|boot-1"
    (shared / hostclock.NAME).write_text(json.dumps({"key": key, "tsc_khz": 3_000_000}))
    assert hostclock.tsc_khz() == 3_000_000 and len(calls) == 1


def test_an_accelerator_chosen_with_access_to_kvm_is_not_reused_without_it(
    shared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Is the shared cache's accelerator reused by a user who may open the same devices,
    probed anew by one whose devices differ, and TCG taken without a probe by a user who
    may not open /dev/kvm at all (root chose KVM; the user cannot use it)?"""
    monkeypatch.setenv("KMODLAB_HOME", str(tmp_path / "user"))
    monkeypatch.delenv("KMODLAB_ACCEL", raising=False)
    spec = MachineSpec(Path("/c/vmlinux"), Path("/c/initrd"), ACCELERATORS["tcg"])
    kvm = tmp_path / "kvm"
    kvm.write_text("")
    monkeypatch.setattr(accel, "KVM_DEVICE", kvm)
    probed: list[list[str]] = []

    def probe(_spec, options):
        probed.append([a.name for a in options])
        return accel.Choice(options[-1], "probed")

    monkeypatch.setattr(accel, "probe", probe)
    shared.mkdir()
    record = {"key": accel._cache_key(spec, "qemu 7.2"), "accel": "kvm", "note": "root's",
              "usable": ["kvm", "tcg"]}  # fmt: skip
    (shared / accel.NAME).write_text(json.dumps(record))
    assert accel.choose(spec, qemu_version="qemu 7.2").note == "root's" and probed == []
    # A user who may open /dev/kvm, but a record made with other devices: probed anew.
    (shared / accel.NAME).write_text(json.dumps({**record, "usable": ["kvm"]}))
    assert accel.choose(spec, qemu_version="qemu 7.2").note == "probed"
    assert probed == [["kvm", "tcg"]]
    (tmp_path / "user" / accel.NAME).unlink()
    probed.clear()
    (shared / accel.NAME).write_text(json.dumps(record))
    kvm.unlink()  # this user may not open /dev/kvm: TCG, with nothing to probe
    choice = accel.choose(spec, qemu_version="qemu 7.2")
    assert choice.accel.name == "tcg" and "no /dev/kvm this user may open" in choice.note
    assert probed == []
    assert os.stat(shared / accel.NAME).st_size == len(json.dumps(record))


def test_with_kvm_usable_the_choice_is_probed_once_and_kept_in_the_users_cache(
    shared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With KVM openable and no saved choice, is the probe run once, its choice written to
    the user's own cache (never the shared one) and reused?"""
    monkeypatch.setenv("KMODLAB_HOME", str(tmp_path / "user"))
    monkeypatch.delenv("KMODLAB_ACCEL", raising=False)
    kvm = tmp_path / "kvm"
    kvm.write_text("")
    monkeypatch.setattr(accel, "KVM_DEVICE", kvm)
    probed: list[list[str]] = []
    monkeypatch.setattr(
        accel, "probe", lambda _s, options: probed.append([a.name for a in options])
        or accel.Choice(options[-1], "probed")
    )  # fmt: skip
    spec = MachineSpec(Path("/c/vmlinux"), Path("/c/initrd"), ACCELERATORS["tcg"])
    assert accel.choose(spec, qemu_version="q").note == "probed"
    assert accel.choose(spec, qemu_version="q").note == "probed"
    assert probed == [["kvm", "tcg"]]
    assert json.loads((tmp_path / "user" / accel.NAME).read_text())["accel"] == "tcg"
    assert not shared.exists()


def test_a_batch_into_a_folder_it_cannot_write_is_one_line_naming_it(tmp_path: Path) -> None:
    """Does grade-batch into an unwritable --output-dir (a user pointing at root's folder)
    stop at once with one line naming the folder and the fix, grading nothing?"""
    from kmodlab.errors import InputError
    from kmodlab.grader.batch import grade_batch

    (tmp_path / "subs" / "alice").mkdir(parents=True)
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    graded: list[Path] = []
    with pytest.raises(InputError) as caught:
        grade_batch(tmp_path / "subs", blocked / "out", grade=lambda p: graded.append(p))
    assert str(blocked / "out") in caught.value.problem and "cannot write" in caught.value.problem
    assert caught.value.fix == "choose a folder you can write to" and graded == []


def test_a_shared_set_up_without_the_right_to_write_says_to_use_sudo(
    host: FakeHost,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Does `kmodlab setup --shared` by someone who cannot write the shared cache stop with
    one line naming the folder and `sudo kmodlab setup --shared`, downloading nothing?"""
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv("KMODLAB_SHARED_CACHE", str(blocked / "shared"))
    with pytest.raises(paths.SetupError) as caught:
        setup(quiet=True, shared=True)
    assert str(blocked / "shared") in caught.value.problem
    assert "sudo kmodlab setup --shared" in caught.value.fix
    assert host.downloads == 0
