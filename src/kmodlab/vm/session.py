"""The lab VM as a Python API: boot once, run many commands, push modules, read the log.

    with Session() as s:
        s.push_modules([Path("hello.ko")])
        r = s.run("insmod hello.ko")
        print(r.returncode, r.log)

A session starts from a saved snapshot of a booted guest when one is valid
(a fraction of a second), else it boots cold and saves one for next time.
A guest that crashes or hangs is reported (GuestCrashed/GuestHung carry the
kernel's own report) and the next call starts a fresh guest.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from kmodlab.errors import SetupError
from kmodlab.guest.initramfs import build_initramfs
from kmodlab.paths import KernelLayout, current_kernel
from kmodlab.vm import accel as accel_mod
from kmodlab.vm import hostclock, snapshot
from kmodlab.vm.guest import (
    COMMAND_TIMEOUT_S,
    BootFailed,
    CommandResult,
    Guest,
    GuestCompromised,
    GuestError,
)
from kmodlab.vm.protocol import KmsgRecord, cycle_argv, load_argv, unload_argv
from kmodlab.vm.qemu import ACCELERATORS, MACHINES, MachineSpec, fitted, qemu_argv

BOOT_TIMEOUT_S = 90.0


# Where a session says what it is doing besides answering (a snapshot that did
# not restore, a fresh guest after a crash): a callback, so that a caller
# that must keep stderr clean (an nbgrader test cell) passes its own.
Progress = Callable[[str], None]


def to_stderr(msg: str) -> None:
    """The command line's progress callback: a `kmodlab:` status line on stderr."""
    print(f"kmodlab: {msg}", file=sys.stderr)


def silent(_msg: str) -> None:
    """A progress callback that drops every message."""


@dataclass(frozen=True)
class LabMachine:
    """A ready-to-start guest description: kernel, initramfs, accelerator."""

    kernel: KernelLayout
    spec: MachineSpec
    accel_note: str

    @property
    def guest_module_dir(self) -> str:
        return f"/lib/modules/{self.kernel.abi}/extra"


def prepare(
    *,
    kernel: KernelLayout | None = None,
    accel: str | None = None,
    memory_mb: int = 256,
    extra_cmdline: tuple[str, ...] = (),
    machine: str | None = None,
    probe: bool = True,
) -> LabMachine:
    """Resolve the kernel, build the initramfs, choose the accelerator (cached).

    `machine` (microvm or q35; else $KMODLAB_MACHINE) defaults to microvm,
    or q35 where a TCG guest cannot be told the host's TSC frequency.
    With probe False no guest is booted to choose the accelerator (a dry run).
    """
    kernel = kernel or current_kernel()
    if not kernel.vmlinux.is_file():
        raise SetupError(f"{kernel.vmlinux} is missing", "run `kmodlab setup`")
    machine = machine or os.environ.get("KMODLAB_MACHINE") or None
    if machine is not None and machine not in MACHINES:
        raise SetupError(
            f"unknown machine {machine!r}", f"use one of {', '.join(MACHINES)} (KMODLAB_MACHINE)"
        )
    initrd = build_initramfs(kernel)
    spec = MachineSpec(
        kernel.vmlinux,
        initrd,
        ACCELERATORS["tcg"],
        memory_mb,
        1,
        extra_cmdline,
        tsc_khz=hostclock.tsc_khz(),
    )
    if accel:
        if accel not in ACCELERATORS:
            raise SetupError(f"unknown accelerator {accel!r}", f"use one of {list(ACCELERATORS)}")
        choice = accel_mod.Choice(ACCELERATORS[accel], f"using {accel} (requested)")
    else:
        choice = accel_mod.choose(spec, qemu_version=snapshot.qemu_version(), probe_now=probe)
    return LabMachine(kernel, fitted(spec, choice.accel, machine), choice.note)


def start_guest(
    machine: LabMachine,
    *,
    use_snapshot: bool = True,
    progress: Progress = to_stderr,
    preparation: snapshot.Preparation | None = None,
) -> Guest:
    """A guest ready for its first command: restored from a snapshot, or booted cold.

    With a preparation, the snapshot is the one saved after it, and the guest's
    `prepared` holds what it made (None on a cold boot: nothing was prepared).
    """
    if use_snapshot:
        variant = preparation.name if preparation else None
        path = snapshot.snapshot_path(machine.spec, variant=variant)
        if not path.is_file():
            try:
                path = snapshot.ensure_snapshot(machine.spec, preparation=preparation)
            except GuestError as e:
                progress(f"could not save a guest snapshot ({e.problem}); booting cold")
        if path.is_file():
            guest = Guest(machine.spec, incoming=path, qmp=True)
            try:
                guest.wait_restored()
                guest.drain_kmsg()
                if preparation is not None:
                    guest.prepared = snapshot.prepared_facts(path)
                return guest
            except GuestError as e:
                guest.close()
                # A snapshot QEMU cannot load is stale: drop it, boot cold (one in
                # the shared cache is the administrator's to drop: left as it is).
                progress(f"the saved guest did not restore ({e.problem}); booting cold")
                with contextlib.suppress(OSError):
                    path.unlink(missing_ok=True)
    guest = Guest(machine.spec, incoming=None)
    try:
        guest.wait_ready(BOOT_TIMEOUT_S)
    except BaseException:
        guest.close()
        raise
    return guest


def start_commands(
    machine: LabMachine, *, use_snapshot: bool = True, folder: Path | None = None
) -> list[tuple[str, list[str]]]:
    """The QEMU command lines start_guest() runs, with what each is for; runs none.

    folder stands for the guest's private temporary folder (its sockets).
    """
    folder = folder or Path(tempfile.gettempdir()) / "kmodlab-vm-XXXXXXXX"
    agent, qmp = folder / "agent.sock", folder / "qmp.sock"
    cold = qemu_argv(machine.spec, agent_socket=agent)
    if not use_snapshot:
        return [("boot the guest cold", cold)]
    path = snapshot.snapshot_path(machine.spec)
    restore = qemu_argv(machine.spec, agent_socket=agent, qmp_socket=qmp, incoming=path)
    out = []
    if not path.is_file():
        saving = qemu_argv(machine.spec, agent_socket=agent, qmp_socket=qmp)
        out.append(("boot once and save the guest (no snapshot yet)", saving))
    return [*out, ("restore the saved guest", restore)]


def strip_debug(ko: Path) -> bytes:
    """The module without DWARF: a tenth of the bytes to send over the serial line.

    The host keeps the full .ko to decode addresses to file:line.
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / ko.name
        proc = subprocess.run(
            ["objcopy", "--strip-debug", str(ko), str(out)], capture_output=True, check=False
        )
        return out.read_bytes() if proc.returncode == 0 else ko.read_bytes()


# kmodlab's own scripts run in the guest's static busybox shell (Session.script).
SCRIPT_SHELL = ("/bin/busybox", "sh", "-c")


class Session:
    """A warm guest. Methods raise GuestCrashed/GuestHung when the guest dies;
    the next call then boots a fresh guest (and pushes the modules again).
    progress receives what the session does besides answering (to_stderr by default)."""

    def __init__(
        self,
        machine: LabMachine | None = None,
        *,
        use_snapshot: bool = True,
        progress: Progress = to_stderr,
        preparation: snapshot.Preparation | None = None,
    ):
        self.machine = machine or prepare()
        self.use_snapshot = use_snapshot
        self.progress = progress
        self.preparation = preparation
        self.modules: dict[str, Path] = {}  # module name -> host .ko (with debug info)
        self._guest: Guest | None = None
        self.boots = 0
        self.last_start_s = 0.0

    # -- lifecycle --------------------------------------------------------
    @property
    def guest(self) -> Guest:
        if self._guest is None or not self._guest.alive():
            if self._guest is not None:
                self._guest.close()
                self.progress("the previous guest died; starting a fresh one")
            t0 = time.monotonic()
            self._guest = start_guest(
                self.machine,
                use_snapshot=self.use_snapshot,
                progress=self.progress,
                preparation=self.preparation,
            )
            self.last_start_s = time.monotonic() - t0
            self.boots += 1
            if self.modules:
                self._upload(self.modules)
        return self._guest

    def start(self) -> Session:
        _ = self.guest
        return self

    @property
    def prepared(self) -> dict[str, object] | None:
        """What the session's preparation made in the current guest (None: not prepared)."""
        return self.guest.prepared

    def restart(self) -> None:
        """Throw the guest away (after a crash, a hang, or a module stuck loading)."""
        if self._guest is not None:
            self._guest.close()
            self._guest = None
        _ = self.guest

    def verify_quiet(self) -> None:
        """GuestCompromised if the guest sent anything unasked since its last answer."""
        if self._guest is not None:
            self._guest.verify_quiet()

    def close(self) -> None:
        if self._guest is not None:
            self._guest.close()
            self._guest = None

    def __enter__(self) -> Session:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- commands ---------------------------------------------------------
    def run(
        self, command: str | list[str], *, timeout_s: float = COMMAND_TIMEOUT_S
    ) -> CommandResult:
        """Run a command in the guest (a string is split like a shell would, no shell runs).

        Commands run in the module folder (the guest's init starts the agent
        there), so `insmod hello.ko` works.
        """
        argv = shlex.split(command) if isinstance(command, str) else list(command)
        guest = self.guest
        try:
            return guest.run(argv, timeout_s=timeout_s)
        except (GuestError, GuestCompromised):
            guest.close()
            raise

    def sh(self, script: str, *, timeout_s: float = COMMAND_TIMEOUT_S) -> CommandResult:
        """Run a shell command line (pipes, globs, redirections) in the guest."""
        return self.run(["/bin/sh", "-c", script], timeout_s=timeout_s)

    def script(self, text: str, *, timeout_s: float = COMMAND_TIMEOUT_S) -> CommandResult:
        """Run one of kmodlab's own shell scripts in busybox's shell (not /bin/sh).

        busybox is static and runs its applets without exec: under emulation
        a request costs about 11 ms of guest time, against 35 to 50 ms for
        dash, whose every start loads libc. A student's command keeps dash
        (sh()): inside busybox's shell, `insmod` would be busybox's own.
        Applets still run in a child process (an oops kills that child, not
        the script).
        """
        return self.run([*SCRIPT_SHELL, text], timeout_s=timeout_s)

    def load(self, ko: str, *params: str, timeout_s: float = COMMAND_TIMEOUT_S) -> CommandResult:
        """Load a pushed module by file name (`hello.ko`), with `name=value` parameters."""
        return self.run(load_argv(ko, *params), timeout_s=timeout_s)

    def unload(self, name: str, *, timeout_s: float = COMMAND_TIMEOUT_S) -> CommandResult:
        """Unload a module by its name (`hello`, or `hello_1` for hello-1.ko)."""
        return self.run(unload_argv(name), timeout_s=timeout_s)

    def cycle(
        self, ko: str, name: str, times: int, *params: str, timeout_s: float = COMMAND_TIMEOUT_S
    ) -> CommandResult:
        """Load and unload a module `times` times in one request; stops at the first failure."""
        return self.run(cycle_argv(ko, name, times, *params), timeout_s=timeout_s)

    def loaded(self) -> set[str]:
        """Names of the modules loaded now (/proc/modules)."""
        r = self.run(["cat", "/proc/modules"])
        return {line.split()[0] for line in r.stdout.splitlines() if line.split()}

    def dmesg(self) -> list[KmsgRecord]:
        """Kernel log records logged since the previous command."""
        return self.guest.drain_kmsg()

    def push_modules(self, kos: Iterable[Path], *, depmod: bool = True) -> list[str]:
        """Copy built modules into the guest's module folder; run depmod for modprobe."""
        new = {Path(ko).stem: Path(ko) for ko in kos}
        fresh = self._guest is None or not self._guest.alive()
        self.modules.update(new)
        _ = self.guest  # a fresh guest receives every module when it starts
        if not fresh and new:
            self._upload(new, depmod=depmod)
        return list(new)

    def _upload(self, modules: dict[str, Path], *, depmod: bool = True) -> None:
        guest = self._guest
        assert guest is not None
        for name, ko in modules.items():
            guest.put(f"{self.machine.guest_module_dir}/{name}.ko", strip_debug(ko))
        if depmod:
            r = guest.run(["depmod", "-a"], timeout_s=COMMAND_TIMEOUT_S)
            if not r.ok:
                raise BootFailed(f"depmod failed in the guest: {r.stderr.strip()}")

    def section_addresses(self, module: str) -> dict[str, int]:
        """Load addresses of a loaded module's sections (to decode its oopses later)."""
        return self.section_addresses_then(module, "")[0]

    def section_addresses_then(
        self, module: str, script: str
    ) -> tuple[dict[str, int], CommandResult]:
        """section_addresses(), then a shell script in the same request (one round trip
        less under emulation); returns the addresses and the whole result."""
        folder = f"/sys/module/{shlex.quote(module)}/sections"
        # Every code section: gcc puts __cold functions in .text.unlikely. And
        # its data: a timer left armed in a static is found by the kernel
        # walking into freed .data or .bss after rmmod.
        sections = ".text* .init.text* .exit.text* .data .bss"
        listing = f"cd {folder} && grep . {sections} 2>/dev/null\necho '@@ sections end'\n"
        r = self.script(listing + script)
        out: dict[str, int] = {}
        for line in r.stdout.splitlines():
            if line == "@@ sections end":
                break
            name, _, value = line.partition(":")
            if value.strip().startswith("0x"):
                out[name] = int(value.strip(), 16)
        return out, r
