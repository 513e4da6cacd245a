"""The bubblewrap sandbox a build runs in.

A build compiles code someone else wrote, with a compiler whose preprocessor
will happily `#include` any file it can open. The sandbox gives it a read-only
view of the system, hides the places where private files live (home folders,
the work tree, /run with its sockets), lets it write only to its own build
folder, and has no network.

bwrap_argv() is pure, so it can be unit-tested and printed for a dry run;
sandbox_argv() adds the facts of this machine (which masked paths exist, where
prlimit is) and is what the builder and the escape tests share.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

MINIMAL_ENV: Mapping[str, str] = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/tmp",
    "LC_ALL": "C",  # plain ASCII quotes in gcc's messages, which diagnostics.py parses
}
# Replaced by empty tmpfs inside the sandbox: private files and, in /run, sockets
# (a read-only bind does not stop connect() on a unix socket).
MASKED_DIRS: tuple[str, ...] = ("/root", "/home", "/work", "/run", "/mnt", "/media", "/srv")
# As root, the sandbox keeps uid 0 and could read these; /dev/null bound over them
# is unreadable (bwrap binds with nodev).
MASKED_FILES: tuple[str, ...] = ("/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-")
MASKED_SECRET_DIRS: tuple[str, ...] = ("/etc/ssh",)


@dataclass(frozen=True)
class Limits:
    """Resource limits for everything the build starts (applied with prlimit)."""

    file_size: int = 64 << 20  # a .ko with debug info is a few MiB; `.incbin "/dev/zero"` is not
    address_space: int = 2 << 30  # cc1 needs ~100 MiB; `#include "/dev/zero"` would eat all RAM
    # Not enforced for root (the kernel exempts uid 0 from RLIMIT_NPROC). None: leave as is.
    processes: int | None = 512
    open_files: int = 1024


def limits_argv(limits: Limits, prlimit: str = "prlimit") -> list[str]:
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


def bwrap_argv(
    command: Sequence[str],
    *,
    build_dir: Path,
    kernel_tree: Path,
    masked_dirs: Sequence[str] = MASKED_DIRS + MASKED_SECRET_DIRS,
    masked_files: Sequence[str] = MASKED_FILES,
    env: Mapping[str, str] = MINIMAL_ENV,
    bwrap: str = "bwrap",
) -> list[str]:
    """The bwrap command line that runs `command` in `build_dir`, sandboxed. Pure.

    Order matters: bwrap mounts in argument order, so the masks come first and
    the kernel tree and build folder are bound back on top of them.
    """
    argv = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    for d in masked_dirs:
        argv += ["--tmpfs", d]
    for f in masked_files:
        argv += ["--ro-bind", "/dev/null", f]
    if str(kernel_tree) != "/":
        argv += ["--ro-bind", str(kernel_tree), str(kernel_tree)]
    argv += ["--bind", str(build_dir), str(build_dir)]
    # As root, bwrap would otherwise keep every capability inside: enough to
    # umount a mask (and see /work) or remount / read-write.
    argv += ["--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    argv += ["--clearenv"]
    for key, value in env.items():
        argv += ["--setenv", key, value]
    argv += ["--chdir", str(build_dir), "--", *command]
    return argv


def sandbox_argv(
    command: Sequence[str],
    *,
    build_dir: Path,
    headers: Path,
    limits: Limits | None = None,
    env: Mapping[str, str] = MINIMAL_ENV,
) -> list[str]:
    """The exact command line the builder runs `command` with, on this machine.

    Masks only paths that exist (bwrap cannot create a mount point on the
    read-only root) and applies `limits` with prlimit when prlimit is installed.
    env is the whole environment inside (the lab adds PWD for a student's Makefile).
    """
    prlimit = shutil.which("prlimit", path=MINIMAL_ENV["PATH"])
    limited = [*limits_argv(limits or Limits(), prlimit), *command] if prlimit else list(command)
    return bwrap_argv(
        limited,
        build_dir=build_dir.resolve(),
        kernel_tree=kernel_tree(headers.resolve()),
        masked_dirs=[d for d in MASKED_DIRS + MASKED_SECRET_DIRS if os.path.isdir(d)],
        masked_files=[f for f in MASKED_FILES if os.path.isfile(f)],
        env=env,
    )


@functools.cache
def sandbox_available() -> bool:
    """Whether bwrap can set up the sandbox here; probed once per process.

    The probe uses the same namespaces and capability drop as a build, since
    bwrap may run but be refused a user or network namespace (in a container,
    say).
    """
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return False
    probe = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    probe += ["--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL", "true"]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=30, env=dict(MINIMAL_ENV))
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0
