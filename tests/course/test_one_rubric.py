"""One rubric: nbgrader, `kmodlab grade`, `grade-batch` and Gradescope agree on a score.

The four paths run for real here, down to the pipeline's verdicts: only the
guest is left out (evidence is canned, judged by the real judges and the
real scoring policy). tests/course/test_nbgrader_vm.py checks the same with
the real nbgrader autograde and the real guest.
"""

from __future__ import annotations

import ast
import csv
import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
from nbgrader.utils import determine_grade

from kmodlab import cli
from kmodlab.course import checks as course_checks
from kmodlab.grader import pipeline
from kmodlab.grader.verdicts import judges
from tests.course.conftest import COURSE, SELF_CHECK

# A hello with a capital W and only a license: 1 of 2 greetings, 1 of 3 modinfo fields.
EVIDENCE = {
    "load_log": ["Hello, World!"],
    "unload_log": ["Goodbye, world!"],
    "load_levels": [6],
    "unload_levels": [6],
    "modinfo": {"hello": {"license": ["GPL"]}},
}
HELLO_C = '// %%kmodule hello\n#include <linux/module.h>\nMODULE_LICENSE("GPL");\n'


@pytest.fixture
def canned_pipeline(monkeypatch):
    """pipeline.grade with every generic check passing and EVIDENCE for the exercise."""

    def collect(ev, workdir, headers, machine, limits, plan, progress=None):  # type: ignore[no-untyped-def]
        # A build that made nothing to look at: the canned evidence is the exercise's.
        ev.build = SimpleNamespace(ok=True, modules=[], diagnostics=[], log="", duration_s=0.0,
                                   sandboxed=True, file_map={}, linked=True)  # fmt: skip
        ev.exercise.update(EVIDENCE)

    def passing(check_id):  # type: ignore[no-untyped-def]
        return lambda ctx, *_: ctx.result(check_id, True, "fine")

    monkeypatch.delenv("KMODLAB_AUTOGRADER", raising=False)
    monkeypatch.setattr(pipeline, "_collect", collect)
    fine = tuple(dataclasses.replace(c, judge=passing(c.id)) for c in judges.GENERIC)
    monkeypatch.setattr(judges, "GENERIC", fine)
    kernel = SimpleNamespace(headers=Path("/nonexistent"), abi="6.1.0-test")
    monkeypatch.setattr(pipeline, "current_kernel", lambda: kernel)
    monkeypatch.setattr("kmodlab.vm.session.prepare", lambda: None)
    course_checks.forget()
    yield
    course_checks.forget()


def nbgrader_total(workspace: Path, monkeypatch, name: str = "hello") -> tuple[float, float]:
    """Run each test cell of the assignment and score its output as nbgrader does."""
    monkeypatch.setattr(course_checks, "workspace_folder", lambda _ws: workspace)
    from kmodlab import course

    nb = nbformat.read(str(COURSE / "source" / name / f"{name}.ipynb"), as_version=4)
    score = max_score = 0.0
    for cell in nb.cells:
        if not cell.metadata.get("nbgrader", {}).get("grade") or SELF_CHECK in cell.source:
            continue  # a lesson's self-check: its own point, not the exercise's
        tree = ast.parse(cell.source, mode="eval")
        value = eval(compile(tree, "cell", "eval"), {"course": course})
        cell.outputs = [
            nbformat.v4.new_output("stream", name="stdout", text="report\n"),
            nbformat.v4.new_output("execute_result", data={"text/plain": repr(value)}),
        ]
        earned, available = determine_grade(cell)
        score += earned
        max_score += available
    return round(score, 3), max_score


def test_the_four_paths_give_one_score(canned_pipeline, monkeypatch, tmp_path, capsys):
    """Do nbgrader's cells, `grade`, `grade --format gradescope` and `grade-batch` agree?"""
    submissions = tmp_path / "submissions"
    sub = submissions / "alice"
    sub.mkdir(parents=True)
    (sub / "hello.c").write_text(HELLO_C)
    (sub / "Makefile").write_text("obj-m := hello.o\n")

    assert cli.main(["grade", str(sub), "--exercise", "hello", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert cli.main(["grade", str(sub), "--exercise", "hello", "--format", "gradescope"]) == 0
    gradescope = json.loads(capsys.readouterr().out)
    out = tmp_path / "out"
    assert (
        cli.main(["grade-batch", str(submissions), "--output-dir", str(out), "--exercise", "hello"])
        == 0
    )
    with open(out / "summary.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    nb_score, nb_max = nbgrader_total(sub, monkeypatch)

    # The policy at work: 1 of 2 greetings + 1 of 3 fields = 2 of 5 taught points,
    # so the generic checks' 9 points count 40 %.
    assert (report["score"], report["max_score"]) == (5.6, 14)
    assert gradescope["score"] == report["score"]
    assert sum(t["max_score"] for t in gradescope["tests"]) == report["max_score"]
    assert (float(row["score"]), float(row["max_score"])) == (5.6, 14)
    assert (nb_score, nb_max) == (5.6, 14)


# kbuild: the Makefile right, one of two log lines, and a consumer whose
# KBUILD_EXTRA_SYMBOLS names the wrong file (2 of 4 extra-symbols items).
KBUILD_EVIDENCE = {
    "load_log": ["kmodlab_pair: 2 + 3 = 5"],
    "unload_log": [],
    "load_levels": [6],
    "unload_levels": [],
    "kbuild": {"origin": "Makefile", "problem": None, "notes": [],
               "modules": {"kmodlab_pair": ["pair_main", "pair_util"]}},
    "extra_symbols": {
        "provider": {"origin": "Makefile", "modules": {"sums": ["sums"]}, "problem": None,
                     "built": True},
        "consumer": {"origin": "Makefile", "modules": {"sums_user": ["sums_user"]},
                     "problem": None, "built": False, "undefined": ["sums_add"],
                     "extra_symbols": [{"written": "KBUILD_EXTRA_SYMBOLS := x", "line": 2,
                                        "path": "x", "problem": None}]},
        "load": {},
    },
}  # fmt: skip


def test_the_four_paths_give_one_score_for_kbuild(canned_pipeline, monkeypatch, tmp_path, capsys):
    """Do nbgrader's kbuild cells (Makefiles written in %%writefile cells, provider/ and
    consumer/ included), `grade`, Gradescope and `grade-batch` agree?"""
    monkeypatch.setattr(__import__(__name__, fromlist=["x"]), "EVIDENCE", KBUILD_EVIDENCE)
    sub = tmp_path / "submissions" / "bob"
    for rel in ("pair_main.c", "pair_util.c", "pair.h", "provider/sums.c",
                "consumer/sums_user.c"):  # fmt: skip
        (sub / rel).parent.mkdir(parents=True, exist_ok=True)
        (sub / rel).write_text("/* canned */\n")
    (sub / "Makefile").write_text("obj-m += kmodlab_pair.o\n")
    args = ["--exercise", "kbuild"]
    assert cli.main(["grade", str(sub), *args, "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert cli.main(["grade", str(sub), *args, "--format", "gradescope"]) == 0
    gradescope = json.loads(capsys.readouterr().out)
    out = tmp_path / "out"
    assert cli.main(["grade-batch", str(sub.parent), "--output-dir", str(out), *args]) == 0
    with open(out / "summary.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    nb_score, nb_max = nbgrader_total(sub, monkeypatch, "kbuild")

    # 4 + 1 + 2 of 10 taught points: the generic checks' 9 points count 70 %.
    assert (report["score"], report["max_score"]) == (13.3, 19)
    assert {c["id"]: c["score"] for c in report["checks"]}["extra-symbols"] == 2
    assert gradescope["score"] == report["score"]
    assert sum(t["max_score"] for t in gradescope["tests"]) == report["max_score"]
    assert (float(row["score"]), float(row["max_score"])) == (13.3, 19)
    assert (nb_score, nb_max) == (13.3, 19)


def test_a_partial_cell_gets_its_partial_points(canned_pipeline, monkeypatch, tmp_path):
    """Does the 2-point greetings cell that shows 1 of 2 give 1 point in nbgrader, not 0?"""
    (tmp_path / "hello.c").write_text(HELLO_C)
    monkeypatch.setattr(course_checks, "workspace_folder", lambda _ws: tmp_path)
    value = course_checks.points("hello", checks=["greetings"], quiet=True)
    cell = nbformat.v4.new_code_cell("course.points('hello', checks=['greetings'])")
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": "t", "points": 2, "solution": False}
    cell.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": repr(value)})]
    assert determine_grade(cell) == (1.0, 2.0)


def test_a_notebook_grade_keeps_its_evidence_beside_the_workspace(
    canned_pipeline, monkeypatch, tmp_path
):
    """Does a graded test cell leave WORKSPACE/hello.evidence.json.xz, which `kmodlab
    rejudge` re-scores to the same points (nbgrader's grades can be re-judged too)?"""
    from kmodlab.grader.rejudge import rejudge_file

    (tmp_path / "hello.c").write_text(HELLO_C)
    monkeypatch.setattr(course_checks, "workspace_folder", lambda _ws: tmp_path)
    graded = course_checks.grade("hello")
    doc = tmp_path / "hello.evidence.json.xz"
    assert doc.is_file()
    again = rejudge_file(doc)
    assert (again.score, again.max_score) == (graded.score, graded.max_score)
