"""nbgrader autograde: the test cells graded outside the notebook.

nbgrader executes a submitted notebook in a kernel that runs the student's
Python cells too. A test cell that grades in that kernel can be forged by
any cell above it (`course.points = lambda *a, **k: 9`), and it grades only
once the cells before it have run. So during `nbgrader autograde` (with
kmodlab.course.nbgrader.configure), the modules are graded in nbgrader's own
process instead, from the notebook's cells, starting before the kernel does:

1. before Execute, `OutsidePlan.of(nb)` finds the test cells that are exactly one
   `course.points(...)` or `course.check(...)` call with literal arguments
   (every kmodlab test cell is). If every test cell that names `course` is
   such a call, their exercises are graded in a thread, from the files the
   %%kmodule and `%%writefile kmodlab-workspace/...` cells write, and the
   kernel is told (kmodlab.course.checks.OUTSIDE_ENV) not to grade them;
2. after Execute, each such cell's outputs are replaced by what the same
   call prints and gives for that grade (checks.check_outcome and
   points_outcome), and the grade's evidence document is written where the
   lab keeps it (kmodlab-workspace/EXERCISE.evidence.json.xz).

A notebook with a test cell that names `course` in any other way is graded
in its kernel as before. Nothing here stops the student's Python from doing
what the instructor's account can do (see docs/instructors.md, Security):
it keeps the grade out of the notebook's own state.
"""

from __future__ import annotations

import ast
import inspect
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from kmodlab.course import checks

FUNCTIONS = {"check": checks.check, "points": checks.points}
WORKSPACE = "kmodlab-workspace"


@dataclass(frozen=True)
class CellCall:
    """One test cell's call: course.FUNCTION(exercise, ...) with literal arguments."""

    function: str  # "check" or "points"
    exercise: str
    options: tuple[tuple[str, Any], ...] = ()  # the other arguments, by name

    def option(self, name: str) -> Any:
        return dict(self.options).get(name)

    @property
    def files(self) -> tuple[str, ...] | None:
        chosen = self.option("files")
        return None if chosen is None else tuple(chosen)


def recognised_call(source: str) -> CellCall | None:
    """The call, when the cell is exactly one course.check/points call with literal
    arguments and the lab's workspace (None otherwise)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Expr):
        return None
    call = tree.body[0].value
    if not isinstance(call, ast.Call) or _course_function(call.func) not in FUNCTIONS:
        return None
    name = _course_function(call.func)
    try:
        args = [ast.literal_eval(a) for a in call.args]
        kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg is not None}
    except ValueError:
        return None
    if any(k.arg is None for k in call.keywords):  # **mapping
        return None
    try:
        bound = inspect.signature(FUNCTIONS[name]).bind(*args, **kwargs)
    except TypeError:
        return None
    exercise = bound.arguments.pop("exercise")
    if not isinstance(exercise, str) or bound.arguments.get("workspace") is not None:
        return None  # another folder than the lab's: the kernel's to grade
    return CellCall(name, exercise, tuple(sorted(bound.arguments.items())))


def _course_function(func: ast.expr) -> str | None:
    """'points' for course.points and kmodlab.course.points."""
    if not isinstance(func, ast.Attribute):
        return None
    owner = func.value
    if isinstance(owner, ast.Name) and owner.id == "course":
        return func.attr
    if (
        isinstance(owner, ast.Attribute)
        and owner.attr == "course"
        and isinstance(owner.value, ast.Name)
        and owner.value.id == "kmodlab"
    ):
        return func.attr
    return None


def names_course(source: str) -> bool:
    """Whether the cell refers to kmodlab's course module at all."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return "course" in source  # IPython syntax: be conservative
    return any(
        (isinstance(n, ast.Name) and n.id == "course")
        or (isinstance(n, ast.Attribute) and n.attr == "course")
        for n in ast.walk(tree)
    )


def is_test_cell(cell: Any) -> bool:
    """An nbgrader test cell: a code cell that is graded and is not an answer."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


@dataclass(frozen=True)
class OutsidePlan:
    """The test cells graded outside ({cell index: call}); empty when there are none."""

    calls: Mapping[int, CellCall] = field(default_factory=dict)

    @property
    def exercises(self) -> list[str]:
        return sorted({c.exercise for c in self.calls.values()})

    @classmethod
    def of(cls, nb: Any) -> OutsidePlan:
        calls = {}
        for i, cell in enumerate(nb.cells):
            if not is_test_cell(cell):
                continue
            call = recognised_call(cell.source)
            if call is not None:
                calls[i] = call
            elif names_course(cell.source):
                return cls()  # a test cell we do not understand: the kernel grades them all
        if any(_kmod_line(c, "workspace") for c in nb.cells):
            return cls()  # the lab's folder moved: the kernel's to grade, where it went
        return cls(calls)


def cell_files(nb: Any) -> dict[str, bytes]:
    """{workspace path: content} the notebook's cells write into the lab's workspace:
    %%kmodule NAME (NAME.c, as the lab writes it) and `%%writefile kmodlab-workspace/PATH`;
    `%kmod delete NAME` removes NAME.c. The later cell wins, as running top to bottom."""
    from kmodlab.course.extract import _words
    from kmodlab.errors import InputError
    from kmodlab.lab.magics import parse_kmodule_line
    from kmodlab.lab.workspace import cell_header, check_module_name

    files: dict[str, bytes] = {}
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        first, _, body = cell.source.partition("\n")
        words = _words(first)
        text = body if body.endswith("\n") or not body else body + "\n"
        for name in _kmod_line(cell, "delete"):  # `%kmod delete NAME` removes NAME.c
            files.pop(f"{name}.c", None)
        if words and words[0] == "%%kmodule":
            line = first[len("%%kmodule") :]
            try:  # what the lab's %%kmodule refuses, it does not write
                name = check_module_name(parse_kmodule_line(line)[0])
            except (ValueError, InputError):
                continue
            files[f"{name}.c"] = (cell_header(line) + text).encode()
        elif words and words[0] == "%%writefile":
            paths = [w for w in words[1:] if not w.startswith("-")]
            path = PurePosixPath(paths[0]) if paths else PurePosixPath()
            if len(path.parts) > 1 and path.parts[0] == WORKSPACE and ".." not in path.parts:
                name = PurePosixPath(*path.parts[1:]).as_posix()
                append = "-a" in words[1:] or "--append" in words[1:]
                files[name] = (files.get(name, b"") if append else b"") + text.encode()
    return files


def _kmod_line(cell: Any, sub: str) -> list[str]:
    """The first argument of each `%kmod SUB ARG` line of a code cell (not a cell magic's body)."""
    from kmodlab.course.extract import _words

    if cell.get("cell_type") != "code" or cell.source.startswith("%%"):
        return []
    found = []
    for line in cell.source.splitlines():
        words = _words(line.strip())
        if len(words) > 2 and words[:2] == ["%kmod", sub]:
            found.append(words[2])
    return found


Outcome = checks.Graded | str  # a grade, or the AssertionError the kernel would have raised


class OutsideGrades:
    """The plan's exercises graded in a thread, from the notebook's cells."""

    def __init__(self, plan: OutsidePlan, files: Mapping[str, bytes]) -> None:
        self.plan = plan
        self._files = dict(files)
        self._keys = sorted({(c.exercise, c.files) for c in plan.calls.values()}, key=repr)
        self._outcomes: dict[tuple[str, tuple[str, ...] | None], Outcome] = {}
        self._thread = threading.Thread(target=self._run, name="kmodlab-outside", daemon=True)

    def start(self) -> OutsideGrades:
        self._thread.start()
        return self

    def _run(self) -> None:
        for key in self._keys:
            try:
                self._outcomes[key] = self._grade(*key)
            except AssertionError as e:
                self._outcomes[key] = str(e)
            except Exception as e:  # never a lost cell: the reason, as the kernel would say it
                self._outcomes[key] = (
                    f"{key[0]}: the grader failed ({type(e).__name__}: {e}); "
                    "this is not a verdict on your code, ask your instructor"
                )

    def _grade(self, exercise: str, files: tuple[str, ...] | None) -> checks.Graded:
        with tempfile.TemporaryDirectory(prefix="kmodlab-outside-") as tmp:
            folder = Path(tmp) / WORKSPACE
            folder.mkdir()
            for name, data in self._files.items():
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                (folder / name).write_bytes(data)
            try:
                chosen = checks._choose_files(exercise, folder, files)
            except AssertionError as e:  # name the lab's folder, not this temporary one
                raise AssertionError(str(e).replace(str(folder), WORKSPACE)) from None
            return checks.grade_files(exercise, chosen, Path(WORKSPACE), record_warnings=False)

    def wait(self, timeout_s: float) -> bool:
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def outcome(self, call: CellCall) -> Outcome:
        return self._outcomes.get(
            (call.exercise, call.files),
            f"{call.exercise}: the grade outside the notebook did not finish; "
            "this is not a verdict on your code, ask your instructor",
        )

    def graded(self) -> list[tuple[str, checks.Graded]]:
        """(exercise, grade) of every grade made (for their evidence documents)."""
        return [(k[0], o) for k, o in self._outcomes.items() if isinstance(o, checks.Graded)]


def cell_outputs(call: CellCall, outcome: Outcome, execution_count: int | None) -> list[dict]:
    """The outputs the kernel's call would have given, as nbformat v4 outputs."""
    if isinstance(outcome, str):
        return [_error(outcome)]
    quiet = bool(call.option("quiet"))
    checks_ = call.option("checks")
    if call.function == "check":
        text, failure = checks.check_outcome(
            outcome, checks=checks_, min_score=call.option("min_score"), quiet=quiet
        )
        return [*_stdout(text), *([_error(failure)] if failure is not None else [])]
    text, value = checks.points_outcome(
        outcome, out_of=call.option("out_of"), checks=checks_, quiet=quiet
    )
    result = {
        "output_type": "execute_result",
        "data": {"text/plain": repr(value)},
        "metadata": {},
        "execution_count": execution_count,
    }
    return [*_stdout(text), result]


def _stdout(text: str) -> list[dict]:
    return [{"output_type": "stream", "name": "stdout", "text": text}] if text else []


def _error(message: str) -> dict:
    return {
        "output_type": "error",
        "ename": "AssertionError",
        "evalue": message,
        "traceback": [f"\x1b[0;31mAssertionError\x1b[0m: {message}"],
    }
