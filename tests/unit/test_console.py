"""Reading oopses, panics and taint from captured kernel logs."""

from pathlib import Path

from kmodlab.vm.console import decode_taint, find_reports, strip_timestamp, unexpected_taint

LOGS = Path(__file__).parent.parent / "data" / "logs"


def test_null_dereference_in_init_is_one_oops_naming_the_function():
    """Is a NULL dereference in init one oops whose RIP names the student's function and module?"""
    reports = find_reports((LOGS / "null_deref_oops.log").read_text())
    assert len(reports) == 1
    (oops,) = reports
    assert oops.kind == "oops"
    assert oops.title == "BUG: kernel NULL pointer dereference, address: 0000000000000004"
    assert oops.rip == "null_deref_init+0x11/0x1000 [null_deref]"
    assert ("do_one_initcall+0x59/0x220", None) in oops.frames
    assert oops.text.splitlines()[-1] == "---[ end trace 0000000000000000 ]---"


def test_panic_is_found_in_the_console_after_an_earlier_oops():
    """Does a console with an oops then a panic yield both, the panic last?"""
    reports = find_reports((LOGS / "panic_console.log").read_text())
    assert [r.kind for r in reports][-1] == "panic"
    assert reports[-1].title.endswith("panic_init: student module panicked on purpose")


def test_warning_and_lockup_openers():
    """Are WARNINGs and soft lockups recognised with their kind?"""
    text = (
        "[    5.0] WARNING: CPU: 0 PID: 9 at fs/proc/generic.c:383 proc_register+0x1/0x2\n"
        "[    5.1] Call Trace:\n[    5.1]  leaky_init+0x20/0x40 [leaky]\n"
        "[    5.2] ---[ end trace 0000000000000000 ]---\n"
        "[   30.0] watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [insmod:90]\n"
    )
    reports = find_reports(text)
    assert [r.kind for r in reports] == ["warning", "soft-lockup"]
    assert reports[0].modules() == {"leaky"}


def test_plain_messages_are_not_reports():
    """Does a log with only ordinary messages (even the word 'bug') yield nothing?"""
    assert find_reports("[ 1.0] Hello, world!\n[ 1.1] this module has no bug\n") == []


def test_taint_decoding_ignores_the_expected_out_of_tree_flags():
    """Are O and E expected, and D and W reported as new?"""
    assert [f for f, _ in decode_taint(12288)] == ["O", "E"]
    assert [f for f, _ in unexpected_taint(0, 12288 | 128 | 512)] == ["D", "W"]
    assert unexpected_taint(12288, 12288) == []


def test_strip_timestamp():
    """Is the [seconds] prefix removed and the text kept?"""
    assert strip_timestamp("[   12.345678] Hello\r") == "Hello"
