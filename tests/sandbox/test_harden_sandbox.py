"""The build sees only the toolchain, runs unprivileged, and shares one memory cap.

Attacks reproduced from issue 10: `.incbin` or `#include` of a file of the
grading machine, and four macro-expansion bombs compiled at once. Each has a
control showing the same construct works on a file the build may read, so a
test cannot pass because the construct itself was broken.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

import kmodlab.build.builder as builder
from kmodlab.build import build_submission, memcap, sandbox_argv
from kmodlab.build.sandbox import MINIMAL_ENV, UNPRIVILEGED_ID, bwrap_argv, hand_over, host_view

pytestmark = [pytest.mark.sandbox, pytest.mark.usefixtures("require_sandbox")]

DATA = Path(__file__).resolve().parents[1] / "data" / "harden"
HELLO = '#include <linux/module.h>\nMODULE_LICENSE("GPL");\n'


def in_sandbox(command: str, build_dir: Path, headers: Path) -> subprocess.CompletedProcess:
    hand_over(build_dir)
    argv = sandbox_argv(["bash", "-c", command], build_dir=build_dir, headers=headers)
    return subprocess.run(argv, env=dict(MINIMAL_ENV), capture_output=True, text=True, timeout=60)


def incbin_module(tmp_path: Path, target: str) -> Path:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    text = (DATA / "incbin" / "incbin.c").read_text().replace("/etc/machine-id", target)
    (src / "incbin.c").write_text(text)
    return src


def host_file(place: str) -> Path | None:
    """A readable file in a private place of the host, where one exists.

    For /var one is made (the caller removes it).
    """
    if place == "etc":
        machine_id = Path("/etc/machine-id")
        return machine_id if machine_id.is_file() else Path("/etc/passwd")
    if place == "var":
        var = Path(f"/var/tmp/kmodlab-harden-{uuid.uuid4().hex}")
        try:
            var.write_text("int leaked_from_var = 1;\n")
        except OSError:
            return None
        return var
    top = Path("/home") if place == "home" else Path("/root")
    found = (p for p in top.glob("*/.*" if place == "home" else ".*") if p.is_file())
    return next((p for p in found if os.access(p, os.R_OK)), None)


@pytest.fixture
def build_dir(tmp_path: Path) -> Path:
    path = tmp_path / "build"
    path.mkdir()
    return path


@pytest.mark.parametrize("place", ["etc", "var", "home", "root"])
@pytest.mark.parametrize("how", ["incbin", "include"])
def test_a_host_file_cannot_reach_the_module(
    tmp_path: Path, kbuild_dir: Path, place: str, how: str
) -> None:
    """Does `.incbin`/`#include` of /etc/machine-id, /var, /home or /root fail to build?"""
    target = host_file(place)
    try:
        if target is None:
            pytest.skip(f"no readable file under /{place} on this machine")
        if how == "incbin":
            src = incbin_module(tmp_path, str(target))
        else:
            src = tmp_path / "src"
            src.mkdir()
            (src / "peek.c").write_text(f'#include "{target}"\n{HELLO}')
        result = build_submission(src, headers=kbuild_dir, out_dir=tmp_path / "out")
    finally:
        if place == "var" and target is not None:
            target.unlink(missing_ok=True)
    assert not result.ok
    assert result.modules == []
    # gcc: "No such file or directory"; gas: "file not found".
    assert "No such file or directory" in result.log or "file not found" in result.log
    if place == "etc":
        assert target.read_bytes()[:16].decode(errors="replace") not in result.log


def test_control_incbin_of_a_toolchain_file_builds(tmp_path: Path, kbuild_dir: Path) -> None:
    """Does the very same .incbin module build when it names a file the build may read?"""
    src = incbin_module(
        tmp_path,
        "/usr/include/stdio.h" if Path("/usr/include/stdio.h").is_file() else "/etc/ld.so.cache",
    )
    result = build_submission(src, headers=kbuild_dir, out_dir=tmp_path / "out")
    assert result.ok, result.log


def test_control_without_the_sandbox_the_incbin_attack_builds(
    tmp_path: Path, kbuild_dir: Path, monkeypatch
) -> None:
    """Is the attack real: outside the sandbox, /etc/machine-id is pulled into the .ko?"""
    target = host_file("etc")
    monkeypatch.setattr(builder, "sandbox_available", lambda: False)
    src = incbin_module(tmp_path, str(target))
    with pytest.warns(RuntimeWarning):
        result = build_submission(
            src, headers=kbuild_dir, out_dir=tmp_path / "out", allow_unsandboxed=True
        )
    assert result.ok, result.log
    assert target.read_bytes().strip() in result.modules[0].ko.read_bytes()


def test_the_sandbox_shows_no_private_place(build_dir: Path, kbuild_dir: Path) -> None:
    """Are /etc (but two entries), /var, /home, /proc absent, /usr/local empty, /root a path?"""
    done = in_sandbox(
        "ls -A /etc; echo ---; ls -A /; echo ---; ls -A /usr/local; ls -A /root;"
        " ls /var /home /proc /run 2>&1",
        build_dir,
        kbuild_dir,
    )
    etc, top, rest = done.stdout.split("---\n")
    assert etc.split() == ["alternatives", "ld.so.cache"]
    assert not {"var", "home", "proc", "run", "srv", "opt", "work", "mnt"} & set(top.split())
    assert rest.count("No such file or directory") == 4
    tree_parts = set(kbuild_dir.parts) | set(build_dir.parts)
    assert set(rest.split()[:1]) <= tree_parts


def test_the_build_runs_unprivileged(tmp_path: Path, build_dir: Path, kbuild_dir: Path) -> None:
    """Is `id -u` inside the build not 0, and are the files it writes owned by that uid?"""
    done = in_sandbox("id -u; id -g", build_dir, kbuild_dir)
    uid, gid = (int(x) for x in done.stdout.split())
    assert uid != 0 and gid != 0
    if os.geteuid() == 0:
        assert (uid, gid) == (UNPRIVILEGED_ID, UNPRIVILEGED_ID)
    # Control, and the same fact from a real build: a normal module builds, and
    # the .ko was written by the unprivileged uid.
    src = tmp_path / "src"
    src.mkdir()
    (src / "hello.c").write_text(HELLO)
    result = build_submission(src, headers=kbuild_dir, out_dir=tmp_path / "out")
    assert result.ok, result.log
    assert result.modules[0].ko.stat().st_uid == (
        UNPRIVILEGED_ID if os.geteuid() == 0 else os.getuid()
    )


def test_a_root_only_file_stays_unreadable_even_if_bound(build_dir: Path, kbuild_dir: Path) -> None:
    """Would a 0600 root file that a bind exposed by mistake still be unreadable?"""
    if os.geteuid() != 0:
        pytest.skip("only a build started by root drops privileges")
    secret = build_dir / "root-only"
    secret.write_text("root secret\n")
    hand_over(build_dir)
    os.chown(secret, 0, 0)
    secret.chmod(0o600)
    argv = sandbox_argv(["cat", "root-only"], build_dir=build_dir, headers=kbuild_dir)
    done = subprocess.run(argv, env=dict(MINIMAL_ENV), capture_output=True, text=True, timeout=60)
    assert "root secret" not in done.stdout and "Permission denied" in done.stderr


# -- one memory cap for a grade's compilers ----------------------------------------
def test_four_macro_bombs_are_stopped_by_one_memory_cap(tmp_path: Path, kbuild_dir: Path) -> None:
    """Do four bomb sources compiled at once stop quickly with a memory-limit error?"""
    with memcap.capped() as cap:
        if cap is None:
            pytest.skip("no memory cgroup can be made here (see memcap.py)")
        src = tmp_path / "bomb"
        shutil.copytree(DATA / "bomb", src)
        started = time.monotonic()
        result = build_submission(src, headers=kbuild_dir, out_dir=tmp_path / "out", memory=cap)
        took = time.monotonic() - started
        peak = cap.peak()
    assert not result.ok
    assert [d.kind for d in result.errors] == ["memory-limit"]
    assert took < 90  # measured ~15 s on a loaded 2-core machine; the build timeout is 120 s
    assert peak is None or peak <= memcap.GRADE_MEMORY + (64 << 20)


def test_control_a_normal_build_fits_in_a_small_share_of_the_cap(
    tmp_path: Path, kbuild_dir: Path
) -> None:
    with memcap.capped() as cap:
        if cap is None:
            pytest.skip("no memory cgroup can be made here (see memcap.py)")
        src = tmp_path / "src"
        src.mkdir()
        (src / "hello.c").write_text(HELLO)
        result = build_submission(src, headers=kbuild_dir, out_dir=tmp_path / "out", memory=cap)
        peak = cap.peak()
    assert result.ok, result.log
    assert peak is not None and peak < memcap.GRADE_MEMORY // 4


def test_started_by_an_ordinary_user_the_sandbox_keeps_that_user() -> None:
    """Does the ordinary-user command line (a user namespace, no setpriv) work, as that user?"""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root to become an ordinary user for the test")
    with tempfile.TemporaryDirectory(prefix="kmodlab-user-") as tmp:
        build_dir = Path(tmp)
        build_dir.chmod(0o755)
        os.chown(build_dir, UNPRIVILEGED_ID, UNPRIVILEGED_ID)
        done = _as_nobody(build_dir)
    if "No permissions to create new namespace" in done.stderr:
        pytest.skip("unprivileged user namespaces are disabled here")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(UNPRIVILEGED_ID), "alternatives", "ld.so.cache", "ok"]


def _as_nobody(build_dir: Path) -> subprocess.CompletedProcess:
    command = ["sh", "-c", "id -u; ls -A /etc; echo ok > f && cat f"]
    argv = bwrap_argv(
        command, build_dir=build_dir, kernel_tree=Path("/"), view=host_view(), drop_to=None
    )
    as_user = ["setpriv", f"--reuid={UNPRIVILEGED_ID}", f"--regid={UNPRIVILEGED_ID}"]
    return subprocess.run(
        [*as_user, "--clear-groups", *argv], capture_output=True, text=True, timeout=60
    )
