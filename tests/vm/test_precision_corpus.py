"""Issue 9's remainder, graded for real: probes, devm_*, and the newly covered APIs leaked.

One batch, two jobs. Platform drivers whose probe runs inside a registration
(the driver core handles a failed probe, so init rightly returns 0) must pass
every point when the probe returns an error, and fail at the probe's line when
it ignores a failed devm_kzalloc. class_register, cdev_device_add and
kthread_create_on_cpu each have a module whose exit forgets the release (the
finding names the exit function and the missing call) and one whose init
unwinds them wrongly; tests/data/instr/devmodel_ok is their correct control.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kmodlab.grader.pipeline import Limits
from kmodlab.grader.report.formats import to_text
from kmodlab.grader.report.model import Report
from kmodlab.grader.verdicts.judges import GENERIC_CHECKS
from tests.vm.corpus import grade_corpus

pytestmark = [pytest.mark.vm, pytest.mark.timeout(1800)]
LIMITS = Limits(cycles=4)  # cycling is not what these cases test
DATA = Path(__file__).parent.parent / "data"
OWN = DATA / "precision"

# case -> the checks that do not pass
CORPUS: dict[str, dict[str, str]] = {
    "plat_devm_ok": {},
    "plat_drv_first": {},
    "plat_alloc_add": {},
    # The device stays on the bus: the next load's device of the same name is refused.
    # (its probe's points pass: what exit leaves is not the probe's to undo)
    "plat_alloc_add_leak": {"cycle": "fail", "registrations": "fail"},
    "plat_devm_ignore": {"fault-injection": "fail"},
    "plat_devm_null": {"fault-injection": "fail"},
    # The class (and the device) stay registered: the next load's duplicate is refused.
    "class_leak": {"cycle": "fail", "registrations": "fail"},
    "cdev_leak": {"cycle": "fail", "registrations": "fail"},
    # The thread runs on in freed code and dies in an oops after rmmod.
    "kthread_cpu_leak": {"kernel-health": "fail", "registrations": "fail"},
    "devmodel_unwind": {"fault-injection": "fail"},
    "devmodel_ok": {},  # the correct control (tests/data/instr)
    # An optional interrupt line that does not exist in the guest (ldd3's short):
    # request_irq fails in the normal load too, and init carries on, as written to.
    "irq_optional": {},
    # ... and the polling buffer of that path never freed (and its kmalloc unchecked).
    "irq_optional_leak": {"leaks": "fail", "fault-injection": "fail"},
    # Both error paths underflow a refcount: the kernel's WARN_ONCE, at each point.
    "warn_twice": {"fault-injection": "fail"},
}

# Checks a case's bug may or may not reach, by timing: the thread left running
# dies when it next wakes, during rmmod (unload fails) or just after it.
RACY: dict[str, set[str]] = {"kthread_cpu_leak": {"unload"}}


def _source(case: str) -> Path:
    return (OWN if (OWN / case).is_dir() else DATA / "instr") / case


@pytest.fixture(scope="module")
def reports(machine, tmp_path_factory) -> dict[str, Report]:
    sources = {case: _source(case) for case in CORPUS}
    return grade_corpus(machine, tmp_path_factory, sources, limits=LIMITS)


def _check(report: Report, check_id: str):
    return next(c for c in report.checks if c.id == check_id)


def _line(case: str, text: str) -> int:
    lines = (_source(case) / f"{case}.c").read_text().splitlines()
    (n,) = [i for i, line in enumerate(lines, 1) if text in line]
    return n


@pytest.mark.parametrize("case", list(CORPUS))
def test_case_gets_exactly_its_verdicts(reports, case):
    """Do exactly the checks this module's bug breaks fail, and all others pass?"""
    racy = RACY.get(case, set())
    expected = {c: CORPUS[case].get(c, "pass") for c in GENERIC_CHECKS if c not in racy}
    got = {c.id: c.status for c in reports[case].checks if c.id not in racy}
    assert got == expected, to_text(reports[case])


@pytest.mark.parametrize(
    ("case", "registration"),
    [
        ("plat_devm_ok", "platform_device_register_full"),
        ("plat_drv_first", "platform_driver_register"),
        ("plat_alloc_add", "platform_device_add"),
    ],
)
def test_a_failure_in_a_probe_that_returns_an_error_passes(reports, case, registration):
    """Are devm_kzalloc and kmalloc in the probe points of their own, made inside the
    registration that ran the probe, and do they pass though init returned 0?"""
    points = _check(reports[case], "fault-injection").data["points"]
    inside = [p for p in points if p.get("inside")]
    assert [(p["call"], p["line"]) for p in inside] == [
        ("devm_kzalloc", _line(case, "st = devm_kzalloc(")),
        ("kmalloc", _line(case, "st->buf = kmalloc(")),
    ]
    for p in inside:
        assert p["inside"]["registration"] == registration
        assert (p["verdict"], p["init_returned"]) == ("pass", 0), p["message"]
    assert all(p["verdict"] == "pass" for p in points)


def test_a_probe_ignoring_a_failed_devm_kzalloc_fails_at_its_line(reports):
    """Does the probe that returns 0 after devm_kzalloc failed fail that point, at the
    call, saying the probe (not init) ignored it, with every other point passing?"""
    fi = _check(reports["plat_devm_ignore"], "fault-injection")
    (finding,) = [f for f in fi.findings if f.kind == "fault-injection"]
    assert (finding.file, finding.line) == (
        "plat_devm_ignore.c",
        _line("plat_devm_ignore", "st = devm_kzalloc("),
    )
    assert finding.message.startswith("the probe ignored the failure of devm_kzalloc()")


def test_a_probe_writing_through_a_failed_devm_kzalloc_crashes_at_its_line(reports):
    """Is the NULL dereference after a failed devm_kzalloc a crash of that point, at the call?"""
    fi = _check(reports["plat_devm_null"], "fault-injection")
    (bad,) = [p for p in fi.data["points"] if p["verdict"] != "pass"]
    assert (bad["verdict"], bad["call"]) == ("crash", "devm_kzalloc")
    assert bad["line"] == _line("plat_devm_null", "st = devm_kzalloc(")
    assert "NULL pointer dereference" in bad["message"]


@pytest.mark.parametrize(
    ("case", "api", "call", "fix"),
    [
        (
            "class_leak",
            "class_register",
            "ret = class_register(",
            "add `class_unregister(&class_leak_class)` to class_leak_exit",
        ),
        (
            "cdev_leak",
            "cdev_device_add",
            "ret = cdev_device_add(",
            "add `cdev_device_del(&cdev, &dev)` to cdev_leak_exit, "
            "before `unregister_chrdev_region(devt, 1)`",
        ),
        (
            "plat_alloc_add_leak",
            "platform_device_add",
            "ret = platform_device_add(",
            # exit tail-calls platform_driver_unregister: recorded without a line, so
            # the fix cannot say "before" it.
            "add `platform_device_unregister(pdev)` to paal_exit",
        ),
        (
            "kthread_cpu_leak",
            "kthread_create_on_cpu",
            "worker = kthread_create_on_cpu(",
            "add `kthread_stop(worker)` to kthread_cpu_leak_exit, "
            "before `cdev_device_del(&cdev, &dev)`",
        ),
    ],
)
def test_a_release_exit_forgets_is_named_at_the_call_with_the_fix(reports, case, api, call, fix):
    """Does `registrations` find the call exit never undoes, at the student's line, and
    name the exit function and the release it lacks?"""
    reg = _check(reports[case], "registrations")
    (ledger,) = [f for f in reg.findings if f.data.get("witness") == "ledger"]
    assert ledger.data["api"] == api
    assert (ledger.file, ledger.line) == (f"{case}.c", _line(case, call))
    assert ledger.message == f"{api}() is never undone: {fix}"


def test_a_thread_left_running_dies_in_freed_code_at_its_function(reports):
    """Is the oops of the thread exit never stopped placed in its function, and named
    as a kernel thread (not a timer)?"""
    health = _check(reports["kthread_cpu_leak"], "kernel-health")
    first = health.findings[0]
    assert "kernel thread that exit never stopped (kthread_stop)" in first.message
    start = _line("kthread_cpu_leak", "static int kthread_cpu_leak_work(")
    assert first.file == "kthread_cpu_leak.c" and start < first.line <= start + 5


def test_a_wrong_unwind_of_each_new_api_fails_its_point(reports):
    """Do the two broken rungs (class_register never undone when alloc_chrdev_region
    fails, cdev_device_del skipped when kthread_create_on_cpu fails) fail exactly
    those points, naming what was left at its line?"""
    case = "devmodel_unwind"
    points = _check(reports[case], "fault-injection").data["points"]
    assert [(p["call"], p["verdict"]) for p in points] == [
        ("class_register", "pass"),
        ("alloc_chrdev_region", "fail"),
        ("cdev_device_add", "pass"),
        ("kthread_create_on_cpu", "fail"),
    ]
    assert [(x["api"], x["line"]) for x in points[1]["leaked"]] == [
        ("class_register", _line(case, "ret = class_register("))
    ]
    assert [(x["api"], x["line"]) for x in points[3]["leaked"]] == [
        ("cdev_device_add", _line(case, "ret = cdev_device_add("))
    ]


def test_a_device_allocated_then_added_is_a_point_twice_and_unwinds(reports):
    """Are platform_device_alloc and platform_device_add points of their own (no longer
    "not tested"), passing with the put on the add's failure?"""
    fi = _check(reports["plat_alloc_add"], "fault-injection")
    calls = [p["call"] for p in fi.data["points"] if not p.get("inside")]
    assert calls == ["platform_driver_register", "platform_device_alloc", "platform_device_add"]
    assert fi.data["untested"] == {}


def test_a_call_that_fails_by_itself_may_be_carried_on_after(reports):
    """Is the request_irq that failed in the normal load too a passing point when init
    carries on as it did there, and a failing one when that path leaves something?"""
    (ok,) = [p for p in reports["irq_optional"].check("fault-injection").data["points"]
             if p["call"] == "request_threaded_irq"]  # fmt: skip
    assert ok["verdict"] == "pass" and "failed by itself with -EINVAL" in ok["message"]
    (bad,) = [p for p in reports["irq_optional_leak"].check("fault-injection").data["points"]
              if p["call"] == "request_threaded_irq"]  # fmt: skip
    assert bad["verdict"] == "fail" and "but after rmmod: kmalloc()" in bad["message"], bad


def test_a_kernel_warning_once_per_boot_is_seen_at_every_point(reports):
    """Does the second point of one guest see the underflow warning the first point's
    load already printed once (the WARN_ONCE flags are cleared between points)?"""
    points = reports["warn_twice"].check("fault-injection").data["points"]
    assert [p["verdict"] for p in points] == ["fail", "fail"], points
    assert all("lib/refcount.c" in p["message"] for p in points), points
