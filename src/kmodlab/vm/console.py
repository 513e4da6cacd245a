"""Reading the kernel's own words: the console kept on the host.

The pure parsing of oopses, BUGs, WARNINGs, lockups, panics and taint lives in
kmodlab.records (the judges read it without the VM layer); it is re-exported here.
"""

from __future__ import annotations

from kmodlab.records import (  # noqa: F401  (re-exported)
    EXPECTED_TAINT,
    FATAL_KINDS,
    POISONING_KINDS,
    TAINT_FLAGS,
    KernelReport,
    decode_taint,
    find_reports,
    init_return,
    is_fatal,
    leaves_kernel_untrusted,
    strip_timestamp,
    unexpected_taint,
)

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
