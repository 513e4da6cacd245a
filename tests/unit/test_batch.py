"""Batch grading with a fake grade(): resume, errors, parallelism, a CSV valid at every step."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from kmodlab.errors import InputError
from kmodlab.grader import batch as batch_mod
from kmodlab.grader.batch import grade_batch, load_report, summary_csv
from kmodlab.grader.report.model import CheckResult, Report

NAMES = ["alice", "bob", "carol", "dave", "erin"]


def make_class(root: Path, names=NAMES) -> Path:
    subs = root / "subs"
    for n in names:
        (subs / n).mkdir(parents=True)
        (subs / n / "mydev.c").write_text(f"// {n}\nint x;\n")
    (subs / ".hidden").mkdir()
    (subs / "README.txt").write_text("not a submission")
    return subs


def fake_report(sub: Path) -> Report:
    good = sub.name != "bob"
    checks = [
        CheckResult("build", "pass", 2, 2, "built"),
        CheckResult("load", "pass" if good else "fail", 2 if good else 0, 2, "loaded"),
        CheckResult("greeting", "pass", 1, 1, "1 of 1 expected log lines appeared"),
    ]
    return Report(sub.name, "6.1.0-56-amd64", checks, duration_s=1.0, exercise="hello")


def counting(calls: list[str]):
    def grade(sub: Path) -> Report:
        calls.append(sub.name)
        return fake_report(sub)

    return grade


def read_csv(out: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((out / "summary.csv").read_text())))


def test_each_submission_gets_json_text_and_a_csv_row(tmp_path) -> None:
    """Are there <name>.json and .txt per visible subfolder, and a CSV row each, sorted?"""
    subs, out = make_class(tmp_path), tmp_path / "out"
    summary = grade_batch(subs, out, grade=fake_report, progress=False)
    assert summary.graded == NAMES and summary.resumed == [] and summary.errors == []
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{n}.json" for n in NAMES]
        + [f"{n}.txt" for n in NAMES]
        + ["summary.csv", "gradebook.csv"]
    )
    assert load_report(out / "alice.json") is not None
    assert "kmodlab report for alice" in (out / "alice.txt").read_text()
    rows = read_csv(out)
    assert list(rows[0]) == [
        "name",
        "score",
        "max_score",
        "build",
        "load",
        "greeting",
        "status",
        "flagged",
    ]
    assert [(r["name"], r["score"], r["load"], r["status"]) for r in rows[:2]] == [
        ("alice", "5", "2", "pass"),
        ("bob", "3", "0", "fail"),
    ]


def test_text_report_quotes_the_submissions_own_source(tmp_path) -> None:
    """Does the batch's text report quote the student's file for a finding with a line?"""
    from kmodlab.grader.report.model import Finding

    def grade(sub: Path) -> Report:
        f = Finding("warning", "unused x", "mydev.c", 2)
        return Report(sub.name, "k", [CheckResult("build", "fail", 0, 1, "warned", [f])])

    subs, out = make_class(tmp_path, ["alice"]), tmp_path / "out"
    grade_batch(subs, out, grade=grade, progress=False)
    assert "2 | int x;" in (out / "alice.txt").read_text()


def test_csv_is_valid_after_every_finished_submission(tmp_path) -> None:
    """Before each grade() call, is summary.csv a whole table of the reports so far?"""
    subs, out = make_class(tmp_path), tmp_path / "out"
    seen: list[list[str]] = []

    def grade(sub: Path) -> Report:
        seen.append([r["name"] for r in read_csv(out)])
        return fake_report(sub)

    grade_batch(subs, out, grade=grade, progress=False)
    assert seen == [NAMES[:i] for i in range(len(NAMES))]
    assert [r["name"] for r in read_csv(out)] == NAMES


def test_a_crashing_grade_becomes_an_error_report_and_the_batch_goes_on(tmp_path) -> None:
    """Does an exception in grade() give that submission a "grader" error report, others intact?"""
    subs, out = make_class(tmp_path), tmp_path / "out"

    def grade(sub: Path) -> Report:
        if sub.name == "bob":
            raise RuntimeError("QEMU died")
        if sub.name == "carol":
            return "not a report"  # type: ignore[return-value]
        return fake_report(sub)

    summary = grade_batch(subs, out, grade=grade, progress=False)
    assert summary.errors == ["bob", "carol"] and len(summary.graded) == 5
    bob = load_report(out / "bob.json")
    assert bob is not None and [c.id for c in bob.checks] == ["grader"]
    (check,) = bob.checks
    assert check.status == "error" and "RuntimeError: QEMU died" in check.summary
    assert "Traceback" in check.findings[0].data["detail"]
    assert "QEMU died" in (out / "bob.txt").read_text()
    rows = {r["name"]: r for r in read_csv(out)}
    assert rows["bob"]["status"] == "error" and rows["bob"]["grader"] == "0"
    assert rows["alice"]["grader"] == "" and rows["alice"]["status"] == "pass"


def test_resume_skips_valid_reports_and_regrades_torn_ones(tmp_path) -> None:
    """Is a valid <name>.json kept, and a truncated or foreign one graded again?"""
    subs, out = make_class(tmp_path), tmp_path / "out"
    out.mkdir()
    from kmodlab.grader.report.formats import to_json

    (out / "alice.json").write_text(to_json(fake_report(subs / "alice")))
    (out / "bob.json").write_text(to_json(fake_report(subs / "bob"))[:50])  # torn
    (out / "carol.json").write_text(json.dumps({"schema": "other/9"}))
    calls: list[str] = []
    summary = grade_batch(subs, out, grade=counting(calls), progress=False)
    assert calls == ["bob", "carol", "dave", "erin"]
    assert summary.resumed == ["alice"] and summary.total == 5
    assert "kmodlab report for alice" in (out / "alice.txt").read_text()  # redrawn from JSON
    assert [r["name"] for r in read_csv(out)] == NAMES


def test_retry_errors_regrades_only_grader_failures(tmp_path) -> None:
    """With retry_errors, are earlier grader failures graded again and the rest kept?"""
    subs, out = make_class(tmp_path, ["alice", "bob"]), tmp_path / "out"

    def flaky(sub: Path) -> Report:
        if sub.name == "bob":
            raise TimeoutError("guest did not answer")
        return fake_report(sub)

    grade_batch(subs, out, grade=flaky, progress=False)
    calls: list[str] = []
    grade_batch(subs, out, grade=counting(calls), progress=False, retry_errors=True)
    assert calls == ["bob"]
    assert read_csv(out)[1]["status"] == "fail"  # bob's real verdict now


KILL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from kmodlab.grader.batch import grade_batch
    from kmodlab.grader.report.model import CheckResult, Report

    subs, out, calls = (Path(a) for a in sys.argv[1:4])

    def grade(sub):
        with calls.open("a") as f:
            f.write(sub.name + "\\n")
        time.sleep(0.4)
        return Report(sub.name, "k", [CheckResult("build", "pass", 1, 1, "ok")])

    grade_batch(subs, out, grade=grade, progress=False)
    """
)


def test_resume_after_a_kill_does_not_regrade_finished_submissions(tmp_path) -> None:
    """Killed after the 2nd report, does a rerun grade only the unfinished ones and finish all?"""
    subs, out, calls = make_class(tmp_path), tmp_path / "out", tmp_path / "calls.txt"
    script = tmp_path / "run_batch.py"
    script.write_text(KILL_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), str(subs), str(out), str(calls)])
    try:
        deadline = time.monotonic() + 60
        while len(list(out.glob("*.json"))) < 2:
            assert proc.poll() is None, "the batch ended before it could be killed"
            assert time.monotonic() < deadline, "no 2 reports within 60 s"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    finished = {p.stem for p in out.glob("*.json")}
    assert {"alice", "bob"} <= finished and finished != set(NAMES)
    assert all(load_report(out / f"{n}.json") for n in finished)  # killed, yet none torn

    def grade(sub: Path) -> Report:
        with calls.open("a") as f:
            f.write(sub.name + "\n")
        return fake_report(sub)

    summary = grade_batch(subs, out, grade=grade, progress=False)
    assert set(summary.graded) == set(NAMES) - finished
    counts = {n: calls.read_text().split().count(n) for n in NAMES}
    assert all(counts[n] == 1 for n in finished), counts
    assert all(load_report(out / f"{n}.json") for n in NAMES)
    assert [r["name"] for r in read_csv(out)] == NAMES


def test_jobs_2_grades_two_submissions_at_once(tmp_path) -> None:
    """With jobs=2, do two grade() calls meet at a barrier (impossible one at a time)?"""
    subs, out = make_class(tmp_path, ["a", "b", "c", "d"]), tmp_path / "out"
    barrier = threading.Barrier(2, timeout=20)
    spans: dict[str, tuple[float, float]] = {}
    lock = threading.Lock()

    def grade(sub: Path) -> Report:
        start = time.monotonic()
        barrier.wait()  # raises BrokenBarrierError (an error report) if nobody else runs
        with lock:
            spans[sub.name] = (start, time.monotonic())
        return fake_report(sub)

    summary = grade_batch(subs, out, grade=grade, jobs=2, progress=False)
    assert summary.errors == [] and sorted(summary.graded) == ["a", "b", "c", "d"]
    # Each grade overlapped another in time (which two meet depends on the threads).
    for name, (s0, s1) in spans.items():
        assert any(max(s0, o0) < min(s1, o1) for n, (o0, o1) in spans.items() if n != name)
    assert [r["name"] for r in read_csv(out)] == ["a", "b", "c", "d"]


def test_a_report_appears_only_whole_under_its_name(tmp_path, monkeypatch) -> None:
    """If the final rename fails, is there no <name>.json (and no temp file) at all?

    The failure is that student's alone: the others are graded, and the
    summary lists the student as not graded.
    """
    subs, out = make_class(tmp_path, ["alice", "bob"]), tmp_path / "out"
    real_replace = os.replace

    def replace(src, dst):
        if str(dst).endswith("alice.json"):
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr("kmodlab.paths.os.replace", replace)
    summary = grade_batch(subs, out, grade=fake_report, progress=False)
    assert list(summary.ungraded) == ["alice"]
    assert "No space left on device" in summary.ungraded["alice"]
    assert not (out / "alice.json").exists() and (out / "bob.json").is_file()
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


def test_output_folder_inside_the_submissions_is_not_a_submission(tmp_path) -> None:
    """Is the output folder skipped when it sits among the submissions?"""
    subs = make_class(tmp_path, ["alice"])
    out = subs / "reports"
    grade_batch(subs, out, grade=fake_report, progress=False)
    summary = grade_batch(subs, out, grade=fake_report, progress=False)
    assert summary.resumed == ["alice"] and summary.graded == []


@pytest.mark.parametrize("case", ["missing", "single", "empty"])
def test_bad_submission_folders_are_one_line_errors(tmp_path, case) -> None:
    """Are a missing folder, a single submission and an empty folder clear InputErrors?"""
    subs = tmp_path / "subs"
    if case != "missing":
        subs.mkdir()
    if case == "single":
        (subs / "hello.c").write_text("int x;\n")
    with pytest.raises(InputError) as info:
        grade_batch(subs, tmp_path / "out", grade=fake_report, progress=False)
    assert info.value.fix and str(subs) in info.value.problem


def test_jobs_must_be_positive(tmp_path) -> None:
    """Is jobs=0 refused before anything is graded?"""
    with pytest.raises(InputError, match="jobs"):
        grade_batch(make_class(tmp_path), tmp_path / "out", grade=fake_report, jobs=0)


def test_progress_goes_to_stderr_only(tmp_path, capsys) -> None:
    """With progress on, does stdout stay clean (reports may be piped)?"""
    grade_batch(make_class(tmp_path, ["alice", "bob"]), tmp_path / "out", grade=fake_report)
    captured = capsys.readouterr()
    assert captured.out == ""


def test_csv_columns_put_generic_checks_first_and_escape_reserved_ids() -> None:
    """Are generic checks first in their fixed order, and a check named "status" renamed?"""
    checks = [CheckResult(i, "pass", 1, 1, "") for i in ("zeta", "status", "load", "build")]
    r = Report("x", "k", checks)
    header = summary_csv({"x": r}).splitlines()[0]
    assert header == "name,score,max_score,build,load,zeta,check:status,status,flagged"
    assert batch_mod.overall_status(r) == "pass"


def test_a_submission_that_is_a_link_is_refused_not_followed(tmp_path) -> None:
    """Is a student's "folder" that is a symbolic link (to another student, or anywhere on
    the machine) never graded from what it points at, but listed with an error report
    saying why, while the real folders beside it are graded (the control)?"""
    subs, out = make_class(tmp_path, ["alice", "bob"]), tmp_path / "out"
    secret = tmp_path / "elsewhere"
    secret.mkdir()
    (secret / "secret.c").write_text("// not the student's\n")
    (subs / "mallory").symlink_to(secret)
    calls: list[str] = []
    summary = grade_batch(subs, out, grade=counting(calls), progress=False)
    assert sorted(calls) == ["alice", "bob"]
    assert summary.errors == ["mallory"]
    report = load_report(out / "mallory.json")
    assert report is not None
    (check,) = report.checks
    assert "symbolic link" in check.findings[0].message and str(secret) in check.findings[0].message
    assert "secret" not in (out / "mallory.txt").read_text().replace(str(secret), "")
