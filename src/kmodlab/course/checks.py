"""Test cells for notebooks: grade the workspace, pass or raise AssertionError.

    course.check("hello")                            # every check, full marks
    course.check("hello", checks=["greetings"])      # only these checks, full marks
    course.check("unwinding", min_score=10)          # at least 10 points of all checks
    course.points("hello", checks=["greetings"])     # nbgrader partial credit: its points
    course.points("hello", 5)                        # the same, scaled to 5

What is graded: the exercise's files (the .c and .h names of exercises/NAME/)
taken from the workspace, the folder the %%kmodule cells write. A header the
student was given and did not write (provider.h) comes from the starter when
the workspace lacks it. The Makefile is the starter's, except for an exercise
that grades the student's own Makefile (a `kbuild` check): then it is theirs.
Grading is what `kmodlab grade --exercise NAME` does, in fresh guests, and
happens once per content: the next test cell on the same sources reuses the
report.

Nothing here writes to stderr while grading: nbgrader gives no points to a
test cell with any stderr output. The grader's status lines come through its
progress callback (kept, to explain a failure of the grader itself), its
subprocesses' output is captured, and Python warnings are recorded.
"""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kmodlab.course.exercises import (
    build_folders,
    exercise_dir,
    exercise_files,
    student_writes_build,
)
from kmodlab.errors import KmodlabError
from kmodlab.grader.report.formats import STATUS_WORD, to_text
from kmodlab.grader.report.model import CheckResult, Report

CELL_HEADER = "// %%kmodule "  # line 1 of a file a %%kmodule cell wrote (kmodlab.lab.workspace)
BUILD_FILES = ("Makefile", "Kbuild")
_CACHE_SIZE = 8


@dataclass(frozen=True)
class Graded:
    """A report and the sources it was made from (for quoting the student's lines)."""

    report: Report
    sources: dict[str, str]
    folder: Path


_cache: dict[tuple[str, tuple[tuple[str, str], ...]], Graded] = {}


# -- the public functions ------------------------------------------------------
def grade(
    exercise: str,
    workspace: Path | str | None = None,
    *,
    files: Sequence[str] | None = None,
) -> Report:
    """The exercise's report for the workspace (graded once per content)."""
    return _graded(exercise, workspace, files).report


def check(
    exercise: str,
    workspace: Path | str | None = None,
    min_score: float | None = None,
    *,
    checks: Sequence[str] | None = None,
    files: Sequence[str] | None = None,
    quiet: bool = False,
) -> None:
    """Pass silently-but-for-the-report, or raise AssertionError saying what failed and where.

    checks: only these check ids count (default: every check of the report).
    min_score: the points those checks must reach (default: all of them).
    Returns None on purpose: a value as a test cell's result is partial credit to nbgrader.
    """
    __tracebackhide__ = True  # IPython: the student sees the message, not our frames
    if graded_outside(exercise):
        raise AssertionError(OUTSIDE_NOTE)
    text, failure = check_outcome(
        _graded(exercise, workspace, files), checks=checks, min_score=min_score, quiet=quiet
    )
    print(text, end="")
    if failure is not None:
        raise AssertionError(failure)


def points(
    exercise: str,
    out_of: float | None = None,
    workspace: Path | str | None = None,
    *,
    checks: Sequence[str] | None = None,
    files: Sequence[str] | None = None,
    quiet: bool = False,
) -> float:
    """The points the checks earned: as a test cell's last value, nbgrader's partial credit.

    Without out_of, the points are the report's own (the exercise's
    expectations), so the cell's nbgrader points must be the checks' points
    and nbgrader's total is the score `kmodlab grade` gives (one rubric).
    With out_of, the score is scaled to it.
    """
    if graded_outside(exercise):
        print(OUTSIDE_NOTE)
        return 0.0
    text, value = points_outcome(
        _graded(exercise, workspace, files), out_of=out_of, checks=checks, quiet=quiet
    )
    print(text, end="")
    return value


# -- what a test cell prints and gives, from a report (also kmodlab.course.outside) --
def check_outcome(
    graded: Graded,
    *,
    checks: Sequence[str] | None = None,
    min_score: float | None = None,
    quiet: bool = False,
) -> tuple[str, str | None]:
    """check()'s printed text, and its AssertionError's message (None: the cell passes)."""
    part = _part(graded.report, checks)
    text = "" if quiet else to_text(part, sources=graded.sources)
    need = part.max_score if min_score is None else float(min_score)
    if part.score + 1e-9 < need:
        return text, failure_message(part, need, graded.sources)
    return text, None


def points_outcome(
    graded: Graded,
    *,
    out_of: float | None = None,
    checks: Sequence[str] | None = None,
    quiet: bool = False,
) -> tuple[str, float]:
    """points()'s printed text and its value."""
    part = _part(graded.report, checks)
    text = ""
    if not quiet:
        text = to_text(part, sources=graded.sources)
        if part.score + 1e-9 < part.max_score:  # what to fix, as check() would say it
            text += failure_message(part, part.max_score, graded.sources) + "\n"
    if out_of is None:
        return text, part.score
    if part.max_score <= 0:
        return text, float(out_of)
    return text, round(out_of * part.score / part.max_score, 3)


# -- nbgrader autograde: the test cells are graded outside the notebook ----------
# kmodlab.course.nbgrader grades a notebook's modules in nbgrader's own process,
# from the cells' text, and replaces the outputs of the test cells it recognised
# (kmodlab.course.outside). It names their exercises in this variable, in the
# environment the notebook's kernel starts with, so that the kernel does not
# grade them a second time: the cell only says so, and its output is replaced.
# If it were not replaced, the cell would give no points.
OUTSIDE_ENV = "KMODLAB_GRADED_OUTSIDE"
OUTSIDE_NOTE = (
    "kmodlab: this test cell is graded outside the notebook by nbgrader autograde; "
    "this output is replaced by the grade"
)


def graded_outside(exercise: str) -> bool:
    import os

    return exercise in os.environ.get(OUTSIDE_ENV, "").split(",")


def forget() -> None:
    """Drop the cached reports (the next check grades again)."""
    _cache.clear()


# -- the message a failing test cell raises --------------------------------------
def failure_message(part: Report, need: float, sources: dict[str, str]) -> str:
    ids = [c.id for c in part.checks if c.status != "pass"]
    lines = [
        f"{part.exercise or part.submission}: {_num(part.score)} of {_num(part.max_score)} "
        f"points from {', '.join(c.id for c in part.checks)}; this test needs {_num(need)}. "
        f"Not passing: {', '.join(ids) or 'none'}"
    ]
    for c in part.checks:
        if c.status == "pass":
            continue
        lines.append(
            f"{STATUS_WORD[c.status]} {c.id} ({_num(c.score)}/{_num(c.max_score)}): {c.summary}"
        )
        lines += [f"  - {line}" for line in _finding_lines(c, sources)]
    return "\n".join(lines)


def _finding_lines(c: CheckResult, sources: dict[str, str], limit: int = 8) -> list[str]:
    out = []
    for f in c.findings[:limit]:
        text = f.message
        if f.file and f.line is not None:
            text += f" [{where_in_cell(f.file, f.line, sources)}]"
            code = _source_line(sources, f.file, f.line)
            if code and code not in f.message:
                text += f": {code}"
        elif f.file:
            text += f" [{f.file}]"
        out.append(text)
    if len(c.findings) > limit:
        out.append(f"... and {len(c.findings) - limit} more (see the report above)")
    return out


def where_in_cell(file: str, line: int, sources: dict[str, str]) -> str:
    """`hello.c:12, line 12 of the %%kmodule hello cell` (a cell's file line is its cell line)."""
    text = sources.get(file, "")
    first = text.split("\n", 1)[0]
    if first.startswith(CELL_HEADER):
        name = first[len(CELL_HEADER) :].split()[0] if first[len(CELL_HEADER) :].split() else ""
        return f"{file}:{line}, line {line} of the %%kmodule {name} cell"
    return f"{file}:{line}"


def _source_line(sources: dict[str, str], file: str, line: int) -> str:
    lines = sources.get(file, "").splitlines()
    return lines[line - 1].strip() if 1 <= line <= len(lines) else ""


def _num(x: float) -> str:
    return f"{round(x, 2):g}"


def _part(report: Report, checks: Sequence[str] | None) -> Report:
    """The report restricted to some checks (a check missing from it is a failure)."""
    if checks is None:
        selected = list(report.checks)
    else:
        selected = []
        for check_id in checks:
            found = report.check(check_id)
            if found is None:
                known = ", ".join(c.id for c in report.checks)
                found = CheckResult(
                    check_id,
                    "error",
                    0.0,
                    1.0,
                    f"the report has no check {check_id!r} (it has: {known})",
                )
            selected.append(found)
    return Report(
        submission=report.submission,
        kernel=report.kernel,
        checks=selected,
        duration_s=report.duration_s,
        exercise=report.exercise,
    )


# -- grading, once per content ---------------------------------------------------
def workspace_folder(workspace: Path | str | None) -> Path:
    """The folder given, else the lab's current workspace folder (./kmodlab-workspace)."""
    if workspace is not None:
        return Path(workspace)
    from kmodlab.lab import state

    return state.current_workspace().folder


def _graded(exercise: str, workspace: Path | str | None, files: Sequence[str] | None) -> Graded:
    __tracebackhide__ = True
    folder = workspace_folder(workspace)
    chosen = _choose_files(exercise, folder, files)
    key = (exercise, tuple(sorted((n, hashlib.sha256(d).hexdigest()) for n, d in chosen.items())))
    if key in _cache:
        return _cache[key]
    graded = grade_files(exercise, chosen, folder)
    keep_evidence(folder, exercise, graded.report)
    while len(_cache) >= _CACHE_SIZE:
        _cache.pop(next(iter(_cache)))
    _cache[key] = graded
    return graded


def grade_files(
    exercise: str, chosen: dict[str, bytes], folder: Path, *, record_warnings: bool = True
) -> Graded:
    """Grade these files ({name: content}, as _choose_files gives them) as the exercise.

    record_warnings=False leaves Python's warnings alone (recording them is not
    thread-safe: kmodlab.course.outside grades in a thread of its own)."""
    __tracebackhide__ = True
    with tempfile.TemporaryDirectory(prefix="kmodlab-course-") as tmp:
        sub = Path(tmp) / exercise  # the report names the submission after its folder
        sub.mkdir()
        for name, data in chosen.items():
            (sub / name).parent.mkdir(parents=True, exist_ok=True)
            (sub / name).write_bytes(data)
        report = _grade_quietly(sub, exercise, record_warnings=record_warnings)
    sources = {n: d.decode("utf-8", errors="replace") for n, d in chosen.items()}
    return Graded(report, sources, folder)


def keep_evidence(folder: Path, exercise: str, report: Report) -> None:
    """The grade's evidence document beside the work it graded
    (WORKSPACE/EXERCISE.evidence.json.xz), so an nbgrader grade, like any other, can be
    re-judged with `kmodlab rejudge`. A workspace that cannot be written keeps the
    grade, without the document."""
    if report.evidence is None:
        return
    from kmodlab.grader.rejudge import EVIDENCE_SUFFIX, write_evidence

    with contextlib.suppress(OSError):
        write_evidence(folder / f"{exercise}{EVIDENCE_SUFFIX}", report.evidence)


def _regular(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def _choose_files(exercise: str, folder: Path, files: Sequence[str] | None) -> dict[str, bytes]:
    """{file name: content} to grade: the exercise's files from the workspace."""
    __tracebackhide__ = True
    if not folder.is_dir():
        raise AssertionError(
            f"there is no workspace folder {folder}: run the %%kmodule cells above first"
        )
    wanted = list(files) if files is not None else exercise_files(exercise)
    starter = exercise_dir(exercise)
    chosen: dict[str, bytes] = {}
    if not wanted:  # no starter known: the whole workspace is the answer
        for p in sorted(folder.iterdir()):
            # Never a symbolic link: its target would be graded and quoted.
            if _regular(p) and (p.suffix in (".c", ".h") or p.name in BUILD_FILES):
                chosen[p.name] = p.read_bytes()
    else:
        for name in wanted:
            mine = folder / name
            if _regular(mine):
                chosen[name] = mine.read_bytes()
            elif name.endswith(".h") and starter is not None and (starter / name).is_file():
                chosen[name] = (starter / name).read_bytes()  # given, not written by the student
        if student_writes_build(exercise):  # the kbuild stage grades the student's Makefile
            for name in [
                *BUILD_FILES,
                *(f"{d}/{f}" for d in build_folders(exercise) for f in BUILD_FILES),
            ]:
                if _regular(folder / name):
                    chosen[name] = (folder / name).read_bytes()
        elif starter is not None:  # the exercise's own build description, never the student's
            for name in BUILD_FILES:
                if (starter / name).is_file():
                    chosen[name] = (starter / name).read_bytes()
    missing = [n for n in wanted if n.endswith(".c") and n not in chosen]
    if not any(n.endswith(".c") for n in chosen):
        cells = " and ".join(f"%%kmodule {Path(n).stem}" for n in missing) or "%%kmodule"
        raise AssertionError(
            f"{exercise}: no module source in {folder} "
            f"(expected {', '.join(missing) or 'a .c file'}): run the {cells} cell above first"
        )
    if missing and not student_writes_build(exercise):
        # The build names the missing module; grading what exists still says the most.
        chosen = {n: d for n, d in chosen.items() if n not in BUILD_FILES}
    return chosen


def _grade_quietly(submission: Path, exercise: str, *, record_warnings: bool = True) -> Report:
    __tracebackhide__ = True
    from kmodlab.grader.pipeline import grade as grade_submission

    notes: list[str] = []
    recording = warnings.catch_warnings(record=True) if record_warnings else None
    with recording or contextlib.nullcontext([]) as caught:
        if recording is not None:
            warnings.simplefilter("always")
        try:
            return grade_submission(submission, exercise=exercise, progress=notes.append)
        except KmodlabError as e:
            raise AssertionError(f"{exercise}: could not grade: {e.line()}") from None
        except Exception as e:  # the grader's own failure: say so, never a stderr dump
            tail = [*notes, *(str(w.message) for w in caught)][-5:]
            detail = ("\n" + "\n".join(tail)) if tail else ""
            raise AssertionError(
                f"{exercise}: the grader failed ({type(e).__name__}: {e}); "
                f"this is not a verdict on your code, ask your instructor{detail}"
            ) from None
