"""The grades a batch leaves for instructors: summary.csv per check, gradebook.csv for an LMS."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from kmodlab.grader.batch import GRADEBOOK_CSV, grade_batch, gradebook_csv
from kmodlab.grader.report.model import CheckResult, Report


def _report(name: str, load_score: float, greeting: float) -> Report:
    checks = [
        CheckResult("build", "pass", 2, 2, "built"),
        CheckResult("load", "pass" if load_score else "fail", load_score, 2, "loaded"),
        CheckResult("greeting", "pass" if greeting else "fail", greeting, 1, "greeted"),
    ]
    return Report(name, "6.1.0-56-amd64", checks, duration_s=1.0, exercise="hello")


def _grade(sub: Path) -> Report:
    if sub.name == "mallory":
        raise RuntimeError("the grader broke")
    return {"alice": _report("alice", 2, 1), "bob": _report("bob", 0, 0.5)}[sub.name]


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def _class(tmp_path: Path) -> Path:
    for n in ("bob", "alice", "mallory"):
        (tmp_path / "subs" / n).mkdir(parents=True)
        (tmp_path / "subs" / n / "m.c").write_text("int x;\n")
    return tmp_path / "subs"


def test_summary_has_a_row_per_student_and_a_score_column_per_check(tmp_path):
    """Does summary.csv have one row per student and one column per check holding that
    check's score (the generic checks first, then the exercise's)?"""
    out = tmp_path / "out"
    grade_batch(_class(tmp_path), out, grade=_grade, progress=False)
    rows = {r["name"]: r for r in _rows(out / "summary.csv")}
    assert sorted(rows) == ["alice", "bob", "mallory"]
    assert list(rows["alice"])[:6] == ["name", "score", "max_score", "build", "load", "greeting"]
    assert (rows["alice"]["load"], rows["alice"]["greeting"]) == ("2", "1")
    assert (rows["bob"]["load"], rows["bob"]["greeting"]) == ("0", "0.5")


def test_gradebook_gives_total_max_and_percent_and_leaves_grader_errors_ungraded(tmp_path):
    """Does gradebook.csv hold student, total, max and percent for each student, sorted,
    with a submission the grader failed on left empty (ungraded, not a zero)?"""
    out = tmp_path / "out"
    grade_batch(_class(tmp_path), out, grade=_grade, progress=False)
    text = (out / GRADEBOOK_CSV).read_text()
    assert text.splitlines()[0] == "student,total,max,percent"
    assert _rows(out / GRADEBOOK_CSV) == [
        {"student": "alice", "total": "5", "max": "5", "percent": "100.00"},
        {"student": "bob", "total": "2.5", "max": "5", "percent": "50.00"},
        {"student": "mallory", "total": "", "max": "", "percent": ""},
    ]


def test_gradebook_is_rewritten_on_resume(tmp_path):
    """Is gradebook.csv made again from the finished reports when a batch resumes (a
    deleted gradebook comes back whole without regrading anyone)?"""
    out = tmp_path / "out"
    subs = _class(tmp_path)
    grade_batch(subs, out, grade=_grade, progress=False)
    first = (out / GRADEBOOK_CSV).read_text()
    (out / GRADEBOOK_CSV).unlink()
    calls: list[str] = []

    def counting(sub: Path) -> Report:
        calls.append(sub.name)
        return _grade(sub)

    grade_batch(subs, out, grade=counting, progress=False)
    assert calls == [] and (out / GRADEBOOK_CSV).read_text() == first


def test_gradebook_quotes_names_an_lms_would_split():
    """Is a student name with a comma or a quote one cell of the gradebook?"""
    text = gradebook_csv({'o"brien, pat': _report('o"brien, pat', 2, 1)})
    assert _rows_from(text) == [
        {"student": 'o"brien, pat', "total": "5", "max": "5", "percent": "100.00"}
    ]


def _rows_from(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))
