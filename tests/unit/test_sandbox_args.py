"""The sandbox command line (pure), the choice to sandbox, and the capped runner."""

from __future__ import annotations

import shlex
import time
from pathlib import Path

import pytest

import kmodlab.build.builder as builder
import kmodlab.build.sandbox as sandbox
from kmodlab.build.builder import build_submission, run_capped
from kmodlab.build.sandbox import (
    ETC_ENTRIES,
    MINIMAL_ENV,
    ResourceLimits,
    bwrap_argv,
    kernel_tree,
    limits_argv,
    sandbox_argv,
    system_view,
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


VIEW = system_view({"/bin": "usr/bin", "/lib": "usr/lib", "/lib64": None}, ETC_ENTRIES)


def test_the_system_view_is_the_toolchain_and_two_etc_files() -> None:
    """Does the sandbox show /usr, the top-level links into it and only two /etc entries?"""
    args = argv(view=VIEW)
    assert args[:4] == ["bwrap", "--ro-bind", "/usr", "/usr"]
    assert args[4:8] == ["--tmpfs", "/usr/local", "--remount-ro", "/usr/local"]  # not Debian's
    assert args[8:11] == ["--symlink", "usr/bin", "/bin"]
    assert args[14:17] == ["--ro-bind", "/lib64", "/lib64"]
    bound = pairs(args, "--ro-bind")
    assert [b for b in bound if b.startswith("/etc")] == ["/etc/ld.so.cache", "/etc/alternatives"]
    for private in ("/", "/etc", "/var", "/home", "/root", "/run", "/work", "/proc", "/sys"):
        assert private not in bound
    assert "--proc" not in args  # /proc would show the host's command line and mounts
    assert pairs(args, "--dev") == ["/dev"]
    at = args.index("/tmp") - 1
    assert args[at - 2 : at + 2] == ["--perms", "1777", "--tmpfs", "/tmp"]


def test_parents_of_the_tree_and_build_folder_are_made_traversable() -> None:
    """Are /root-like 0700 parents recreated 0755, so the unprivileged build reaches the tree?"""
    args = argv()
    made = [args[i + 3] for i, a in enumerate(args) if a == "--perms" and args[i + 2] == "--dir"]
    assert made == ["/cache", "/cache/kmodlab", "/cache/kmodlab/kernels",
                    "/cache/kmodlab/kernels/6.1.0-56-amd64"]  # fmt: skip
    deep = bwrap_argv(["true"], build_dir=Path("/tmp/grade-1/plain/build-2"), kernel_tree=TREE)
    made = [deep[i + 3] for i, a in enumerate(deep) if a == "--perms" and deep[i + 2] == "--dir"]
    assert made[-2:] == ["/tmp/grade-1", "/tmp/grade-1/plain"]  # not /tmp itself: mounted


def test_tree_and_build_folder_are_bound_after_tmp() -> None:
    args = argv()
    tmp_at = args.index("/tmp") - 1
    tree_at = args.index(str(TREE)) - 1
    build_at = args.index("--bind")
    # bwrap mounts in order: a bind before the tmpfs would be hidden by it.
    assert tmp_at < tree_at < build_at
    assert args[tree_at : tree_at + 3] == ["--ro-bind", str(TREE), str(TREE)]
    assert args[build_at : build_at + 3] == ["--bind", str(BUILD), str(BUILD)]
    assert pairs(args, "--bind") == [str(BUILD)]  # the only writable host folder


def test_as_root_the_build_switches_to_nobody_without_a_user_namespace() -> None:
    """Run by root, does the command start with setpriv to uid/gid 65534, no caps left?"""
    args = argv(drop_to=65534, setpriv="/usr/bin/setpriv")
    for flag in ("--unshare-net", "--unshare-pid", "--unshare-ipc", "--die-with-parent"):
        assert flag in args
    # A user namespace made by root maps the build back to uid 0 on the host.
    assert "--unshare-all" not in args and "--unshare-user" not in args
    assert "--share-net" not in args
    assert args[args.index("--cap-drop") + 1] == "ALL"
    assert set(pairs(args, "--cap-add")) == {"CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP"}
    command = args[args.index("--") + 1 :]
    assert command[:7] == [
        "/usr/bin/setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
    ]
    assert command[-3:] == ["--", "make", "modules"]


def test_as_an_ordinary_user_bwrap_makes_a_user_namespace_and_keeps_the_uid() -> None:
    """Run by an ordinary user, is a user namespace required (not just tried), every
    capability dropped, no setpriv used, and nested user namespaces refused when asked?"""
    args = argv(drop_to=None)
    for flag in ("--unshare-all", "--unshare-user", "--die-with-parent", "--new-session"):
        assert flag in args
    assert "--clearenv" in args and "--disable-userns" not in args
    assert "--cap-add" not in args and "setpriv" not in args
    assert args[args.index("--cap-drop") + 1] == "ALL"
    hardened = argv(drop_to=None, disable_userns=True)
    assert hardened.index("--unshare-user") < hardened.index("--disable-userns")
    assert "--disable-userns" not in argv(drop_to=65534, disable_userns=True)


def test_minimal_environment_and_working_folder() -> None:
    args = argv()
    env = {args[i + 1]: args[i + 2] for i, a in enumerate(args) if a == "--setenv"}
    assert env == {"PATH": MINIMAL_ENV["PATH"], "HOME": "/tmp", "LC_ALL": "C"}
    assert pairs(args, "--chdir") == [str(BUILD)]
    assert args[-3:] == ["--", "make", "modules"]


def test_root_tree_is_not_bound_again() -> None:
    args = bwrap_argv(["true"], build_dir=BUILD, kernel_tree=Path("/"), view=VIEW)
    assert "/" not in pairs(args, "--ro-bind")
    assert shlex.split(shlex.join(args)) == args


def test_limits_argv() -> None:
    assert limits_argv(ResourceLimits(), "/usr/bin/prlimit") == [
        "/usr/bin/prlimit",
        f"--fsize={64 << 20}",
        f"--as={2 << 30}",
        "--nproc=512",
        "--nofile=1024",
        "--core=0",
        "--",
    ]


def test_sandbox_argv_uses_this_machine_and_applies_limits(tmp_path: Path) -> None:
    headers = tmp_path / "tree/usr/src/linux-headers-x"
    headers.mkdir(parents=True)
    args = sandbox_argv(["make"], build_dir=tmp_path / "b", headers=headers)
    assert args[1:4] == ["--ro-bind", "/usr", "/usr"]
    for link in pairs(args, "--symlink"):
        assert Path("/", link).is_dir()
    assert str(tmp_path / "tree") in pairs(args, "--ro-bind")
    command = args[args.index("--") + 1 :]
    assert command[-1] == "make"
    if "prlimit" in " ".join(command):
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


def test_provider_folders_are_bound_read_only_before_the_build_folder() -> None:
    """Is a --with folder bound read-only at its own path, its parents made, the build writable?"""
    ws = Path("/tmp/lab/ws")
    args = bwrap_argv(
        ["make"], build_dir=ws / "consumer", kernel_tree=TREE, read_only=[ws / "provider"]
    )
    assert str(ws / "provider") in pairs(args, "--ro-bind")
    assert pairs(args, "--bind") == [str(ws / "consumer")]
    assert args.index(str(ws / "provider")) < args.index("--bind")
    made = [args[i + 3] for i, a in enumerate(args) if a == "--perms" and args[i + 2] == "--dir"]
    assert made.count(str(ws)) == 1  # made once, for the provider; the build folder reuses it
    assert str(ws) not in pairs(args, "--ro-bind") + pairs(args, "--bind")  # only the two folders


# /proc/self/status of root: on this host, and in a podman container (default capabilities)
HOST_ROOT = "CapInh:\t0000000000000000\nCapEff:\t000001fffeffffff\n"
CONTAINER_ROOT = "CapInh:\t0000000000000000\nCapEff:\t00000000800405fb\n"


def test_root_in_a_container_is_told_from_root_on_a_host():
    """Does the CapEff reading find CAP_SYS_ADMIN for root on this host and not for root
    in a podman container with its default capabilities (real /proc/self/status lines)?"""
    assert sandbox.has_capability(HOST_ROOT, sandbox.CAP_SYS_ADMIN)
    assert not sandbox.has_capability(CONTAINER_ROOT, sandbox.CAP_SYS_ADMIN)
    assert not sandbox.has_capability("Name:\tx\n", sandbox.CAP_SYS_ADMIN)


@pytest.mark.parametrize(("euid", "admin", "uid"), [(0, True, 65534), (0, False, None),
                                                    (1000, False, None)])  # fmt: skip
def test_root_without_sys_admin_builds_in_a_user_namespace(monkeypatch, euid, admin, uid):
    """Does root without CAP_SYS_ADMIN (which cannot make namespaces outright) build as an
    ordinary user does, in a user namespace with every capability dropped, while root
    with it still switches to nobody?"""
    monkeypatch.setattr(sandbox.os, "geteuid", lambda: euid)
    monkeypatch.setattr(sandbox, "_has_sys_admin", lambda: admin)
    assert sandbox.build_uid() == uid
    argv = sandbox.bwrap_argv(["true"], build_dir=Path("/b"), kernel_tree=Path("/k"),
                              drop_to=sandbox.build_uid())  # fmt: skip
    assert ("--unshare-user" in argv) == (uid is None)
    assert ("setpriv" in argv) == (uid is not None)
