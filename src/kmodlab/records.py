"""The guest's words as plain records: kernel log records, the kernel's own
reports (oopses, BUGs, WARNINGs, lockups, panics), taint, command results.

Pure data and pure parsing, shared by the VM layer that receives them and the
judges that read them from an evidence document (grader/evidence.py), so
judging imports nothing of the VM layer. Tested on captured logs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class KmsgRecord:
    """One kernel log record as /dev/kmsg gives it."""

    level: int  # 0 (emerg) .. 7 (debug)
    seq: int
    ts_us: int  # microseconds since boot
    text: str

    def format(self) -> str:
        return f"[{self.ts_us / 1e6:12.6f}] {self.text}"


# How long one guest command may take unless its caller says otherwise: the
# one default for every layer (Guest, Session, `kmodlab run`, the lab, grading).
# Here, not in vm/guest.py, so the command line can show it without the VM layer.
COMMAND_TIMEOUT_S = 30.0

# The guest agent's own module commands (guest/agent.c): one finit_module or
# delete_module each, answering with the errno, so no insmod/rmmod process
# (and its page faults under emulation) runs per load.
LOAD, UNLOAD, CYCLE = "@load", "@unload", "@cycle"


def load_argv(ko: str, *params: str) -> list[str]:
    """The agent's command that loads the module file `ko` (in the module folder)."""
    return [LOAD, ko, *params]


def unload_argv(name: str) -> list[str]:
    return [UNLOAD, name]


def cycle_argv(ko: str, name: str, times: int, *params: str) -> list[str]:
    """`times` loads and unloads in one request; prints "cycle I ok" after each."""
    return [CYCLE, ko, name, str(times), *params]


def is_cycle(argv: list[str]) -> bool:
    return bool(argv) and argv[0] == CYCLE


@dataclass
class CommandResult:
    """What one command in the guest returned."""

    argv: list[str]
    status: str  # exited | signaled | timeout | failed-to-start
    returncode: int | None  # exit code, or -signal, or None on timeout
    stdout: str
    stderr: str
    kmsg: list[KmsgRecord] = field(default_factory=list)
    guest_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.status == "exited" and self.returncode == 0

    @property
    def log(self) -> str:
        return "\n".join(r.text for r in self.kmsg)


# Lines that open a report, and what kind of trouble each one is.
_OPENERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("panic", re.compile(r"Kernel panic - not syncing: (.*)")),
    ("soft-lockup", re.compile(r"watchdog: BUG: soft lockup - (.*)")),
    ("hard-lockup", re.compile(r"watchdog: Watchdog detected hard LOCKUP(.*)")),
    ("rcu-stall", re.compile(r"rcu: INFO: rcu_\w+ detected stalls(.*)")),
    ("hung-task", re.compile(r"INFO: task (.*) blocked for more than .*")),
    ("bug", re.compile(r"(BUG: (?!soft lockup).*)")),
    ("bug", re.compile(r"(kernel BUG at .*)")),
    ("oops", re.compile(r"(general protection fault.*)")),
    ("oops", re.compile(r"(Oops: .*)")),
    ("warning", re.compile(r"WARNING: CPU: \d+ PID: \d+ at (.*)")),
    # do_init_module() on an init that returned > 0; a stack dump follows.
    ("init-return", re.compile(r"'([\w-]+)'->init suspiciously returned (-?\d+)(.*)")),
    ("slab-corruption", re.compile(r"(BUG \S+ \(.*\): .*)")),
)
_TIMESTAMP = re.compile(r"^\[\s*\d+\.\d+\]\s?")
_RIP = re.compile(r"RIP: 0010:(\S+)")
_TRACE_FRAME = re.compile(
    r"^\s*(?:\?\s*)?([A-Za-z_][\w.]*\+0x[0-9a-f]+/0x[0-9a-f]+)(?:\s+\[(\w+)\])?"
)
_END = re.compile(r"---\[ end (?:trace [0-9a-f]+ |Kernel panic.*)?\]---")


@dataclass(frozen=True)
class KernelReport:
    """One oops/BUG/WARNING/lockup/panic as the kernel printed it."""

    kind: str
    title: str
    lines: tuple[str, ...]
    rip: str | None  # e.g. "hello_init+0x5/0x20 [hello]" when known
    frames: tuple[tuple[str, str | None], ...]  # (symbol+off/len, module or None)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def modules(self) -> set[str]:
        return {m for _, m in self.frames if m}


_INIT_RETURN = re.compile(r"'([\w-]+)'->init suspiciously returned (-?\d+)")


def init_return(report: KernelReport) -> tuple[str, int] | None:
    """(module, value) of the kernel's "init suspiciously returned" warning."""
    m = _INIT_RETURN.search(report.title) if report.kind == "init-return" else None
    return (m.group(1), int(m.group(2))) if m else None


# The one policy for how bad a kernel report is, in two degrees.
# Fatal: the task that hit it does not come back (an oops kills it, a lockup or
# a hung task holds it, `kernel BUG at` is BUG() itself), so a request waiting
# on it will not be answered (guest.py stops waiting soon after one).
FATAL_KINDS = frozenset({"oops", "panic", "soft-lockup", "hard-lockup", "hung-task"})
# Poisoning: the kernel goes on after these ("BUG: sleeping function called
# from invalid context", a slab found corrupted), but what it does next cannot
# be trusted, so the lab starts a fresh guest after them. WARNINGs, an init's
# positive return and RCU stall notices leave the kernel usable.
POISONING_KINDS = FATAL_KINDS | {"bug", "slab-corruption"}


def is_fatal(report: KernelReport) -> bool:
    """Does the task that hit this report never come back?"""
    return report.kind in FATAL_KINDS or report.title.startswith("kernel BUG at")


def leaves_kernel_untrusted(report: KernelReport) -> bool:
    """Is the kernel after this report no place to go on testing (fatal, or poisoning)?"""
    return report.kind in POISONING_KINDS or is_fatal(report)


def strip_timestamp(line: str) -> str:
    return _TIMESTAMP.sub("", line.rstrip("\r"))


def _opener(line: str) -> tuple[str, str] | None:
    for kind, pattern in _OPENERS:
        m = pattern.search(line)
        if m:
            return kind, m.group(0)
    return None


def find_reports(text: str, max_lines: int = 80) -> list[KernelReport]:
    """Split a kernel log into the reports it contains, in order.

    A report runs from its opening line to the kernel's `---[ end trace ]---`
    marker, the next opener, or max_lines, whichever comes first.
    """
    lines = [strip_timestamp(line) for line in text.splitlines()]
    reports: list[KernelReport] = []
    i = 0
    while i < len(lines):
        opened = _opener(lines[i])
        if not opened:
            i += 1
            continue
        j = i + 1
        while j < len(lines) and j - i < max_lines:
            if _END.search(lines[j]):
                j += 1
                break
            if _opener(lines[j]) and not lines[j].startswith(" "):
                break
            j += 1
        reports.append(_make_report(opened[0], opened[1], lines[i:j]))
        i = j
    return _merge_continuations(reports)


def _make_report(kind: str, title: str, lines: list[str]) -> KernelReport:
    rip = None
    frames: list[tuple[str, str | None]] = []
    for line in lines:
        if rip is None and (m := _RIP.search(line)):
            rip = m.group(1)
        elif (m := _TRACE_FRAME.match(line)) and "+0x" in line:
            frames.append((m.group(1), m.group(2)))
    if rip and (m := re.search(re.escape(rip) + r"\s+\[(\w+)\]", "\n".join(lines))):
        rip = f"{rip} [{m.group(1)}]"
    return KernelReport(kind, title.strip(), tuple(lines), rip, tuple(frames))


def _merge_continuations(reports: list[KernelReport]) -> list[KernelReport]:
    """'BUG: kernel NULL pointer dereference' is followed by 'Oops:': one event, not two."""
    merged: list[KernelReport] = []
    for r in reports:
        prev = merged[-1] if merged else None
        if prev and prev.kind == "bug" and r.kind == "oops" and len(prev.lines) <= 6:
            lines = prev.lines + r.lines
            merged[-1] = _make_report("oops", prev.title, list(lines))
        else:
            merged.append(r)
    return merged


# Taint flags (Documentation/admin-guide/tainted-kernels.rst).
TAINT_FLAGS: dict[int, tuple[str, str]] = {
    0: ("P", "proprietary module loaded"),
    1: ("F", "module force loaded"),
    4: ("M", "machine check"),
    5: ("B", "bad page or slab corruption"),
    6: ("U", "user request"),
    7: ("D", "kernel died (oops or BUG)"),
    9: ("W", "kernel warning"),
    10: ("C", "staging driver"),
    12: ("O", "out-of-tree module loaded"),
    13: ("E", "unsigned module loaded"),
    14: ("L", "soft lockup"),
    15: ("K", "kernel live patched"),
}
# Every student module sets these two; they are expected, not a fault.
EXPECTED_TAINT = (1 << 12) | (1 << 13)


def decode_taint(value: int) -> list[tuple[str, str]]:
    """Letters and meanings of the bits set in /proc/sys/kernel/tainted."""
    return [TAINT_FLAGS.get(bit, ("?", f"bit {bit}")) for bit in range(32) if value >> bit & 1]


def unexpected_taint(before: int, after: int) -> list[tuple[str, str]]:
    """Taint bits that appeared between two readings, other than O and E."""
    return decode_taint((after & ~before) & ~EXPECTED_TAINT)
