"""Grader precision (issue 9), graded for real: correct modules pass, their mutants fail right.

Each class of correct code that used to be blamed (a dash in the module
name, a thread that ends itself, unchecked debugfs results, a clean error
path) passes every check; each one-bug mutant fails exactly the checks its
bug breaks, with a finding at the student's line. All cases are graded in one
batch with two jobs (see tests/vm/test_grader_corpus.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kmodlab.grader.report.formats import to_text
from kmodlab.grader.report.model import Report
from kmodlab.grader.verdicts.judges import GENERIC_CHECKS
from tests.expected import RMMOD_KILLED
from tests.vm.corpus import grade_corpus

pytestmark = pytest.mark.vm
DATA = Path(__file__).parent.parent / "data" / "judges"

# case -> the checks that do not pass and their status
CORPUS: dict[str, dict[str, str]] = {
    "dash_ok": {},
    # The proc entry left behind also breaks the next load (cycle) with a WARNING.
    "dash_leak": {"cycle": "fail", "kernel-health": "fail", "registrations": "fail"},
    "kthread_self_end": {},
    "kthread_left": {"registrations": "fail"},
    "debugfs_ignore": {},
    "debugfs_leak": {"registrations": "fail", "fault-injection": "fail"},
    "pages_ok": {},
    "pages_bad_page": {"fault-injection": "fail"},
    "errno_minus_one": {"fault-injection": "fail"},
    "init_returns_one": {"kernel-health": "fail"},
    # The BUG kills rmmod: the module stays, so nothing after unload can be judged.
    "double_free": dict(RMMOD_KILLED),
}


@pytest.fixture(scope="module")
def reports(machine, tmp_path_factory) -> dict[str, Report]:
    sources = {case: DATA / case for case in CORPUS}
    return grade_corpus(machine, tmp_path_factory, sources)


@pytest.mark.parametrize("case", list(CORPUS))
def test_case_gets_exactly_its_verdicts(reports, case):
    """Do exactly the checks this module's bug breaks fail (or not run), and all others pass?"""
    expected = {c: CORPUS[case].get(c, "pass") for c in GENERIC_CHECKS}
    got = {c.id: c.status for c in reports[case].checks}
    assert got == expected, to_text(reports[case])


def _check(report: Report, check_id: str):
    return next(c for c in report.checks if c.id == check_id)


def _line(case: str, file: str, text: str) -> int:
    lines = (DATA / case / file).read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def test_a_dash_named_leak_names_the_missing_release(reports):
    """Is the proc entry of hello-1.o (module hello_1) found, with the fix for hello_exit?"""
    regs = _check(reports["dash_leak"], "registrations")
    assert any(f.message == "/proc/hello_1 still exists" for f in regs.findings)
    (located,) = [f for f in regs.findings if f.file]
    assert (located.file, located.line) == (
        "hello-1.c",
        _line("dash_leak", "hello-1.c", "proc_create_single("),
    )
    assert "add `proc_remove(ent)` to hello_exit, before `kfree(buf)`" in located.message


def test_a_thread_left_running_is_found_at_its_creation(reports):
    """Is the thread alive after rmmod reported by the state and at its kthread_run line?"""
    regs = _check(reports["kthread_left"], "registrations")
    assert any("kmodlab_left" in f.message for f in regs.findings)
    assert [(f.file, f.line) for f in regs.findings if f.file] == [
        ("kthread_left.c", _line("kthread_left", "kthread_left.c", "kthread_run("))
    ]


def test_bad_page_state_in_the_error_path_is_decoded_to_the_students_free(reports):
    """Does the Bad page state of point 2 fail it, at the free_pages line of the error path?"""
    fi = _check(reports["pages_bad_page"], "fault-injection")
    (finding,) = fi.findings
    assert "Bad page state" in finding.message
    line = _line("pages_bad_page", "pages_bad_page.c", "free_pages(pages, ORDER);")
    assert (finding.file, finding.line) == ("pages_bad_page.c", line)


def test_init_returning_minus_one_is_found_at_its_return(reports):
    """Is `return -1` after a failed kzalloc a finding at that line, asking for -ENOMEM?"""
    (finding,) = _check(reports["errno_minus_one"], "fault-injection").findings
    line = _line("errno_minus_one", "errno_minus_one.c", "return -1;")
    assert (finding.file, finding.line) == ("errno_minus_one.c", line)
    assert "-ENOMEM" in finding.message


def test_init_returning_one_is_said_and_located(reports):
    """Does load say init returned 1, and kernel-health point at the `return 1;`?"""
    report = reports["init_returns_one"]
    assert "init returned 1" in _check(report, "load").summary
    (finding,) = _check(report, "kernel-health").findings
    line = _line("init_returns_one", "init_returns_one.c", "return 1;")
    assert (finding.kind, finding.file, finding.line) == ("init-return", "init_returns_one.c", line)


def test_a_double_free_is_placed_at_the_second_kfree(reports):
    """Is the slub BUG of a double kfree placed at the second kfree, naming the first?"""
    health = _check(reports["double_free"], "kernel-health")
    second = _line("double_free", "double_free.c", "\tkfree(buf);")  # in release_buf()
    assert any(
        (f.file, f.line) == ("double_free.c", second) and "double free" in f.message
        for f in health.findings
    )
