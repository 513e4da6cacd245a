"""The host's TSC frequency, which a software-emulated guest needs to be told.

Under TCG, QEMU answers the guest's RDTSC with the host's own counter. The
microvm machine has no HPET and no ACPI PM timer to calibrate that counter
against, so the guest kernel is given its frequency (tsc_early_khz=). It is
measured once per host boot by a small C program and rounded to whole MHz, so
the snapshot key (which covers the kernel command line) stays the same.
"""

from __future__ import annotations

import contextlib
import json
import platform
import subprocess
from pathlib import Path

from kmodlab.ctool import compile_program
from kmodlab.errors import KmodlabError
from kmodlab.paths import atomic_write, home, shared_home

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
NAME = "hostclock.json"
# Below this a measurement is not a TSC (or the host is not x86).
MIN_PLAUSIBLE_KHZ = 100_000


def round_mhz(khz: float) -> int:
    """kHz rounded to whole MHz: 0.02 % off at most, the same on every measurement."""
    return int(round(khz / 1000.0)) * 1000


def parse_khz(text: str) -> int | None:
    """The helper's output as kHz, or None when it is not a plausible TSC frequency."""
    try:
        khz = float(text.strip())
    except ValueError:
        return None
    return round_mhz(khz) if khz >= MIN_PLAUSIBLE_KHZ else None


def _boot_id() -> str:
    try:
        return BOOT_ID.read_text().strip()
    except OSError:
        return "unknown"


def measure() -> int | None:
    """Measure the TSC now; None on a host where that is not possible."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return None
    try:
        tool = compile_program("kmodlab.vm", "tsc_khz.c", "the TSC probe")
        proc = subprocess.run([str(tool)], capture_output=True, text=True, timeout=10)
    except (KmodlabError, OSError, subprocess.TimeoutExpired):
        return None
    return parse_khz(proc.stdout) if proc.returncode == 0 else None


def tsc_khz(base: Path | None = None) -> int | None:
    """The host's TSC frequency in kHz (cached per host boot), or None if unknown.

    Read from the user's own cache or the shared one (an administrator's
    set-up measured it already); a new measurement goes to the user's own.
    """
    key = f"{platform.node()}|{_boot_id()}"
    for path in [base / NAME] if base else [home() / NAME, shared_home() / NAME]:
        try:
            saved = json.loads(path.read_text())
            if saved.get("key") == key:
                return saved.get("tsc_khz")
        except (OSError, ValueError, AttributeError):
            pass
    khz = measure()
    # Only a cache: a folder this user cannot write costs a measurement next time.
    with contextlib.suppress(OSError):
        atomic_write((base or home()) / NAME, json.dumps({"key": key, "tsc_khz": khz}).encode())
    return khz
