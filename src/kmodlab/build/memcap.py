"""One memory cap for all of a grade's compilers: a cgroup around the sandbox.

A per-process limit (RLIMIT_AS, sandbox.ResourceLimits) does not bound a grade: a
build runs make -j4 and a grade runs two builds at once, so four source
files each holding a macro-expansion bomb ran four compilers at ~1.8 GB
each, and a batch of two jobs doubles that. A memory cgroup caps their sum:
when it is full the kernel reclaims the page cache, then kills the biggest
compiler in the group, and the build fails with a message saying why.

Where: a child of kmodlab's own cgroup (never a sibling or a parent: we only
ever write below where we already are), one per grade (or per build when a
build is run alone), removed afterwards.
- cgroup v2 (memory.max, memory.swap.max, memory.oom.group) where the memory
  controller can be enabled for our children;
- else cgroup v1's memory controller (memory.limit_in_bytes), as on hybrid
  hosts such as the project's machines (measured: the unified hierarchy
  there offers only hugetlb).
Where neither is writable (an ordinary user without a delegated cgroup, most
containers), builds keep only the per-process limits; `kmodlab doctor` says
which one applies.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

# Measured peaks (cgroup v1 max_usage_in_bytes, page cache included):
# one hello build 42 MiB, one capstone build 52 MiB (make -j4). A bomb is stopped well
# before it can take the machine (24 GiB on the project's machines).
GRADE_MEMORY = 1 << 30
PROC_CGROUP = Path("/proc/self/cgroup")
PROC_MOUNTS = Path("/proc/self/mounts")


@dataclass(frozen=True)
class MemoryCap:
    """A cgroup whose processes share one memory limit."""

    path: Path
    version: int  # 1 or 2
    limit: int  # bytes

    @contextlib.contextmanager
    def joining(self) -> Iterator[Callable[[], None]]:
        """A preexec function that moves the new process into the group before it runs.

        The file is opened here, in the parent: the child only writes to it
        (no allocation, no lock), so this is safe even though the grader has
        threads. Everything the process starts afterwards stays inside.
        """
        fd = os.open(self.path / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC)

        def move_self() -> None:
            os.write(fd, b"0")  # 0: the writing process itself

        try:
            yield move_self
        finally:
            os.close(fd)

    def oom_kills(self) -> int:
        """How many processes the kernel killed in this group for want of memory."""
        name, key = (
            ("memory.events", "oom_kill")
            if self.version == 2
            else ("memory.oom_control", "oom_kill")
        )
        with contextlib.suppress(OSError, ValueError):
            for line in (self.path / name).read_text().splitlines():
                word, _, value = line.partition(" ")
                if word == key:
                    return int(value)
        return 0

    def peak(self) -> int | None:
        """The most memory the group has held, in bytes, where the kernel says."""
        name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        with contextlib.suppress(OSError, ValueError):
            return int((self.path / name).read_text())
        return None

    def close(self) -> None:
        """Kill whatever is left in the group and remove it."""
        for _ in range(50):
            with contextlib.suppress(OSError):
                os.rmdir(self.path)
                return
            with contextlib.suppress(OSError, ValueError):
                for pid in (self.path / "cgroup.procs").read_text().split():
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(int(pid), signal.SIGKILL)
            time.sleep(0.02)


def _own_groups(text: str) -> dict[str, str]:
    """Controller (or "" for cgroup v2) -> this process's cgroup path, from /proc/self/cgroup."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        for c in controllers.split(",") if controllers else [""]:
            found[c] = path
    return found


def _mounts(text: str) -> tuple[Path | None, Path | None]:
    """(cgroup2 mount point, cgroup v1 memory controller mount point), from /proc/self/mounts."""
    v2 = v1 = None
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        where, fstype, options = fields[1], fields[2], fields[3].split(",")
        if fstype == "cgroup2" and v2 is None:
            v2 = Path(where)
        elif fstype == "cgroup" and "memory" in options and v1 is None:
            v1 = Path(where)
    return v2, v1


def _make(parent: Path, version: int, limit: int) -> MemoryCap | None:
    child = parent / f"kmodlab-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        child.mkdir()
    except OSError:
        return None
    cap = MemoryCap(child, version, limit)
    try:
        if version == 2:
            if not (child / "memory.max").exists():
                (parent / "cgroup.subtree_control").write_text("+memory")
            (child / "memory.max").write_text(str(limit))
            with contextlib.suppress(OSError):  # no swap configured: no file
                (child / "memory.swap.max").write_text("0")
            with contextlib.suppress(OSError):
                (child / "memory.oom.group").write_text("1")
        else:
            (child / "memory.limit_in_bytes").write_text(str(limit))
            with contextlib.suppress(OSError):  # swap accounting may be off
                (child / "memory.memsw.limit_in_bytes").write_text(str(limit))
        # Can we put a process there? (a v2 group with processes cannot gain children.)
        os.close(os.open(child / "cgroup.procs", os.O_WRONLY))
    except OSError:
        cap.close()
        return None
    return cap


def new_cap(limit: int = GRADE_MEMORY) -> MemoryCap | None:
    """A new memory cgroup below our own, capped at limit; None where we cannot make one."""
    try:
        groups = _own_groups(PROC_CGROUP.read_text())
        v2, v1 = _mounts(PROC_MOUNTS.read_text())
    except OSError:
        return None
    if v2 is not None and "" in groups:
        parent = v2 / groups[""].lstrip("/")
        if "memory" in _read(parent / "cgroup.controllers").split():
            cap = _make(parent, 2, limit)
            if cap is not None:
                return cap
    if v1 is not None and "memory" in groups:
        return _make(v1 / groups["memory"].lstrip("/"), 1, limit)
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


@contextlib.contextmanager
def capped(limit: int = GRADE_MEMORY) -> Iterator[MemoryCap | None]:
    """A memory cgroup for the builds run inside the with-block (None: not available here)."""
    cap = new_cap(limit)
    try:
        yield cap
    finally:
        if cap is not None:
            cap.close()


def describe() -> str:
    """One line for `kmodlab doctor`: which memory cap the builds get here."""
    cap = new_cap()
    if cap is None:
        return "per process only (no memory cgroup can be made here): each compiler may use 2 GiB"
    cap.close()
    return f"cgroup v{cap.version}: {cap.limit >> 20} MiB for all of one grade's compilers"
