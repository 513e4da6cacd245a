"""The lessons' self-check cells: an answer cell, then a graded cell nbgrader autogrades."""

from __future__ import annotations

import re

import nbformat
import pytest

from kmodlab.course import selfcheck
from tests.course.conftest import NOTEBOOKS, REPO, STAGES

OWNED = ("01-setup", "02-hello", "03-managing", "04-symbols", "07-capstone")
CALL = re.compile(r"\bselfcheck\.([a-z_]+)\(")
# The graded self-checks, by lesson (each an answer cell, then a 1-point test cell).
SELF_CHECKS = {
    "01-setup": {"kernel_release"},
    "02-hello": {"secret_reading"},
    "03-managing": {"install_pair", "lsmod_reading"},
    "04-symbols": {"kallsyms_kinds", "unknown_symbol_fix"},
    "07-capstone": {"open_holds"},
}
ALL_SELF_CHECKS = set().union(*SELF_CHECKS.values())


def cells(name: str) -> list[nbformat.NotebookNode]:
    nb = nbformat.read(str(NOTEBOOKS / f"{name}.ipynb"), as_version=4)
    return nb.cells


def graded(name: str) -> list[tuple[int, nbformat.NotebookNode]]:
    return [
        (i, c) for i, c in enumerate(cells(name)) if c.metadata.get("nbgrader", {}).get("grade")
    ]


@pytest.mark.parametrize("name", STAGES)
def test_self_check_cells_are_autograded_and_shown_failing(name):
    """Is each self-check an nbgrader test cell (locked, 1 point) right after its answer
    cell (the student's, unlocked), tagged as failing until the student answers?"""
    nb = cells(name)
    for i, cell in graded(name):
        meta = cell.metadata["nbgrader"]
        assert meta["locked"] and meta["points"] == 1 and not meta["solution"], cell.id
        assert "raises-exception" in cell.metadata.get("tags", []), cell.id
        (function,) = CALL.findall(cell.source)
        assert callable(getattr(selfcheck, function)), function
        answer = nb[i - 1].metadata.get("nbgrader", {})
        assert answer.get("solution") and not answer.get("locked"), nb[i - 1].id
    ids = [c.metadata["nbgrader"]["grade_id"] for _, c in graded(name)]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("name", STAGES)
def test_the_lessons_have_their_self_checks(name):
    """Does each lesson grade what it teaches by doing: the kernel release (1), a module's
    log level and taint (2), installing for modprobe and lsmod (3), kallsyms and Unknown
    symbol (4), an open file holding its module (7)?"""
    used = {f for _, c in graded(name) for f in CALL.findall(c.source)}
    assert used == SELF_CHECKS.get(name, set())


def test_coverage_names_every_self_check():
    """Does docs/coverage.md name each self-check, and only real ones?"""
    text = (REPO / "docs" / "coverage.md").read_text()
    named = set(re.findall(r"`selfcheck\.([a-z_]+)`", text))
    assert named == ALL_SELF_CHECKS


@pytest.mark.parametrize("name", OWNED)
def test_predict_then_run_with_the_answer_after(name):
    """Does each of these lessons ask for a prediction and reveal the answer in a
    collapsed <details> after the cells that show it?"""
    nb = cells(name)
    predicts = [
        i for i, c in enumerate(nb) if c.cell_type == "markdown" and "**Predict**" in c.source
    ]
    reveals = [i for i, c in enumerate(nb) if c.cell_type == "markdown" and "<details>" in c.source]
    assert predicts and reveals
    for i in predicts:
        later = [j for j in reveals if j > i]
        assert later, f"{name}: a prediction at cell {i} is never answered"
        assert any(c.cell_type == "code" for c in nb[i + 1 : later[0]])  # run before revealed
    assert any("Break it" in c.source for c in nb if c.cell_type == "markdown"), name


@pytest.mark.parametrize("name", sorted(SELF_CHECKS))
def test_self_check_metadata_is_valid_for_nbgrader(name):
    """Does nbgrader's own validator accept the lesson's graded cells?"""
    from nbgrader.nbgraderformat import MetadataValidator

    MetadataValidator().validate_nb(nbformat.read(str(NOTEBOOKS / f"{name}.ipynb"), as_version=4))
