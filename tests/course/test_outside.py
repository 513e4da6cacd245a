"""nbgrader autograde grades the test cells outside the notebook (kmodlab.course.outside).

Canned reports stand in for the real grade (the grader's own tests cover it;
tests/course/test_nbgrader_vm.py runs the whole round trip on the real
guest): here, which cells are recognised, which files the cells write, that
a replaced cell says and scores exactly what the kernel's call would have,
that the kernel does not grade twice, and that what the kernel put in a test
cell is thrown away.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from kmodlab.course import checks
from kmodlab.course.nbgrader import RESOURCE, GradeOutside, ScoreOutside
from kmodlab.course.outside import CellCall, OutsidePlan, cell_files, cell_outputs, recognised_call
from kmodlab.grader.report.model import Report
from tests.course.test_course_checks import GREETINGS_FAIL, HELLO, passed, report


# -- which cells ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('course.points("hello", checks=["greetings"])', ("points", "hello")),
        ('# 2 points\ncourse.points(\n  "hello",\n  checks=["a", "b"],\n)', ("points", "hello")),
        ('kmodlab.course.check("unwinding", min_score=10)', ("check", "unwinding")),
        ('course.points("hello", 5)', ("points", "hello")),
        ('course.check("hello", None, 3, quiet=True)', ("check", "hello")),
    ],
)
def test_a_literal_call_is_recognised(source, expected):
    call = recognised_call(source)
    assert call is not None and (call.function, call.exercise) == expected


def test_the_arguments_are_bound_by_name():
    assert recognised_call('course.points("hello", 5, checks=["x"])') == CellCall(
        "points", "hello", (("checks", ["x"]), ("out_of", 5))
    )
    assert recognised_call('course.check("hello", None, 3)').option("min_score") == 3


@pytest.mark.parametrize(
    "source",
    [
        'course.points("hello", checks=CHECKS)',  # a name: only the kernel knows it
        "course.points(EXERCISE)",
        'x = course.points("hello")',
        'course.points("hello")\ncourse.points("rules")',
        'assert course.grade("hello").score > 3',
        'course.points("hello", workspace="elsewhere")',
        'course.points("hello", **options)',
        'course.points("hello", nonsense=1)',  # the kernel's call would raise TypeError
        "course.points()",
        "course.points(3)",
        'selfcheck.secret_reading(level=5, taint="POE")',
        'other.points("hello")',
        "course.points('hello'",  # not Python
    ],
)
def test_anything_else_is_not(source):
    assert recognised_call(source) is None


def grade_cell(source: str, points: int = 2, grade_id: str = "t") -> nbformat.NotebookNode:
    cell = new_code_cell(source)
    cell.metadata["nbgrader"] = {
        "grade": True, "solution": False, "locked": True, "points": points, "grade_id": grade_id,
    }  # fmt: skip
    return cell


def notebook(*cells) -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.cells = [new_code_cell("%load_ext kmodlab\nfrom kmodlab import course"), *cells]
    return nb


def test_the_plan_holds_the_course_calls_and_leaves_other_test_cells_to_the_kernel():
    nb = notebook(
        new_code_cell(f"%%kmodule hello\n{HELLO.split(chr(10), 1)[1]}"),
        grade_cell('selfcheck.secret_reading(level=level, taint="POE")', 1),
        grade_cell('course.points("hello", checks=["greetings"])'),
        grade_cell('course.points("rules", checks=["leaks"])'),
    )
    plan = OutsidePlan.of(nb)
    assert sorted(plan.calls) == [3, 4] and plan.exercises == ["hello", "rules"]


def test_one_test_cell_naming_course_otherwise_leaves_the_whole_notebook_to_the_kernel():
    nb = notebook(
        grade_cell('course.points("hello", checks=["greetings"])'),
        grade_cell('assert course.grade("hello").score > 3'),
    )
    assert OutsidePlan.of(nb).calls == {}


def test_a_solution_cell_is_never_a_test_cell():
    cell = grade_cell('course.points("hello")')
    cell.metadata["nbgrader"]["solution"] = True
    assert OutsidePlan.of(notebook(cell)).calls == {}


# -- which files ---------------------------------------------------------------
def test_the_files_are_those_the_lab_writes_into_its_workspace(tmp_path):
    from kmodlab.lab.workspace import Workspace

    body = '#include <linux/module.h>\nMODULE_LICENSE("GPL");'
    nb = notebook(
        new_code_cell(f"%%kmodule hello --load who=me\n{body}"),
        new_code_cell("%%writefile kmodlab-workspace/provider/Makefile\nobj-m += sums.o\n"),
        new_code_cell("%%writefile kmodlab-workspace/pair.h\n#define A 1\n"),
        new_code_cell("%%writefile -a kmodlab-workspace/pair.h\n#define B 2\n"),
        new_code_cell("%%writefile notes.c\nnot in the workspace\n"),
        new_code_cell("%%writefile kmodlab-workspace/../escape.c\nno\n"),
        new_code_cell("%%kmodule 9bad\nthe lab refuses this name\n"),
        new_code_cell("%%kmodule --load\nno name\n"),
    )
    ws = Workspace(tmp_path / "kmodlab-workspace")
    ws.write_cell("hello", body, "hello --load who=me")
    assert cell_files(nb) == {
        "hello.c": (tmp_path / "kmodlab-workspace" / "hello.c").read_bytes(),
        "provider/Makefile": b"obj-m += sums.o\n",
        "pair.h": b"#define A 1\n#define B 2\n",
    }


def test_a_later_cell_wins_as_running_top_to_bottom():
    nb = notebook(new_code_cell("%%kmodule hello\nfirst"), new_code_cell("%%kmodule hello\nsecond"))
    assert cell_files(nb)["hello.c"].endswith(b"second\n")


def test_a_deleted_module_is_gone_and_a_moved_workspace_is_left_to_the_kernel():
    nb = notebook(
        new_code_cell("%%kmodule hello\nfirst"),
        new_code_cell("print('tidy up')\n%kmod delete hello"),
        grade_cell('course.points("hello")'),
    )
    assert cell_files(nb) == {} and OutsidePlan.of(nb).exercises == ["hello"]
    nb.cells.insert(1, new_code_cell("%kmod workspace mine"))
    assert OutsidePlan.of(nb).calls == {}  # the kernel grades where the workspace went
    nb.cells[1] = new_code_cell("%kmod workspace")  # only says where it is
    assert OutsidePlan.of(nb).exercises == ["hello"]


# -- what a replaced cell says and scores ----------------------------------------
@pytest.fixture
def canned(monkeypatch):
    """The real grading replaced: a canned report; .graded lists the folders graded."""

    class Canned:
        report = report(passed("build"), passed("load"), GREETINGS_FAIL)
        graded: list[dict[str, bytes]] = []

    def fake(submission: Path, exercise: str, **_: object) -> Report:
        Canned.graded.append({p.name: p.read_bytes() for p in sorted(submission.iterdir())})
        return Canned.report

    checks.forget()
    monkeypatch.delenv(checks.OUTSIDE_ENV, raising=False)
    monkeypatch.setattr(checks, "_grade_quietly", fake)
    yield Canned
    checks.forget()


def in_kernel(source: str, workspace: Path) -> list[dict]:
    """The outputs the kernel's call gives: its stdout, its value or its AssertionError."""
    out = io.StringIO()
    call = recognised_call(source)
    fn = checks.check if call.function == "check" else checks.points
    kwargs = dict(call.options)
    with contextlib.redirect_stdout(out):
        try:
            value = fn(call.exercise, workspace=workspace, **kwargs)
            error = None
        except AssertionError as e:
            value, error = None, str(e)
    return summary(out.getvalue(), value, error)


def summary(text: str, value, error) -> list:
    return [text, None if value is None else repr(value), error]


def outside_summary(outputs: list[dict]) -> list:
    text = "".join(o["text"] for o in outputs if o["output_type"] == "stream")
    values = [o["data"]["text/plain"] for o in outputs if o["output_type"] == "execute_result"]
    errors = [o["evalue"] for o in outputs if o["output_type"] == "error"]
    assert len(values) <= 1 and len(errors) <= 1
    return [text, values[0] if values else None, errors[0] if errors else None]


@pytest.mark.parametrize(
    "source",
    [
        'course.points("hello", checks=["greetings"])',
        'course.points("hello", checks=["build", "load"])',
        'course.points("hello", 5)',
        'course.points("hello", checks=["greetings"], quiet=True)',
        'course.points("hello", checks=["no-such-check"])',
        'course.check("hello")',
        'course.check("hello", checks=["build"])',
        'course.check("hello", min_score=2)',
        'course.check("hello", quiet=True)',
    ],
)
def test_a_replaced_cell_says_and_scores_what_the_kernels_call_would(canned, tmp_path, source):
    ws = tmp_path / "kmodlab-workspace"
    ws.mkdir()
    (ws / "hello.c").write_text(HELLO)
    graded = checks._graded("hello", ws, None)
    kernel = in_kernel(source, ws)
    assert outside_summary(cell_outputs(recognised_call(source), graded, 7)) == kernel
    assert kernel[0] or "quiet" in source  # the report is shown


def test_a_grade_that_could_not_be_made_fails_the_cell_with_its_reason():
    outputs = cell_outputs(
        recognised_call('course.points("hello")'), "hello: could not grade: x", 1
    )
    assert outside_summary(outputs) == ["", None, "hello: could not grade: x"]


# -- the kernel does not grade twice, and never scores a cell it did not grade ---
def test_the_kernel_leaves_the_named_exercises_to_the_outside_grade(canned, tmp_path, monkeypatch):
    ws = tmp_path / "kmodlab-workspace"
    ws.mkdir()
    (ws / "hello.c").write_text(HELLO)
    monkeypatch.setenv(checks.OUTSIDE_ENV, "rules,hello")
    with pytest.raises(AssertionError, match="graded outside the notebook"):
        checks.check("hello", ws)
    assert checks.points("hello", workspace=ws) == 0.0  # no points unless replaced
    assert canned.graded == []
    monkeypatch.setenv(checks.OUTSIDE_ENV, "rules")
    checks.points("hello", workspace=ws)
    assert len(canned.graded) == 1


# -- the two preprocessors, around a kernel that forges ---------------------------
def forging_kernel(nb: nbformat.NotebookNode) -> None:
    """What Execute leaves when the student's Python replaced course.points: full marks."""
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.outputs = [nbformat.from_dict({
                "output_type": "execute_result", "data": {"text/plain": "2.0"},
                "metadata": {}, "execution_count": 3,
            })]  # fmt: skip


def test_the_kernels_outputs_are_replaced_by_the_grade_made_outside(canned, tmp_path):
    nb = notebook(
        new_code_cell("%%kmodule hello\n" + HELLO.split("\n", 1)[1]),
        new_code_cell("import kmodlab.course\nkmodlab.course.points = lambda *a, **k: 2.0"),
        grade_cell('course.points("hello", checks=["greetings"])'),
        grade_cell('course.check("hello", checks=["build"])', 1),
    )
    canned.report = Report(
        submission="hello", kernel="k", exercise="hello",
        checks=[passed("build"), GREETINGS_FAIL], evidence={"schema": "canned"},
    )  # fmt: skip
    resources = {"metadata": {"path": str(tmp_path)}}
    nb, resources = GradeOutside().preprocess(nb, resources)
    assert os.environ[checks.OUTSIDE_ENV] == "hello"  # the kernel starts with it
    forging_kernel(nb)
    nb, resources = ScoreOutside().preprocess(nb, resources)
    assert checks.OUTSIDE_ENV not in os.environ and RESOURCE not in resources
    greetings, build = nb.cells[3], nb.cells[4]
    assert [o.output_type for o in greetings.outputs] == ["stream", "execute_result"]
    assert float(greetings.outputs[-1].data["text/plain"]) == 0
    assert "Not passing: greetings" in greetings.outputs[0].text
    assert [o.output_type for o in build.outputs] == ["stream"]  # passes: full marks
    assert canned.graded == [{"Makefile": canned.graded[0]["Makefile"], "hello.c": HELLO.encode()}]
    evidence = tmp_path / "kmodlab-workspace" / "hello.evidence.json.xz"
    assert evidence.is_file()


def test_a_notebook_without_course_test_cells_is_left_to_the_kernel(canned):
    nb = notebook(grade_cell("assert 1 + 1 == 2"))
    resources: dict = {}
    os.environ[checks.OUTSIDE_ENV] = "left-over"
    nb, resources = GradeOutside().preprocess(nb, resources)
    assert RESOURCE not in resources and checks.OUTSIDE_ENV not in os.environ
    forging_kernel(nb)
    nb, _ = ScoreOutside().preprocess(nb, resources)
    assert nb.cells[1].outputs[0].data["text/plain"] == "2.0"  # the kernel's, untouched


def test_no_module_cell_fails_the_test_cells_as_the_kernel_would(canned, tmp_path):
    nb = notebook(grade_cell('course.points("hello", checks=["greetings"])'))
    nb, resources = GradeOutside().preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    nb, _ = ScoreOutside().preprocess(nb, resources)
    (error,) = nb.cells[1].outputs
    assert error.output_type == "error" and "run the %%kmodule hello cell above first" in (
        error.evalue
    )
    assert "kmodlab-outside-" not in error.evalue  # names the lab's folder, not a temporary one
    assert canned.graded == []


def test_configure_puts_the_outside_grade_around_execute():
    from nbgrader.preprocessors import Execute
    from traitlets.config import Config

    from kmodlab.course.nbgrader import configure

    steps = list(configure(Config()).Autograde.autograde_preprocessors)
    at = steps.index(Execute)
    assert steps[at - 1 : at + 2] == [GradeOutside, Execute, ScoreOutside]


def test_every_test_cell_of_the_course_is_graded_outside():
    """Is each assignment's every `course` test cell (hidden tests included) one the
    outside grade recognises, so that no assignment falls back to its kernel?"""
    from tests.course.conftest import ASSIGNMENTS, COURSE

    for name in ASSIGNMENTS:
        nb = nbformat.read(str(COURSE / "source" / name / f"{name}.ipynb"), as_version=4)
        plan = OutsidePlan.of(nb)
        naming = [
            i
            for i, c in enumerate(nb.cells)
            if c.metadata.get("nbgrader", {}).get("grade") and "course." in c.source
        ]
        assert naming and sorted(plan.calls) == naming, name
        assert plan.exercises == [name], name


def test_generate_assignment_warns_of_a_test_cell_graded_in_the_kernel(caplog):
    """Does the instructor hear, at generate_assignment, of the test cell that would make
    the notebook's grade one the student's Python can reach (and of no other cell)?"""
    import logging

    from kmodlab.course.nbgrader import CheckKmoduleCells

    nb = notebook(
        grade_cell('course.points("hello", checks=["greetings"])'),
        grade_cell('assert course.grade("hello").score > 3'),
        grade_cell("selfcheck.secret_reading(level=level, taint=taint)", 1),
    )
    step = CheckKmoduleCells()
    with caplog.at_level(logging.WARNING, logger=step.log.name):
        step.preprocess(nb, {})
    warned = [
        r.getMessage()
        for r in caplog.records
        if "graded in the notebook's kernel" in r.getMessage()
    ]
    assert len(warned) == 1 and warned[0].startswith("cell 2 (assert course.grade"), warned
