"""Reading the kernel's own words: oopses, BUGs, WARNINGs, lockups, panics, taint.

Pure functions over console or dmesg text, so they are tested on captured logs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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


# -- the console as kept on the host ---------------------------------------------
# A guest can print without end (a printk in a loop, a timer that floods): its
# console, read by a thread for the whole life of the guest, must not grow the
# grader's memory without bound. The head holds the boot and the first oops
# (what judges read); the tail holds how the guest ended.
CONSOLE_HEAD_BYTES = 1 << 20
CONSOLE_TAIL_BYTES = 1 << 20


class ConsoleLog:
    """The guest's console output: the first head_max bytes and the last tail_max.

    Offsets (len(), since()) count every byte ever received, so a caller's
    offset stays valid while the middle is dropped. Not thread-safe: Guest
    holds its lock around every call.
    """

    def __init__(self, head_max: int = CONSOLE_HEAD_BYTES, tail_max: int = CONSOLE_TAIL_BYTES):
        self.head_max, self.tail_max = head_max, tail_max
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def __len__(self) -> int:
        return self.total

    @property
    def dropped(self) -> int:
        return self.total - len(self.head) - len(self.tail)

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.head_max - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        self.tail += chunk
        # Trim in steps of a quarter, not on every chunk: each trim copies the tail.
        if len(self.tail) > self.tail_max + self.tail_max // 4:
            del self.tail[: len(self.tail) - self.tail_max]

    def since(self, offset: int = 0) -> bytes:
        """What is kept of the bytes from offset on, with a line marking any gap."""
        tail_start = self.total - len(self.tail)
        if offset < len(self.head):
            gap = self._gap() if self.dropped else b""
            return bytes(self.head[offset:]) + gap + bytes(self.tail)
        if offset >= tail_start:
            return bytes(self.tail[offset - tail_start :])
        return self._gap() + bytes(self.tail)

    def _gap(self) -> bytes:
        return f"\n[kmodlab: {self.dropped} bytes of console output dropped here]\n".encode()
