"""Grading one submission: collect evidence in fresh guests, then judge on the host.

    grade(Path("submissions/alice"), exercise="hello") -> Report

The order of the steps is stated once, in collection/collect.py; the evidence becomes a
document (evidence.py), judged by verdicts/document.py from the document alone.
Whatever goes wrong inside the grader becomes a check with status "error"
and a message, never a lost report.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
import traceback
from pathlib import Path

from kmodlab.errors import InputError, KmodlabError
from kmodlab.grader import evidence
from kmodlab.grader.collection import collect
from kmodlab.grader.evidence import Evidence
from kmodlab.grader.report.model import Report
from kmodlab.grader.verdicts import document as verdicts
from kmodlab.paths import current_kernel
from kmodlab.vm.guest import GuestCompromised
from kmodlab.vm.session import LabMachine, Progress, Session, prepare, silent

Limits = collect.Limits


class Stages:
    """How many grades of a batch may build at once, and how many may run their guests.

    A grade's guest steps leave the host's cores idle for part of their time
    (an unload waits for the kernel's grace periods, the settle sleeps), and a
    build wants every core for a moment: with `jobs` slots for each stage, a
    batch builds the next submissions while `jobs` guests run (staged()).
    """

    def __init__(self, jobs: int):
        self.builds = threading.BoundedSemaphore(jobs)
        self.guests = threading.BoundedSemaphore(jobs)


_stages: Stages | None = None  # the running batch's, if it staged its grades


@contextlib.contextmanager
def staged(jobs: int):  # type: ignore[no-untyped-def]
    """While inside, grade() calls from any thread share `jobs` build and `jobs` guest slots."""
    global _stages
    previous, _stages = _stages, Stages(jobs)
    try:
        yield _stages
    finally:
        _stages = previous


@contextlib.contextmanager
def _slot(kind: str):  # type: ignore[no-untyped-def]
    stages = _stages
    if stages is None:
        yield
        return
    with getattr(stages, kind):
        yield


def grade(
    submission: Path,
    *,
    exercise: str | None = None,
    limits: Limits | None = None,
    machine: LabMachine | None = None,
    progress: Progress = silent,
) -> Report:
    """Grade one submission folder (one or several modules); always returns a report.

    Collects the evidence, writes it as a document (report.evidence) and
    judges the document, as `kmodlab rejudge` would (_document). Raises InputError only
    when there is no submission to grade at all.
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
    expectations = plan.expectations if plan is not None else None
    with tempfile.TemporaryDirectory(prefix="kmodlab-grade-") as tmp:
        _collect(ev, Path(tmp), kernel.headers, machine, limits, plan, progress)
        _host_evidence(ev)
        took = time.monotonic() - t0
        doc, checks = _document(ev, Path(tmp), kernel, exercise, limits, took, expectations)
    report = Report(
        submission=submission.name,
        kernel=kernel.abi,
        checks=checks,
        duration_s=time.monotonic() - t0,
        exercise=exercise,
        sources=ev.sources,  # validated once: the forms quote these, not a second read
        evidence=doc,
    )
    return report


def _host_evidence(ev: Evidence) -> None:
    """What the files tell an exercise check (modinfo, exports, kbuild's reading of the
    Makefile), collected whatever the exercise, so any exercise can be rejudged."""
    from kmodlab.grader import exercise_plan as exercises

    try:
        if ev.build is not None and ev.build.ok and ev.kos and "modinfo" not in ev.exercise:
            ev.exercise.update(exercises.host_evidence(ev))
        ev.exercise.setdefault("kbuild", exercises.kbuild_evidence(ev.sources, ev.build_problem))
    except Exception as e:  # the grader's own failure: keep what was gathered
        ev.internal_error = ev.internal_error or f"{type(e).__name__}: {e}"


def _document(ev: Evidence, tmp: Path, kernel, exercise, limits, duration_s, expectations):  # type: ignore[no-untyped-def]
    """The evidence as a document, and the checks judged from it.

    The document is written, read back and judged, with one difference: while
    the .ko files are still at hand, the modules' debug info answers from them
    and records each answer. The document is then written again with those
    answers (every address a judge looked up, decoded), so judging it later
    (`kmodlab rejudge`) reads the very answers these checks were judged with.
    """
    hosts = _host_paths(tmp, kernel, ev.submission)

    def write() -> dict:
        return evidence.to_document(
            ev,
            kernel=kernel.abi,
            exercise=exercise,
            cycles=limits.cycles,
            duration_s=duration_s,
            host_paths=hosts,
        )

    read = evidence.from_document(write())
    read.evidence.debug = ev.debug  # the live readers: they record what is looked up
    checks = verdicts.judge(read.evidence, expectations, limits.cycles)
    return write(), checks


def _host_paths(tmp: Path, kernel, submission: Path) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """Paths of this machine that the evidence may hold, and what each becomes."""
    pairs = []
    for folder in {tmp, tmp.resolve()}:
        # The build folders (<tmp>/plain/build-XXXX/...): a file there is the student's.
        pairs += [(f"{build}/", "") for build in folder.glob("*/build-*")]
        pairs += [(f"{folder}/", ""), (str(folder), ".")]
    for folder in {submission.absolute(), submission.resolve()}:
        pairs += [(f"{folder}/", ""), (str(folder), ".")]
    src = Path(kernel.headers).parent  # .../usr/src (holds linux-headers-ABI)
    pairs.append((str(src), "/usr/src"))
    pairs.append((str(Path.home()), "~"))
    # Never the root folder alone: replacing every "/" would wreck the document.
    return [(old, new) for old, new in pairs if old.strip("/")]


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
        preparation = collect.grading_preparation() if use_snapshot else None
        with Session(
            machine, use_snapshot=use_snapshot, progress=progress, preparation=preparation
        ) as session:
            # The guest is restored first (0.2 s of mostly I/O), then inspected
            # while the modules build. Restoring during the two makes was
            # slower: three busy processes on two cores.
            warm = threading.Thread(target=_before_load_quietly, args=(session, ev), daemon=True)
            if not limits.naive:
                warm.start()
            try:
                with _slot("builds"):
                    collect.build(ev, workdir, headers)
            finally:
                if warm.is_alive():
                    warm.join()
            if ev.build is None or not ev.build.ok:
                return
            with _slot("guests"):
                _guest_steps(ev, session, limits, plan)
    except InputError:
        raise
    except GuestCompromised as e:
        # A forged answer: stop here. Nothing that guest said is graded.
        ev.compromised = e.line()
    except Exception as e:  # the grader's own failure: keep what was gathered
        ev.internal_error = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=8)}"


def _guest_steps(ev: Evidence, session: Session, limits, plan) -> None:  # type: ignore[no-untyped-def]
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


def _before_load_quietly(session: Session, ev: Evidence) -> None:
    # A guest that fails here is restarted, and reported, by the next real
    # request; main_guest() takes what before_load() could not.
    with contextlib.suppress(Exception):
        collect.before_load(ev, session)
