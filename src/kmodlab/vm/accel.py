"""Choosing how to run the guest: KVM where it really works, software emulation otherwise.

/dev/kvm existing proves little: on some hosts it is a KVM backend that only
runs specially built guests (PVM), and a stock kernel hangs or QEMU aborts.
So KVM is judged by booting the real guest with it, once; the verdict is
cached per host kernel, QEMU and guest, and KMODLAB_ACCEL=kvm|tcg overrides it.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kmodlab.errors import SetupError
from kmodlab.paths import atomic_write, home, shared_home
from kmodlab.vm.guest import Guest, GuestError
from kmodlab.vm.qemu import ACCELERATORS, Accelerator, MachineSpec, fitted

PROBE_TIMEOUT_S = 20.0
KVM_DEVICE = Path("/dev/kvm")
NAME = "accel.json"


@dataclass(frozen=True)
class Choice:
    accel: Accelerator
    note: str  # one line for the user: what was chosen and why


def candidates(kvm_device: Path | None = None) -> list[Accelerator]:
    """Accelerators worth trying, best first (KVM only where this user may open it)."""
    kvm_device = kvm_device or KVM_DEVICE
    if kvm_device.exists() and os.access(kvm_device, os.R_OK | os.W_OK):
        return [ACCELERATORS["kvm"], ACCELERATORS["tcg"]]
    return [ACCELERATORS["tcg"]]


def boots(spec: MachineSpec, timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    """None if the guest reaches its agent with this spec, else why not."""
    try:
        with Guest(spec, incoming=None) as guest:
            guest.wait_ready(timeout_s)
            guest.run(["true"], timeout_s=timeout_s)
            return None
    except GuestError as e:
        return e.problem


def probe(
    base: MachineSpec,
    options: Sequence[Accelerator],
    *,
    try_boot: Callable[[MachineSpec], str | None] = boots,
) -> Choice:
    """The first accelerator a real guest boots with; explains every one that failed."""
    failures: list[str] = []
    for accel in options:
        reason = try_boot(fitted(base, accel))
        if reason is None:
            note = f"using {accel.description}"
            if failures:
                note += " (" + "; ".join(failures) + ")"
            return Choice(accel, note)
        failures.append(f"{accel.name} does not work here: {reason}")
    raise SetupError(
        "the guest kernel does not boot with any accelerator: " + "; ".join(failures),
        "run `kmodlab doctor` for details",
    )


def _cache_key(spec: MachineSpec, qemu: str) -> str:
    return "|".join((platform.release(), qemu, str(spec.kernel), str(spec.initrd)))


def choose(
    spec: MachineSpec, *, qemu_version: str, base: Path | None = None, probe_now: bool = True
) -> Choice:
    """Pick (and remember) the accelerator for this host; spec.accel is ignored.

    With probe_now False nothing is booted: the remembered choice, else tcg.
    """
    forced = os.environ.get("KMODLAB_ACCEL")
    if forced:
        if forced not in ACCELERATORS:
            raise SetupError(
                f"KMODLAB_ACCEL={forced} is not an accelerator",
                f"use one of {', '.join(ACCELERATORS)} or unset it",
            )
        return Choice(ACCELERATORS[forced], f"using {forced} (KMODLAB_ACCEL)")
    options = candidates()
    usable = [a.name for a in options]
    if usable == ["tcg"]:
        # Nothing to choose between: a probe boot would only cost time (20 s and more
        # on a loaded host), and a guest that cannot boot says so when it starts.
        return Choice(options[0], f"using {options[0].description}: no /dev/kvm this user may open")
    key = _cache_key(spec, qemu_version)
    # The user's own choice, else the shared cache's (an administrator's set-up) when
    # made for the same kernel and initramfs by someone who could open the same
    # devices: root's /dev/kvm is not every user's.
    own = base / NAME if base else home() / NAME
    for path in [own] if base else [own, shared_home() / NAME]:
        try:
            saved = json.loads(path.read_text())
            if (
                saved.get("key") == key
                and saved.get("accel") in ACCELERATORS
                and (path == own or saved.get("usable") == usable)
            ):
                return Choice(ACCELERATORS[saved["accel"]], saved.get("note", ""))
        except (OSError, ValueError, AttributeError):
            pass
    if not probe_now:
        return Choice(ACCELERATORS["tcg"], "tcg (not probed yet: the first real run probes)")
    choice = probe(spec, options)
    record = {"key": key, "accel": choice.accel.name, "note": choice.note, "usable": usable}
    with contextlib.suppress(OSError):  # only a cache: an unwritable one costs a probe
        atomic_write(own, json.dumps(record).encode())
    return choice
