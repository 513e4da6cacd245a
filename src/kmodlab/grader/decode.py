"""From a kernel report's `func+0x11/0x40 [module]` to the student's file:line.

Out-of-tree modules are built with -g, so addr2line on the .ko resolves a
symbol-relative offset without any load address: the symbol's value in the
relocatable .ko is already relative to its section. This works after rmmod
too, when the kernel itself can no longer symbolise the module's addresses.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

_FRAME = re.compile(r"^(?P<func>[A-Za-z_][\w.]*)\+0x(?P<off>[0-9a-f]+)/0x[0-9a-f]+")


@dataclass(frozen=True)
class SourceLocation:
    function: str
    file: str  # as recorded in the debug info (the build folder's path)
    line: int

    def relative_to(self, build_dir: Path) -> SourceLocation:
        try:
            rel = str(Path(self.file).resolve().relative_to(build_dir.resolve()))
        except ValueError:
            rel = self.file
        return SourceLocation(self.function, rel, self.line)


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
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
    lines = proc.stdout.splitlines()
    if proc.returncode != 0 or len(lines) < 2:
        return None
    func, where = lines[0], lines[1]
    path, _, rest = where.rpartition(":")
    number = re.match(r"\d+", rest)
    if not path or path == "??" or not number:
        return None
    return SourceLocation(func, path, int(number.group()))


def decode_frame(frame: str, ko: Path) -> SourceLocation | None:
    """`null_deref_init+0x11/0x1000` (as printed in an oops) to the source line, or None."""
    m = _FRAME.match(frame)
    if not m:
        return None
    found = _symbol(ko, m.group("func"))
    if found is None:
        return None
    section, value = found
    # The return address of a call points after it; the frame offset of the
    # faulting RIP does not. addr2line of the exact byte is right for RIP.
    return addr2line(ko, section, value + int(m.group("off"), 16))
