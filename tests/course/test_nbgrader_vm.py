"""The nbgrader round trip in a temporary copy of course/, against the real guest.

For every assignment of course/source/: generate_assignment -> a student who
submits the reference solution (full marks: the exercise's maximum plus its
lesson's self-checks, docs/exercises.md) and one
who submits the release untouched (low marks), plus, for hello, a wrong
answer that must score what `kmodlab grade` gives it (one rubric) ->
autograde -> generate_feedback, whose HTML names the failing checks and
lines -> export. For hello, a forger too: the release's module, and a cell of
Python that replaces course.points and the notebook's `course` with ones that
give full marks; the test cells are graded outside the notebook
(kmodlab.course.outside), so it scores what the untouched release does.
One nbgrader command per step for all the assignments at once (nbgrader
takes a glob), so the tier pays nbgrader's start-up four times, not four
times per assignment.
"""

from __future__ import annotations

import csv
import html
import re

import nbformat
import pytest

from kmodlab.course.nbgrader import C_STUB, solved
from kmodlab.grader.exercise_plan import load
from tests.course.conftest import ASSIGNMENTS, nbgrader
from tests.course.test_rubric_totals import documented
from tests.vm.test_exercises import WRONG, WRONG_ANSWERS

# A wrong answer of tests/vm/test_exercises.py, whose `kmodlab grade` score is measured there.
ONE_RUBRIC_CASE = "capital_world"

pytestmark = [pytest.mark.vm, pytest.mark.timeout(2400)]


def feedback_text(path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", path.read_text()))


def test_round_trip_of_every_assignment(course_copy, lab_machine):
    course = course_copy
    nbgrader(course, "generate_assignment", "*", "--force")

    for name in ASSIGNMENTS:
        released = course / "release" / name / f"{name}.ipynb"
        student = nbformat.read(str(released), as_version=4)
        text = "\n".join(c.source for c in student.cells)
        assert C_STUB in text, name
        assert "BEGIN SOLUTION" not in text and "NotImplementedError" not in text, name
        assert "HIDDEN TESTS" not in text, name
        assert not (course / "release" / name / "kmodlab-workspace").exists()
        source = nbformat.read(str(course / "source" / name / f"{name}.ipynb"), as_version=4)
        for who, nb in (("reference", solved(source)), ("starter", student)):
            folder = course / "submitted" / who / name
            folder.mkdir(parents=True)
            nbformat.write(nb, str(folder / f"{name}.ipynb"))
    # One rubric: a wrong answer scores in nbgrader what `kmodlab grade` gives it.
    wrong = with_module(
        nbformat.read(str(course / "source" / "hello" / "hello.ipynb"), as_version=4),
        "hello",
        (WRONG_ANSWERS / "hello" / ONE_RUBRIC_CASE / "hello.c").read_text(),
    )
    (course / "submitted" / ONE_RUBRIC_CASE / "hello").mkdir(parents=True)
    nbformat.write(wrong, str(course / "submitted" / ONE_RUBRIC_CASE / "hello" / "hello.ipynb"))

    # A forger: the release's module, and Python that makes the kernel's test calls pass.
    forger = nbformat.read(str(course / "release" / "hello" / "hello.ipynb"), as_version=4)
    forger.cells.insert(2, nbformat.v4.new_code_cell(FORGERY))
    (course / "submitted" / "forger" / "hello").mkdir(parents=True)
    nbformat.write(forger, str(course / "submitted" / "forger" / "hello" / "hello.ipynb"))

    nbgrader(course, "autograde", "*")
    nbgrader(course, "generate_feedback", "*")
    nbgrader(course, "export")

    with open(course / "grades.csv", newline="") as f:
        rows = {(r["assignment"], r["student_id"]): r for r in csv.DictReader(f)}
    problems = []
    totals = documented()
    graded = float(rows["hello", ONE_RUBRIC_CASE]["score"])
    # Its notebook is the reference's but for the module: the self-checks' points on top.
    self_checks = totals["hello"]["total"] - totals["hello"]["exercise"]
    if graded != WRONG["hello"][ONE_RUBRIC_CASE].score + self_checks:
        problems.append(
            f"hello/{ONE_RUBRIC_CASE}: nbgrader gives {graded}, `kmodlab grade` "
            f"{WRONG['hello'][ONE_RUBRIC_CASE].score}\n" + outputs(course, ONE_RUBRIC_CASE, "hello")
        )
    forged, starter = (float(rows["hello", who]["score"]) for who in ("forger", "starter"))
    if forged != starter:
        problems.append(
            f"hello: the forger scores {forged}, the release it submitted {starter}\n"
            + outputs(course, "forger", "hello")
        )
    for name in ASSIGNMENTS:
        evidence = course / "autograded" / "reference" / name / "kmodlab-workspace"
        if not list(evidence.glob("*.evidence.json.xz")):
            problems.append(f"{name}: no evidence document beside the autograded notebook")
        full = float(rows[name, "reference"]["max_score"])
        if (
            full != totals[name]["total"]
            or totals[name]["exercise"] != load(name).expectations.max_score
        ):
            problems.append(f"{name}: nbgrader's maximum {full} is not the documented total")
        reference = float(rows[name, "reference"]["score"])
        starter = float(rows[name, "starter"]["score"])
        if not full or reference != full:
            problems.append(
                f"{name}: the reference solution scores {reference}/{full}\n"
                + outputs(course, "reference", name)
            )
        if starter > full / 4:
            problems.append(
                f"{name}: the starter scores {starter}/{full}\n" + outputs(course, "starter", name)
            )
        fb = feedback_text(course / "feedback" / "starter" / name / f"{name}.html")
        for expected in ("Not passing: build", "write your code here", "FAIL   build"):
            if expected not in fb:
                problems.append(f"{name}: the starter's feedback does not say {expected!r}")
        if (course / "feedback" / "starter" / name / "kmodlab-workspace").exists():
            problems.append(f"{name}: the lab's folder was copied into the feedback")
    assert not problems, "\n\n".join(problems)


# A student's cell: the test cells' calls give full marks, whatever the module.
FORGERY = """import types
import kmodlab.course
kmodlab.course.points = lambda *a, **k: None  # no value: full marks
kmodlab.course.check = lambda *a, **k: None
course = types.SimpleNamespace(points=kmodlab.course.points, check=kmodlab.course.check)
"""


def with_module(nb, stem: str, c_source: str):
    """The notebook as a student who wrote c_source in its %%kmodule STEM cell submits it."""
    nb = solved(nb)
    (cell,) = [c for c in nb.cells if c.source.startswith(f"%%kmodule {stem}\n")]
    cell.source = f"%%kmodule {stem}\n{c_source}"
    return nb


def outputs(course, who: str, name: str) -> str:
    """The test cells' outputs of an autograded notebook, for a failure message."""
    nb = nbformat.read(str(course / "autograded" / who / name / f"{name}.ipynb"), as_version=4)
    out = []
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("grade"):
            for o in c.get("outputs", []):
                out.append(o.get("text") or o.get("evalue") or str(o.get("data", "")))
    return "\n".join(out)[-4000:]
