"""Which goto label an error path skipped: reading the student's init as text.

When a fault-injection point leaves an acquisition behind, the fix is nearly
always one label: the one whose release line frees that resource, which the
error path jumped over. This finds it from the source alone (pure, no
parser): the variable the acquisition assigned, the release of that variable
in the lines after the failing call, the label above that release, and the
goto that was taken instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ASSIGN = re.compile(r"([A-Za-z_][\w.\->\[\]]*)\s*=\s*\(?\s*\w+\s*\(")
_LABEL = re.compile(r"^\s*([A-Za-z_]\w*)\s*:\s*(?:/[/*].*)?$")
_GOTO = re.compile(r"\bgoto\s+([A-Za-z_]\w*)\s*;")
_NOT_LABELS = frozenset({"default", "public", "private"})
RELEASES = (
    "kfree", "kvfree", "vfree", "kfree_sensitive", "kmem_cache_free", "kmem_cache_destroy",
    "proc_remove", "remove_proc_entry", "debugfs_remove", "debugfs_remove_recursive",
    "misc_deregister", "cdev_del", "class_destroy", "device_destroy", "kthread_stop",
    "unregister_chrdev", "unregister_chrdev_region",
)  # fmt: skip


@dataclass(frozen=True)
class SkippedLabel:
    label: str
    label_line: int
    release_line: int
    release_text: str
    taken: str | None  # the label the failing call's error check jumped to
    jump_line: int | None  # a later goto on the executed path that jumped over the label

    def explain(self, api: str, line: int) -> str:
        text = f"after {api}() failed on line {line}"
        if self.taken:
            text += f", init jumped to `{self.taken}`"
        if self.jump_line:
            text += f" and the goto on line {self.jump_line} skips"
        else:
            text += " and never reaches"
        return (
            f"{text} the label `{self.label}:` (line {self.label_line}), whose "
            f"`{self.release_text}` (line {self.release_line}) would have released it"
        )


def _code(line: str) -> str:
    """The line without its comments (a comment may well mention kfree(buf))."""
    line = re.sub(r"/\*.*?\*/", " ", line)
    return line.split("//", 1)[0].rstrip()


def _function_end(lines: list[str], start: int) -> int:
    """Index of the closing brace of the function containing line `start` (0-based)."""
    for i in range(start, len(lines)):
        if lines[i].startswith("}"):
            return i
    return len(lines) - 1


def _release_of(lines: list[str], var: str, start: int, end: int) -> int | None:
    names = "|".join(RELEASES)
    call = re.compile(rf"\b(?:{names})\s*\(\s*&?{re.escape(var)}\s*[,)]")
    return next((i for i in range(start, end + 1) if call.search(lines[i])), None)


def _label_above(lines: list[str], index: int, floor: int) -> tuple[str, int] | None:
    for i in range(index, floor, -1):
        m = _LABEL.match(lines[i])
        if m and m.group(1) not in _NOT_LABELS:
            return m.group(1), i
    return None


def find_skipped_label(
    source: str, acquired_line: int, failed_line: int, executed_releases: list[int]
) -> SkippedLabel | None:
    """The label that would have released the acquisition made on acquired_line.

    Lines are 1-based as in the ledger; executed_releases are the lines of
    the releases the error path did run (to spot the goto that jumped away).
    """
    lines = [_code(line) for line in source.splitlines()]
    if not (0 < acquired_line <= len(lines) and 0 < failed_line <= len(lines)):
        return None
    m = _ASSIGN.search(lines[acquired_line - 1])
    if not m:
        return None
    end = _function_end(lines, failed_line - 1)
    release = _release_of(lines, m.group(1), failed_line, end)
    if release is None:
        return None
    found = _label_above(lines, release, failed_line - 1)
    if found is None:
        return None
    label, label_index = found
    taken = next((g.group(1) for i in range(failed_line - 1, min(failed_line + 3, end))
                  if (g := _GOTO.search(lines[i]))), None)  # fmt: skip
    jump = None
    after = max((r for r in executed_releases if r - 1 < label_index), default=None)
    if after is not None:
        jump = next((i + 1 for i in range(after, label_index) if _GOTO.search(lines[i])), None)
    return SkippedLabel(label, label_index + 1, release + 1, lines[release].strip(), taken, jump)
