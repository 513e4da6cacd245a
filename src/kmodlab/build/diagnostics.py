"""Turn a kbuild log into diagnostics a student can act on.

Pure: works on the log text only. Paths the compiler prints point into the
scratch build folder; they are mapped back to the student's own file names so
that an error reads `hello.c:7:9`, not `/tmp/kmodlab-build-x1y2/hello.c:7:9`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

SEVERITIES = ("error", "warning", "note")


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in a build, or in reading the submission.

    kind is a short stable tag a grader or UI can key on: "compile-error",
    "fatal-error", a gcc option name such as "unused-variable", "undefined-symbol",
    "gpl-only-symbol", "missing-license", "linker", "timeout", ...
    """

    file: str | None
    line: int | None
    column: int | None
    severity: str  # one of SEVERITIES
    kind: str
    message: str
    function: str | None = None  # from gcc's "In function 'x':" context line
    symbol: str | None = None  # the kernel symbol a modpost complaint is about
    module: str | None = None  # the module a modpost complaint is about

    def __str__(self) -> str:
        where = ":".join(str(p) for p in (self.file, self.line, self.column) if p is not None)
        return f"{where + ': ' if where else ''}{self.severity}: {self.message}"


_GCC = re.compile(
    r"^(?P<file>[^\s:][^:]*):(?P<line>\d+):(?:(?P<col>\d+):)? "
    r"(?P<sev>fatal error|error|warning|note): (?P<msg>.*)$"
)
_TOOL = re.compile(r"^(?:cc1|gcc|cc): (?P<sev>fatal error|error|warning): (?P<msg>.*)$")
_FUNCTION = re.compile(r"^(?P<file>[^\s:][^:]*): In (?:member )?function ['‘](?P<fn>[^'’]+)['’]:$")
_TOP_LEVEL = re.compile(r"^(?P<file>[^\s:][^:]*): At top level:$")
_OPTION = re.compile(r"\s*\[-W(?:error=)?(?P<opt>[A-Za-z0-9_=+\-]+)\]$")
_UNDEFINED = re.compile(
    r'^(?P<lvl>ERROR|WARNING): modpost: "(?P<sym>[^"]+)" \[(?P<ko>[^\]]+)\] undefined!$'
)
_GPL_ONLY = re.compile(
    r"^(?P<lvl>ERROR|WARNING): modpost: GPL-incompatible module (?P<ko>\S+) "
    r"uses GPL-only symbol '(?P<sym>[^']+)'$"
)
_NO_LICENSE = re.compile(
    r"^(?P<lvl>ERROR|WARNING): modpost: missing MODULE_LICENSE\(\) in (?P<obj>\S+)$"
)
_MODPOST = re.compile(r"^(?P<lvl>ERROR|WARNING): modpost: (?P<msg>.*)$")
# 6.1: "<obj>.o: section mismatch in reference: cleanup_module (section: .exit.text) ->
# setup_counter (section: .init.text)"
_SECTION_MISMATCH = re.compile(
    r"^(?P<lvl>ERROR|WARNING): modpost: (?P<obj>\S+): section mismatch in reference: "
    r"(?P<from>[\w.$]+)\S* \(section: (?P<fsec>[^)]+)\) -> (?P<to>[\w.$]+)\S* "
    r"\(section: (?P<tsec>[^)]+)\)$"
)
# What modpost calls a module's init and exit functions (their aliases).
ENTRY_ALIASES = {"init_module": "init", "cleanup_module": "exit"}
# libc functions students reach for, and the kernel's own (there is no libc in the kernel).
KERNEL_INSTEAD: dict[str, str] = {
    "printf": "pr_info()",
    "fprintf": "pr_err()",
    "puts": "pr_info()",
    "malloc": "kmalloc(size, GFP_KERNEL)",
    "calloc": "kcalloc(n, size, GFP_KERNEL)",
    "realloc": "krealloc(p, size, GFP_KERNEL)",
    "free": "kfree()",
    "strdup": "kstrdup(s, GFP_KERNEL)",
    "strndup": "kstrndup(s, n, GFP_KERNEL)",
    "sprintf": "scnprintf()",
    "asprintf": "kasprintf(GFP_KERNEL, ...)",
    "atoi": "kstrtoint()",
    "strtol": "kstrtol()",
    "exit": "a negative errno returned from init",
    "sleep": "msleep()",
    "usleep": "usleep_range()",
}
# The kernel's own versions of libc names, and the header that declares them.
KERNEL_HEADER: dict[str, str] = {
    **dict.fromkeys(("toupper", "tolower", "isdigit", "isalpha", "isspace"), "<linux/ctype.h>"),
    **dict.fromkeys(("strlen", "strcmp", "strscpy", "memcpy", "memset"), "<linux/string.h>"),
    **dict.fromkeys(("kmalloc", "kzalloc", "kfree", "kstrdup"), "<linux/slab.h>"),
}
_IMPLICIT = re.compile(r"^implicit declaration of function ['‘](?P<fn>\w+)['’]")
_LD = re.compile(r"^(?:\S*-)?ld(?:\.bfd)?: (?:(?P<sev>warning): )?(?P<msg>.*)$")
# make's own complaints ("No rule to make target ..."), not its "[target] Error 2" echoes.
_MAKE = re.compile(r"^make(?:\[\d+\])?: \*\*\* (?P<msg>(?!\[|Waiting for unfinished).*)$")
# ld reports a source position without a severity, after an "in function" line.
_LD_FUNCTION = re.compile(r"^(?:\S*-)?ld(?:\.bfd)?: (?P<obj>\S+): in function [`'](?P<fn>[^']+)':$")
_LD_POSITION = re.compile(
    r"^(?P<file>[^\s:][^:]*):(?P<line>\d+): "
    r"(?P<msg>(?:multiple definition|undefined reference) .*)$"
)
_FIRST_DEFINED = re.compile(r"; \S+?:(?P<file>[^:\s]+):(?P<line>\d+): first defined here$")
_KERNEL_PREFIX = re.compile(r"^(?:\./|.*/linux-headers-[^/]+/)")
_ASM = re.compile(r"^(?P<file>[^\s:][^:]*):(?P<line>\d+): (?P<sev>Error|Warning): (?P<msg>.*)$")


def _module_of(path: str) -> str:
    """`/build/dir/hello.ko` or `hello.o` -> `hello`: modpost names modules by path."""
    base = path.rsplit("/", 1)[-1]
    for suffix in (".ko", ".o"):
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return base


class _PathMapper:
    """Maps paths printed inside the build folder back to the student's names."""

    def __init__(self, build_dir: str, file_map: Mapping[str, str]):
        self.prefix = build_dir.rstrip("/") + "/"
        self.file_map = file_map

    def __call__(self, path: str) -> str:
        if path.startswith(self.prefix):
            rel = path[len(self.prefix) :]
            return self.file_map.get(rel, rel)
        # A kernel header: its path inside the headers tree is what people search for.
        return _KERNEL_PREFIX.sub("", path)


def _severity(word: str) -> str:
    word = word.lower()
    return "error" if word == "fatal error" else word


def _gcc_kind(sev: str, message: str) -> tuple[str, str]:
    """Kind from the `[-Wfoo]` option gcc appends, else from the severity."""
    m = _OPTION.search(message)
    if m:
        return m.group("opt"), message[: m.start()]
    default = {
        "fatal error": "fatal-error",
        "error": "compile-error",
        "warning": "compile-warning",
        "note": "note",
    }
    return default[sev], message


def _modpost(line: str, modules: Mapping[str, Sequence[str]]) -> Diagnostic | None:
    if m := _UNDEFINED.match(line):
        ko, sym = _module_of(m["ko"]) + ".ko", m["sym"]
        msg = (
            f"{ko} uses {sym}, which no module or kernel exports: check the spelling, "
            "or load the module that exports it first"
        )
        return Diagnostic(
            None, None, None, "error", "undefined-symbol", msg, symbol=sym, module=ko[:-3]
        )
    if m := _GPL_ONLY.match(line):
        ko, sym = _module_of(m["ko"]) + ".ko", m["sym"]
        msg = (
            f"{ko} uses {sym}, which the kernel exports to GPL-compatible modules only "
            '(EXPORT_SYMBOL_GPL): declare MODULE_LICENSE("GPL") or use another function'
        )
        return Diagnostic(
            None, None, None, "error", "gpl-only-symbol", msg, symbol=sym, module=ko[:-3]
        )
    if m := _NO_LICENSE.match(line):
        name = _module_of(m["obj"])
        sources = list(modules.get(name, ()))
        msg = (
            f'{name}.ko has no MODULE_LICENSE(): add MODULE_LICENSE("GPL") to '
            f"{sources[0] if len(sources) == 1 else 'one of its source files'}"
        )
        sev = "error" if m["lvl"] == "ERROR" else "warning"
        file = sources[0] if len(sources) == 1 else None
        return Diagnostic(file, None, None, sev, "missing-license", msg)
    if m := _SECTION_MISMATCH.match(line):
        return _section_mismatch(m, modules)
    if m := _MODPOST.match(line):
        sev = "error" if m["lvl"] == "ERROR" else "warning"
        return Diagnostic(None, None, None, sev, "modpost", m["msg"])
    return None


def _section_mismatch(m: re.Match, modules: Mapping[str, Sequence[str]]) -> Diagnostic:
    """A reference from kept code to code or data freed after init, in plain words.

    Placed at its line by locate_symbols (the call inside the referring function).
    """
    name = _module_of(m["obj"])
    role = ENTRY_ALIASES.get(m["from"])
    where = f"{name}'s {role} function" if role else f"{m['from']}()"
    what = "data" if "data" in m["tsec"] else "code"
    marked = "__initdata" if what == "data" else "__init"
    use = "uses" if what == "data" else "calls"
    msg = (
        f"section mismatch: {where} ({m['fsec']}) {use} {m['to']} ({m['tsec']}), which is "
        f"marked {marked}: the kernel frees init {what} once init returns, so this would "
        f"reach freed memory; drop {marked} from {m['to']}, or do not use it there"
    )
    sev = "error" if m["lvl"] == "ERROR" else "warning"
    sources = list(modules.get(name, ()))
    return Diagnostic(
        sources[0] if len(sources) == 1 else None, None, None, sev, "section-mismatch", msg,
        function=m["from"], symbol=m["to"], module=name,
    )  # fmt: skip


def _no_libc(kind: str, message: str) -> str:
    """An implicit declaration of a libc function, with the kernel's helper to use."""
    m = _IMPLICIT.match(message) if kind == "implicit-function-declaration" else None
    if m is not None and m["fn"] in KERNEL_HEADER:
        return f"{message}: the kernel has it; #include {KERNEL_HEADER[m['fn']]}"
    if m is None or m["fn"] not in KERNEL_INSTEAD:
        return message
    return (
        f"{message}: there is no C library in the kernel; use {KERNEL_INSTEAD[m['fn']]} "
        "instead (<linux/printk.h>, <linux/slab.h>, <linux/string.h>, <linux/kernel.h>)"
    )


def _other(line: str) -> Diagnostic | None:
    """Tool-level lines with no source position: cc1/ld/make failures."""
    if m := _TOOL.match(line):
        sev = m["sev"]
        kind, msg = _gcc_kind(sev, m["msg"])
        return Diagnostic(None, None, None, _severity(sev), kind, msg)
    if m := _LD.match(line):
        return Diagnostic(None, None, None, m["sev"] or "error", "linker", m["msg"])
    if m := _ASM.match(line):
        # The assembler reports positions in gcc's temporary .s file: useless to a student.
        return Diagnostic(None, None, None, _severity(m["sev"]), "assembler", m["msg"])
    if m := _MAKE.match(line):
        return Diagnostic(None, None, None, "error", "make", m["msg"])
    return None


class _LogParser:
    """Reads a log line by line; gcc and ld put context on the line before."""

    def __init__(self, to_student: _PathMapper, modules: Mapping[str, Sequence[str]]):
        self.to_student = to_student
        self.modules = modules
        self.function: dict[str, str | None] = {}
        self.ld_function: str | None = None

    def feed(self, line: str) -> Diagnostic | None:
        if m := _FUNCTION.match(line):
            self.function[m["file"]] = m["fn"]
        elif m := _TOP_LEVEL.match(line):
            self.function[m["file"]] = None
        elif m := _GCC.match(line):
            kind, msg = _gcc_kind(m["sev"], m["msg"])
            msg = _no_libc(kind, msg)
            column = int(m["col"]) if m["col"] else None
            where = (self.to_student(m["file"]), int(m["line"]), column)
            return Diagnostic(*where, _severity(m["sev"]), kind, msg, self.function.get(m["file"]))
        elif m := _LD_FUNCTION.match(line):
            self.ld_function = m["fn"]
        elif m := _LD_POSITION.match(line):
            return self._link(m)
        elif "modpost:" in line:
            return _modpost(line, self.modules)
        else:
            return _other(line)
        return None

    def _link(self, m: re.Match) -> Diagnostic:
        msg, kind = m["msg"], "linker"
        first = _FIRST_DEFINED.search(msg)
        symbol = re.search(r"multiple definition of [`'](?P<sym>[^']+)'", msg)
        if first and symbol:
            other = f"{self.to_student(first['file'])}:{first['line']}"
            kind = "multiple-definition"
            msg = (
                f"{symbol['sym']} is defined here and in {other}: make one of them static, "
                "or keep a single definition"
            )
        where = (self.to_student(m["file"]), int(m["line"]), None)
        return Diagnostic(*where, "error", kind, msg, self.ld_function)


def parse_build_log(
    log: str,
    build_dir: str,
    *,
    file_map: Mapping[str, str] | None = None,
    modules: Mapping[str, Sequence[str]] | None = None,
) -> list[Diagnostic]:
    """Diagnostics found in a kbuild log, in log order.

    file_map maps build-folder-relative names to the student's (for files the
    builder generated); modules maps module name to its sources, so a modpost
    complaint about a one-file module can point at that file.
    """
    parser = _LogParser(_PathMapper(build_dir, file_map or {}), modules or {})
    found: list[Diagnostic] = []
    pending: int | None = None  # a header's error waiting for the student's macro call
    for raw in log.splitlines():
        line = raw.rstrip()
        d = parser.feed(line)
        if d is None:
            continue
        m = _GCC.match(line)
        ours = bool(m) and m["file"].startswith(parser.to_student.prefix)
        if m and d.severity != "note" and not ours:
            pending = len(found)
        elif m and d.severity == "note" and pending is not None and ours:
            found[pending] = _at_macro_use(found[pending], d)
            pending = None
        elif d.severity != "note":
            pending = None
        found.append(d)
    return found


_MACRO = re.compile(r"in expansion of macro ['‘](?P<name>[^'’]+)['’]")


def _at_macro_use(error: Diagnostic, note: Diagnostic) -> Diagnostic:
    """An error gcc places inside a kernel macro, moved to the student's line that used it.

    A missing semicolon before pr_info() is reported in printk.h; the line to
    fix is the student's, which gcc names only in its "in expansion of" notes.
    """
    m = _MACRO.search(note.message)
    if m is None:
        return error
    message = f"{error.message} (inside the kernel macro {m['name']}() used here)"
    return replace(error, file=note.file, line=note.line, column=note.column, message=message)


def errors(diagnostics: Sequence[Diagnostic]) -> list[Diagnostic]:
    return [d for d in diagnostics if d.severity == "error"]


def locate_symbols(
    diagnostics: Sequence[Diagnostic],
    sources: Mapping[str, str],
    modules: Mapping[str, Sequence[str]] | None = None,
) -> list[Diagnostic]:
    """Point modpost's symbol complaints at the first source line using the symbol.

    modpost only names the .ko; the student wants the line. sources maps the
    student's .c files to their text; modules (module name -> its .c files)
    narrows the search to the files of the module modpost names.
    """
    located = []
    for d in diagnostics:
        if d.kind == "section-mismatch" and d.symbol and d.function:
            own = (modules or {}).get(d.module or "")
            mine = {rel: sources[rel] for rel in own if rel in sources} if own else sources
            d = _in_function(d, mine)
        elif d.symbol and d.file is None:
            own = (modules or {}).get(d.module or "")
            d = _first_use(
                d, {rel: sources[rel] for rel in own if rel in sources} if own else sources
            )
        located.append(d)
    return located


# Words that may precede a call at the start of a statement; any other run of
# plain words and stars before the name makes the line a declaration or the
# definition of a function of that name (`int foo(void);`, `static int foo(`).
_STATEMENT_WORDS = frozenset({"return", "else", "do", "case", "goto", "sizeof"})
_TYPE_PREFIX = re.compile(r"^[A-Za-z_][\w\s*]*$")


def _is_declaration(before: str) -> bool:
    words = before.replace("*", " ").split()
    return bool(
        _TYPE_PREFIX.match(before.strip()) and words and not (set(words) & _STATEMENT_WORDS)
    )


def _referring_function(name: str, source: str) -> str:
    """modpost's name for a function as the source names it (cleanup_module: module_exit's)."""
    role = ENTRY_ALIASES.get(name)
    if role is None:
        return name
    m = re.search(rf"\bmodule_{role}\s*\(\s*(\w+)\s*\)", source)
    return m.group(1) if m else name


def _in_function(d: Diagnostic, sources: Mapping[str, str]) -> Diagnostic:
    """d at the first use of d.symbol inside the function modpost names (d.function)."""
    assert d.symbol is not None and d.function is not None
    use = re.compile(rf"\b{re.escape(d.symbol)}\b")
    for rel in sorted(sources):
        lines = sources[rel].splitlines()
        fn = _referring_function(d.function, sources[rel])
        head = re.compile(rf"^[A-Za-z_][\w\s*]*\b{re.escape(fn)}\s*\(")
        start = next((i for i, t in enumerate(lines) if head.match(t) and ";" not in t), None)
        if start is None:
            continue
        for number in range(start + 1, len(lines)):
            if lines[number].startswith("}"):
                break
            if use.search(lines[number]):
                return replace(d, file=rel, line=number + 1, function=fn)
        return replace(d, file=rel, line=start + 1, function=fn)
    return d


def _first_use(d: Diagnostic, sources: Mapping[str, str]) -> Diagnostic:
    """The first call of d.symbol, else its first other use, skipping declarations."""
    assert d.symbol is not None
    name = re.compile(rf"\b{re.escape(d.symbol)}\b(?P<call>\s*\()?")
    fallback = None
    for rel in sorted(sources):
        for number, line in enumerate(sources[rel].splitlines(), 1):
            if line.lstrip().startswith(("//", "/*", "*", "#")):
                continue  # a comment or a preprocessor line is not a use
            for m in name.finditer(line):
                if _is_declaration(line[: m.start()]):
                    continue
                if m["call"]:
                    return replace(d, file=rel, line=number)
                fallback = fallback or replace(d, file=rel, line=number)
    return fallback or d
