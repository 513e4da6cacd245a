"""From a kernel report's `func+0x11/0x40 [module]` to the student's file:line.

Out-of-tree modules are built with -g, so addr2line on the .ko resolves a
symbol-relative offset without any load address: the symbol's value in the
relocatable .ko is already relative to its section. This works after rmmod
too, when the kernel itself can no longer symbolise the module's addresses.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

if TYPE_CHECKING:
    from kmodlab.vm.console import KernelReport

# addr2line on one .ko takes a few milliseconds; this only stops a wedged one.
ADDR2LINE_TIMEOUT_S = 30.0
INSTRUMENTATION_PREFIX = (
    "kmodlab_fi"  # the forced header and shim of grader/collection/instrument.py
)
_FRAME = re.compile(r"^(?P<func>[A-Za-z_][\w.]*)\+0x(?P<off>[0-9a-f]+)/0x[0-9a-f]+")


@dataclass(frozen=True)
class SourceLocation:
    function: str
    file: str  # as recorded in the debug info (the build folder's path)
    line: int

    def for_student(self, build) -> SourceLocation:  # type: ignore[no-untyped-def]
        """This location with the file named as in the submission (build: a BuildResult)."""
        return SourceLocation(self.function, build.student_path(self.file), self.line)


def _symbol(ko: Path, name: str) -> tuple[str, int] | None:
    """The section name and section-relative address of a function in the .ko."""
    with ko.open("rb") as f:
        elf = ELFFile(f)
        symtab = elf.get_section_by_name(".symtab")
        if not isinstance(symtab, SymbolTableSection):
            return None
        for sym in symtab.get_symbol_by_name(name) or []:
            shndx = sym["st_shndx"]
            if isinstance(shndx, int):
                return elf.get_section(shndx).name, sym["st_value"]
    return None


def addr2line(ko: Path, section: str, offset: int) -> SourceLocation | None:
    """The innermost source line of a section-relative address (inlined frames resolved)."""
    argv = ["addr2line", "-f", "-i", "-e", str(ko), "-j", section, hex(offset)]
    proc = subprocess.run(
        argv, capture_output=True, text=True, check=False, timeout=ADDR2LINE_TIMEOUT_S
    )
    if proc.returncode != 0:
        return None
    frames = []
    lines = proc.stdout.splitlines()
    for func, where in zip(lines[::2], lines[1::2], strict=False):
        path, _, rest = where.rpartition(":")
        number = re.match(r"\d+", rest)
        if path and path != "??" and number and number.group() != "0":
            frames.append(SourceLocation(func, path, int(number.group())))
    # With inlining (-i) the innermost frame may be kmalloc() in slab.h, or
    # kmodlab's own wrapper; the student wants their own line that called it.
    own = [f for f in frames if not _not_students(f.file)]
    return own[0] if own else None


def _not_students(path: str) -> bool:
    return "/linux-headers-" in path or Path(path).name.startswith(INSTRUMENTATION_PREFIX)


def decode_frame(frame: str, ko: Path, *, return_address: bool = False) -> SourceLocation | None:
    """`null_deref_init+0x11/0x1000` (as printed in an oops) to the source line, or None.

    A return address (any call-trace frame but the faulting RIP) points after
    its call; one byte back is inside the call instruction, on the call's line.
    """
    m = _FRAME.match(frame)
    if not m:
        return None
    found = _symbol(ko, m.group("func"))
    if found is None:
        return None
    section, value = found
    offset = value + int(m.group("off"), 16)
    return addr2line(ko, section, offset - 1 if return_address and offset else offset)


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
    module_ko: Callable[[str], tuple[Path, Any] | None],
    accept: Callable[[SourceLocation], bool] = lambda _loc: True,
) -> SourceLocation | None:
    """The student's line a kernel report points at, named as in their submission.

    The first frame (RIP, then the call trace) in one of their modules that
    decodes, and that `accept` takes. `module_ko(module)` gives that module's
    .ko and its BuildResult, or None for a module that is not theirs.
    """
    for frame, module, is_return in report_frames(report):
        found = module_ko(module)
        if found is None:
            continue
        ko, build = found
        loc = decode_frame(frame, ko, return_address=is_return)
        if loc is not None and accept(loc := loc.for_student(build)):
            return loc
    return None
