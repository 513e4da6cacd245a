"""A kernel-state read cut short (timed out, or its output stopped early) decides nothing.

Under load the state reader can time out; a module can also make it fail.
Either way what was not read is neither left over nor gone: the point (or
`registrations`) is `error` with the reason, never a leftover (false blame)
and never a pass. What the read did reach still counts.
"""

from __future__ import annotations

from pathlib import Path

from kmodlab.grader.evidence import Evidence, PointEvidence, Step
from kmodlab.grader.verdicts import judges, ledger
from kmodlab.vm.guest import CommandResult
from kmodlab.vm.protocol import KmsgRecord

NONCE = "0123abcd0123abcd"
BUF = "ffff888003000000"
SOURCE = {"m.c": "\n".join(f"/* line {i} */" for i in range(1, 40))}
FULL = "@@ proc\nversion\n@@ modules\next4\n@@ end\n"
CUT = "@@ proc\nversion\n@@ modules\next4\n"  # stopped before "@@ end"
LEFT = "@@ proc\nversion\nm_entry\n@@ modules\next4\n"  # cut, after a complete section


def _step(name: str, lines: list[str], load: str, returncode: int = 0) -> Step:
    kmsg = [
        KmsgRecord(7, i, i, f"{NONCE} {i} {t} mod=m load={load}") for i, t in enumerate(lines, 1)
    ]
    return Step(name, CommandResult([name], "exited", returncode, "", "", kmsg))


def _evidence(after: str) -> tuple[judges.Context, PointEvidence]:
    """A module whose init fails kmalloc's failure properly: -ENOMEM, nothing kept."""
    ev = Evidence(submission=Path("/nowhere"))
    ev.sources = dict(SOURCE)
    ev.instrumented, ev.nonce, ev.order = True, NONCE, ["m"]
    ev.loads = [_step("load m", [f"acquire kmalloc n=1 h={BUF} size=8 at=m.c:10"], "00000001")]
    ev.unloads = [_step("unload m", [f"release kfree h={BUF} at=m.c:20"], "00000001")]
    ev.state_before, ev.state_after = FULL, FULL
    call = next(iter(ledger.fallible_calls(ledger.parse_ledger(ev.loads[0].kmsg, NONCE))))
    point = PointEvidence("m", 1, call)
    point.load = _step("load m failing call 1", ["inject kmalloc n=1 at=m.c:10"], "00000002", 12)
    point.state_before, point.state_after = FULL, after
    ev.points.append(point)
    return judges.Context(ev), point


def test_a_point_whose_state_read_was_cut_short_is_not_decided():
    """Is a point that would pass, but whose state after it was cut short, `error` (not a
    pass, not "left behind"), and the check `error` with the reason in its summary?"""
    ctx, point = _evidence(FULL)
    assert judges.judge_point(ctx, point)["verdict"] == "pass"
    ctx, point = _evidence(CUT)
    verdict = judges.judge_point(ctx, point)
    assert verdict["verdict"] == "error"
    assert verdict["message"] == (
        "not decided: the kernel state could not be read to the end (the reader was cut short)"
    )
    assert "left behind" not in verdict["message"]
    result = judges.judge_fault_injection(ctx)
    assert (result.status, result.score) == ("error", 0.0)
    assert "0 of 1 failure points handled (1 not decided: the kernel state" in result.summary


def test_an_empty_or_timed_out_read_is_not_decided_either():
    """Does a read that returned nothing (killed by its timeout) count as cut short?"""
    for after in ("", "@@ proc\nver"):
        ctx, point = _evidence(after)
        assert judges.judge_point(ctx, point)["verdict"] == "error", after


def test_what_a_cut_read_did_reach_still_fails_the_point():
    """A /proc entry left behind, in a section read to its end before the cut: does
    it still fail the point (real evidence), rather than make it undecided?"""
    ctx, point = _evidence(LEFT)
    verdict = judges.judge_point(ctx, point)
    assert verdict["verdict"] == "fail"
    assert "/proc/m_entry still exists" in verdict["message"]
    assert judges.judge_fault_injection(ctx).status == "fail"


def test_registrations_with_a_cut_read_after_rmmod_is_an_error_not_a_leftover():
    """Is `registrations` `error` (the grader's, not the student's) when the state after
    rmmod was cut short and nothing else shows a leftover?"""
    ctx, _ = _evidence(FULL)
    assert judges.judge_registrations(ctx).status == "pass"
    ctx.ev.state_after = CUT
    result = judges.judge_registrations(ctx)
    assert result.status == "error"
    assert "could not be read to the end" in result.summary
    ctx.ev.state_after = LEFT
    assert judges.judge_registrations(ctx).status == "fail"
