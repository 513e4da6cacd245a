"""Integrity: what an honest module never needs to do, found in its sources and objects.

Kernel code runs with full privilege in the guest, so no design makes every
forgery impossible. What a course needs is that anything reaching for the
grader's machinery is flagged for review, never silently scored. Flagged:

- the agent's channel or descriptors the module did not open: walking a
  task's file table, fget/fd_install and friends, the port's device paths;
- tracing or debugfs files opened by path (the kmem trace is a witness);
- kernel symbols looked up by name, kprobes, text patching;
- the instrumentation's own symbols and parameters (kmodlab_fi_*, __real_*,
  __wrap_*): the plain build has none of them, so a student's object that
  names one reaches for the ledger;
- `#line` naming a file the submission does not have, `#include` by
  absolute path (or out of the submission), `.incbin`: ways to make a
  report quote, or a module embed, a file of the grading machine;
- any disagreement between witnesses that only tampering explains (the
  collectors put one sentence each in Evidence.tamper), and a forged answer
  on the agent's channel (Evidence.compromised).

Two views, so that neither spelling nor macros hide a reach: the student's
sources with comments removed (file and line for the report), and the plain
build's objects (their undefined symbols, which every spelling of a call ends
in, and their strings, where concatenation and macros are already resolved).
read_objects() is the only I/O here; scan_* and judge() are pure.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from kmodlab.grader.report.model import FLAGGED, Finding

# Functions an honest module never calls: reaching into descriptor tables,
# looking symbols up by name, probing or patching kernel code, driving tracing.
FORBIDDEN_CALLS: Mapping[str, str] = {
    **dict.fromkeys(
        (
            "fget",
            "fget_raw",
            "fget_task",
            "__fget_light",
            "__fdget",
            "__fdget_raw",
            "__fdget_pos",
            "fd_install",
            "close_fd",
            "__close_fd",
            "close_fd_get_file",
            "iterate_fd",
            "task_lookup_fd_rcu",
            "task_lookup_next_fd_rcu",
            "lookup_fd_rcu",
            "files_lookup_fd_rcu",
            "files_fdtable",
            "receive_fd",
            "get_files_struct",
            "put_files_struct",
        ),
        "reaches into a process's descriptors, which it did not open",
    ),
    **dict.fromkeys(
        (
            "kallsyms_lookup_name",
            "kallsyms_on_each_symbol",
            "module_kallsyms_lookup_name",
            "module_kallsyms_on_each_symbol",
            "kallsyms_lookup_size_offset",
        ),
        "looks kernel symbols up by name",
    ),
    **dict.fromkeys(
        (
            "register_kprobe",
            "register_kprobes",
            "register_kretprobe",
            "register_kretprobes",
            "register_ftrace_function",
            "ftrace_set_filter",
            "ftrace_set_filter_ip",
            "text_poke",
            "text_poke_bp",
            "text_poke_kgdb",
            "set_memory_rw",
            "set_memory_x",
            "set_memory_rox",
            "static_call_update",
        ),
        "probes or patches kernel code",
    ),
    **dict.fromkeys(
        (
            "tracing_off",
            "tracing_on",
            "tracing_snapshot",
            "trace_array_get_by_name",
            "trace_array_destroy",
            "trace_array_set_clr_event",
            "ring_buffer_reset",
            "tracing_reset_online_cpus",
        ),
        "drives the kernel's tracing (the grader's memory witness)",
    ),
}
# Paths an honest module never names: the agent's port, the kernel log device,
# the tracing file system (where the memory witness records), the symbol table.
FORBIDDEN_PATHS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"/dev/(?:vport|hvc|virtio-ports)"), "names the grader's channel device"),
    (re.compile(r"kmodlab\.agent"), "names the grader's channel"),
    (re.compile(r"/dev/kmsg"), "names the kernel log device the grader reads"),
    (re.compile(r"/sys/kernel/(?:debug/)?tracing|\btracefs\b"), "names the tracing file system"),
    (re.compile(r"/proc/kallsyms|/sys/kernel/debug/kprobes"), "names the kernel's symbol table"),
)
# A debugfs path in a message is harmless; opened by path it is not.
DEBUGFS_PATH = re.compile(r"/sys/kernel/debug\b")
OPEN_BY_PATH = frozenset(
    {"filp_open", "file_open_name", "file_open_root", "kern_path", "kernel_read_file_from_path"}
)
INSTRUMENTATION_PREFIXES = ("kmodlab_fi", "kmodlab_fail", "kmodlab_ledger", "__kmodlab", "kfi_arm_")
WRAP_PREFIXES = ("__real_", "__wrap_")


def _instrumentation_names() -> frozenset[str]:
    """Every kmodlab_* name the instrumentation defines (its header and shim)."""
    names: set[str] = set()
    for entry in resources.files("kmodlab.grader").joinpath("fi").iterdir():
        if entry.name.endswith((".h", ".c")):
            text = entry.read_text(errors="replace")
            # kfi_*: the shim's own functions and variables (kfi_note writes the ledger).
            names |= set(re.findall(r"\b_*kmodlab_\w+|\bkfi_[a-z]\w*", text))
    # The old module parameter's name: no honest module mentions it either.
    return frozenset(names | {"kmodlab_fail_nth"})


INSTRUMENTATION_NAMES = _instrumentation_names()


def is_instrumentation_name(name: str) -> bool:
    return (
        name in INSTRUMENTATION_NAMES
        or name.startswith(INSTRUMENTATION_PREFIXES)
        or name.startswith(WRAP_PREFIXES)
    )


# -- sources ------------------------------------------------------------------
_TOKEN = re.compile(
    r"""(?P<comment>//[^\n]*|/\*.*?\*/)
      |(?P<string>"(?:\\.|[^"\\\n])*")
      |(?P<char>'(?:\\.|[^'\\\n])*')
      |(?P<num>\d[\w.]*)
      |(?P<ident>[A-Za-z_]\w*)""",
    re.S | re.X,
)
_LINE_DIRECTIVE = re.compile(r'^[ \t]*#[ \t]*(?:line[ \t]+)?\d+[ \t]+"((?:\\.|[^"\\])*)"', re.M)
_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include(?:_next)?[ \t]*[<"]([^>"\n]*)[>"]', re.M)
_INCBIN = re.compile(r"\.incbin\b", re.I)


@dataclass(frozen=True)
class _Literal:
    text: str  # adjacent literals joined, as the compiler joins them
    line: int
    pieces: tuple[tuple[int, int], ...] = ()  # (offset in text, line) of each piece

    def line_at(self, offset: int) -> int:
        """The line of the piece holding text[offset] (where a match starts)."""
        return max((ln for start, ln in self.pieces if start <= offset), default=self.line)


@dataclass
class _Lexed:
    code: str  # comments blanked (newlines kept), so line numbers hold
    idents: list[tuple[str, int]] = field(default_factory=list)
    literals: list[_Literal] = field(default_factory=list)


def _lex(text: str) -> _Lexed:
    parts: list[str] = []
    out = _Lexed("")
    pos, line = 0, 1
    pending: _Literal | None = None
    for m in _TOKEN.finditer(text):
        gap = text[pos : m.start()]
        parts.append(gap)
        line += gap.count("\n")
        if pending is not None and gap.strip():
            out.literals.append(pending)
            pending = None
        tok = m.group()
        if m["comment"]:
            parts.append(re.sub(r"[^\n]", " ", tok))
        else:
            parts.append(tok)
            if m["string"]:
                body = tok[1:-1]
                if pending is None:
                    pending = _Literal(body, line, ((0, line),))
                else:
                    pieces = (*pending.pieces, (len(pending.text), line))
                    pending = _Literal(pending.text + body, pending.line, pieces)
            elif m["ident"]:
                if pending is not None:
                    out.literals.append(pending)
                    pending = None
                out.idents.append((tok, line))
            elif pending is not None:
                out.literals.append(pending)
                pending = None
        line += tok.count("\n")
        pos = m.end()
    if pending is not None:
        out.literals.append(pending)
    parts.append(text[pos:])
    out.code = "".join(parts)
    return out


def _line_of(code: str, offset: int) -> int:
    return code.count("\n", 0, offset) + 1


def _inside(submission_files: Iterable[str], base: str, target: str) -> bool:
    """Whether `target`, as #line or #include names it from file `base`, is a submission file."""
    files = set(submission_files)
    names = {posixpath.basename(f) for f in files}
    if target.startswith("/"):
        return False
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(base), target))
    return (
        joined in files
        or target in files
        or ("/" not in target and target in names and not joined.startswith(".."))
    )


def scan_source(name: str, text: str, submission_files: Iterable[str]) -> list[Finding]:
    """Findings in one source file (comments do not count). Pure."""
    lexed = _lex(text)
    found: list[Finding] = []

    def flag(what: str, line: int, **data: object) -> None:
        found.append(Finding("integrity", what, name, line, {"witness": "source", **data}))

    _scan_directives(name, lexed, list(submission_files), flag)
    _scan_literals(lexed, flag, {f.line for f in found})
    _scan_identifiers(lexed, flag)
    return found


def _scan_directives(name: str, lexed: _Lexed, files: list[str], flag: Callable[..., None]) -> None:
    """#line to a file it does not have, #include by absolute path or out of it, .incbin."""
    code = lexed.code
    for m in _LINE_DIRECTIVE.finditer(code):
        if not _inside(files, name, target := m.group(1)):
            flag(f'#line names "{target}", a file the submission does not have',
                 _line_of(code, m.start()), rule="line-directive")  # fmt: skip
    for m in _INCLUDE.finditer(code):
        target = m.group(1)
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
        if target.startswith("/"):
            flag(f'#include of "{target}" by absolute path', _line_of(code, m.start()),
                 rule="absolute-include")  # fmt: skip
        elif joined.startswith(".."):
            flag(f'#include of "{target}" reaches out of the submission',
                 _line_of(code, m.start()), rule="absolute-include")  # fmt: skip
    for m in _INCBIN.finditer(code):
        flag(".incbin embeds a file of the grading machine", _line_of(code, m.start()),
             rule="incbin")  # fmt: skip


def _scan_literals(lexed: _Lexed, flag: Callable[..., None], incbin_lines: set[int]) -> None:
    """Strings as the compiler joins them: .incbin split in pieces, forbidden paths, our names."""
    opens_by_path = bool({ident for ident, _ in lexed.idents} & OPEN_BY_PATH)
    for lit in lexed.literals:
        if (m := _INCBIN.search(lit.text)) and lit.line not in incbin_lines:
            where = lit.line_at(m.end() - 1)  # ".inc" "bin": the piece that completes it
            flag(".incbin embeds a file of the grading machine", where, rule="incbin")
        for pattern, why in FORBIDDEN_PATHS:
            if m := pattern.search(lit.text):
                flag(f'"{_short(lit.text)}" {why}', lit.line_at(m.start()), rule="path")
                break
        else:
            if names := [n for n in _words(lit.text) if n in INSTRUMENTATION_NAMES]:
                flag(f'"{_short(lit.text)}" names kmodlab\'s {names[0]}', lit.line,
                     rule="instrumentation", symbol=names[0])  # fmt: skip
            elif opens_by_path and (m := DEBUGFS_PATH.search(lit.text)):
                where = lit.line_at(m.start())
                flag(f'opens "{_short(lit.text)}" (debugfs) by path', where, rule="path")


def _scan_identifiers(lexed: _Lexed, flag: Callable[..., None]) -> None:
    """Calls an honest module never makes, kmodlab's own names, a walk of ->files."""
    seen: set[str] = set()
    for ident, line in lexed.idents:
        if ident in seen:
            continue
        if ident in FORBIDDEN_CALLS:
            seen.add(ident)
            flag(f"{ident}: {FORBIDDEN_CALLS[ident]}", line, rule="symbol", symbol=ident)
        elif is_instrumentation_name(ident):
            seen.add(ident)
            flag(f"{ident}: names kmodlab's instrumentation", line, rule="instrumentation",
                 symbol=ident)  # fmt: skip
    if m := re.search(r"->\s*files\b", lexed.code):
        flag("reads a task's file table (->files)", _line_of(lexed.code, m.start()),
             rule="symbol", symbol="->files")  # fmt: skip
    if m := re.search(r"->\s*kallsyms\b", lexed.code):
        # A module's symbol table holds the shim's static functions (its ledger writer).
        flag("reads a module's symbol table (->kallsyms)", _line_of(lexed.code, m.start()),
             rule="symbol", symbol="->kallsyms")  # fmt: skip


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text)


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- objects --------------------------------------------------------------------
@dataclass(frozen=True)
class ObjectFacts:
    """What an object of the plain build imports, defines and holds as text."""

    name: str  # relative to the build folder, e.g. "hello.o"
    undefined: tuple[str, ...] = ()
    defined: tuple[str, ...] = ()
    strings: tuple[str, ...] = ()


_PRINTABLE = re.compile(rb"[\x20-\x7e]{4,}")
_SKIP_SECTIONS = (".debug", ".comment", ".note", ".symtab", ".strtab", ".shstrtab", ".rela")


def read_objects(build_dir: Path, exclude: Iterable[str] = ()) -> list[ObjectFacts]:
    """Symbols and strings of the student's objects in a (plain) build folder.

    Generated objects (*.mod.o) and any name in `exclude` are left out.
    """
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    skip = set(exclude)
    out = []
    for obj in sorted(build_dir.rglob("*.o")):
        rel = obj.relative_to(build_dir).as_posix()
        if rel.endswith(".mod.o") or rel in skip or obj.name.startswith("."):
            continue
        undefined, defined, strings = set(), set(), set()
        try:
            with open(obj, "rb") as f:
                elf = ELFFile(f)
                for sec in elf.iter_sections():
                    if isinstance(sec, SymbolTableSection):
                        for sym in sec.iter_symbols():
                            if not sym.name or sym["st_info"]["type"] in (
                                "STT_FILE",
                                "STT_SECTION",
                            ):
                                continue
                            if sym["st_shndx"] == "SHN_UNDEF":
                                undefined.add(sym.name)
                            else:
                                defined.add(sym.name)
                    elif sec["sh_type"] != "SHT_NOBITS" and not sec.name.startswith(_SKIP_SECTIONS):
                        for m in _PRINTABLE.finditer(sec.data()):
                            strings.add(m.group().decode("ascii"))
        except (OSError, ELFError):
            continue
        out.append(ObjectFacts(rel, tuple(sorted(undefined)), tuple(sorted(defined)),
                               tuple(sorted(strings))))  # fmt: skip
    return out


def scan_object(obj: ObjectFacts) -> list[tuple[str, str, str]]:
    """(rule, what, needle) for each reach an object shows. Pure.

    needle is what to look for in the sources to name a line.
    """
    found = []
    for sym in obj.undefined:
        if sym in FORBIDDEN_CALLS:
            found.append(("symbol", f"{obj.name} imports {sym}: {FORBIDDEN_CALLS[sym]}", sym))
        elif is_instrumentation_name(sym):
            found.append(("instrumentation", f"{obj.name} imports {sym} (kmodlab's)", sym))
    for sym in obj.defined:
        if is_instrumentation_name(sym):
            found.append(("instrumentation", f"{obj.name} defines {sym} (kmodlab's name)", sym))
    for text in obj.strings:
        for pattern, why in FORBIDDEN_PATHS:
            if m := pattern.search(text):
                found.append(("path", f'{obj.name} holds "{_short(text)}": it {why}', m.group()))
                break
        else:
            if _INCBIN.search(text):
                found.append(("incbin", f"{obj.name} holds an .incbin directive", ".incbin"))
            elif text in INSTRUMENTATION_NAMES:
                found.append(("instrumentation", f"{obj.name} holds {text} (kmodlab's)", text))
    return found


def _locate(needle: str, sources: Mapping[str, str]) -> tuple[str | None, int | None]:
    """The first source line (outside comments) naming needle, if any."""
    for name, text in sorted(sources.items()):
        code = _lex(text).code
        idx = code.find(needle)
        if idx >= 0:
            return name, _line_of(code, idx)
    return None, None


# -- the verdict ---------------------------------------------------------------
def findings(
    sources: Mapping[str, str],
    objects: Iterable[ObjectFacts] = (),
    tamper: Iterable[str] = (),
    compromised: str | None = None,
) -> list[Finding]:
    """Every integrity finding, sources first, then objects, witnesses, the channel. Pure."""
    # What happened first: a forged answer or an erased witness says more
    # than any line of source.
    out: list[Finding] = []
    if compromised:
        out.append(Finding("forged-answer", compromised,
                           data={"witness": "channel", "rule": "forged-answer"}))  # fmt: skip
    for sentence in tamper:
        out.append(Finding("tamper", sentence, data={"witness": "cross-check", "rule": "tamper"}))
    files = list(sources)
    for name, text in sorted(sources.items()):
        if name.endswith((".c", ".h", ".S")):
            out += scan_source(name, text, files)
    seen = {(f.data.get("rule"), f.data.get("symbol")) for f in out}
    seen_rules = {f.data.get("rule") for f in out}
    for obj in objects:
        for rule, what, needle in scan_object(obj):
            if (rule, needle) in seen or (rule in ("path", "incbin") and rule in seen_rules):
                continue  # the source view already named it, with its line
            seen.add((rule, needle))
            file, line = _locate(needle, sources)
            out.append(Finding("integrity", what, file, line,
                               {"witness": "object", "rule": rule, "symbol": needle}))  # fmt: skip
    return out


def summary(found: list[Finding]) -> str:
    if not found:
        return "nothing in it reaches for the grader's machinery"
    return f"{FLAGGED}: {found[0].message}" + (
        f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    )
