"""Read obj-m and its friends from a student's Makefile or Kbuild, as data.

The student's Makefile is never executed: a Makefile can run any shell command
through $(shell ...) or a recipe, so we read the few assignments kbuild cares
about (obj-m, <module>-objs, <module>-y, ccflags-y) with a small interpreter of
make's assignment and conditional syntax, and write our own Kbuild from them.
Anything that would need running (a $(shell), $(wildcard), ...) in those
assignments is refused with a message saying how to write it plainly.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field

from kmodlab.build.diagnostics import Diagnostic
from kmodlab.errors import InputError

# A module name becomes KBUILD_MODNAME (a C string), a file name and a word in
# make; the kernel keeps at most MODULE_NAME_LEN - 1 = 55 characters of it.
# A leading digit is fine (8250.ko, 3c59x.ko).
SAFE_MODULE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")
MAX_MODULE_NAME = 55
_SAFE_PATH_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")

# Markers carried through expanded text; control characters never occur in a
# Makefile we accepted (validate.py insists on printable UTF-8 names and text).
_FUNC, _ROOT, _UNKNOWN, _UNDEF = "\x00", "\x02", "\x03", "\x04"
_MARKERS = re.compile(r"[\x00\x03\x04]([^\x00\x03\x04]*)[\x00\x03\x04]")

# fmt: off
_MAKE_FUNCTIONS = frozenset({
    "shell", "wildcard", "patsubst", "subst", "foreach", "call", "eval", "origin", "value",
    "addprefix", "addsuffix", "filter", "filter-out", "sort", "word", "words", "wordlist",
    "dir", "notdir", "basename", "suffix", "strip", "findstring", "if", "or", "and",
    "abspath", "realpath", "info", "warning", "error", "file", "join", "firstword",
    "lastword", "flavor", "let", "intcmp", "guile",
})
# fmt: on
# Set by kbuild for an external module: they all name the module's own folder.
_FOLDER_VARS = frozenset({"src", "obj", "M", "PWD", "CURDIR", "KBUILD_EXTMOD"})
# Set by kbuild or the kernel config: values we cannot know when reading as data.
_KBUILD_VARS = frozenset({"srctree", "objtree", "ARCH", "CC", "LD", "MAKE", "KDIR", "KERNELDIR"})
_CONDITIONALS = ("ifeq", "ifneq", "ifdef", "ifndef")
_ASSIGN = re.compile(r"^(?P<name>[^\s:#=]+)\s*(?P<op>:::=|::=|:=|\+=|\?=|!=|=)\s*(?P<value>.*)$")
_CCFLAG_VARS = ("ccflags-y", "EXTRA_CFLAGS", "subdir-ccflags-y")
_IGNORED_VARS = re.compile(
    r"^(ldflags-y|asflags-y|EXTRA_LDFLAGS|EXTRA_AFLAGS|LDFLAGS_MODULE|ccflags-remove-y|"
    r"CFLAGS|KCFLAGS|KBUILD_(?!EXTRA_SYMBOLS$)\w+|(CFLAGS|AFLAGS|CFLAGS_REMOVE|LDFLAGS)_\S+)$"
)


@dataclass(frozen=True)
class ModuleSpec:
    """One module to build: its name and its objects (paths without .o)."""

    name: str
    objects: tuple[str, ...]

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(f"{o}.c" for o in self.objects)


@dataclass(frozen=True)
class KbuildSpec:
    """What the student's kbuild file asks for, checked against their files."""

    origin: str | None  # "Kbuild", "Makefile", or None (one module per .c file)
    modules: tuple[ModuleSpec, ...]
    ccflags: tuple[str, ...]
    findings: tuple[Diagnostic, ...] = ()


@dataclass
class _Var:
    text: str  # text to expand at use ("$" doubled in already-expanded parts)
    line: int
    simple: bool  # := semantics: text was expanded when assigned
    segments: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class _Frame:
    active: bool | None  # None: we cannot tell which branch kbuild takes
    done: bool | None  # whether an earlier branch of the chain was taken
    line: int
    text: str


class _Expander:
    """Expands make variable references, but never runs a function."""

    # A hostile Makefile can nest references to expand exponentially (A = $(B)$(B),
    # B = $(C)$(C), ...); this runs on the host, outside the sandbox, so it is bounded.
    BUDGET = 100_000
    # $( inside $( inside ...: each level is a Python call, so 2,000 of them
    # overflowed the interpreter's stack (RecursionError: every check `error`).
    # Real Makefiles nest a handful.
    MAX_NESTING = 64

    def __init__(self, table: dict[str, _Var], filename: str = "Makefile"):
        self.table = table
        self.budget = self.BUDGET
        self.filename = filename
        # modpost's pass (Makefile.modpost includes the Makefile from the kernel's
        # folder): $(CURDIR) and $(shell pwd) name the kernel's folder there, not M's.
        self.modpost = False

    def expand(self, text: str, depth: int = 0) -> str:
        if depth > self.MAX_NESTING:
            raise InputError(
                f"the {self.filename} nests $(...) more than {self.MAX_NESTING} levels deep",
                "list obj-m and its objects by name",
            )
        out: list[str] = []
        i = 0
        while i < len(text):
            if text[i] != "$" or i + 1 == len(text):
                out.append(text[i])
                i += 1
                continue
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
            elif nxt in "({":
                end = _matching(text, i + 1)
                out.append(self._reference(text[i + 2 : end], depth))
                i = end + 1
            else:
                out.append(self._lookup(nxt, depth))
                i += 2
        return "".join(out)

    def _reference(self, inner: str, depth: int) -> str:
        word = re.split(r"[\s,]", inner.strip(), maxsplit=1)[0]
        if word in _MAKE_FUNCTIONS and inner.strip() != word:
            # Never evaluated: "$(shell pwd)" is the one idiom worth understanding.
            if inner.split() == ["shell", "pwd"]:
                return f"{_UNKNOWN}CURDIR{_UNKNOWN}" if self.modpost else _ROOT
            return f"{_FUNC}{word}{_FUNC}"
        name = self.expand(inner, depth + 1)
        subst = re.fullmatch(r"([^:]+):([^=]*)=(.*)", name)
        if subst:  # $(SRCS:.c=.o)
            words = self._lookup(subst[1], depth).split()
            old, new = subst[2], subst[3]
            return " ".join(w[: -len(old)] + new if old and w.endswith(old) else w for w in words)
        return self._lookup(name.strip(), depth)

    def _lookup(self, name: str, depth: int) -> str:
        if name in self.table and depth < 32:
            self.budget -= 1 + len(self.table[name].text)
            if self.budget < 0:
                raise InputError(
                    "the Makefile's variables expand too far to be read",
                    "list obj-m and its objects by name",
                )
            return self.expand(self.table[name].text, depth + 1)
        if name == "KERNELRELEASE":
            return "kbuild"  # non-empty: we read the file as kbuild does
        if name == "CURDIR" and self.modpost:
            return f"{_UNKNOWN}{name}{_UNKNOWN}"
        if name in _FOLDER_VARS:
            return _ROOT
        if name.startswith("CONFIG_") or name in _KBUILD_VARS or name in self.table:
            return f"{_UNKNOWN}{name}{_UNKNOWN}"
        return f"{_UNDEF}{name}{_UNDEF}"


def _matching(text: str, open_at: int) -> int:
    """Index of the bracket closing the one at open_at (or the end of text)."""
    pairs = {"(": ")", "{": "}"}
    opener, closer, depth = text[open_at], pairs[text[open_at]], 0
    for j in range(open_at, len(text)):
        if text[j] == opener:
            depth += 1
        elif text[j] == closer:
            depth -= 1
            if depth == 0:
                return j
    return len(text)


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, line) with backslash-newline joined the way make does."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        start, buf = i, lines[i]
        while (len(buf) - len(buf.rstrip("\\"))) % 2 == 1 and i + 1 < len(lines):
            i += 1
            buf = buf[:-1].rstrip() + " " + lines[i].lstrip()
        i += 1
        yield start + 1, buf


def _strip_comment(line: str) -> str:
    m = re.search(r"(?<!\\)#", line)
    return line[: m.start()] if m else line


def _operands(args: str) -> tuple[str, str] | None:
    """The two operands of `ifeq (a,b)` or `ifeq "a" "b"`."""
    args = args.strip()
    if args.startswith("(") and args.endswith(")"):
        inner, depth = args[1:-1], 0
        for j, ch in enumerate(inner):
            depth += ch in "({"
            depth -= ch in ")}"
            if ch == "," and depth == 0:
                return inner[:j].strip(), inner[j + 1 :].strip()
        return None
    m = re.fullmatch(r"""(["'])(.*?)\1\s+(["'])(.*?)\3""", args)
    return (m[2], m[4]) if m else None


class _Reader:
    """One pass over a Makefile, keeping the variables the kbuild pass would see."""

    def __init__(self, filename: str):
        self.filename = filename
        self.table: dict[str, _Var] = {}
        self.frames: list[_Frame] = []
        self.expander = _Expander(self.table, filename)
        self.findings: list[Diagnostic] = []
        self.in_rule = False
        self.in_define = False

    def finding(self, line: int, kind: str, message: str) -> None:
        self.findings.append(Diagnostic(self.filename, line, None, "warning", kind, message))

    def read(self, text: str) -> None:
        for lineno, raw in _logical_lines(text):
            self.line(lineno, raw)

    def line(self, lineno: int, raw: str) -> None:
        if self.in_define:
            self.in_define = raw.strip().split()[:1] != ["endef"]
            return
        if raw.startswith("\t") and self.in_rule:
            return  # a recipe line: shell commands we never run
        line = _strip_comment(raw).strip()
        word = line.split(maxsplit=1)[0] if line else ""
        if not line:
            return
        if word in _CONDITIONALS or word in ("else", "endif"):
            self.conditional(lineno, line)
        elif word == "define":
            self.in_define = True
        elif not self.active():
            return
        elif word in ("include", "-include", "sinclude"):
            self.finding(lineno, "ignored-include", f"`{line}` is not followed")
        elif m := _ASSIGN.match(re.sub(r"^((override|export|private)\s+)+", "", line)):
            self.in_rule = False
            self.assign(lineno, m["name"], m["op"], m["value"])
        elif ":" in line:
            self.in_rule = True

    def active(self) -> bool:
        return all(f.active is not False for f in self.frames)

    def evaluate(self, directive: str, args: str) -> bool | None:
        if directive in ("ifdef", "ifndef"):
            name = self.expander.expand(args.strip())
            value = self.expander._lookup(name, 0) if name else ""
        else:
            pair = _operands(args)
            if pair is None:
                return None
            a, b = (self.expander.expand(x).strip() for x in pair)
            value = "" if _clean(a) == _clean(b) else "differ"
            if any(c in a + b for c in (_FUNC, _UNKNOWN)):
                return None
        if directive in ("ifdef", "ifndef") and any(c in value for c in (_FUNC, _UNKNOWN)):
            return None
        result = bool(_clean(value))
        return result if directive in ("ifdef", "ifneq") else not result

    def conditional(self, lineno: int, line: str) -> None:
        word, _, rest = line.partition(" ")
        if word in _CONDITIONALS:
            value = self.evaluate(word, rest) if self.active() else False
            self.frames.append(_Frame(value, value, lineno, line))
        elif not self.frames:
            self.finding(lineno, "unbalanced-conditional", f"`{word}` without a matching if")
        elif word == "endif":
            self.frames.pop()
        else:  # else, or "else ifeq ..."
            frame = self.frames[-1]
            sub = rest.split(maxsplit=1)
            value = self.evaluate(sub[0], sub[1] if len(sub) > 1 else "") if sub else True
            if frame.done is True:
                frame.active = False
            elif frame.done is False:
                frame.active, frame.done = value, value
            else:
                frame.active = None if value is not False else False

    def assign(self, lineno: int, name: str, op: str, value: str) -> None:
        # obj-$(CONFIG_FOO) += x.o: we build it as a module whatever the config says.
        name = re.sub(r"\$[({]CONFIG_\w+[)}]", "m" if name.startswith("obj-") else "y", name)
        name = _clean(self.expander.expand(name)).strip()
        unsure = any(f.active is None for f in self.frames)
        if unsure and _relevant(name):
            frame = next(f for f in reversed(self.frames) if f.active is None)
            self.finding(
                lineno,
                "unevaluated-condition",
                f"cannot tell whether `{frame.text}` (line {frame.line}) holds when kbuild "
                f"reads this file; {name} from all its branches is used",
            )
            op = "+=" if op in (":=", "::=", ":::=", "=") else op
        self._store(lineno, name, op, value)

    def _store(self, lineno: int, name: str, op: str, value: str) -> None:
        old = self.table.get(name)
        if op == "!=":  # a shell assignment: the value would come from running a command
            value, op = f"{_FUNC}shell{_FUNC}", "="
        if op == "?=" and old is not None:
            return
        simple = op in (":=", "::=", ":::=") or (op == "+=" and old is not None and old.simple)
        text = self.expander.expand(value).replace("$", "$$") if simple else value
        if op == "+=" and old is not None:
            old.text = f"{old.text} {text}".strip()
            old.segments.append((text, lineno))
        else:
            self.table[name] = _Var(text, lineno, simple, [(text, lineno)])


def _clean(text: str) -> str:
    """Expanded text with undefined variables gone (make expands them to nothing)."""
    return re.sub(f"{_UNDEF}[^{_UNDEF}]*{_UNDEF}", "", text)


def _relevant(name: str) -> bool:
    return name == "obj-m" or name.endswith(("-objs", "-y")) or name in _CCFLAG_VARS


def _problem(token: str) -> str | None:
    """Why a token cannot be read as data, or None if it can."""
    for m in _MARKERS.finditer(token):
        if token[m.start()] == _FUNC:
            return f"$({m[1]} ...), which kmodlab does not run"
        if token[m.start()] == _UNKNOWN:
            return f"$({m[1]}), whose value kmodlab cannot know"
    return None


def _show(token: str) -> str:
    """A token as the student wrote it, markers turned back into make syntax."""
    token = token.replace(_ROOT, "$(src)")
    token = re.sub(f"{_FUNC}([^{_FUNC}]*){_FUNC}", r"$(\1 ...)", token)
    marks = f"{_UNKNOWN}{_UNDEF}"
    return re.sub(f"[{marks}]([^{marks}]*)[{marks}]", r"$(\1)", token)


def _words(reader: _Reader, name: str) -> list[tuple[str, int]]:
    var = reader.table.get(name)
    if var is None:
        return []
    return [(w, line) for text, line in var.segments for w in reader.expander.expand(text).split()]


def _object(token: str, where: str) -> str:
    """The object path (without .o) a word of obj-m or <module>-objs names."""
    fix = "list objects by name, e.g. obj-m += hello.o"
    if why := _problem(token):
        raise InputError(f"{where} uses {why}", fix)
    name = _clean(token)
    if not name.endswith(".o") or name == ".o":
        undefined = re.findall(f"{_UNDEF}([^{_UNDEF}]*){_UNDEF}", token)
        if undefined and name in ("", ".o"):
            raise InputError(
                f"{where} uses $({undefined[0]}), which is not set when kbuild reads the file",
                "set it where kbuild reads it (not only in the else part of "
                "ifneq ($(KERNELRELEASE),)), or write the name itself",
            )
        if name.endswith(".c"):
            raise InputError(f"{where} lists the source {name}", f"write {name[:-2]}.o instead")
        raise InputError(f"{where} lists {_show(name)!r}, which is not an object file name", fix)
    path = name[:-2]
    parts = path.split("/")
    if _ROOT in path or path.startswith("/") or ".." in parts:
        raise InputError(
            f"{where} lists {_show(name)!r}, outside the submission folder",
            "name objects relative to the folder, e.g. util.o or src/util.o",
        )
    if not all(_SAFE_PATH_PART.match(p) for p in parts):
        raise InputError(
            f"{where} lists {_show(name)!r}, which is not an object file name",
            "use only letters, digits, _ and - in file names",
        )
    return path


def _module(reader: _Reader, name: str, line: int, files: Collection[str]) -> ModuleSpec:
    where = f"{reader.filename} line {line}: obj-m"
    if "/" in name:
        raise InputError(
            f"{where} lists {name}.o in a subfolder",
            "list modules at the top of the folder (their parts may be in subfolders)",
        )
    if not SAFE_MODULE_NAME.match(name) or len(name) > MAX_MODULE_NAME:
        raise InputError(
            f"{where} lists {name!r}, which is not a usable module name",
            "use only letters, digits, _ and -, at most 55 characters",
        )
    objects: list[tuple[str, str]] = []  # (object, where it was named)
    for var in (f"{name}-objs", f"{name}-y"):
        for token, at in _words(reader, var):
            obj_where = f"{reader.filename} line {at}: {var}"
            obj = _object(token, obj_where)
            if obj not in (o for o, _ in objects):
                objects.append((obj, obj_where))
    if not objects:
        objects = [(name, where)]
    if len(objects) > 1 and name in (o for o, _ in objects):
        raise InputError(
            f"{objects[0][1]}: module {name} is built from {name}.o and other objects, "
            "which kbuild cannot do",
            f"rename {name}.c (e.g. to {name}_main.c) and list that object instead",
        )
    for obj, obj_where in objects:
        if f"{obj}.c" not in files:
            raise InputError(
                f"{obj_where} names {obj}.o, but there is no {obj}.c in the folder",
                f"add {obj}.c or remove {obj}.o",
            )
    return ModuleSpec(name, tuple(o for o, _ in objects))


_FLAG_D = re.compile(r'^-D[A-Za-z_]\w*(=(?:[\w.+,:/-]|\\")*)?$')
_FLAG_W = re.compile(r"^-W(?![lap],)[A-Za-z0-9][\w=+.-]*$")


def _flag(token: str) -> tuple[str | None, str]:
    """(the flag as our Kbuild should carry it, or None; why it was dropped)."""
    if why := _problem(token):
        return None, f"it uses {why}"
    flag = _clean(token)
    undefined = re.findall(f"{_UNDEF}([^{_UNDEF}]*){_UNDEF}", token)
    if undefined and flag in ("-I", "-D", "-W", ""):
        return None, f"$({undefined[0]}) is not set when kbuild reads the file"
    if flag.startswith("-D"):
        return (flag, "") if _FLAG_D.match(flag) else (None, "its value has unusual characters")
    if flag.startswith("-W"):
        return (flag, "") if _FLAG_W.match(flag) else (None, "it passes options to another tool")
    if not flag.startswith("-I") or flag == "-I":
        return None, "only -D, -I and -W flags are kept"
    rest = flag[2:]
    if rest.startswith(_ROOT):
        rest = rest[1:]
    elif rest.startswith("/"):
        return None, "it names a folder outside the submission"
    parts = [p for p in rest.split("/") if p not in ("", ".")]
    if not all(_SAFE_PATH_PART.match(p) and p != ".." for p in parts):
        return None, "it names a folder outside the submission"
    # Our Kbuild runs from the kernel tree, so the folder is named through $(src).
    return "-I" + "/".join(["$(src)", *parts]), ""


def _ccflags(reader: _Reader) -> tuple[list[str], list[Diagnostic]]:
    kept: list[str] = []
    findings: list[Diagnostic] = []
    for var in _CCFLAG_VARS:
        for token, line in _words(reader, var):
            flag, why = _flag(token)
            if flag is not None:
                kept.append(flag)
            else:
                message = f"{var}: dropped {_show(token)} ({why})"
                findings.append(
                    Diagnostic(reader.filename, line, None, "warning", "dropped-flag", message)
                )
    return kept, findings


def _ignored(reader: _Reader) -> list[Diagnostic]:
    found = []
    for name, var in reader.table.items():
        if _IGNORED_VARS.match(name):
            message = f"{name} is not used: kmodlab only takes -D, -I and -W flags from ccflags-y"
        elif name == "obj-y":
            message = "obj-y builds code into the kernel itself; a module is listed in obj-m"
        else:
            continue
        found.append(
            Diagnostic(reader.filename, var.line, None, "warning", "ignored-setting", message)
        )
    return found


def read_kbuild(text: str, filename: str = "Makefile", *, modpost: bool = False) -> _Reader:
    """Read one Makefile or Kbuild as kbuild's own pass would see it (never run);
    modpost: as modpost's pass does, from the kernel's folder (KBUILD_EXTRA_SYMBOLS)."""
    reader = _Reader(filename)
    reader.expander.modpost = modpost
    reader.read(text)
    return reader


@dataclass(frozen=True)
class ExtraSymbols:
    """One file KBUILD_EXTRA_SYMBOLS names, as modpost's pass reads the Makefile."""

    written: str  # as written, in make syntax ("$(src)" for the module's own folder)
    line: int
    # The file, relative to the Makefile's folder ("../provider/Module.symvers"), or
    # None when kbuild would not find it there (then `problem` says why).
    path: str | None
    problem: str | None = None


_MODPOST_FOLDER = (
    "modpost's pass reads the Makefile from the kernel's folder, where $(CURDIR) and "
    "$(shell pwd) name the kernel's folder, not yours"
)


def extra_symbols(text: str, filename: str = "Makefile") -> tuple[ExtraSymbols, ...]:
    """The files KBUILD_EXTRA_SYMBOLS names, read as data (never run). kbuild reads it
    when modpost runs, from $(KDIR): $(PWD), $(M) and $(src) still name the module's
    folder; $(CURDIR), $(shell pwd) and a relative path do not."""
    import posixpath

    reader = read_kbuild(text, filename, modpost=True)
    out = []
    for token, line in _words(reader, "KBUILD_EXTRA_SYMBOLS"):
        written, problem, path = _show(token), _problem(token), None
        if problem and "$(CURDIR)" in problem:
            problem = _MODPOST_FOLDER
        elif problem is None:
            name = _clean(token)
            if name.startswith(_ROOT):
                path = posixpath.normpath("." + name[1:].replace(_ROOT, "/"))
            elif name.startswith("/"):
                problem = "an absolute path names a folder of one machine, not the submission's"
            else:
                problem = "a relative path is read from the kernel's folder, not yours"
        out.append(ExtraSymbols(written, line, path, problem))
    return tuple(out)


def module_specs(
    files: Collection[str], *, kbuild: str | None = None, makefile: str | None = None
) -> KbuildSpec:
    """The modules to build from `files` (relative paths), as Kbuild/Makefile ask.

    Kbuild wins over Makefile, as in kbuild itself. With no obj-m, every .c file
    at the top of the folder is a module of its own.
    """
    origin, text = ("Kbuild", kbuild) if kbuild is not None else ("Makefile", makefile)
    if text is None:
        return KbuildSpec(None, _one_per_file(files), ())
    reader = read_kbuild(text, origin)
    modules: dict[str, ModuleSpec] = {}
    for token, line in _words(reader, "obj-m"):
        name = _object(token, f"{origin} line {line}: obj-m")
        if name not in modules:
            modules[name] = _module(reader, name, line, files)
    ccflags, dropped = _ccflags(reader)
    findings = [*reader.findings, *dropped, *_ignored(reader)]
    if not modules:
        message = f"{origin} has no obj-m line; each .c file is built as a module of its own"
        findings.append(Diagnostic(origin, None, None, "warning", "no-obj-m", message))
        return KbuildSpec(origin, _one_per_file(files), tuple(ccflags), tuple(findings))
    return KbuildSpec(origin, tuple(modules.values()), tuple(ccflags), tuple(findings))


def _one_per_file(files: Collection[str]) -> tuple[ModuleSpec, ...]:
    tops = sorted(f[:-2] for f in files if f.endswith(".c") and "/" not in f)
    if not tops:
        raise InputError(
            "there is no .c file at the top of the folder and no obj-m line naming one",
            "put your module's .c file at the top of the folder, or list it in obj-m",
        )
    return tuple(ModuleSpec(name, (name,)) for name in tops)
