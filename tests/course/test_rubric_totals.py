"""The points of each nbgrader assignment add up to what docs/exercises.md documents: the
exercise's points plus its lesson's self-checks, whose cells are the lesson's own."""

from __future__ import annotations

import re

import nbformat
import pytest

from kmodlab.grader.exercise_plan import load
from tests.course.conftest import ASSIGNMENTS, COURSE, NOTEBOOKS, REPO, SELF_CHECK, STAGES
from tests.course.test_nbgrader_config import student_version

CALL = re.compile(r"\bselfcheck\.([a-z_]+)\(")
HEADING = "## The points of each assignment"


def documented() -> dict[str, dict]:
    """{assignment: {lesson, exercise, self_checks, total}} from docs/exercises.md's table."""
    text = (REPO / "docs" / "exercises.md").read_text()
    section = text.split(HEADING, 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 5 or not cells[2].isdigit():
            continue
        name, lesson, exercise, checks, total = cells
        rows[name] = {
            "lesson": lesson,
            "exercise": float(exercise),
            "self_checks": set(re.findall(r"`([a-z_]+)`", checks)),
            "total": float(total),
        }
    return rows


def grade_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]


def source(name: str) -> nbformat.NotebookNode:
    return nbformat.read(str(COURSE / "source" / name / f"{name}.ipynb"), as_version=4)


def test_every_assignment_and_lesson_is_documented():
    """Does the table have a row for every assignment, naming the lesson it ends?"""
    rows = documented()
    for name in ASSIGNMENTS:
        assert name in rows, f"docs/exercises.md: no row for the assignment {name}"
    for lesson, exercise in STAGES.items():
        assert rows[exercise]["lesson"] == lesson


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_nbgrader_total_is_the_documented_total(name):
    """Do the assignment's grade cells, as written and as nbgrader releases them, add up to
    the documented total: the exercise's maximum plus one point per self-check?"""
    row = documented()[name]
    assert load(name).expectations.max_score == row["exercise"]
    for nb in (source(name), student_version(source(name))):
        cells = grade_cells(nb)
        assert sum(c.metadata["nbgrader"]["points"] for c in cells) == row["total"]
        checks = [c for c in cells if SELF_CHECK in c.source]
        exercise = sum(c.metadata["nbgrader"]["points"] for c in cells if c not in checks)
        assert exercise == row["exercise"]
        assert {f for c in checks for f in CALL.findall(c.source)} == row["self_checks"]
        assert all(c.metadata["nbgrader"]["points"] == 1 for c in checks)
    assert row["total"] == row["exercise"] + len(row["self_checks"])


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_self_check_cells_are_the_lessons(name):
    """Is each self-check cell of the assignment the lesson's (same call, grade id and
    points), after an answer cell whose solution is the reference answer?"""
    lesson = nbformat.read(str(NOTEBOOKS / f"{documented()[name]['lesson']}.ipynb"), 4)
    theirs = {c.metadata["nbgrader"]["grade_id"]: c for c in grade_cells(lesson)}
    nb = source(name)
    ours = [
        (i, c) for i, c in enumerate(nb.cells) if c in grade_cells(nb) and SELF_CHECK in c.source
    ]
    assert {c.metadata["nbgrader"]["grade_id"] for _, c in ours} == set(theirs)
    for i, cell in ours:
        twin = theirs[cell.metadata["nbgrader"]["grade_id"]]
        assert CALL.findall(cell.source) == CALL.findall(twin.source)
        assert cell.source.splitlines()[-1] == twin.source.splitlines()[-1]
        assert cell.metadata["nbgrader"] == twin.metadata["nbgrader"]
        answer = nb.cells[i - 1]
        assert answer.metadata["nbgrader"]["solution"] and "### BEGIN SOLUTION" in answer.source


@pytest.mark.parametrize("lesson", sorted(STAGES))
def test_a_lessons_self_check_points_are_its_assignments(lesson):
    """Are a lesson notebook's own graded cells worth what its assignment's self-checks are?"""
    nb = nbformat.read(str(NOTEBOOKS / f"{lesson}.ipynb"), as_version=4)
    row = documented()[STAGES[lesson]]
    points = sum(c.metadata["nbgrader"]["points"] for c in grade_cells(nb))
    assert points == len(row["self_checks"]) == row["total"] - row["exercise"]
