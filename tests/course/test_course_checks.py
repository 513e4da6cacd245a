"""kmodlab.course.check/points/grade on canned reports: selection, messages, caching, quiet."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmodlab.course import checks
from kmodlab.grader.report.model import CheckResult, Finding, Report

HELLO = """// %%kmodule hello
#include <linux/module.h>

static int __init hello_init(void)
{
\treturn 0;
}
module_init(hello_init);
MODULE_LICENSE("GPL");
"""


def report(*results: CheckResult, exercise: str = "hello") -> Report:
    return Report(submission=exercise, kernel="6.1.0-test", checks=list(results), exercise=exercise)


def passed(check_id: str, points: float = 1) -> CheckResult:
    return CheckResult(check_id, "pass", points, points, "fine")


GREETINGS_FAIL = CheckResult(
    "greetings",
    "fail",
    0,
    2,
    "0 of 2 expected log lines appeared",
    [Finding("missing-log-line", "expected on load: 'Hello, world!'", "hello.c", 6)],
)


@pytest.fixture
def graded(monkeypatch):
    """Replace the real grading: returns the list of folders graded; set .report first."""
    calls: list[dict[str, str]] = []

    class Canned:
        report = report(passed("build"), passed("load"), GREETINGS_FAIL)

    def fake(submission: Path, exercise: str, **_: object) -> Report:
        calls.append({p.name: p.read_text() for p in sorted(submission.iterdir())})
        return Canned.report

    checks.forget()
    monkeypatch.setattr(checks, "_grade_quietly", fake)
    yield calls, Canned
    checks.forget()


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "kmodlab-workspace"
    ws.mkdir()
    (ws / "hello.c").write_text(HELLO)
    (ws / "demo.c").write_text("// a demo module of the notebook, not the answer\n")
    return ws


def test_check_passes_silently_when_the_selected_checks_pass(graded, workspace, capsys):
    checks.check("hello", workspace, checks=["build", "load"])
    out = capsys.readouterr().out
    assert "PASS   build" in out and "greetings" not in out


def test_check_raises_naming_the_failing_check_and_the_cell_line(graded, workspace, capsys):
    with pytest.raises(AssertionError) as e:
        checks.check("hello", workspace)
    message = str(e.value)
    assert "Not passing: greetings" in message
    assert "hello.c:6, line 6 of the %%kmodule hello cell" in message
    assert "return 0;" in message  # the student's line, quoted
    assert "FAIL   greetings" in capsys.readouterr().out  # the report is printed too


def test_min_score_lowers_the_bar(graded, workspace):
    checks.check("hello", workspace, min_score=2, quiet=True)  # 2 of 4 points
    with pytest.raises(AssertionError, match="this test needs 3"):
        checks.check("hello", workspace, min_score=3, quiet=True)


def test_a_check_missing_from_the_report_fails(graded, workspace):
    with pytest.raises(AssertionError, match="the report has no check 'nonsense'"):
        checks.check("hello", workspace, checks=["nonsense"], quiet=True)


def test_points_scales_the_selected_checks(graded, workspace):
    assert checks.points("hello", 6, workspace, quiet=True) == 3.0  # 2 of 4
    assert checks.points("hello", 3, workspace, checks=["greetings"], quiet=True) == 0.0
    assert checks.points("hello", 3, workspace, checks=["build"], quiet=True) == 3.0


def test_points_without_out_of_are_the_reports_own(graded, workspace):
    """Does points() without out_of give the checks' own points (one rubric)?"""
    assert checks.points("hello", workspace=workspace, quiet=True) == 2.0  # 2 of 4
    assert checks.points("hello", workspace=workspace, checks=["greetings"], quiet=True) == 0.0


def test_points_says_what_is_not_passing(graded, workspace, capsys):
    """Does a partial points() cell print the report and what to fix, on stdout only?"""
    checks.points("hello", workspace=workspace, checks=["build", "greetings"])
    out, err = capsys.readouterr()
    assert "Not passing: greetings" in out and "hello.c:6" in out
    assert err == ""
    checks.points("hello", workspace=workspace, checks=["build"])
    assert "Not passing" not in capsys.readouterr().out


def test_only_the_exercise_files_are_graded(graded, workspace):
    calls, _ = graded
    checks.check("hello", workspace, checks=["build"], quiet=True)
    (graded_files,) = calls
    # demo.c stays out; the starter's Makefile (obj-m := hello.o) comes in.
    assert set(graded_files) == {"hello.c", "Makefile"}
    assert graded_files["hello.c"] == HELLO


def test_one_grading_per_content(graded, workspace):
    calls, _ = graded
    checks.check("hello", workspace, checks=["build"], quiet=True)
    checks.check("hello", workspace, checks=["load"], quiet=True)
    checks.points("hello", 1, workspace, quiet=True)
    assert len(calls) == 1
    (workspace / "hello.c").write_text(HELLO.replace("return 0;", "return 0; /* changed */"))
    checks.check("hello", workspace, checks=["build"], quiet=True)
    assert len(calls) == 2


def test_a_given_header_comes_from_the_starter(graded, tmp_path):
    calls, canned = graded
    canned.report = report(passed("build"), exercise="symbols")
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "provider.c").write_text("// provider\n")
    (ws / "consumer.c").write_text("// consumer\n")
    checks.check("symbols", ws, checks=["build"], quiet=True)
    assert "#define KMODLAB_PROVIDER_H" in calls[0]["provider.h"]


def test_no_module_source_says_which_cell_to_run(graded, tmp_path):
    ws = tmp_path / "empty"
    ws.mkdir()
    with pytest.raises(AssertionError, match="run the %%kmodule hello cell above first"):
        checks.check("hello", ws, quiet=True)
    with pytest.raises(AssertionError, match="no workspace folder"):
        checks.check("hello", tmp_path / "missing", quiet=True)


def test_the_default_workspace_is_the_labs(graded, tmp_path, monkeypatch):
    from kmodlab.lab import state

    monkeypatch.chdir(tmp_path)
    state.shutdown()
    try:
        assert checks.workspace_folder(None) == tmp_path / "kmodlab-workspace"
    finally:
        state.shutdown()


def test_an_exercise_without_starter_grades_the_whole_workspace(graded, workspace):
    calls, canned = graded
    canned.report = report(passed("build"), exercise="homework")
    checks.check("homework", workspace, checks=["build"], quiet=True)
    assert set(calls[0]) == {"hello.c", "demo.c"}


def test_check_returns_nothing(graded, workspace):
    # A value as a test cell's result would be read as partial credit by nbgrader.
    assert checks.check("hello", workspace, checks=["build"], quiet=True) is None


def test_grading_progress_goes_to_a_callback_not_stderr(monkeypatch, workspace, capfd):
    """Do the grader's status lines and Python warnings reach the test cell through the
    progress callback (kept for a grader failure's message), with nothing on stderr and no
    file descriptor touched?"""
    import warnings

    import kmodlab.grader.pipeline as pipeline

    def grading(submission, *, exercise, progress):  # type: ignore[no-untyped-def]
        progress("the saved guest did not restore (stale); booting cold")
        warnings.warn("a library's warning", DeprecationWarning, stacklevel=1)
        raise RuntimeError("boom")

    checks.forget()
    monkeypatch.setattr(pipeline, "grade", grading)
    with pytest.raises(AssertionError) as raised:
        checks.check("hello", workspace, quiet=True)
    checks.forget()
    assert "booting cold" in str(raised.value) and "a library's warning" in str(raised.value)
    assert capfd.readouterr().err == ""
    assert "dup2" not in Path(checks.__file__).read_text()


def test_a_grader_crash_is_an_assertion_not_a_traceback(monkeypatch, workspace):
    import kmodlab.grader.pipeline as pipeline

    def broken(*a, **k):
        raise RuntimeError("boom")

    checks.forget()
    monkeypatch.setattr(pipeline, "grade", broken)
    with pytest.raises(AssertionError, match="grader failed .*boom.*not a verdict on your code"):
        checks.check("hello", workspace, quiet=True)
    checks.forget()
