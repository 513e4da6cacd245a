"""Precision of what a failed load says, and of a call that fails by itself.

An exit status holds 8 bits: an init returning -EPROBE_DEFER (517, a GPIO
driver without its chip) reached the report as -EIO (517 & 0xff = 5). The
agent prints the whole errno on its line; the judges take it when its low
8 bits agree with the exit status.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from kmodlab.grader.evidence import Evidence, Step
from kmodlab.grader.verdicts import judges
from kmodlab.vm.guest import CommandResult


def failed_load(returncode: int, stdout: str) -> CommandResult:
    return CommandResult(["@load", "led.ko"], "exited", returncode, stdout, "")


def test_the_whole_errno_is_read_from_the_agents_line():
    r = failed_load(517 & 0xFF, "load led.ko: Unknown error 517 (errno 517)\n")
    assert judges.call_errno(r) == 517
    assert judges.errno_name(517) == "-EPROBE_DEFER (the driver asks to probe again later)"


def test_a_line_that_disagrees_with_the_exit_status_is_not_believed():
    """A module printing on the process's stdout cannot change the low 8 bits."""
    assert judges.call_errno(failed_load(12, "load m.ko: x (errno 517)\n")) == 12
    assert judges.call_errno(failed_load(12, "")) == 12
    assert judges.call_errno(failed_load(0, "load m.ko: x (errno 256)\n")) == 0  # it loaded
    assert judges.call_errno(failed_load(19, "load m.ko: No such device (errno 19)\n")) == 19


def test_a_load_failing_with_a_kernel_only_code_names_it():
    ev = Evidence(submission=Path("s"), order=["led"])
    line = "load led.ko: Unknown error 517 (errno 517)\n"
    ev.loads = [Step("load led", failed_load(5, line), limit_s=10)]
    result = judges.judge_load(judges.Context(ev))
    assert result.status == "fail"
    assert "-EPROBE_DEFER" in result.summary and "-EIO" not in result.summary


def test_userspace_errnos_keep_their_names():
    assert judges.errno_name(-22) == "-EINVAL (Invalid argument)"


def ledger_call(api: str, op: str, **detail: str) -> SimpleNamespace:
    return SimpleNamespace(api=api, op=op, detail=detail)


def test_carrying_on_is_allowed_for_debugfs_and_for_a_call_that_failed_by_itself():
    """A call the normal load saw fail (op "fail", not "inject") was already answered
    there; any other failure init returns 0 after is ignored."""
    assert judges._carry_on_allowed(ledger_call("debugfs_create_dir", "inject"))
    natural = judges._carry_on_allowed(ledger_call("request_threaded_irq", "fail", err="-22"))
    assert (
        natural
        == "as in the normal load, where it failed by itself with -EINVAL (Invalid argument)"
    )
    assert judges._carry_on_allowed(ledger_call("kmalloc", "acquire")) is None
    assert judges._carry_on_allowed(ledger_call("request_threaded_irq", "call")) is None
