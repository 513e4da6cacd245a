"""nbgrader with C in %%kmodule cells: the stub, the cell checks, the course's source notebooks."""

from __future__ import annotations

import ast
import copy
import re

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from traitlets.config import Config

from kmodlab.course import nbgrader as nbg
from kmodlab.grader.exercise_plan import load
from kmodlab.grader.verdicts.judges import GENERIC_CHECKS
from tests.course.conftest import ASSIGNMENTS, COURSE, SELF_CHECK

KMODULE = """%%kmodule hello
#include <linux/module.h>

static int __init hello_init(void)
{
\t// BEGIN SOLUTION
\tpr_info("Hello, world!\\n");
\t// END SOLUTION
\treturn 0;
}
module_init(hello_init);
MODULE_LICENSE("GPL");"""


def solution_cell(source: str, grade_id: str = "answer") -> nbformat.NotebookNode:
    cell = new_code_cell(source)
    cell.metadata["nbgrader"] = {
        "grade": False,
        "grade_id": grade_id,
        "locked": False,
        "schema_version": 3,
        "solution": True,
        "task": False,
    }
    return cell


def notebook(*cells: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = new_notebook(cells=list(cells))
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "P"}
    return nb


def student_version(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """What nbgrader's ClearSolutions, configured by kmodlab, makes of a notebook."""
    from nbgrader.preprocessors import ClearSolutions

    c = nbg.configure(Config())
    out, _ = ClearSolutions(config=c).preprocess(copy.deepcopy(nb), {})
    return out


def test_the_stub_is_a_python_comment_and_a_c_error():
    compile(nbg.C_STUB, "<stub>", "exec")  # a comment: valid Python that does nothing
    assert nbg.C_STUB.startswith("#error ")
    assert "write your code here" in nbg.C_STUB


def test_a_kmodule_cells_region_becomes_an_indented_c_error():
    (cell,) = student_version(notebook(solution_cell(KMODULE))).cells
    lines = cell.source.split("\n")
    assert lines[0] == "%%kmodule hello"
    assert f"\t{nbg.C_STUB}" in lines
    assert "SOLUTION" not in cell.source and "pr_info" not in cell.source
    assert "NotImplementedError" not in cell.source
    assert "\treturn 0;" in lines  # code outside the region stays


def test_the_instructors_delimiters_are_c_comments():
    assert nbg.kmodule_cell_problems(KMODULE, solution=True) == []


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("%%kmodule hello\nint x;", "would be replaced whole"),
        ("%%kmodule hello\n### BEGIN SOLUTION\nint x;\n### END SOLUTION", "not a C comment"),
    ],
)
def test_cells_that_would_break_are_refused(source, problem):
    problems = nbg.kmodule_cell_problems(source, solution=True)
    assert any(problem in p for p in problems), problems
    with pytest.raises(nbg.KmoduleCellError, match=problem):
        nbg.CheckKmoduleCells().preprocess(notebook(solution_cell(source)), {})


def test_python_cells_are_not_kmodule_cells():
    assert nbg.kmodule_cell_problems("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", True) == []


def test_configure():
    c = nbg.configure(Config())
    assert c.ClearSolutions.code_stub == {"python": nbg.C_STUB}
    assert c.Execute.timeout >= 300
    assert c.GenerateAssignment.preprocessors[0] is nbg.CheckKmoduleCells
    # The lab's folders hold the instructor's solution after a source notebook ran.
    assert "kmodlab-workspace" in c.CourseDirectory.ignore
    assert "feedback" in c.CourseDirectory.ignore  # nbgrader's own defaults kept


def test_solved_is_the_solution_without_delimiters():
    nb = notebook(solution_cell(KMODULE))
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="old")]
    (cell,) = nbg.solved(nb).cells
    assert "SOLUTION" not in cell.source and 'pr_info("Hello, world!\\n");' in cell.source
    assert cell.outputs == []


# -- the course's own source notebooks ------------------------------------------
def source(name: str) -> nbformat.NotebookNode:
    return nbformat.read(str(COURSE / "source" / name / f"{name}.ipynb"), as_version=4)


def test_the_course_has_the_required_assignments():
    assert {"hello", "unwinding"} <= set(ASSIGNMENTS)
    assert (COURSE / "nbgrader_config.py").is_file()


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_source_notebook_is_well_formed(name):
    nb = source(name)
    nbformat.validate(nb)
    ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "nbgrader" in c.metadata]
    assert len(ids) == len(set(ids))
    assert nb.cells[1].source.startswith("%load_ext kmodlab")
    nbg.CheckKmoduleCells().preprocess(copy.deepcopy(nb), {})
    kmodules = [c for c in nb.cells if c.source.startswith("%%kmodule")]
    assert all(c.metadata["nbgrader"]["solution"] for c in kmodules)
    # The student writes modules (%%kmodule), or, in the kbuild stage, Makefiles
    # (%%writefile: nbgrader's stub `#error ...` is a comment to make), or a lesson's
    # self-check answer (Python between nbgrader's solution markers).
    answers = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert answers and all(
        c.source.startswith(("%%kmodule", "%%writefile")) or "### BEGIN SOLUTION" in c.source
        for c in answers
    )
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")


def grade_cells(name: str) -> list[tuple[dict, list[str]]]:
    """(nbgrader metadata, the checks its course.points call awards) of each test cell of
    the exercise (a lesson's self-checks are not the exercise's: test_rubric_totals.py)."""
    out = []
    for cell in source(name).cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("grade") or SELF_CHECK in cell.source:
            continue
        (call,) = [
            n
            for n in ast.walk(ast.parse(cell.source))
            if isinstance(n, ast.Call) and getattr(n.func, "attr", "") in ("check", "points")
        ]
        # One rubric: every test cell returns the points its checks earned, unscaled.
        assert call.func.attr == "points" and len(call.args) == 1, cell.source
        assert ast.literal_eval(call.args[0]) == name
        (checks,) = [ast.literal_eval(kw.value) for kw in call.keywords if kw.arg == "checks"]
        code = [ln for ln in cell.source.splitlines() if ln.strip() and ln[0] != "#"]
        assert code[-1].rstrip().endswith(")"), "the call must be the cell's value"
        out.append((meta, checks))
    return out


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_test_cells_award_the_expectations_points(name):
    """Is each test cell worth exactly its checks' points, every check in one cell?"""
    expectations = load(name).expectations
    # A check worth no points (integrity: a flag for review, not marks) has no cell.
    every = [*GENERIC_CHECKS, *(c.id for c in expectations.checks)]
    known = [c for c in every if expectations.points(c) > 0]
    cells = grade_cells(name)
    awarded = [check for _, checks in cells for check in checks]
    assert sorted(awarded) == sorted(known), "each check counts once, in one cell"
    for meta, checks in cells:
        assert meta["locked"]
        assert meta["points"] == sum(expectations.points(c) for c in checks), checks
    assert sum(meta["points"] for meta, _ in cells) == expectations.max_score


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_student_version_keeps_the_starter_and_has_no_solution(name):
    from kmodlab.course.exercises import exercise_dir

    nb = student_version(source(name))
    solutions = nbg.solved(source(name))
    for cell, solved_cell in zip(nb.cells, solutions.cells, strict=True):
        if not cell.source.startswith("%%kmodule"):
            continue
        stem = cell.source.split("\n", 1)[0].split()[1]
        starter = (exercise_dir(name) / f"{stem}.c").read_text().splitlines()
        kept = [ln for ln in cell.source.split("\n")[1:] if nbg.C_STUB not in ln]
        # Every line the student gets is the starter's, in the starter's order.
        it = iter(starter)
        assert all(any(ln == s for s in it) for ln in kept), f"{stem}.c drifted from the starter"
        assert nbg.C_STUB in cell.source
        # Nothing of the solution leaks into the student version.
        added = set(solved_cell.source.split("\n")) - set(starter) - {""}
        leaked = [ln for ln in added if ln in cell.source.split("\n") and not ln.startswith("%%")]
        assert not leaked, leaked


def test_kbuild_student_version_has_starter_makefiles_and_no_solution():
    """Are the kbuild assignment's Makefile cells the starter's (no obj-m, no
    KBUILD_EXTRA_SYMBOLS, the stub a make comment), and do they hold the solution's
    lines in the instructor's version?"""
    student = {
        c.source.split("\n", 1)[0]: c.source for c in student_version(source("kbuild")).cells
    }
    solved = {c.source.split("\n", 1)[0]: c.source for c in nbg.solved(source("kbuild")).cells}
    for rel in ("Makefile", "provider/Makefile", "consumer/Makefile"):
        head = f"%%writefile kmodlab-workspace/{rel}"
        text = student[head]
        assert nbg.C_STUB in text and "SOLUTION" not in text
        assert "obj-m" not in text.replace("in obj-m", "")
        assert "KBUILD_EXTRA_SYMBOLS :=" not in text
        assert "obj-m +=" in solved[head]
    assert (
        "KBUILD_EXTRA_SYMBOLS := $(PWD)/../provider/Module.symvers"
        in solved["%%writefile kmodlab-workspace/consumer/Makefile"]
    )


def test_config_file_applies_the_kmodlab_configuration():
    text = (COURSE / "nbgrader_config.py").read_text()
    assert re.search(r"^configure\(c\)$", text, re.M)
