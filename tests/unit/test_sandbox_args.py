"""The sandbox command line (pure), the choice to sandbox, and the capped runner."""

from __future__ import annotations

import shlex
import time
from pathlib import Path

import pytest

import kmodlab.build.builder as builder
from kmodlab.build.builder import build_submission, run_capped
from kmodlab.build.sandbox import (
    MINIMAL_ENV,
    Limits,
    bwrap_argv,
    kernel_tree,
    limits_argv,
    sandbox_argv,
)
from kmodlab.errors import SandboxUnavailable

TREE = Path("/cache/kmodlab/kernels/6.1.0-56-amd64/tree")
HEADERS = TREE / "usr/src/linux-headers-6.1.0-56-amd64"
BUILD = Path("/tmp/kmodlab-build-x1")


def argv(**kwargs) -> list[str]:
    return bwrap_argv(["make", "modules"], build_dir=BUILD, kernel_tree=TREE, **kwargs)


def pairs(args: list[str], option: str) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args) if a == option]


def test_kernel_tree_is_the_folder_holding_usr_src_and_usr_lib() -> None:
    assert kernel_tree(HEADERS) == TREE
    assert kernel_tree(Path("/usr/src/linux-headers-6.1.0-56-amd64")) == Path("/")
    assert kernel_tree(Path("/home/me/linux")) == Path("/home/me/linux")


def test_read_only_system_with_fresh_dev_proc_and_tmp() -> None:
    args = argv()
    assert args[:10] == [
        "bwrap",
        *("--ro-bind", "/", "/"),
        *("--dev", "/dev"),
        *("--proc", "/proc"),
        *("--tmpfs", "/tmp"),
    ]


def test_private_places_are_masked_before_tree_and_build_are_bound_back() -> None:
    args = argv()
    masked = pairs(args, "--tmpfs")
    assert {"/tmp", "/root", "/home", "/work", "/run"} <= set(masked)
    last_mask = max(i for i, a in enumerate(args) if a == "--tmpfs")
    tree_at = args.index("--ro-bind", 1 + args.index("--ro-bind"))
    while args[tree_at + 1] != str(TREE):
        tree_at = args.index("--ro-bind", tree_at + 1)
    build_at = args.index("--bind")
    # bwrap mounts in order: a bind before a mask would be hidden by it.
    assert last_mask < tree_at < build_at
    assert args[tree_at : tree_at + 3] == ["--ro-bind", str(TREE), str(TREE)]
    assert args[build_at : build_at + 3] == ["--bind", str(BUILD), str(BUILD)]
    assert pairs(args, "--bind") == [str(BUILD)]  # the only writable host folder


def test_secret_files_are_covered() -> None:
    args = argv()
    covered = [
        args[i + 2] for i, a in enumerate(args) if a == "--ro-bind" and args[i + 1] == "/dev/null"
    ]
    assert "/etc/shadow" in covered


def test_isolation_flags() -> None:
    args = argv()
    for flag in ("--unshare-all", "--die-with-parent", "--new-session", "--clearenv"):
        assert flag in args
    assert "--share-net" not in args
    assert args[args.index("--cap-drop") + 1] == "ALL"


def test_minimal_environment_and_working_folder() -> None:
    args = argv()
    env = {args[i + 1]: args[i + 2] for i, a in enumerate(args) if a == "--setenv"}
    assert env == {"PATH": MINIMAL_ENV["PATH"], "HOME": "/tmp", "LC_ALL": "C"}
    assert pairs(args, "--chdir") == [str(BUILD)]
    assert args[-3:] == ["--", "make", "modules"]


def test_root_tree_is_not_bound_again() -> None:
    args = bwrap_argv(["true"], build_dir=BUILD, kernel_tree=Path("/"))
    assert "/" not in pairs(args, "--ro-bind")[1:]


def test_masks_can_be_chosen_and_the_argv_prints_as_a_shell_line() -> None:
    args = argv(masked_dirs=["/root"], masked_files=[])
    assert pairs(args, "--tmpfs") == ["/tmp", "/root"]
    assert shlex.split(shlex.join(args)) == args


def test_limits_argv() -> None:
    assert limits_argv(Limits(), "/usr/bin/prlimit") == [
        "/usr/bin/prlimit",
        f"--fsize={64 << 20}",
        f"--as={2 << 30}",
        "--nproc=512",
        "--nofile=1024",
        "--core=0",
        "--",
    ]


def test_sandbox_argv_masks_only_existing_paths_and_applies_limits(tmp_path: Path) -> None:
    headers = tmp_path / "tree/usr/src/linux-headers-x"
    headers.mkdir(parents=True)
    args = sandbox_argv(["make"], build_dir=tmp_path / "b", headers=headers)
    for path in pairs(args, "--tmpfs"):
        assert Path(path).is_dir()
    assert str(tmp_path / "tree") in pairs(args, "--ro-bind")
    command = args[args.index("--") + 1 :]
    assert command[-1] == "make"
    if "prlimit" in command[0]:
        assert "--fsize=67108864" in command


def hello(tmp_path: Path) -> tuple[Path, Path]:
    src = tmp_path / "src"
    src.mkdir()
    (src / "hello.c").write_text('#include <linux/module.h>\nMODULE_LICENSE("GPL");\n')
    headers = tmp_path / "headers"
    headers.mkdir()
    (headers / "Makefile").write_text("all:\n")
    return src, headers


def test_no_sandbox_is_an_error_with_a_fix(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(builder, "sandbox_available", lambda: False)
    src, headers = hello(tmp_path)
    with pytest.raises(SandboxUnavailable) as info:
        build_submission(src, headers=headers, out_dir=tmp_path / "out")
    assert str(info.value) == (
        "no sandbox is available to build in (bubblewrap missing or not permitted): "
        "install bubblewrap (apt-get install bubblewrap) or pass --no-sandbox to build "
        "without isolation"
    )
    assert not (tmp_path / "out").exists()  # nothing was written or run


def test_runner_captures_output_and_exit_status(tmp_path: Path) -> None:
    out = run_capped(
        ["sh", "-c", "echo hi; echo err >&2; exit 3"], cwd=tmp_path, timeout_s=10, max_output=1000
    )
    assert (out.returncode, out.timed_out, out.truncated) == (3, False, False)
    assert out.output == b"hi\nerr\n"


def test_runner_has_a_minimal_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("KMODLAB_SECRET_TOKEN", "leak")
    out = run_capped(["env"], cwd=tmp_path, timeout_s=10, max_output=10000)
    names = {line.split("=")[0] for line in out.output.decode().splitlines()}
    assert "KMODLAB_SECRET_TOKEN" not in names
    assert names <= {"PATH", "HOME", "LC_ALL", "PWD", "SHLVL", "_"}


def test_runner_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    marker = tmp_path / "survivor"
    script = f"(sleep 1; touch {marker}) & sleep 30"
    started = time.monotonic()
    out = run_capped(["sh", "-c", script], cwd=tmp_path, timeout_s=0.3, max_output=1000)
    assert out.timed_out and time.monotonic() - started < 3
    time.sleep(1.5)
    assert not marker.exists()  # the background child died with the group


def test_runner_caps_output_and_stops_the_command(tmp_path: Path) -> None:
    started = time.monotonic()
    out = run_capped(["yes"], cwd=tmp_path, timeout_s=20, max_output=5000)
    assert out.truncated and not out.timed_out
    assert len(out.output) == 5000
    assert time.monotonic() - started < 5
