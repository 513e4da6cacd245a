"""A hostile submission must not reach the host: files, network, private folders.

Each check that something is blocked has a control showing the same action
works without the sandbox, so a test cannot pass because the action was broken.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import kmodlab.build.builder as builder
from kmodlab.build import build_submission, sandbox_argv
from kmodlab.build.sandbox import MINIMAL_ENV, hand_over
from tests.conftest import unavailable

pytestmark = [pytest.mark.sandbox, pytest.mark.usefixtures("require_sandbox")]

HELLO = '#include <linux/module.h>\nMODULE_LICENSE("GPL");\n'


@contextlib.contextmanager
def listener() -> Iterator[socket.socket]:
    """A TCP server on 127.0.0.1 that the test asks, afterwards, who connected."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.5)
    try:
        yield server
    finally:
        server.close()


def accepted(server: socket.socket) -> bool:
    try:
        conn, _ = server.accept()
    except TimeoutError:
        return False
    conn.close()
    return True


def in_sandbox(command: str, build_dir: Path, headers: Path) -> subprocess.CompletedProcess:
    """Run a shell command through the very command line the builder uses."""
    hand_over(build_dir)
    argv = sandbox_argv(["bash", "-c", command], build_dir=build_dir, headers=headers)
    return subprocess.run(argv, env=dict(MINIMAL_ENV), capture_output=True, text=True, timeout=60)


@pytest.fixture
def build_dir(tmp_path: Path) -> Path:
    path = tmp_path / "build"
    path.mkdir()
    return path


# -- (a) the student's Makefile is data, never run ---------------------------


def test_hostile_makefile_is_never_run(tmp_path: Path, kbuild_dir: Path) -> None:
    host_tmp_marker = Path(f"/tmp/kmodlab-pwned-{uuid.uuid4().hex}")
    outside_marker = tmp_path / "outside-marker"
    with listener() as server:
        port = server.getsockname()[1]
        src = tmp_path / "src"
        src.mkdir()
        (src / "hello.c").write_text(HELLO)
        (src / "Makefile").write_text(
            f"$(shell touch {host_tmp_marker})\n"
            f"$(shell touch {outside_marker})\n"
            f"LEAK := $(shell curl -s http://127.0.0.1:{port}/)\n"
            f"X != touch {outside_marker}\n"
            "obj-m := hello.o\n"
            f"ccflags-y := -DLEAK=$(LEAK)\n"
            "all:\n"
            f"\ttouch {outside_marker}\n"
            "\t$(MAKE) -C /lib/modules/$(shell uname -r)/build M=$(PWD) modules\n"
        )
        result = build_submission(src, headers=kbuild_dir, out_dir=tmp_path / "out")
        assert result.ok, result.log
        assert not accepted(server)
    assert not host_tmp_marker.exists()
    assert not outside_marker.exists()
    assert "dropped-flag" in [d.kind for d in result.diagnostics]  # -DLEAK=$(shell ...)


# -- (b) commands run through the builder's sandbox command line ---------------


def test_build_folder_is_writable(build_dir: Path, kbuild_dir: Path) -> None:
    done = in_sandbox("echo ok > inside && cat inside", build_dir, kbuild_dir)
    assert done.returncode == 0, done.stderr
    assert (build_dir / "inside").read_text() == "ok\n"


def test_write_to_a_host_folder_fails_and_leaves_nothing(build_dir: Path, kbuild_dir: Path) -> None:
    target = Path(f"/var/tmp/kmodlab-escape-{uuid.uuid4().hex}")
    try:
        done = in_sandbox(f"echo pwned > {target}", build_dir, kbuild_dir)
        assert done.returncode != 0
        assert "No such file or directory" in done.stderr  # /var is not even there
        assert not target.exists()
        # Control: the same write from outside the sandbox works.
        subprocess.run(["bash", "-c", f"echo ok > {target}"], check=True)
        assert target.exists()
    finally:
        target.unlink(missing_ok=True)


def test_write_next_to_the_build_folder_leaves_nothing(build_dir: Path, kbuild_dir: Path) -> None:
    # The build folder's parent is under the sandbox's own /tmp: a write may succeed
    # there, but it lands in the sandbox's tmpfs, not on the host.
    escape = build_dir.parent / "escape"
    in_sandbox(f"echo pwned > {escape}; echo pwned > ../escape2", build_dir, kbuild_dir)
    assert not escape.exists()
    assert not (build_dir.parent / "escape2").exists()


def test_write_under_etc_fails(build_dir: Path, kbuild_dir: Path) -> None:
    target = Path(f"/etc/kmodlab-escape-{uuid.uuid4().hex}")
    done = in_sandbox(f"touch {target}", build_dir, kbuild_dir)
    assert done.returncode != 0
    assert not target.exists()


def test_no_network_to_the_host(build_dir: Path, kbuild_dir: Path) -> None:
    with listener() as server:
        port = server.getsockname()[1]
        connect = f"exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected"
        done = in_sandbox(connect, build_dir, kbuild_dir)
        assert "connected" not in done.stdout
        assert not accepted(server)
        # Control: the same connection from outside the sandbox is accepted.
        outside = subprocess.run(["bash", "-c", connect], capture_output=True, text=True)
        assert "connected" in outside.stdout
        assert accepted(server)


def test_private_folders_are_empty_and_secrets_unreadable(
    build_dir: Path, kbuild_dir: Path
) -> None:
    done = in_sandbox(
        "ls -A /work /root /home /run | grep -v ':$' | grep -v '^$'; cat /etc/shadow",
        build_dir,
        kbuild_dir,
    )
    listed = [line for line in done.stdout.splitlines() if line.strip()]
    # Only the mount points bwrap made to bind the kernel tree or build folder back.
    allowed = {part for p in (kbuild_dir, build_dir) for part in p.parts}
    assert set(listed) <= allowed, listed
    assert "root:" not in done.stdout


def test_no_capabilities_so_mounts_cannot_be_changed(build_dir: Path, kbuild_dir: Path) -> None:
    """Does the build hold no capability at all, so it can neither unmount nor remount?"""
    done = in_sandbox(
        "setpriv --dump; umount /usr; mount -o remount,rw /usr; touch /usr/kmodlab-pwned",
        build_dir,
        kbuild_dir,
    )
    assert "Capability bounding set: [none]" in done.stdout
    assert "no_new_privs: 1" in done.stdout
    uid = next(line for line in done.stdout.splitlines() if line.startswith("uid: "))
    assert uid != "uid: 0"  # and a uid other than 0 holds no capability once it has switched
    assert not Path("/usr/kmodlab-pwned").exists()


# -- (c) the compiler cannot read masked host files ---------------------------


def masked_files(tmp_path: Path) -> dict[str, Path | None]:
    secret = tmp_path / "secret.h"  # next to the build folder, under the host's /tmp
    secret.write_text("int leaked_value = 42;\n")
    this = Path(__file__).resolve()
    under_masks = any(this.is_relative_to(d) for d in ("/work", "/root", "/home"))
    home = Path.home()
    home_file = next((home / n for n in (".bashrc", ".profile") if (home / n).is_file()), None)
    return {
        "tmp": secret,
        "repo": this if under_masks else None,
        "home": home_file if home.is_relative_to("/root") or home.is_relative_to("/home") else None,
    }


@pytest.mark.parametrize("which", ["tmp", "repo", "home"])
def test_include_of_a_masked_host_file_fails(tmp_path: Path, kbuild_dir: Path, which: str) -> None:
    target = masked_files(tmp_path)[which]
    if target is None:
        pytest.skip(f"no {which} file under a masked folder on this machine")
    src = tmp_path / "src"
    src.mkdir()
    (src / "peek.c").write_text(f'#include "{target}"\n{HELLO}')
    result = build_submission(src, headers=kbuild_dir, out_dir=tmp_path / "out")
    assert not result.ok
    (error,) = result.errors
    assert (error.file, error.kind) == ("peek.c", "fatal-error")
    assert "No such file or directory" in error.message


def test_control_the_same_include_works_without_sandbox(
    tmp_path: Path, kbuild_dir: Path, monkeypatch
) -> None:
    monkeypatch.setattr(builder, "sandbox_available", lambda: False)
    src = tmp_path / "src"
    src.mkdir()
    (src / "peek.c").write_text(f'#include "{masked_files(tmp_path)["tmp"]}"\n{HELLO}')
    with pytest.warns(RuntimeWarning):
        result = build_submission(
            src, headers=kbuild_dir, out_dir=tmp_path / "out", allow_unsandboxed=True
        )
    assert result.ok, result.log


def test_endless_include_is_stopped_by_the_memory_limit(tmp_path: Path, kbuild_dir: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "zero.c").write_text(f'#include "/dev/zero"\n{HELLO}')
    result = build_submission(src, headers=kbuild_dir, out_dir=tmp_path / "out", timeout_s=60)
    assert not result.ok
    assert "timeout" not in [d.kind for d in result.errors]
    # The grade's memory cgroup (memcap.py) where one can be made, else RLIMIT_AS.
    kinds = [d.kind for d in result.errors]
    assert "memory-limit" in kinds or "out of memory" in result.log


# -- (e) the memoised compiler probes cannot be planted ------------------------
# The builder never runs a student's Kbuild (it is read as data), but the lab runs a
# student's own Makefile in the sandbox: so these run make on a hostile Kbuild directly.

PLANT = "define KMODLAB_PROBE_planted\\n-Wpwned\\nendef\\n"


def _make_in_sandbox(folder: Path, headers: Path, kbuild: str) -> subprocess.CompletedProcess:
    (folder / "evil.c").write_text(HELLO)
    (folder / "Kbuild").write_text(kbuild)
    hand_over(folder)
    argv = sandbox_argv(builder.make_argv(headers, folder), build_dir=folder, headers=headers)
    return subprocess.run(argv, env=dict(MINIMAL_ENV), capture_output=True, text=True, timeout=300)


def test_a_submission_cannot_plant_a_compiler_probe_answer(
    tmp_path: Path, kbuild_dir: Path
) -> None:
    """Can make, running a student's Kbuild in the sandbox, neither add to set-up's answers
    (appending to their file, or through kbuild's own record of a new probe) nor put a
    file beside them, while the same commands do write in its build folder?"""
    from kmodlab.build import probes

    answers = probes.answers_file(kbuild_dir)
    if not probes.patched(kbuild_dir) or not answers.is_file():
        unavailable(f"answered compiler probes in {kbuild_dir} (an older kmodlab set it up)")
    before = answers.read_bytes()
    beside = answers.parent / "kmodlab-planted.mk"
    folder = tmp_path / "plant"
    folder.mkdir()
    targets = f"{answers} {beside} $(KBUILD_EXTMOD)/control.mk"
    done = _make_in_sandbox(
        folder,
        kbuild_dir,
        "obj-m := evil.o\n"
        f"$(foreach f,{targets},$(shell printf '{PLANT}' >> $(f)))\n"
        "ccflags-y += $(call cc-option,-fkmodlab-no-such-flag-$(MAKELEVEL))\n",
    )
    assert done.returncode == 0, done.stderr
    assert (folder / "control.mk").read_text().count("-Wpwned") >= 1  # the line ran
    assert answers.read_bytes() == before and not beside.exists()

    # kbuild's record of a probe it had to run, aimed at the answers: refused (make stops).
    for log, control in ((answers, False), ("$(KBUILD_EXTMOD)/control.log", True)):
        folder = tmp_path / f"log-{control}"
        folder.mkdir()
        done = _make_in_sandbox(
            folder,
            kbuild_dir,
            f"obj-m := evil.o\n{probes.LOG_VARIABLE} := {log}\n"
            "ccflags-y := $(call cc-option,-fkmodlab-no-such-flag,-DPLANTED)\n",
        )
        assert (done.returncode == 0) is control, done.stderr
        assert answers.read_bytes() == before
    assert "-DPLANTED" in (folder / "control.log").read_text()  # the record was written there

    # Control: outside the sandbox the answers are writable (a comment, taken out again).
    with answers.open("ab") as f:
        f.write(b"# kmodlab-control\n")
    try:
        assert answers.read_bytes() == before + b"# kmodlab-control\n"
    finally:
        with answers.open("r+b") as f:
            f.truncate(len(before))
