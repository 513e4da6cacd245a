"""Which of the student's functions an interface can run, and whether they read a variable.

exit-order blames exit for freeing memory before removing an interface that
reads it. The ledger links the two when init handed the memory to the
interface (its data pointer, or the interface's own struct inside the block);
when the interface reaches the memory through a file-scope variable instead
(a /proc show() printing a global buffer), only the sources tell: the
callbacks the registration names (a show function, a file_operations, a
miscdevice whose .fops lists them), and what those functions and the
functions they call mention. A correct module whose interfaces never touch
the freed variable (ldd3's scull frees its devices before removing the
unrelated access devices) is not blamed. Pure: text in, answers out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from kmodlab.grader.verdicts.labels import _call_args, _code

_IDENT = re.compile(r"[A-Za-z_]\w*")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
# A file-scope definition: `static const struct file_operations fops = {` or
# `static struct kobj_attribute a = __ATTR(...)`, up to its closing `;`.
_DEFINED = re.compile(r"^[A-Za-z_][^;()]*?\b([A-Za-z_]\w*)\s*(?:\[[^\]]*\])?\s*=")
_FUNCTION = re.compile(r"^[A-Za-z_][^;=(]*\b([A-Za-z_]\w*)\s*\(")
# Interfaces that run none of the module's code by themselves: only a pointer the
# ledger saw (drvdata) ties memory to them.
NO_CALLBACKS = frozenset({"device", "platform_device", "kobject"})
# How far a registration's arguments are followed through initializers
# (misc_register(&md) -> md's .fops -> fops's .read -> the function).
_DEPTH = 4
# Words that start a statement, not a declaration (`return buf;` declares nothing).
_STATEMENTS = "(?:return|goto|case|else|do|sizeof|typeof|break|continue)"


def _lines(text: str) -> list[str]:
    return [_code(line) for line in text.splitlines()]


def functions(sources: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """Each function defined in the sources: name -> (file, its text from header to `}`)."""
    out: dict[str, tuple[str, str]] = {}
    for file, text in sources.items():
        lines = _lines(text)
        i = 0
        while i < len(lines):
            m = _FUNCTION.match(lines[i])
            if m and not lines[i].rstrip().endswith(";") and _opens_body(lines, i):
                end = next((j for j in range(i, len(lines)) if lines[j].startswith("}")), i)
                out.setdefault(m.group(1), (file, "\n".join(lines[i : end + 1])))
                i = end + 1
                continue
            i += 1
    return out


def _opens_body(lines: list[str], i: int) -> bool:
    """Does the header on line i (maybe over a few lines) open a body, not end in `;`?"""
    for j in range(i, min(i + 6, len(lines))):
        if "{" in lines[j]:
            return True
        if lines[j].rstrip().endswith(";"):
            return False
    return False


def definitions(sources: Mapping[str, str]) -> dict[str, str]:
    """File-scope variables with an initializer: name -> the initializer's text."""
    out: dict[str, str] = {}
    for text in sources.values():
        lines = _lines(text)
        for i, line in enumerate(lines):
            if line[:1].isspace() or not (m := _DEFINED.match(line)):
                continue
            end = next((j for j in range(i, len(lines)) if lines[j].rstrip().endswith(";")), i)
            out.setdefault(m.group(1), " ".join(lines[i : end + 1])[m.end() :])
    return out


@dataclass(frozen=True)
class Code:
    """The sources with their functions and initializers read once (exit-order asks
    for every pair of an early release and a later interface)."""

    sources: Mapping[str, str]
    functions: dict[str, tuple[str, str]]
    definitions: dict[str, str]

    @classmethod
    def of(cls, sources: Mapping[str, str]) -> Code:
        return cls(sources, functions(sources), definitions(sources))


def _identifiers(text: str) -> set[str]:
    return set(_IDENT.findall(_STRING.sub(" ", text)))


def callbacks(code: Code, file: str, line: int, api: str) -> set[str] | None:
    """The student's functions a registration on `file`:`line` names, directly or through
    initializers (and, for cdev_add, its cdev_init's operations). None when the line
    cannot be read; an empty set when it names none."""
    text = code.sources.get(file)
    lines = _lines(text) if text is not None else []
    if not 0 < line <= len(lines):
        return None
    args = _call_args(" ".join(lines[line - 1 : line + 5]), api)
    if args is None:
        return None
    if api in ("cdev_add", "cdev_device_add") and args:
        args += _cdev_init_args(lines, args[0])
    funcs, defs = code.functions, code.definitions
    found: set[str] = set()
    names = _identifiers(" ".join(args))
    for _ in range(_DEPTH):
        found |= names & funcs.keys()
        names = set().union(*(_identifiers(defs[n]) for n in names if n in defs)) - found
        if not names:
            break
    return found


def _cdev_init_args(lines: list[str], cdev: str) -> list[str]:
    """The arguments of `cdev_init(<cdev>, &fops)` in the same file: where a cdev's
    operations are named."""
    want = re.sub(r"\s+", "", cdev)
    for i in range(len(lines)):
        args = (
            _call_args(" ".join(lines[i : i + 3]), "cdev_init") if "cdev_init" in lines[i] else None
        )
        if args and re.sub(r"\s+", "", args[0]) == want:
            return args[1:]
    return []


def reachable(code: Code, roots: set[str], skip: set[str]) -> set[str]:
    """roots and every function of the sources they call, transitively (not through skip)."""
    funcs = code.functions
    seen, todo = set(), [r for r in roots if r in funcs and r not in skip]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        body = funcs[name][1]
        todo += [f for f in _identifiers(body) & funcs.keys() if f not in seen and f not in skip]
    return seen


def released_variable(source: str, line: int, api: str) -> str | None:
    """The variable a release on `line` frees, as the functions that use it name it:
    `kfree(msg)` -> msg, `kfree(dev->buf)` -> dev, `vfree((void *)p)` -> p."""
    lines = _lines(source)
    if not 0 < line <= len(lines):
        return None
    args = _call_args(" ".join(lines[line - 1 : line + 3]), api)
    if not args:
        return None
    expr = re.sub(
        r"^\s*(?:\(\s*[\w\s*]+\)\s*)?[&*(\s]*",
        "",
        args[-1] if api == "kmem_cache_free" else args[0],
    )
    m = _IDENT.match(expr)
    return m.group() if m else None


def interface_reads(
    code: Code,
    entry: set[str],
    interface: tuple[str | None, int | None, str, str | None],
    release: tuple[str | None, int | None, str],
) -> bool:
    """Can the interface acquired at (file, line, api, kind) read what the release at
    (file, line, api) frees? Only when the sources show a function it runs (or one
    they call) mentioning the freed variable; entry (init, exit) are never its.

    Where the registration names no function of the student's, every function of
    its file but the entry points is taken as what it may run; an interface that
    runs no module code by itself (a device node, a platform device) never reads.
    """
    i_file, i_line, i_api, kind = interface
    r_file, r_line, r_api = release
    if kind in NO_CALLBACKS or not (i_file and i_line and r_file and r_line):
        return False
    var = released_variable(code.sources.get(r_file, ""), r_line, r_api)
    if var is None:
        return False
    named = callbacks(code, i_file, i_line, i_api)
    if not named:
        named = {n for n, (f, _) in code.functions.items() if f == i_file} - entry
    return any(_mentions(code.functions[f][1], var) for f in reachable(code, named, entry))


def _mentions(function: str, var: str) -> bool:
    """Does a function's text use the file-scope `var`: named in its body, and not
    shadowed by a parameter or a local of the same name (a read() whose
    `char __user *buf` is not the module's global buf)?"""
    uses = re.compile(rf"\b{re.escape(var)}\b")
    header, _, body = function.partition("{")
    if uses.search(header):
        return False
    local = re.compile(
        rf"^\s*(?:const\s+|static\s+)*(?:struct\s+\w+|unsigned\s+\w+|(?!{_STATEMENTS}\b)\w+)[\s*]+"
        rf"{re.escape(var)}\s*[;=\[,]",
        re.MULTILINE,
    )
    return bool(uses.search(body)) and not local.search(body)
