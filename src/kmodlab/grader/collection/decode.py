"""From a kernel report's `func+0x11/0x40 [module]` to the student's file:line.

Collection side: this reads the built .ko (pyelftools) and runs addr2line
(in the build sandbox, as the build user: the .ko's bytes are the student's),
so it runs while the build folder exists. ElfDebug records every answer in
a symbols.DebugInfo table, which the evidence document keeps: the judges
decode from that table only (grader/verdicts/symbols.py), never from the .ko.

Out-of-tree modules are built with -g, so addr2line on the .ko resolves a
symbol-relative offset without any load address: the symbol's value in the
relocatable .ko is already relative to its section. This works after rmmod
too, when the kernel itself can no longer symbolise the module's addresses.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from kmodlab.build.builder import BuildResult
from kmodlab.build.sandbox import sandbox_argv
from kmodlab.grader.verdicts.symbols import (
    INSTRUMENTATION_PREFIX,
    DebugInfo,
    SourceLocation,
    address_key,
)
from kmodlab.grader.verdicts.symbols import decode_frame as _decode_frame

# addr2line on one .ko takes a few milliseconds; this only stops a wedged one.
ADDR2LINE_TIMEOUT_S = 30.0


def addr2line_argv(ko: Path, section: str, offset: int, sandbox_dir: Path | None) -> list[str]:
    """addr2line's command line; inside the build sandbox when sandbox_dir (the build
    folder holding `ko`) is given. The .ko is the student's: its debug sections are
    bytes they can write (assembler directives), so binutils parses them as the
    unprivileged build user, shown only the toolchain and that folder, never as
    the grader."""
    argv = ["addr2line", "-f", "-i", "-e", str(ko), "-j", section, hex(offset)]
    if sandbox_dir is None:
        return argv
    # The kernel tree is not needed: "/" tells the sandbox to bind no tree.
    return sandbox_argv(argv, build_dir=sandbox_dir, headers=Path("/"))


def addr2line(
    ko: Path, section: str, offset: int, sandbox_dir: Path | None = None
) -> SourceLocation | None:
    """The innermost source line of a section-relative address (inlined frames resolved).

    The file is as the debug info names it (the build folder's path). With
    sandbox_dir, addr2line runs in the build sandbox (see addr2line_argv).
    """
    if sandbox_dir is not None and not Path(ko).resolve().is_relative_to(sandbox_dir.resolve()):
        return None  # the sandbox shows only that folder: a .ko outside it is not read
    argv = addr2line_argv(ko, section, offset, sandbox_dir)
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, check=False, timeout=ADDR2LINE_TIMEOUT_S
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
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


class ElfDebug(DebugInfo):
    """A DebugInfo read from a .ko on demand, recording every line it decodes.

    student_path (a BuildResult's) names a build-folder file as the student
    does; without it, files keep the debug info's path. A missing or broken
    .ko answers nothing (every look-up is None).
    """

    def __init__(
        self,
        ko: Path,
        student_path: Callable[[str], str] | None = None,
        sandbox_dir: Path | None = None,
    ) -> None:
        super().__init__()
        self.ko = Path(ko)
        self._student_path = student_path or (lambda p: p)
        self._sandbox_dir = sandbox_dir
        self._read = False

    @classmethod
    def of_build(cls, ko: Path, build: BuildResult) -> ElfDebug:
        """The debug info of a .ko the build made: addr2line runs in the sandbox the
        build ran in (the build folder, as the build user), when the build was sandboxed."""
        return cls(ko, build.student_path, build.build_dir if build.sandboxed else None)

    def _load(self) -> None:
        if self._read:
            return
        self._read = True
        try:
            with self.ko.open("rb") as f:
                elf = ELFFile(f)
                self.sections = {s.name: s["sh_size"] for s in elf.iter_sections() if s.name}
                symtab = elf.get_section_by_name(".symtab")
                if not isinstance(symtab, SymbolTableSection):
                    return
                for sym in symtab.iter_symbols():
                    index = sym["st_shndx"]
                    kind = sym["st_info"]["type"]
                    if not sym.name or not isinstance(index, int) or kind == "STT_SECTION":
                        continue
                    entry = [elf.get_section(index).name, sym["st_value"], sym["st_size"]]
                    self.symbols.setdefault(sym.name, []).append([*entry, kind[4:]])
        except (OSError, ELFError, ArithmeticError, LookupError, ValueError, TypeError,
                AttributeError, MemoryError):  # fmt: skip
            # A .ko whose sections were written by hand (assembler directives) may be
            # anything: it answers nothing, and never stops the grade.
            return

    def section_sizes(self) -> dict[str, int]:
        self._load()
        return self.sections

    def symbol(self, name: str, *, function: bool = False) -> tuple[str, int] | None:
        self._load()
        return super().symbol(name, function=function)

    def data_symbol(self, section: str, offset: int) -> str | None:
        self._load()
        return super().data_symbol(section, offset)

    def line(self, section: str, offset: int) -> tuple[str, str, int] | None:
        key = address_key(section, offset)
        if key not in self.lines:
            loc = (
                addr2line(self.ko, section, offset, self._sandbox_dir)
                if self.ko.is_file()
                else None
            )
            file = self._student_path(loc.file) if loc else None
            self.lines[key] = [loc.function, file, loc.line] if loc else None
        return super().line(section, offset)

    def recorded(self) -> DebugInfo:
        """What was read and decoded so far, as a plain table (for the evidence document)."""
        self._load()
        return DebugInfo(dict(self.sections), dict(self.symbols), dict(self.lines))


def decode_frame(
    frame: str, ko: Path | DebugInfo, *, return_address: bool = False
) -> SourceLocation | None:
    """`null_deref_init+0x11/0x1000` to the source line (ko: a .ko file or a DebugInfo)."""
    debug = ko if isinstance(ko, DebugInfo) else ElfDebug(ko)
    return _decode_frame(frame, debug, return_address=return_address)


__all__ = ["ElfDebug", "SourceLocation", "addr2line", "decode_frame"]
