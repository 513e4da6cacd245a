"""Judging an evidence document: every check of the report, from evidence alone.

Pure: no subprocess, no file system, nothing of the VM layer or the build
runners (tests/unit/test_evidence_purity.py checks the imports). `kmodlab
grade` judges the document it has just written with this, and `kmodlab
rejudge` judges a document written earlier with it, so both give the same
report from the same evidence and expectations.
"""

from __future__ import annotations

from kmodlab.grader.evidence import Document, Evidence
from kmodlab.grader.report.model import INTEGRITY_CHECK, CheckResult, Report
from kmodlab.grader.verdicts import expectations as exp
from kmodlab.grader.verdicts import judges
from kmodlab.grader.verdicts.judges import GENERIC_CHECKS

DEFAULT_CYCLES = 20


def judge(
    ev: Evidence, expectations: exp.Expectations | None = None, cycles: int = DEFAULT_CYCLES
) -> list[CheckResult]:
    """The generic checks, then the exercise's (when expectations are given), scored."""
    weights = dict(expectations.generic_points) if expectations else judges.DEFAULT_WEIGHTS
    ctx = judges.Context(ev, weights)
    checks = []
    for check in judges.GENERIC:
        try:
            result = check.verdict(ctx, cycles)
        except Exception as e:  # one broken judge must not lose the others
            result = ctx.error(
                check.id, f"the grader failed on this check: {type(e).__name__}: {e}"
            )
        checks.append(result)
    if expectations is not None and (ev.build is None or not ev.build.ok):
        checks += _unbuilt(ev, expectations)  # skipped, but for checks of the files alone
    elif expectations is not None:
        checks += [exp.judge(c, ev.exercise) for c in expectations.checks]
    if expectations is not None:
        checks = exp.score_report(expectations, checks)  # the exercise's scoring policy
    if ev.compromised:
        why = "not graded: the guest's answers were forged (see integrity)"
        keep = ("build", INTEGRITY_CHECK)
        checks = [
            c if c.id in keep else CheckResult(c.id, "error", 0.0, c.max_score, why) for c in checks
        ]
    if ev.internal_error:
        first = ev.internal_error.splitlines()[0]
        for i, c in enumerate(checks):
            if c.status == "skip":
                checks[i] = ctx.error(c.id, f"not decided: the grader failed ({first})")
    assert [c.id for c in checks[: len(GENERIC_CHECKS)]] == list(GENERIC_CHECKS)
    return checks


def _unbuilt(ev: Evidence, expectations: exp.Expectations) -> list[CheckResult]:
    """The exercise's checks when the build failed: those judged from the files alone
    (what kbuild makes of the Makefile, collected with the evidence) are judged, the
    others skipped."""
    out = []
    for c in expectations.checks:
        if exp.KINDS[c.kind].evidence == exp.FILES:
            out.append(exp.judge(c, ev.exercise))
        else:
            why = "not run: the build failed"
            out.append(CheckResult(c.id, "skip", 0.0, float(c.points), why))
    return out


def report(
    doc: Document, expectations: exp.Expectations | None = None, exercise: str | None = None
) -> Report:
    """The report of a document: its kernel and collection time, today's verdicts."""
    ev = doc.evidence
    return Report(
        submission=ev.submission.name,
        kernel=doc.kernel,
        checks=judge(ev, expectations, doc.cycles),
        duration_s=doc.duration_s,
        exercise=exercise,
    )
