"""The ladder says what is true of a leftover: an error path only exists when init failed."""

from __future__ import annotations

from kmodlab.grader.report.ladder import ladder_lines, ladder_svg, leak_hint

KZALLOC = {"api": "kzalloc", "file": "m.c", "line": 20, "handle": "ffff888004000000"}


def _point(**over) -> dict:
    point = {
        "index": 2, "module": "m", "call": "misc_register", "file": "m.c", "line": 24,
        "init_returned": -12, "verdict": "fail", "acquired": [KZALLOC], "released": [],
        "leaked": [KZALLOC], "message": "left behind: kzalloc() at m.c:20",
    }  # fmt: skip
    return {**point, **over}


def test_a_failed_init_leftover_is_blamed_on_the_error_path():
    """When init returned an errno, is the leftover the error path's (unchanged)?"""
    assert leak_hint(_point(), KZALLOC).startswith("your error path never frees it")


def test_a_module_that_loaded_leaves_it_after_unload_not_in_an_error_path():
    """When init returned 0 (the module loaded and was unloaded), does the ladder say
    the leftover outlived unload because exit never releases it, and never blame an
    error path that did not run?"""
    point = _point(init_returned=0, message="init ignored the failure of misc_register()")
    assert leak_hint(point, KZALLOC) == "left over after unload: exit never releases it"
    text = "\n".join(ladder_lines(point))
    assert "LEFT BEHIND: kzalloc at m.c:20 — left over after unload: exit never releases it" in text
    assert "error path" not in text
    assert "error path" not in ladder_svg(point)


def test_a_crash_leaves_what_was_held_when_the_kernel_died():
    """When the kernel crashed, is the leftover what was held then, not the error path's?"""
    point = _point(init_returned=None, verdict="crash", message="init crashed")
    assert leak_hint(point, KZALLOC) == "still held when the kernel crashed"


def test_a_failure_inside_a_probe_says_inits_zero_is_right():
    """For a point inside a probe, does the outcome line say init's 0 is right (the
    probe's failure is the driver core's to handle), not that init reported success
    although the call failed?"""
    point = _point(
        call="devm_kzalloc", init_returned=0, verdict="pass", leaked=[], acquired=[],
        message="the probe returned an error",
        inside={"registration": "platform_driver_register", "callback": "the probe"},
    )  # fmt: skip
    lines = ladder_lines(point)
    assert (
        "init returned 0: right, devm_kzalloc failed in the probe, called during "
        "platform_driver_register()"
    ) in lines
    assert not any("reported success although" in line for line in lines)
