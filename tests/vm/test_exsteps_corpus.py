"""exit-order and section mismatches, graded for real (issue 12, section 2).

Each module has the mistake it is named for, or none (the controls): graded
in one batch, two at a time, in fresh guests. The rules exercise's own steps
(no libc, a shared interrupt line, `__initdata`) are graded with the other
exercises in tests/vm/test_exercises.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kmodlab.grader.pipeline import Limits
from kmodlab.grader.report.formats import to_text
from kmodlab.grader.report.model import Report
from kmodlab.grader.verdicts.judges import GENERIC_CHECKS
from tests.expected import RMMOD_KILLED
from tests.vm.corpus import grade_corpus

pytestmark = [pytest.mark.vm, pytest.mark.timeout(900)]
DATA = Path(__file__).parent.parent / "data" / "exsteps"
LIMITS = Limits(cycles=4)
# What exit's early free leaves: a reader of /proc during rmmod may hit the
# window between kfree() and proc_remove() (then kernel-health fails too).
RACY = "kernel-health"

# case -> the checks that do not pass and their status (all others pass)
CORPUS: dict[str, dict[str, str]] = {
    # kfree(msg) before proc_remove(ent): the /proc file reads msg.
    "exit_order_wrong": {"exit-order": "fail"},
    # unregister_chrdev_region() before cdev_del() of the cdev on those numbers.
    "exit_order_region": {"exit-order": "fail"},
    # Two independent buffers freed in the order they were allocated: no blame.
    "two_buffers": {},
    # A buffer, a region and its cdev, a /proc file, released in reverse.
    "reverse_order": {},
    # exit prints __initdata: modpost warns, and rmmod oopses in printk.
    "initdata_exit": dict(RMMOD_KILLED),
}


@pytest.fixture(scope="module")
def reports(machine, tmp_path_factory) -> dict[str, Report]:
    sources = {case: DATA / case for case in CORPUS}
    return grade_corpus(machine, tmp_path_factory, sources, limits=LIMITS)


def _line(case: str, needle: str) -> int:
    lines = (DATA / case / f"{case}.c").read_text().splitlines()
    (n,) = [i for i, text in enumerate(lines, 1) if needle in text]
    return n


def _exit_line(case: str, needle: str) -> int:
    """The line of `needle` inside the module's exit function (init may hold it too)."""
    lines = (DATA / case / f"{case}.c").read_text().splitlines()
    start = next(i for i, text in enumerate(lines) if "__exit" in text)
    return next(i for i, text in enumerate(lines[start:], start + 1) if needle in text)


@pytest.mark.parametrize("case", list(CORPUS))
def test_case_gets_exactly_its_verdicts(reports, case):
    """Do exactly the checks this module's mistake breaks fail (or not run), others pass?"""
    expected = {c: CORPUS[case].get(c, "pass") for c in GENERIC_CHECKS}
    got = {c.id: c.status for c in reports[case].checks}
    if case == "exit_order_wrong" and got[RACY] == "fail":
        expected[RACY] = "fail"
    assert got == expected, to_text(reports[case])


def test_exit_order_findings_name_both_calls(reports):
    """Are both wrong orders found at the early release's line, naming the dependent
    acquisition and the release to move before it?"""
    (f,) = reports["exit_order_wrong"].check("exit-order").findings
    exit_free = _exit_line("exit_order_wrong", "kfree(msg);")
    assert (f.file, f.line) == ("exit_order_wrong.c", exit_free)
    assert "`kfree(msg)`" in f.message and "proc_create_single()" in f.message
    assert "may read it until `proc_remove(ent)`" in f.message
    assert f.message.endswith("`proc_remove(ent)` first")
    (f,) = reports["exit_order_region"].check("exit-order").findings
    at = _exit_line("exit_order_region", "unregister_chrdev_region(first, 1);")
    assert (f.file, f.line) == ("exit_order_region.c", at)
    assert "cdev_add()" in f.message and "uses its numbers until `cdev_del(&cdev)`" in f.message


def test_independent_and_reversed_releases_pass(reports):
    """Do two buffers freed in init order, and a full reverse exit, pass exit-order?"""
    for case in ("two_buffers", "reverse_order"):
        check = reports[case].check("exit-order")
        assert (check.status, check.findings) == ("pass", []), to_text(reports[case])


def test_section_mismatch_is_a_build_warning_and_the_oops_is_placed_there(reports):
    """Is modpost's section mismatch a build warning at exit's line, and the oops at rmmod
    (inside printk, no frame of the student's) placed at that same line?"""
    report = reports["initdata_exit"]
    line = _line("initdata_exit", "bye, %s")
    build = report.check("build")
    warned = [f for f in build.findings if "section mismatch" in f.message]
    assert [(f.file, f.line) for f in warned] == [("initdata_exit.c", line)], to_text(report)
    assert "uses banner (.init.data), which is marked __initdata" in warned[0].message
    oops = report.check("kernel-health").findings[0]
    assert (oops.file, oops.line) == ("initdata_exit.c", line), to_text(report)
    assert "read init memory the kernel had freed" in oops.message
