"""QEMU command lines for the lab guest, built as argument lists by pure functions.

The guest has no network, no disk and no host files: its whole world is the
initramfs. The kernel console is the serial port ttyS0 (the host keeps it to
find oopses even when the guest hangs); the agent's private channel is a
virtio-serial port, which moves data hundreds of times faster than a UART.
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path

QEMU = "qemu-system-x86_64"
AGENT_PORT = "virtserialport,chardev=agent,name=kmodlab.agent"

# Booted quiet (printing the boot log over an emulated UART costs time); the
# guest's init raises the console level once it is up. panic=-1 with
# -no-reboot turns a panic into QEMU exiting, which the host sees at once.
BASE_CMDLINE = (
    "console=ttyS0",
    "quiet",
    "panic=-1",
    "nokaslr",
    # Self-tests of the crypto API take a noticeable part of a boot under TCG.
    "cryptomgr.notests",
    # Built-in initcalls the lab never needs, measured with initcall_debug as
    # the slowest of a cold boot under TCG: a crypto KDF self-test that runs
    # despite notests (~0.35 s), encrypted keys (~0.18 s) and IPv6 (~0.16 s;
    # the guest has no network). Not TCP CUBIC: without it the kernel runs
    # modprobe to look for it, which costs more than registering it.
    "initcall_blacklist=crypto_kdf108_init,init_encrypted,inet6_init",
    # No speculative-execution mitigations in a throw-away guest: patching
    # thousands of retpoline sites is a sizeable part of early boot.
    "mitigations=off",
    "no_timer_check",
    "tsc=reliable",
    # Oopses and WARNs must fit in the log; 128 KiB is the default.
    "log_buf_len=1M",
    # Freed slab objects are poisoned (0x6b), so a use after free reads
    # poison (a pointer in a freed object becomes a general protection fault
    # at the student's line) instead of the old contents that "work"; a write
    # after free is reported as "Poison overwritten" when the object is reused.
    "slub_debug=P",
)


@dataclass(frozen=True)
class Accelerator:
    """How QEMU executes guest code; each differs only by the arguments it adds."""

    name: str
    args: tuple[str, ...]
    description: str


# KVM gets the host CPU model; TCG keeps QEMU's default model, which every
# host can emulate and which keeps saved snapshots portable between hosts.
ACCELERATORS: dict[str, Accelerator] = {
    "kvm": Accelerator("kvm", ("-accel", "kvm", "-cpu", "host"), "KVM hardware virtualisation"),
    "tcg": Accelerator("tcg", ("-accel", "tcg"), "software emulation (TCG)"),
}


@dataclass(frozen=True)
class Machine:
    """A QEMU machine type with the bus its virtio devices sit on."""

    name: str
    virtio_serial: str  # the virtio-serial controller device for this machine
    cmdline: tuple[str, ...]
    description: str


# microvm has no PCI and no legacy firmware tables to probe: under TCG it
# boots about 0.3 s faster than q35. Its virtio devices are virtio-mmio,
# described in ACPI. It has no HPET or PM timer, so a TCG guest must be told
# the TSC frequency (hostclock.py); q35 is the fallback when it cannot be.
MACHINES: dict[str, Machine] = {
    "microvm": Machine(
        "microvm", "virtio-serial-device", ("pci=off",), "microvm (virtio-mmio, no PCI)"
    ),
    "q35": Machine("q35", "virtio-serial-pci", (), "q35 (PCI)"),
}


@dataclass(frozen=True)
class MachineSpec:
    """Everything that defines a guest; a saved snapshot is valid only for the same spec."""

    kernel: Path  # the decompressed vmlinux, booted through PVH
    initrd: Path
    accel: Accelerator
    memory_mb: int = 256
    cpus: int = 1
    extra_cmdline: tuple[str, ...] = field(default=())
    machine: Machine = MACHINES["q35"]
    tsc_khz: int | None = None  # the host's TSC frequency, told to a TCG guest

    def cmdline(self) -> str:
        clock = (
            (f"tsc_early_khz={self.tsc_khz}",) if self.tsc_khz and self.accel.name == "tcg" else ()
        )
        return " ".join((*BASE_CMDLINE, *self.machine.cmdline, *clock, *self.extra_cmdline))


def fitted(spec: MachineSpec, accel: Accelerator, machine: str | None = None) -> MachineSpec:
    """The spec for `accel`, on microvm unless TCG lacks the TSC frequency (or asked otherwise)."""
    if machine is None:
        machine = "microvm" if accel.name != "tcg" or spec.tsc_khz else "q35"
    return replace(spec, accel=accel, machine=MACHINES[machine])


def machine_args(spec: MachineSpec) -> list[str]:
    """The part of the command line that shapes the machine (and so the snapshot key)."""
    return [
        "-machine",
        spec.machine.name,
        *spec.accel.args,
        "-m",
        f"{spec.memory_mb}M",
        "-smp",
        str(spec.cpus),
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-no-reboot",
        "-nic",
        "none",
        "-kernel",
        str(spec.kernel),
        "-initrd",
        str(spec.initrd),
        "-append",
        spec.cmdline(),
        "-serial",
        "chardev:con",
        "-device",
        f"{spec.machine.virtio_serial},id=vser",
        "-device",
        AGENT_PORT,
    ]


def qemu_argv(
    spec: MachineSpec,
    *,
    agent_socket: Path,
    qmp_socket: Path | None = None,
    incoming: Path | None = None,
    qemu: str = QEMU,
) -> list[str]:
    """The full command: console on QEMU's stdout, agent on a UNIX socket QEMU listens on.

    wait=on makes QEMU hold the guest until the host has connected, so the
    agent's first bytes are never lost.
    """
    argv = [qemu, *machine_args(spec)]
    argv += ["-chardev", "stdio,id=con,signal=off"]
    argv += ["-chardev", f"socket,id=agent,path={agent_socket},server=on,wait=on"]
    if qmp_socket is not None:
        argv += ["-qmp", f"unix:{qmp_socket},server=on,wait=off"]
    if incoming is not None:
        # QEMU 7.2 has no file: migration URI; exec: runs through /bin/sh.
        argv += ["-incoming", f"exec:cat {shlex.quote(str(incoming))}"]
    return argv


def snapshot_key(spec: MachineSpec, qemu_version: str, kernel_sha: str, initrd_sha: str) -> str:
    """A saved guest restores only into the same QEMU, machine, kernel and initramfs."""
    parts = [qemu_version, kernel_sha, initrd_sha, *machine_args(spec)]
    # Paths vary between caches; the content hashes above stand for them.
    parts = [p for p in parts if p not in (str(spec.kernel), str(spec.initrd))]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:20]
