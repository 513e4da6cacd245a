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


# -- the module's entry points and the release a finding asks for -------------

_ENTRY = re.compile(r"^\s*module_(init|exit)\s*\(\s*([A-Za-z_]\w*)\s*\)")
_DEFINITION = r"^[A-Za-z_][^;=(]*\b{name}\s*\("

# The release that undoes an acquisition, by the API that acquired: {ret} is
# the variable the call's result was assigned to, {aN} its N-th argument
# ({aN&} without a leading &).
RELEASE_CALL: dict[str, str] = {
    **dict.fromkeys(
        (
            *("kmalloc", "kzalloc", "kcalloc", "kmalloc_array", "krealloc", "kstrdup"),
            *("kmemdup", "kstrndup", "kmemdup_nul", "kmalloc_node", "kzalloc_node"),
            "kasprintf",
        ),
        "kfree({ret})",
    ),
    "vmalloc": "vfree({ret})",
    "vzalloc": "vfree({ret})",
    **dict.fromkeys(("kvmalloc", "kvzalloc", "kvcalloc", "kvmalloc_array"), "kvfree({ret})"),
    "__get_free_pages": "free_pages({ret}, {a1})",
    "get_zeroed_page": "free_page({ret})",
    "alloc_pages": "__free_pages({ret}, {a1})",
    "kmem_cache_create": "kmem_cache_destroy({ret})",
    "kmem_cache_alloc": "kmem_cache_free({a0}, {ret})",
    "kmem_cache_zalloc": "kmem_cache_free({a0}, {ret})",
    "register_chrdev": "unregister_chrdev({major}, {a1})",
    "alloc_chrdev_region": "unregister_chrdev_region({a0&}, {a2})",
    "register_chrdev_region": "unregister_chrdev_region({a0}, {a1})",
    "cdev_add": "cdev_del({a0})",
    "class_create": "class_destroy({ret})",
    "device_create": "device_destroy({a0}, {a2})",
    "misc_register": "misc_deregister({a0})",
    **dict.fromkeys(
        (
            *("proc_create", "proc_create_data", "proc_create_single"),
            *("proc_create_single_data", "proc_create_seq", "proc_create_seq_data"),
            *("proc_create_seq_private", "proc_mkdir", "proc_mkdir_mode", "proc_mkdir_data"),
            "proc_symlink",
        ),
        "proc_remove({ret})",
    ),
    "debugfs_create_dir": "debugfs_remove({ret})",
    "debugfs_create_file": "debugfs_remove({ret})",
    "kthread_create": "kthread_stop({ret})",
    "kthread_run": "kthread_stop({ret})",
    "alloc_workqueue": "destroy_workqueue({ret})",
}


@dataclass(frozen=True)
class EntryPoint:
    kind: str  # "init" or "exit"
    function: str
    file: str
    line: int | None  # where the function is defined, when found


def entry_points(sources: dict[str, str]) -> dict[str, EntryPoint]:
    """module_init's and module_exit's functions, read from the student's files."""
    out: dict[str, EntryPoint] = {}
    for file, text in sources.items():
        lines = [_code(line) for line in text.splitlines()]
        for line in lines:
            if (m := _ENTRY.match(line)) and m.group(1) not in out:
                kind, name = m.groups()
                out[kind] = EntryPoint(kind, name, file, _definition(lines, name))
    return out


def _definition(lines: list[str], name: str) -> int | None:
    pattern = re.compile(_DEFINITION.format(name=re.escape(name)))
    for i, line in enumerate(lines):
        if pattern.match(line) and not line.rstrip().endswith(";"):
            return i + 1
    return None


def function_lines(source: str, name: str) -> range | None:
    """The 1-based lines of a function's definition, up to its closing brace."""
    lines = [_code(line) for line in source.splitlines()]
    start = _definition(lines, name)
    if start is None:
        return None
    return range(start, _function_end(lines, start - 1) + 2)


def _call_args(text: str, api: str) -> list[str] | None:
    """The top-level arguments of the first call of `api` on a line, as written."""
    m = re.search(rf"\b{re.escape(api)}\s*\(", text)
    if not m:
        return None
    args, depth, current = [], 0, ""
    for ch in text[m.end() :]:
        if ch == "(":
            depth += 1
        elif ch == ")":
            if depth == 0:
                args.append(current.strip())
                return [a for a in args if a]
            depth -= 1
        elif ch == "," and depth == 0:
            args.append(current.strip())
            current = ""
            continue
        current += ch
    return None  # the call goes on over the next lines


def release_call(source: str, line: int, api: str) -> str | None:
    """The call that undoes what `api` acquired on `line`, e.g. "proc_remove(ent)".

    None when the line does not tell the variable or an argument it needs.
    """
    template = RELEASE_CALL.get(api)
    lines = source.splitlines()
    if template is None or not 0 < line <= len(lines):
        return None
    # A call may go on over the next lines; its result is assigned on the first.
    args = _call_args(" ".join(_code(t) for t in lines[line - 1 : line + 5]), api) or []
    values = {"ret": assigned(source, line, api)}
    for i, a in enumerate(args):
        values[f"a{i}"] = a
        values[f"a{i}&"] = a.removeprefix("&").strip()
    # register_chrdev(0, ...) returns the major it chose; with a fixed major, that one.
    a0 = values.get("a0")
    values["major"] = values["ret"] if a0 in (None, "0") else a0
    needed = re.findall(r"\{([^}]+)\}", template)
    if any(values.get(k) is None for k in needed):
        return None
    return re.sub(r"\{([^}]+)\}", lambda m: str(values[m.group(1)]), template)


def assigned(source: str, line: int, api: str) -> str | None:
    """The variable the call of `api` on `line` is assigned to ("buf = kzalloc(...)")."""
    lines = source.splitlines()
    text = _code(lines[line - 1]) if 0 < line <= len(lines) else ""
    m = re.search(rf"([A-Za-z_][\w.\->\[\]]*)\s*=\s*\(?[^=]*\b{re.escape(api)}\s*\(", text)
    return m.group(1) if m else None


def declares(source: str, line: int, var: str) -> bool:
    """Whether `line` declares `var` (a local of the acquiring function, out of exit's reach)."""
    lines = source.splitlines()
    text = _code(lines[line - 1]) if 0 < line <= len(lines) else ""
    decl = rf"^\s*(?:const\s+)?(?:struct\s+|unsigned\s+)?\w+[\s*]+{re.escape(var)}\s*="
    return not text.lstrip().startswith("static") and bool(re.match(decl, text))


def release_text(source: str, line: int, api: str) -> str | None:
    """The release call as written on a line of the student's exit, e.g. "kfree(buf)"."""
    lines = source.splitlines()
    if not 0 < line <= len(lines):
        return None
    text = _code(lines[line - 1])
    args = _call_args(text, api)
    return f"{api}({', '.join(args)})" if args is not None else None
