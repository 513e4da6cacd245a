"""The rules stage's new steps, judged on evidence (pure): an interrupt handler left
on its line, the build-clean check (section mismatch), the rules expectations."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmodlab.errors import InputError
from kmodlab.grader.verdicts import expectations as ex
from kmodlab.grader.verdicts import judges
from kmodlab.grader.verdicts.labels import release_call
from tests.unit.test_exit_order import NONCE, evidence, rec

ROOT = Path(__file__).resolve().parents[2]
IRQ_SOURCE = """\
static int cookie;
static int __init m_init(void)
{
	return request_irq(irq, m_irq, IRQF_SHARED, "m", &cookie);
}
static void __exit m_exit(void)
{
}
module_init(m_init);
module_exit(m_exit);
"""


def test_release_call_of_request_irq_is_free_irq_with_its_dev_id():
    """Is the fix for a request_irq() the ledger records as request_threaded_irq()
    `free_irq(irq, &cookie)`, read from the line the student wrote?"""
    assert release_call(IRQ_SOURCE, 4, "request_threaded_irq") == "free_irq(irq, &cookie)"
    threaded = 'request_threaded_irq(7, h, t, IRQF_SHARED, "m", &me);'
    assert release_call(threaded, 1, "request_threaded_irq") == "free_irq(7, &me)"


def test_a_handler_left_when_the_guest_died_after_rmmod_is_a_registration_finding():
    """When the handler left on a shared line killed the guest after rmmod (no state
    after), is the ledger's request_irq without free_irq a registrations finding with the
    fix, instead of "not run"?"""
    init = (rec(1, "acquire", "request_threaded_irq", "n=1 h=49 dev=ffff888000000100", 4),)
    ev = evidence(init, ())
    ev.sources = {"m.c": IRQ_SOURCE}
    ev.state_before, ev.state_after = "", None
    result = judges.judge_registrations(judges.Context(ev))
    assert result.status == "fail"
    (f,) = result.findings
    assert (f.file, f.line) == ("m.c", 4)
    assert "request_threaded_irq() is never undone: add `free_irq(irq, &cookie)` to m_exit" in (
        f.message
    )
    assert NONCE not in f.message


def _clean_check() -> ex.BuildCleanCheck:
    rules = ex.load_expectations(ROOT / "autograder" / "rules" / "expectations.toml")
    (check,) = [c for c in rules.checks if c.id == "init-sections"]
    assert isinstance(check, ex.BuildCleanCheck)
    return check


def test_build_clean_fails_at_the_section_mismatch_line():
    """Does init-sections fail with the build's section-mismatch warning, at its line,
    and ignore other warnings?"""
    diagnostics = [
        {"kind": "unused-function", "message": "'x' defined but not used", "file": "rules.c",
         "line": 3},
        {"kind": "section-mismatch", "message": "section mismatch: rules's exit function ...",
         "file": "rules.c", "line": 101},
    ]  # fmt: skip
    result = ex.judge(_clean_check(), {"diagnostics": diagnostics})
    assert (result.status, result.score) == ("fail", 0.0)
    (f,) = result.findings
    assert (f.kind, f.file, f.line) == ("section-mismatch", "rules.c", 101)
    assert ex.judge(_clean_check(), {"diagnostics": diagnostics[:1]}).status == "pass"


def test_build_clean_without_evidence_is_an_error():
    """Is a build-clean check with no diagnostics evidence `error`, never `pass`?"""
    assert ex.judge(_clean_check(), {}).status == "error"


def test_build_clean_needs_kinds(tmp_path):
    """Is a build-clean entry without `kinds` refused with the fix?"""
    path = tmp_path / "expectations.toml"
    path.write_text(
        'version = 1\n[exercise]\nname = "x"\n[[checks]]\nid = "c"\nkind = "build-clean"\n'
        'points = 1\ntitle = "t"\n'
    )
    with pytest.raises(InputError, match="missing `kinds`"):
        ex.load_expectations(path)


def test_rules_requires_the_three_fallible_calls_and_teaches_its_steps():
    """Does the rules exercise require kzalloc, kstrdup and request_irq (as the kernel
    names it) and teach the port, the line and the init sections?"""
    rules = ex.load_expectations(ROOT / "autograder" / "rules" / "expectations.toml")
    assert rules.requires == ("kzalloc", "kstrdup", "request_threaded_irq")
    assert {"shout", "irq-line", "init-sections"} <= set(rules.taught)
    assert rules.max_score == 15


def test_a_page_fault_in_printk_after_a_section_mismatch_is_placed_at_the_warned_line():
    """When exit's read of freed __initdata faults inside printk (no frame of the student's),
    is the oops placed at the line the build's section-mismatch warning named?"""
    from kmodlab.build.diagnostics import Diagnostic
    from kmodlab.vm.console import KernelReport

    ev = evidence((), ())
    mismatch = Diagnostic("m.c", 14, None, "warning", "section-mismatch", "section mismatch: x")
    ev.build_diagnostics = [mismatch]
    title = "BUG: unable to handle page fault for address: ffffffffc0218008"
    report = KernelReport(
        "oops", title, (title,), "string+0x48/0xe0", (("_printk+0x68/0x83", None),)
    )
    f = judges.report_finding(judges.Context(ev), report)
    assert (f.file, f.line) == ("m.c", 14)
    assert "read init memory the kernel had freed" in f.message
    ev.build_diagnostics = []
    assert judges.report_finding(judges.Context(ev), report).line is None
