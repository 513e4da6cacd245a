"""exit-order scored in the unwinding exercise: taught, so the scoring policy scores it as
judged and gates the checks any module passes on it (pure: reports built by hand)."""

from __future__ import annotations

from kmodlab.grader.exercise_plan import autograder_dir
from kmodlab.grader.report.model import CheckResult
from kmodlab.grader.verdicts import expectations as ex
from kmodlab.grader.verdicts.judges import GENERIC_CHECKS


def unwinding() -> ex.Expectations:
    return ex.load_expectations(autograder_dir() / "unwinding" / "expectations.toml")


def report(exp: ex.Expectations, **scores: float) -> list[CheckResult]:
    """Every check of the exercise at full points unless scores says otherwise."""
    out = []
    for cid in [*GENERIC_CHECKS, *(c.id for c in exp.checks)]:
        w = exp.points(cid)
        score = scores.get(cid.replace("-", "_"), w)
        out.append(CheckResult(cid, "pass" if score == w else "fail", score, w, "fine"))
    return out


def by_id(checks: list[CheckResult], cid: str) -> CheckResult:
    return next(c for c in checks if c.id == cid)


def test_unwinding_scores_and_teaches_exit_order(monkeypatch):
    """Is exit-order worth a point in unwinding, and one of the checks it teaches?"""
    monkeypatch.delenv("KMODLAB_AUTOGRADER", raising=False)
    exp = unwinding()
    assert exp.points("exit-order") == 1
    assert "exit-order" in exp.taught and "fault-injection" in exp.taught
    assert exp.max_score == 15


def test_a_wrong_exit_order_loses_its_point_and_gates_the_rest(monkeypatch):
    """Does an exit releasing in the wrong order lose exit-order's point, and make the
    generic checks count 80 % (4 of 5 taught points), not full marks?"""
    monkeypatch.delenv("KMODLAB_AUTOGRADER", raising=False)
    exp = unwinding()
    scored = ex.score_report(exp, report(exp, exit_order=0))
    assert by_id(scored, "exit-order").score == 0
    assert by_id(scored, "fault-injection").score == 4  # taught: as judged
    assert by_id(scored, "build").score == 0.8
    assert "counts 80%" in by_id(scored, "build").summary
    assert round(sum(c.score for c in scored), 2) == 12


def test_the_starter_stays_under_thirty_percent(monkeypatch):
    """With its exit in order but no error handling, does the starter earn the exit-order
    point as judged and the rest a third: 4.33 / 15 (<= 30 %)?"""
    monkeypatch.delenv("KMODLAB_AUTOGRADER", raising=False)
    exp = unwinding()
    scored = ex.score_report(exp, report(exp, fault_injection=0))
    assert by_id(scored, "exit-order").score == 1
    total = round(sum(c.score for c in scored), 2)
    assert total == 4.33 and total / exp.max_score <= 0.30
