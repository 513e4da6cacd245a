"""Grading one submission: collect evidence in fresh guests, then judge on the host.

    grade(Path("submissions/alice"), exercise="hello") -> Report

The order of the steps is stated once, in collect.py; the verdicts are in
judges.py. Whatever goes wrong inside the grader becomes a check with status
"error" and a message, never a lost report.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
import traceback
from pathlib import Path

from kmodlab.errors import InputError, KmodlabError
from kmodlab.grader.collection import collect
from kmodlab.grader.evidence import Evidence
from kmodlab.grader.report.model import INTEGRITY_CHECK, CheckResult, Report
from kmodlab.grader.verdicts import judges
from kmodlab.grader.verdicts.judges import GENERIC_CHECKS
from kmodlab.paths import current_kernel
from kmodlab.vm.guest import GuestCompromised
from kmodlab.vm.session import LabMachine, Progress, Session, prepare, silent

Limits = collect.Limits


def grade(
    submission: Path,
    *,
    exercise: str | None = None,
    limits: Limits | None = None,
    machine: LabMachine | None = None,
    progress: Progress = silent,
) -> Report:
    """Grade one submission folder (one or several modules); always returns a report.

    Raises InputError only when there is no submission to grade at all.
    progress receives status lines (a snapshot that would not restore...); by
    default they are dropped, and nothing is written to stderr.
    """
    t0 = time.monotonic()
    submission = Path(submission)
    if not submission.is_dir():
        what = "does not exist" if not submission.exists() else "is not a folder"
        raise InputError(f"{submission} {what}", "pass the folder holding the submission")
    limits = limits or Limits()
    kernel = machine.kernel if machine else current_kernel()
    ev = Evidence(submission=submission)
    plan = _load_exercise(exercise)
    with tempfile.TemporaryDirectory(prefix="kmodlab-grade-") as tmp:
        _collect(ev, Path(tmp), kernel.headers, machine, limits, plan, progress)
        checks = _judge(ev, limits, plan)
    return Report(
        submission=submission.name,
        kernel=kernel.abi,
        checks=checks,
        duration_s=time.monotonic() - t0,
        exercise=exercise,
        sources=ev.sources,  # validated once: the forms quote these, not a second read
    )


def _load_exercise(exercise: str | None):  # type: ignore[no-untyped-def]
    if exercise is None:
        return None
    from kmodlab.grader import exercise_plan as exercises

    return exercises.load(exercise)


def _collect(
    ev: Evidence, workdir: Path, headers: Path, machine, limits, plan, progress=silent
) -> None:  # type: ignore[no-untyped-def]
    try:
        machine = machine or prepare()
        use_snapshot = not limits.naive
        with Session(machine, use_snapshot=use_snapshot, progress=progress) as session:
            # The guest is restored first (0.2 s of mostly I/O), then inspected
            # while the modules build. Restoring during the two makes was
            # slower: three busy processes on two cores.
            warm = threading.Thread(target=_before_load_quietly, args=(session, ev), daemon=True)
            if not limits.naive:
                warm.start()
            try:
                collect.build(ev, workdir, headers)
            finally:
                if warm.is_alive():
                    warm.join()
            if ev.build is None or not ev.build.ok:
                return
            clean = collect.main_guest(ev, session, limits)
            if plan is not None:  # in this session: never two guests at once
                clean = plan.collect(ev, session, limits, clean=clean)
            try:
                collect.sweep(ev, session, limits, reuse=clean)
            except GuestCompromised:
                raise
            except KmodlabError as e:
                ev.points_error = f"the fault-injection sweep stopped: {e.line()}"
            session.verify_quiet()  # a late, unasked answer is a forgery too
    except InputError:
        raise
    except GuestCompromised as e:
        # A forged answer: stop here. Nothing that guest said is graded.
        ev.compromised = e.line()
    except Exception as e:  # the grader's own failure: keep what was gathered
        ev.internal_error = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=8)}"


def _before_load_quietly(session: Session, ev: Evidence) -> None:
    # A guest that fails here is restarted, and reported, by the next real
    # request; main_guest() takes what before_load() could not.
    with contextlib.suppress(Exception):
        collect.before_load(ev, session)


def _judge(ev: Evidence, limits: Limits, plan) -> list[CheckResult]:  # type: ignore[no-untyped-def]
    weights = plan.weights if plan is not None else judges.DEFAULT_WEIGHTS
    ctx = judges.Context(ev, weights)
    checks = []
    for check in judges.GENERIC:
        try:
            result = check.verdict(ctx, limits.cycles)
        except Exception as e:  # one broken judge must not lose the others
            result = ctx.error(
                check.id, f"the grader failed on this check: {type(e).__name__}: {e}"
            )
        checks.append(result)
    if plan is not None and (ev.build is None or not ev.build.ok):
        checks += plan.unbuilt(ev)  # skipped, but for checks of the files alone (kbuild)
    elif plan is not None:
        checks += plan.judge(ev, ctx)
    if plan is not None:
        checks = plan.score(checks)  # the exercise's scoring policy (docs/expectations.md)
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
