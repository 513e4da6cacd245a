"""The staged notebooks as files: first cell, exercises in step with exercises/, no outputs."""

from __future__ import annotations

import re

import nbformat
import pytest

from kmodlab.course.exercises import exercise_dir, student_writes_build
from kmodlab.grader.exercise_plan import load
from kmodlab.grader.verdicts.judges import GENERIC_CHECKS
from tests.course.conftest import NOTEBOOKS, REPO, STAGES


def read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(str(NOTEBOOKS / f"{name}.ipynb"), as_version=4)


def code_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.cell_type == "code"]


@pytest.mark.parametrize("name", STAGES)
def test_notebook_is_valid_and_clean(name):
    nb = read(name)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert len({c.id for c in nb.cells}) == len(nb.cells)
    # Committed without outputs: they are made by running it, in the student's guest.
    assert all(not c.outputs and c.execution_count is None for c in code_cells(nb))
    assert code_cells(nb)[0].source == "%load_ext kmodlab"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# Stage")


@pytest.mark.parametrize(("name", "stage"), STAGES.items())
def test_notebook_ends_with_its_exercise(name, stage):
    nb = read(name)
    heading = max(
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "markdown"
        and "Exercise" in c.source
        or c.cell_type == "markdown"
        and "## The capstone" in c.source
    )
    tail = [c.source for c in nb.cells[heading:] if c.cell_type == "code"]
    assert f"%kmod workspace exercise-{stage}" in "\n".join(tail)
    assert f"%kmod check --exercise {stage}" in tail
    assert f"exercises/{stage}/" in nb.cells[heading].source


@pytest.mark.parametrize(("name", "stage"), STAGES.items())
def test_exercise_cells_are_the_starter_files(name, stage):
    """The exercise's cells hold exactly exercises/<stage>/: a change there must reach here."""
    cells = code_cells(read(name))
    start = next(i for i, c in enumerate(cells) if f"%kmod workspace exercise-{stage}" in c.source)
    cells = cells[start:]  # the notebook's own demos may reuse a name (hello)
    folder = exercise_dir(stage)
    assert folder is not None
    # The kbuild stage grades the student's own Makefile, built with %kmod make:
    # every file, the Makefile included, is written as it is.
    own_build = student_writes_build(stage)
    files = [*folder.glob("*.[ch]"), *([folder / "Makefile"] if own_build else [])]
    if own_build:  # and its folders' (kbuild's provider/ and consumer/)
        files += [*folder.glob("*/*.[ch]"), *folder.glob("*/Makefile")]
    for path in sorted(files):
        expected = path.read_text().rstrip("\n")
        if path.suffix == ".c" and not own_build:
            head = f"%%kmodule {path.stem}\n"
        else:
            head = f"%%writefile exercise-{stage}/{path.relative_to(folder).as_posix()}\n"
        bodies = [c.source[len(head) :] for c in cells if c.source.startswith(head)]
        assert bodies == [expected], f"{path.relative_to(REPO)} and {name}.ipynb differ"


@pytest.mark.parametrize("name", STAGES)
def test_every_stage_links_to_the_next(name):
    names = list(STAGES)
    i = names.index(name)
    text = "\n".join(c.source for c in read(name).cells if c.cell_type == "markdown")
    if i + 1 < len(names):
        assert f"({names[i + 1]}.ipynb)" in text


def test_no_python_solution_regions_in_teaching_notebooks():
    for name in STAGES:
        assert "BEGIN SOLUTION" not in "".join(c.source for c in read(name).cells)


# -- docs/coverage.md points at cells and checks that exist ------------------------
COVERAGE = REPO / "docs" / "coverage.md"
_ROW = re.compile(r"^\|(?P<concept>[^|]+)\|(?P<cells>[^|]+)\|(?P<checks>[^|]+)\|", re.M)


def coverage_rows() -> list[tuple[str, str, str]]:
    rows = []
    for m in _ROW.finditer(COVERAGE.read_text()):
        concept, cells, checks = (m.group(g).strip() for g in ("concept", "cells", "checks"))
        if concept.lower() == "concept" or set(concept) <= {"-", " ", ":"}:
            continue
        rows.append((concept, cells, checks))
    return rows


def test_coverage_table_cells_exist():
    ids = {name: {c.id for c in read(name).cells} for name in STAGES}
    rows = coverage_rows()
    assert len(rows) >= 30
    for concept, cells, _ in rows:
        refs = re.findall(r"(\d\d[a-z]?-[a-z]+)\.ipynb#([a-z0-9-]+)", cells)
        assert refs, f"{concept}: no notebook#cell reference"
        for nb, cell in refs:
            assert cell in ids[nb], f"{concept}: {nb}.ipynb has no cell {cell}"


def test_coverage_table_checks_exist():
    known = {
        f"{stage}/{c.id}" for stage in STAGES.values() for c in load(stage).expectations.checks
    }
    for concept, _, checks in coverage_rows():
        for ref in re.findall(r"`([a-z]+/[a-z-]+)`", checks):
            stage, check = ref.split("/")
            assert ref in known or check in GENERIC_CHECKS, f"{concept}: no check {ref}"


def test_every_stage_is_in_the_coverage_table():
    text = COVERAGE.read_text()
    for name in STAGES:
        assert f"{name}.ipynb#" in text
