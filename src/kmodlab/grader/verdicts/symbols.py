"""A module's debug info as the judges ask it: answered from a table, no ELF, no addr2line.

At collection (grader/collection/decode.py's ElfDebug) the table is filled from the
built .ko while it still exists: every section's size, every function and
variable symbol, and every address the judges look up, decoded to the
student's file:line. The evidence document (grader/evidence.py) keeps the
table, so judging from the document, now or after a rubric change, needs
neither the build folder nor a tool. An address nobody decoded at collection
stays undecoded (None), never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kmodlab.records import KernelReport

INSTRUMENTATION_PREFIX = (
    "kmodlab_fi"  # the forced header and shim of grader/collection/instrument.py
)
_FRAME = re.compile(r"^(?P<func>[A-Za-z_][\w.]*)\+0x(?P<off>[0-9a-f]+)/0x[0-9a-f]+")


@dataclass(frozen=True)
class SourceLocation:
    function: str
    file: str  # as the student names it (relative to the submission)
    line: int


@dataclass
class DebugInfo:
    """One module's .ko, as far as the judges need it.

    symbols: name -> [[section, value, size, type], ...] (type as the ELF says:
    "FUNC", "OBJECT", "NOTYPE"...);
    lines: "section+0xoffset" -> [function, file, line], or None when that
    address is not in the student's code.
    """

    sections: dict[str, int] = field(default_factory=dict)  # name -> size in bytes
    symbols: dict[str, list[list]] = field(default_factory=dict)
    lines: dict[str, list | None] = field(default_factory=dict)

    def section_sizes(self) -> dict[str, int]:
        return self.sections

    def symbol(self, name: str, *, function: bool = False) -> tuple[str, int] | None:
        """(section, section-relative value) of a symbol (a function only, if asked)."""
        for section, value, _size, kind in self.symbols.get(name, []):
            if not function or kind == "FUNC":
                return section, value
        return None

    def data_symbol(self, section: str, offset: int) -> str | None:
        """The variable of `section` that holds `offset`."""
        for name, entries in self.symbols.items():
            for sec, value, size, kind in entries:
                if kind == "OBJECT" and sec == section and value <= offset < value + max(size, 1):
                    return name
        return None

    def line(self, section: str, offset: int) -> tuple[str, str, int] | None:
        """(function, file, line) of a section-relative address, innermost student frame."""
        found = self.lines.get(address_key(section, offset))
        return (found[0], found[1], found[2]) if found else None

    def to_dict(self) -> dict[str, object]:
        return {"sections": self.sections, "symbols": self.symbols, "lines": self.lines}

    @classmethod
    def from_dict(cls, d: dict) -> DebugInfo:
        return cls(dict(d["sections"]), dict(d["symbols"]), dict(d["lines"]))


def address_key(section: str, offset: int) -> str:
    return f"{section}+{offset:#x}"


def decode_frame(
    frame: str, debug: DebugInfo, *, return_address: bool = False
) -> SourceLocation | None:
    """`null_deref_init+0x11/0x1000` (as printed in an oops) to the source line, or None.

    A return address (any call-trace frame but the faulting RIP) points after
    its call; one byte back is inside the call instruction, on the call's line.
    """
    m = _FRAME.match(frame)
    if not m:
        return None
    found = debug.symbol(m.group("func"))
    if found is None:
        return None
    section, value = found
    offset = value + int(m.group("off"), 16)
    at = debug.line(section, offset - 1 if return_address and offset else offset)
    return SourceLocation(*at) if at else None


def report_frames(report: KernelReport) -> list[tuple[str, str, bool]]:
    """(symbol+off/len, module, is a return address) of a report's frames in modules.

    The faulting RIP first, as is; the call-trace frames after it are return
    addresses, decoded one byte back so they land on the call.
    """
    out = []
    if report.rip:
        sym, _, mod = report.rip.partition(" [")
        out.append((sym, mod.rstrip("]"), False))
    out += [(sym, mod, True) for sym, mod in report.frames if mod]
    return out


def locate_report(
    report: KernelReport,
    debug_for: Callable[[str], DebugInfo | None],
    accept: Callable[[SourceLocation], bool] = lambda _loc: True,
) -> SourceLocation | None:
    """The student's line a kernel report points at, named as in their submission.

    The first frame (RIP, then the call trace) in one of their modules that
    decodes, and that `accept` takes. `debug_for(module)` gives that module's
    debug info, or None for a module that is not theirs. The one place a
    report frame becomes a line: the lab and the judges both call it.
    """
    for frame, module, is_return in report_frames(report):
        debug = debug_for(module)
        if debug is None:
            continue
        loc = decode_frame(frame, debug, return_address=is_return)
        if loc is not None and accept(loc):
            return loc
    return None
