"""The bubblewrap sandbox a build runs in.

A build compiles code someone else wrote, with a compiler whose preprocessor
will `#include` (and whose assembler will `.incbin`) any file it can open, and
whose messages quote what they read. So the sandbox is built up, not masked
down: it shows the toolchain (/usr and the /bin, /lib, ... links into it), the
two files of /etc that the dynamic loader and Debian's alternatives (cc, awk)
need, the kernel tree, and the build folder, the only writable place (in the
lab, also the provider folders a consumer's KBUILD_EXTRA_SYMBOLS reads, read-only). No /etc
beyond those, no /var, /home, /root, /run or /proc; no network. Started as
root, the build drops to an unprivileged uid (nobody) before make runs, so even
a file that some bind exposed by mistake is read as nobody, never as root.
Started by an ordinary user (a JupyterHub, after an administrator's set-up),
bwrap makes a user namespace and the build stays that user, with no
capabilities and, where bwrap can, no nested user namespaces.

bwrap_argv() is pure, so it can be unit-tested and printed for a dry run;
sandbox_argv() adds the facts of this machine (which top-level folders are
links into /usr, whether we are root, where prlimit is) and is what the
builder and the escape tests share.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

MINIMAL_ENV: Mapping[str, str] = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/tmp",
    "LC_ALL": "C",  # plain ASCII quotes in gcc's messages, which diagnostics.py parses
}
# The toolchain. On a merged-/usr system (Debian 12) the top-level folders are
# links into /usr and are recreated as links; otherwise they are bound read-only.
SYSTEM_DIRS: tuple[str, ...] = ("/usr",)
# Inside /usr, the machine's own software, not Debian's toolchain: shown empty.
# (A hello build only looks its folders up on PATH.)
LOCAL_DIRS: tuple[str, ...] = ("/usr/local",)
TOP_LEVEL: tuple[str, ...] = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# Measured with strace on a hello build: every program start reads ld.so.cache,
# and /usr/bin/cc and awk are links through /etc/alternatives. Nothing else
# under /etc is opened.
ETC_ENTRIES: tuple[str, ...] = ("/etc/ld.so.cache", "/etc/alternatives")
# The uid and gid a build runs as when kmodlab runs as root: nobody/nogroup.
UNPRIVILEGED_ID = 65534
PROBE_TIMEOUT_S = 30.0  # bwrap running `true`: a fraction of a second unless wedged
# Only these survive bwrap's capability drop, and only until setpriv has emptied
# the bounding set (SETPCAP) and switched to UNPRIVILEGED_ID: the kernel clears
# every remaining capability on that switch.
SWITCH_CAPS: tuple[str, ...] = ("CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP")


@dataclass(frozen=True)
class ResourceLimits:
    """Resource limits for everything the build starts (applied with prlimit)."""

    file_size: int = 64 << 20  # a .ko with debug info is a few MiB; `.incbin "/dev/zero"` is not
    address_space: int = 2 << 30  # cc1 needs ~100 MiB; `#include "/dev/zero"` would eat all RAM
    # Counts every process of the build's uid on the host (nobody, when started as
    # root; the kernel exempts uid 0, so it was moot before the switch). None: leave as is.
    processes: int | None = 512
    open_files: int = 1024


def limits_argv(limits: ResourceLimits, prlimit: str = "prlimit") -> list[str]:
    argv = [prlimit, f"--fsize={limits.file_size}", f"--as={limits.address_space}"]
    if limits.processes is not None:
        argv.append(f"--nproc={limits.processes}")
    return [*argv, f"--nofile={limits.open_files}", "--core=0", "--"]


def kernel_tree(headers: Path) -> Path:
    """The folder to bind for a headers dir: `tree` in tree/usr/src/linux-headers-<abi>.

    Debian's headers dir holds relative symlinks (scripts -> ../../lib/linux-kbuild-x.y)
    and includes ../linux-headers-<abi>-common/Makefile, so the whole tree must be
    visible, at the same path.
    """
    if headers.parent.name == "src" and headers.parent.parent.name == "usr":
        return headers.parent.parent.parent
    return headers


def system_view(
    top_level: Mapping[str, str | None], etc: Sequence[str], local: Sequence[str] = LOCAL_DIRS
) -> list[str]:
    """bwrap options that show the toolchain: /usr, the top-level folders, a few /etc files.

    top_level maps each top-level folder that exists to its link target (e.g.
    "/bin" -> "usr/bin") or None for a real folder; local are folders inside
    /usr shown empty. Pure.
    """
    argv: list[str] = []
    for d in SYSTEM_DIRS:
        argv += ["--ro-bind", d, d]
    for d in local:
        argv += ["--tmpfs", d, "--remount-ro", d]
    for path, target in top_level.items():
        argv += ["--symlink", target, path] if target is not None else ["--ro-bind", path, path]
    made: list[str] = list(SYSTEM_DIRS)
    for path in etc:
        argv += [*_open_parents(Path(path), made), "--ro-bind", path, path]
        made.append(str(Path(path).parent))
    return argv


def _open_parents(path: Path, above: Sequence[str]) -> list[str]:
    """Create path's parent folders world-traversable, except those in or above `above`.

    bwrap makes a missing parent 0700, unreachable for the unprivileged build.
    """
    argv: list[str] = []
    for parent in reversed(path.parents):
        if str(parent) == "/" or any(
            parent == Path(a) or Path(a).is_relative_to(parent) for a in above
        ):
            continue
        argv += ["--perms", "0755", "--dir", str(parent)]
    return argv


def bwrap_argv(
    command: Sequence[str],
    *,
    build_dir: Path,
    kernel_tree: Path,
    read_only: Sequence[Path] = (),
    view: Sequence[str] = (),
    drop_to: int | None = UNPRIVILEGED_ID,
    env: Mapping[str, str] = MINIMAL_ENV,
    bwrap: str = "bwrap",
    setpriv: str = "setpriv",
    disable_userns: bool = False,
) -> list[str]:
    """The bwrap command line that runs `command` in `build_dir`, sandboxed. Pure.

    view is what the sandbox shows of the system (system_view()); the root
    itself is an empty tmpfs. With drop_to (kmodlab running as root), no user
    namespace is made (it would map the build back to uid 0 on the host) and
    setpriv switches to that uid and gid before the command runs. Order
    matters: bwrap mounts in argument order, so the tree and the build
    folder come after the folders they live in. read_only are more folders
    shown read-only at their own paths (the lab's provider folders, whose
    Module.symvers a consumer's KBUILD_EXTRA_SYMBOLS names); the caller keeps
    them apart from the build folder. disable_userns (without drop_to;
    bwrap 0.8+) forbids nested user namespaces inside.
    """
    argv = [bwrap, *view, "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp"]
    mounted = ["/tmp", *SYSTEM_DIRS]
    if str(kernel_tree) != "/":
        argv += _open_parents(kernel_tree, mounted)
        argv += ["--ro-bind", str(kernel_tree), str(kernel_tree)]
    mounted.append(str(kernel_tree))
    for folder in read_only:
        argv += _open_parents(folder, mounted)
        argv += ["--ro-bind", str(folder), str(folder)]
        mounted.append(str(folder))
    argv += _open_parents(build_dir, mounted)
    argv += ["--bind", str(build_dir), str(build_dir)]
    if drop_to is None:
        # As an ordinary user bwrap needs a user namespace anyway, and the build
        # already runs as that user (setpriv to nobody would need root). What it
        # can still shed: every capability of its namespace, and (bwrap 0.8+) the
        # right to make nested user namespaces, which would give the build
        # capabilities again, over nothing of the host's but a wider kernel surface.
        argv += ["--unshare-all", "--unshare-user"]
        if disable_userns:
            argv += ["--disable-userns"]
        argv += ["--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    else:
        argv += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts"]
        argv += ["--unshare-cgroup-try", "--die-with-parent", "--new-session"]
        argv += ["--cap-drop", "ALL"]
        for cap in SWITCH_CAPS:
            argv += ["--cap-add", cap]
    argv += ["--clearenv"]
    for key, value in env.items():
        argv += ["--setenv", key, value]
    argv += ["--chdir", str(build_dir), "--"]
    if drop_to is not None:
        argv += [setpriv, f"--reuid={drop_to}", f"--regid={drop_to}", "--clear-groups"]
        argv += ["--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
    return [*argv, *command]


@functools.cache
def bwrap_disables_userns(bwrap: str = "bwrap") -> bool:
    """Whether this bwrap has --disable-userns (0.8, Debian 12; Ubuntu 22.04 has 0.6)."""
    try:
        done = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--disable-userns" in done.stdout + done.stderr


def build_uid() -> int | None:
    """The uid a build runs as: nobody when kmodlab runs as root, else the caller's own.

    Root without CAP_SYS_ADMIN (root in a container: podman's and Docker's defaults)
    cannot make namespaces outright, only inside a user namespace, so it builds as an
    ordinary user does (None): its own uid, every capability dropped, over a read-only
    view (measured in podman containers with Debian's bwrap 0.8 and Ubuntu 22.04's 0.6).
    """
    return UNPRIVILEGED_ID if os.geteuid() == 0 and _has_sys_admin() else None


CAP_SYS_ADMIN = 21


def has_capability(status: str, cap: int) -> bool:
    """Whether /proc/self/status's CapEff line holds capability number cap. Pure."""
    for line in status.splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> cap & 1)
    return False


@functools.cache
def _has_sys_admin() -> bool:
    try:
        return has_capability(Path("/proc/self/status").read_text(), CAP_SYS_ADMIN)
    except OSError:
        return True  # no /proc to ask: assume root is root, as before


def host_view() -> list[str]:
    """system_view() for this machine: which top-level folders exist, and which are links."""
    top: dict[str, str | None] = {}
    for path in TOP_LEVEL:
        if os.path.islink(path):
            top[path] = os.readlink(path)
        elif os.path.isdir(path):
            top[path] = None
    etc = [p for p in ETC_ENTRIES if os.path.lexists(p)]
    return system_view(top, etc, [d for d in LOCAL_DIRS if os.path.isdir(d)])


def hand_over(build_dir: Path) -> None:
    """Give the build folder (and what is in it) to the uid the build runs as.

    The folder itself becomes 0755: bwrap enters it as root without
    CAP_DAC_OVERRIDE, before setpriv switches uid. Its parent stays private.
    """
    uid = build_uid()
    if uid is None:
        return
    os.chmod(build_dir, 0o755)
    for here, dirs, files in os.walk(build_dir):
        os.chown(here, uid, uid)
        for name in dirs + files:
            os.chown(os.path.join(here, name), uid, uid, follow_symlinks=False)


def sandbox_argv(
    command: Sequence[str],
    *,
    build_dir: Path,
    headers: Path,
    read_only: Sequence[Path] = (),
    limits: ResourceLimits | None = None,
    env: Mapping[str, str] = MINIMAL_ENV,
) -> list[str]:
    """The exact command line the builder runs `command` with, on this machine.

    Applies `limits` with prlimit when prlimit is installed. The build folder
    must have been handed over (hand_over()) when running as root. env is the
    whole environment inside (the lab adds PWD for a student's Makefile);
    read_only, folders shown read-only at their own paths (resolved here).
    """
    prlimit = shutil.which("prlimit", path=MINIMAL_ENV["PATH"])
    limited = (
        [*limits_argv(limits or ResourceLimits(), prlimit), *command] if prlimit else list(command)
    )
    setpriv = shutil.which("setpriv", path=MINIMAL_ENV["PATH"]) or "setpriv"
    return bwrap_argv(
        limited,
        build_dir=build_dir.resolve(),
        kernel_tree=kernel_tree(headers.resolve()),
        read_only=[p.resolve() for p in read_only],
        view=host_view(),
        drop_to=build_uid(),
        setpriv=setpriv,
        env=env,
        disable_userns=build_uid() is None and bwrap_disables_userns(),
    )


@functools.cache
def sandbox_available() -> bool:
    """Whether bwrap can set up the sandbox here; probed once per process.

    The probe is a build's own command line running `true`, since bwrap may
    run but be refused a namespace (in a container, say), or setpriv missing.
    """
    if shutil.which("bwrap") is None:
        return False
    with tempfile.TemporaryDirectory(prefix="kmodlab-probe-") as tmp:
        build_dir = Path(tmp) / "build"
        build_dir.mkdir()
        hand_over(build_dir)
        probe = sandbox_argv(["true"], build_dir=build_dir, headers=Path("/"))
        try:
            done = subprocess.run(
                probe, capture_output=True, timeout=PROBE_TIMEOUT_S, env=dict(MINIMAL_ENV)
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
    return done.returncode == 0
