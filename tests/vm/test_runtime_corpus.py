"""Issue 9's runtime classes graded for real: slow inits, timers left armed, use after free.

Each class has a correct module that must pass every check and a one-bug
mutant that must fail the right check with a finding at the student's line.
All are graded in one batch (two jobs), as an instructor would.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kmodlab.grader.batch import grade_batch
from kmodlab.grader.pipeline import grade
from kmodlab.grader.report.formats import to_text
from kmodlab.grader.report.model import Report
from kmodlab.grader.verdicts.judges import GENERIC_CHECKS

pytestmark = pytest.mark.vm
DATA = Path(__file__).parent.parent / "data" / "runtime"
CORRECT = [
    "slow_init",
    "timer_periodic",
    "dwork_periodic",
    "hrtimer_periodic",
    "exit_order_ok",
    "proc_read_ok",
]
MUTANTS = [
    "slow_init_hung",
    "timer_left_armed",
    "dwork_left_queued",
    "hrtimer_left_armed",
    "uaf_exit_order",
    "uaf_proc_read",
]


@pytest.fixture(scope="module")
def reports(machine, tmp_path_factory) -> dict[str, Report]:
    subs = tmp_path_factory.mktemp("submissions")
    for case in CORRECT + MUTANTS:
        shutil.copytree(DATA / case, subs / case)
    out = tmp_path_factory.mktemp("reports")
    shutil.copytree(DATA / "hello_near_miss", subs / "hello_near_miss")

    def one(sub: Path) -> Report:
        # The near miss is graded as the hello exercise, whose log check is public.
        exercise = "hello" if sub.name == "hello_near_miss" else None
        return grade(sub, machine=machine, exercise=exercise)

    summary = grade_batch(subs, out, grade=one, jobs=2, progress=False)
    assert summary.errors == []
    return {
        case: Report.from_dict(json.loads((out / f"{case}.json").read_text()))
        for case in [*CORRECT, *MUTANTS, "hello_near_miss"]
    }


def _check(report: Report, check_id: str):
    return next(c for c in report.checks if c.id == check_id)


def _line(case: str, needle: str) -> int:
    """The 1-based line of the student's source holding `needle` (exactly one)."""
    lines = (DATA / case / f"{case}.c").read_text().splitlines()
    (n,) = [i for i, text in enumerate(lines, start=1) if needle in text]
    return n


def _located(report: Report, check_id: str) -> set[tuple[str | None, int | None]]:
    return {(f.file, f.line) for f in _check(report, check_id).findings}


@pytest.mark.parametrize("case", CORRECT)
def test_correct_module_passes_every_check(reports, case):
    """Does the correct module of each class pass every generic check?"""
    got = {c.id: c.status for c in reports[case].checks}
    assert got == dict.fromkeys(GENERIC_CHECKS, "pass"), to_text(reports[case])


def test_slow_init_gets_fewer_cycles_and_says_why(reports):
    """Is a two-second init cycled fewer times, with the reason in the report?"""
    cycle = _check(reports["slow_init"], "cycle")
    assert cycle.data["cycles"] < 20
    assert "took" in cycle.data["fewer_because"] and "took" in cycle.summary


def test_hung_init_is_still_reported_hung(reports):
    """Does the same init, its completion never signalled, fail load and kernel-health as stuck?"""
    got = {c.id: c.status for c in reports["slow_init_hung"].checks}
    assert got["load"] == "fail" and got["kernel-health"] == "fail", to_text(
        reports["slow_init_hung"]
    )
    health = _check(reports["slow_init_hung"], "kernel-health")
    assert any(f.kind == "hang" and "did not finish within" in f.message for f in health.findings)


@pytest.mark.parametrize(
    ("case", "armed_at"),
    [
        ("timer_left_armed", "mod_timer(&heartbeat, jiffies + HZ);\n\treturn 0;"),
        ("dwork_left_queued", "schedule_delayed_work(&poller, HZ);\n\treturn 0;"),
        ("hrtimer_left_armed", "hrtimer_start(&ticker"),
    ],
)
def test_timer_left_armed_fails_registrations_at_the_arming_line(reports, case, armed_at):
    """Is a timer, delayed work or hrtimer the exit never cancelled a registrations finding at
    the line in init that armed it (whether it was seen armed after rmmod or just before the
    kernel died of it)?"""
    report = reports[case]
    regs = _check(report, "registrations")
    assert regs.status == "fail", to_text(report)
    source = (DATA / case / f"{case}.c").read_text()
    line = source[: source.index(armed_at)].count("\n") + 1
    assert (f"{case}.c", line) in {
        (f.file, f.line) for f in regs.findings if f.kind == "timer-left"
    }, to_text(report)
    assert _check(report, "load").status == "pass"


@pytest.mark.parametrize(
    ("case", "used_at"),
    [
        # exit frees the struct, then reads g->msg from it: poison, then a fault in kfree.
        ("uaf_exit_order", "kfree(g->msg);"),
        # exit frees what reads use, sleeps, then removes the file: the read faults.
        ("uaf_proc_read", "len = scnprintf("),
    ],
)
def test_use_after_free_is_a_kernel_report_at_the_students_line(reports, case, used_at):
    """Does the use after free fail kernel-health with the kernel's report at the line that
    used the freed memory?"""
    report = reports[case]
    health = _check(report, "kernel-health")
    assert health.status == "fail", to_text(report)
    assert (f"{case}.c", _line(case, used_at)) in _located(report, "kernel-health"), to_text(report)


def test_missing_log_line_is_shown_beside_the_closest_one(reports):
    """Does the hello exercise's greeting check show the line the module did log and the
    comma it lacks?"""
    report = reports["hello_near_miss"]
    greetings = _check(report, "greetings")
    assert greetings.status == "fail", to_text(report)
    (finding,) = greetings.findings
    assert finding.data["closest"] == "Hello world!"
    assert finding.data["difference"] == "missing ',' after 'Hello'"
    assert "closest logged: 'Hello world!'" in to_text(report)
