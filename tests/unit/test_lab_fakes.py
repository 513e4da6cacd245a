"""Shared fakes for the lab's unit tests (this module holds no tests).

FakeSession behaves like kmodlab.vm.session.Session as far as the lab uses it:
insmod/rmmod keep a set of loaded modules with kmod's own error words,
/proc/modules lists them, and a test can queue a crash or an oops.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from pathlib import Path

from kmodlab.vm.guest import CommandResult, GuestError
from kmodlab.vm.protocol import KmsgRecord

OOPS_LINES = [
    "BUG: kernel NULL pointer dereference, address: 0000000000000004",
    "#PF: supervisor read access in kernel mode",
    "Oops: 0000 [#1] PREEMPT SMP NOPTI",
    "RIP: 0010:oops_init+0x11/0x1000 [oops]",
    "Call Trace:",
    " <TASK>",
    " do_one_initcall+0x59/0x220",
    " </TASK>",
    "---[ end trace 0000000000000000 ]---",
]
PANIC_CONSOLE = """\
[    4.1] Kernel panic - not syncing: boom: on purpose
[    4.1] Call Trace:
[    4.1]  <TASK>
[    4.1]  panic+0x118/0x2f4
[    4.1]  boom_init+0x11/0x1000 [boom]
[    4.1]  do_one_initcall+0x59/0x220
[    4.1]  </TASK>
[    4.1] ---[ end Kernel panic - not syncing: boom: on purpose ]---
"""


def record(text: str, level: int = 6, seq: int = 1) -> KmsgRecord:
    return KmsgRecord(level, seq, 1_000_000 + seq, text)


class FakeSession:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.modules: dict[str, Path] = {}
        self.pushed: list[list[str]] = []
        self.loaded: dict[str, list[str]] = {}  # module -> modules using it
        self.pending: list[KmsgRecord] = []
        self.fail_next: GuestError | None = None
        self.oops_on: set[str] = set()  # module names whose insmod oopses
        self.boots = 0
        self.restarts = 0
        self.closed = False
        self._seq = 100

    # -- lifecycle, as Session ---------------------------------------------------
    def start(self) -> FakeSession:
        if self.boots == 0 or self.closed:
            self.boots += 1
            self.closed = False
        return self

    def restart(self) -> None:
        self.restarts += 1
        self.boots += 1
        self.loaded.clear()

    def close(self) -> None:
        self.closed = True

    def push_modules(self, kos: Iterable[Path], *, depmod: bool = True) -> list[str]:
        self.start()
        names = [Path(k).stem for k in kos]
        self.modules.update({Path(k).stem: Path(k) for k in kos})
        self.pushed.append(names)
        return names

    def dmesg(self) -> list[KmsgRecord]:
        out, self.pending = self.pending, []
        return out

    # -- commands --------------------------------------------------------------------
    def _rec(self, text: str, level: int = 6) -> KmsgRecord:
        self._seq += 1
        return record(text, level, self._seq)

    def run(self, argv: list[str] | str, *, timeout_s: float = 30.0) -> CommandResult:
        argv = argv.split() if isinstance(argv, str) else list(argv)
        self.start()
        self.calls.append(argv)
        if self.fail_next is not None:
            e, self.fail_next = self.fail_next, None
            self.closed = True
            raise e
        # A one-command shell line (the line shell's, %kmod sh's) acts like the command.
        words = shlex.split(argv[2]) if argv[:2] == ["/bin/sh", "-c"] else argv
        if words[:1] == ["insmod"]:
            return self._insmod(words)
        if words[:1] == ["rmmod"]:
            return self._rmmod(words)
        if argv[:2] == ["cat", "/proc/modules"]:
            lines = [
                f"{m} 16384 {len(users)} {','.join(users) + ',' if users else '-'} Live 0x0 (OE)"
                for m, users in self.loaded.items()
            ]
            lines.append("virtio_ring 49152 3 virtio_console,virtio_pci,virtio, Live 0x0")
            return CommandResult(argv, "exited", 0, "\n".join(lines) + "\n", "")
        return CommandResult(argv, "exited", 0, f"ran {' '.join(argv)}\n", "")

    def _insmod(self, argv: list[str]) -> CommandResult:
        name = Path(argv[1]).stem
        if name in self.oops_on:
            kmsg = [self._rec(t, 1 if i == 0 else 4) for i, t in enumerate(OOPS_LINES)]
            return CommandResult(argv, "signaled", -9, "", "", kmsg)
        if name in self.loaded:
            err = f"insmod: ERROR: could not insert module {argv[1]}: File exists\n"
            return CommandResult(argv, "exited", 1, "", err)
        self.loaded[name] = []
        params = " ".join(argv[2:])
        return CommandResult(
            argv, "exited", 0, "", "", [self._rec(f"{name}: Hello {params}".strip())]
        )

    def _rmmod(self, argv: list[str]) -> CommandResult:
        name = argv[1]
        if name not in self.loaded:
            err = f"rmmod: ERROR: Module {name} is not currently loaded\n"
            return CommandResult(argv, "exited", 1, "", err)
        if self.loaded[name]:
            err = f"rmmod: ERROR: Module {name} is in use by: {' '.join(self.loaded[name])}\n"
            return CommandResult(argv, "exited", 1, "", err)
        del self.loaded[name]
        return CommandResult(argv, "exited", 0, "", "", [self._rec(f"{name}: Goodbye")])
