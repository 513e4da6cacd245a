"""Saved guests: boot once, save the booted machine, restore it for every run.

Restoring a guest that is already sitting at the agent's prompt is about ten
times faster than booting under software emulation. QEMU's migration stream
is the snapshot format (QMP `migrate` to a file, `-incoming` to restore); it
is only valid for the same QEMU, machine arguments, kernel and initramfs,
which is what the cache key covers. Whatever differs per run (the student's
modules) enters the guest after the restore, through the agent.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import shlex
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from kmodlab.paths import atomic_write, cached
from kmodlab.vm.guest import BootFailed, Guest
from kmodlab.vm.qemu import QEMU, MachineSpec, snapshot_key
from kmodlab.vm.qmp import QMP

BOOT_TIMEOUT_S = 60.0
PREPARED = "prepared.json"  # beside a prepared guest.state: what its preparation made


@dataclass(frozen=True)
class Preparation:
    """Work done once in the guest before it is saved, so every restored guest starts with it.

    `name` is part of the snapshot's folder: derive it from what `run` does,
    so that a change to the work saves a new snapshot instead of restoring a
    stale one. `run` returns facts about what it made (e.g. random names);
    they are saved beside the snapshot and handed to each restored guest.
    """

    name: str
    run: Callable[[Guest], dict[str, object]]


@cache
def qemu_version(qemu: str = QEMU) -> str:
    proc = subprocess.run([qemu, "--version"], capture_output=True, text=True, check=False)
    return proc.stdout.splitlines()[0] if proc.stdout else "unknown"


@cache
def _file_sha(path: Path, size: int, mtime: float) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def file_sha(path: Path) -> str:
    st = path.stat()
    return _file_sha(path, st.st_size, st.st_mtime)


def snapshot_path(
    spec: MachineSpec, base: Path | None = None, *, variant: str | None = None
) -> Path:
    """Where the saved guest for spec is: the user's own, else the shared cache's if it
    has one (a set-up run for everyone), else where the user's own is to be saved.
    A variant (a Preparation's name) is a guest saved after that preparation."""
    key = snapshot_key(spec, qemu_version(), file_sha(spec.kernel), file_sha(spec.initrd))
    relative = Path("snapshots") / key / (variant or "") / "guest.state"
    return base / relative if base else cached(relative)


def prepared_facts(path: Path) -> dict[str, object] | None:
    """What the preparation of the snapshot at `path` made; None if unreadable."""
    try:
        facts = json.loads(path.with_name(PREPARED).read_text())
    except (OSError, ValueError):
        return None
    return facts if isinstance(facts, dict) else None


def save_snapshot(
    spec: MachineSpec,
    out: Path,
    *,
    boot_timeout_s: float = BOOT_TIMEOUT_S,
    preparation: Preparation | None = None,
) -> None:
    """Boot a guest, wait for the agent, (prepare it,) and save the whole machine to `out`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    # A name of its own: another process may be saving the same snapshot.
    tmp = out.with_name(f"{out.name}.partial-{os.getpid()}-{secrets.token_hex(4)}")
    facts: dict[str, object] | None = None
    with Guest(spec, incoming=None, qmp=True) as guest:
        guest.wait_ready(boot_timeout_s)
        if preparation is not None:  # before the scrub: what it freed is zeroed too
            facts = preparation.run(guest)
        # Zero the free memory (freed initrd and __init pages): QEMU stores a
        # zero page as a flag, so the snapshot is smaller and restores faster.
        scrub = guest.run(["@scrub"], timeout_s=boot_timeout_s)
        if not scrub.ok:
            raise BootFailed(f"cannot prepare the guest for saving: {scrub.stdout.strip()}")
        guest.drain_kmsg()  # the agent now blocks in read(): a quiet point to freeze
        assert guest.qmp_path is not None
        qmp = QMP(guest.qmp_path)
        try:
            # Not stopped first: QEMU records the run state in the stream, and a
            # guest saved while paused would restore paused. The guest is idle
            # in read(), so a live save converges at once.
            qmp.execute("migrate", uri=f"exec:cat > {shlex.quote(str(tmp))}")
            deadline = time.monotonic() + 60
            while True:
                info = qmp.execute("query-migrate")
                status = info.get("status") if isinstance(info, dict) else None
                if status == "completed":
                    break
                if status in ("failed", "cancelled") or time.monotonic() > deadline:
                    raise BootFailed(f"saving the guest failed ({status})", guest.console())
                time.sleep(0.02)
        finally:
            qmp.close()
    if facts is not None:  # in place before the snapshot is: a reader that finds it finds both
        atomic_write(out.with_name(PREPARED), json.dumps(facts, indent=1).encode())
    tmp.replace(out)
    atomic_write(out.with_name("spec.json"), json.dumps(_describe(spec), indent=1).encode())


def _describe(spec: MachineSpec) -> dict[str, object]:
    return {
        "qemu": qemu_version(),
        "kernel": str(spec.kernel),
        "initrd": str(spec.initrd),
        "accel": spec.accel.name,
        "memory_mb": spec.memory_mb,
        "cmdline": spec.cmdline(),
    }


def ensure_snapshot(
    spec: MachineSpec, base: Path | None = None, *, preparation: Preparation | None = None
) -> Path:
    """The saved guest for spec, made first if missing.

    Two graders starting at once (grade-batch --jobs 2, two shells) make it
    once: the second waits on the first's lock, then finds the file.
    """
    path = snapshot_path(spec, base, variant=preparation.name if preparation else None)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name("lock"), "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not path.is_file():
                save_snapshot(spec, path, preparation=preparation)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return path
