"""Cycling planned from the first load's pace, and stuck told from slow (issue 9, item 3)."""

from __future__ import annotations

from pathlib import Path

from kmodlab.grader.collection.collect import Limits, plan_cycles
from kmodlab.grader.evidence import Evidence, Step
from kmodlab.grader.verdicts import judges
from kmodlab.vm.guest import CommandResult


def _done(argv: list[str], ms: int, out: str = "", status: str = "exited") -> CommandResult:
    code = 0 if status == "exited" else None
    return CommandResult(argv, status, code, out, "", guest_ms=ms)


def _steps(load_ms: int, unload_ms: int) -> list[Step]:
    return [
        Step("load m", _done(["@load", "m.ko"], load_ms), limit_s=10),
        Step("unload m", _done(["@unload", "m"], unload_ms), limit_s=10),
    ]


def test_fast_modules_get_every_cycle() -> None:
    """Does a module that loads in milliseconds get all 20 cycles and no reason given?"""
    cycles, timeout, why = plan_cycles(Limits(), _steps(8, 4))
    assert (cycles, why) == (20, "")
    assert timeout <= 35  # 20 cycles of 12 ms: a stuck one is not waited for a minute


def test_slow_init_gets_fewer_cycles_and_a_longer_limit() -> None:
    """Does an init taking 2 s get fewer cycles, a limit that fits them, and the reason?"""
    cycles, timeout, why = plan_cycles(Limits(), _steps(2000, 10))
    assert cycles == 3  # 8 s budget / 2.01 s
    assert timeout > cycles * 2.01 * 3
    assert "took 2.0 s" in why and "3 cycles instead of 20" in why


def test_very_slow_init_still_gets_the_minimum() -> None:
    """Is a reload always tried (min_cycles), however slow the first load was?"""
    cycles, timeout, _ = plan_cycles(Limits(), _steps(9000, 10))
    assert cycles == 2 and timeout > 2 * 9 * 3


def test_fewer_cycles_asked_for_are_never_raised_to_the_minimum() -> None:
    """Does --cycles 1 stay 1 cycle, even for a slow module?"""
    cycles, _, _ = plan_cycles(Limits(cycles=1), _steps(9000, 10))
    assert cycles == 1


def _evidence(cycle: Step, load_ms: int = 2000) -> Evidence:
    ev = Evidence(submission=Path("s"), order=["m"])
    ev.loads, ev.unloads = _steps(load_ms, 10)[:1], _steps(load_ms, 10)[1:]
    ev.cycles = [cycle]
    ev.cycles_planned = 3
    ev.cycles_why = "one load and unload took 2.0 s: 3 cycles instead of 20, to fit 8 s"
    return ev


def test_cycle_report_says_how_many_ran_and_why() -> None:
    """Does a passing cycle check say how many cycles ran and why fewer than asked?"""
    ok = Step("cycle m", _done(["@cycle", "m.ko", "m", "3"], 6100, "cycle 1 ok\ncycles 3 ok"))
    r = judges.judge_cycle(judges.Context(_evidence(ok)), 20)
    assert r.status == "pass"
    assert r.summary.startswith("3 load/unload cycles succeeded (one load and unload took 2.0 s:")
    assert r.data == {"cycles": 3, "fewer_because": _evidence(ok).cycles_why}


def test_a_stuck_cycle_is_reported_with_its_progress() -> None:
    """Does a cycle that timed out say how far it got against the first load's pace?"""
    out = "cycle 1 ok\n"
    stuck = Step("cycle m", _done(["@cycle", "m.ko", "m", "3"], 0, out, "timeout"), limit_s=34.2)
    ev = _evidence(stuck)
    r = judges.judge_cycle(judges.Context(ev), 20)
    assert r.status == "fail"
    assert "did not finish within 34.2 s: 1 of 3 cycles done" in r.findings[0].message
    assert "first load and unload took 2.0 s" in r.findings[0].message
    health = judges.judge_health(judges.Context(ev))
    assert any(f.kind == "hang" and "within 34.2 s" in f.message for f in health.findings), (
        health.findings
    )
