"""The timer witness on text captured from the guest (tests/data/runtime/captured)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmodlab.grader.collection import timers
from kmodlab.grader.collection.kmemtrace import SectionRange

CAPTURED = Path(__file__).parent.parent / "data" / "runtime" / "captured"
SIZES = {".text": 0x100, ".init.text": 0x100, ".exit.text": 0x40, ".data": 0x100, ".bss": 0x100}


def _capture(name: str) -> tuple[list[timers.TimerEvent], list[SectionRange]]:
    """Events and the module's ranges (from the `# section` lines the capture starts with)."""
    text = (CAPTURED / f"{name}.timers.txt").read_text()
    ranges = []
    for line in text.splitlines():
        if line.startswith("# section "):
            _, _, section, start = line.split()
            ranges.append(SectionRange(section, int(start, 16), int(start, 16) + SIZES[section]))
    return timers.parse_trace(text), ranges


def test_parses_arms_starts_and_cancels() -> None:
    """Are the kprobe's arming call, the timer's start and the kernel's cancels all read?"""
    events, _ = _capture("timer_left_armed")
    kinds = {e.kind for e in events}
    assert {"arm", "start", "cancel"} <= kinds
    arm = next(e for e in events if e.kind == "arm")
    assert (arm.family, arm.obj, arm.site) == ("timer", 0xFFFFFFFFC022D3E0, 0xFFFFFFFFC021C039)
    start = next(e for e in events if e.kind == "start")
    assert start.function is not None and start.function.address == 0xFFFFFFFFC022B000


def test_timer_never_deleted_is_left_armed_at_its_arming_call() -> None:
    """Is a periodic timer the exit forgot reported, with init's mod_timer as the site?"""
    events, ranges = _capture("timer_left_armed")
    (left,) = timers.left_armed(events, ranges, module="timer_left_armed")
    assert left.family == "timer" and left.arm_site == 0xFFFFFFFFC021C039
    assert left.callback is not None and left.callback.address == 0xFFFFFFFFC022B000


@pytest.mark.parametrize("name", ["timer_periodic", "hrtimer_periodic"])
def test_timers_deleted_in_exit_are_not_reported(name) -> None:
    """Do a timer and an hrtimer cancelled by exit leave nothing armed?"""
    events, ranges = _capture(name)
    assert timers.left_armed(events, ranges, module=name) == []


def test_delayed_work_never_cancelled_is_found_through_its_work_function() -> None:
    """Is delayed work (its timer runs the kernel's delayed_work_timer_fn) found by its
    work function?"""
    events, ranges = _capture("dwork_left_queued")
    (left,) = timers.left_armed(events, ranges, module="dwork_left_queued")
    assert left.family == "work"
    assert left.callback is not None and left.callback.address == 0xFFFFFFFFC022B000
    assert left.arm_site is not None and any(left.arm_site in r for r in ranges)


def test_the_kernels_own_timers_are_not_the_modules() -> None:
    """Are pending kernel timers and kernel delayed work (vmstat's) ignored?"""
    events, ranges = _capture("timer_periodic")
    kernel = [e for e in events if e.kind == "start" and e.function.symbol]
    assert kernel  # the capture has some: this test would notice them misattributed
    assert timers.left_armed(events, ranges) == []


TAIL_REARMED = "\n".join(
    [
        "@@ trace",
        "  insmod-70 [000] ..... 9.1: kmodlab_arm_mod_timer: (mod_timer+0x0/0x10)"
        " obj=0xffffffffc022d3e0 ret=0xffffffffc021c039",
        "  insmod-70 [000] d..1. 9.2: timer_start: timer=ffffffffc022d3e0"
        " function=tick_fn [m] expires=1 [timeout=250] cpu=0 idx=1 flags=",
        "  <idle>-0 [000] d.s2. 10.2: timer_cancel: timer=ffffffffc022d3e0",
        "  <idle>-0 [000] d.s2. 10.3: kmodlab_arm_mod_timer: (mod_timer+0x0/0x10)"
        " obj=0xffffffffc022d3e0 ret=0xffffffff810c53c4",
        "  <idle>-0 [000] d.s2. 10.3: timer_start: timer=ffffffffc022d3e0"
        " function=tick_fn [m] expires=2 [timeout=250] cpu=0 idx=1 flags=",
        "  rmmod-73 [000] d..1. 10.9: hrtimer_start: hrtimer=ffff888003a1c000"
        " function=tick_hr [m] expires=1 softexpires=1 mode=REL",
        "@@ end",
    ]
)


def test_rearmed_from_the_callback_by_a_tail_call_keeps_inits_site() -> None:
    """When the callback re-arms by a tail call (a kernel return address), is init's line kept,
    and is a symbolised callback `name [module]` (read while loaded) the module's?"""
    ranges = [SectionRange(".init.text", 0xFFFFFFFFC021C000, 0xFFFFFFFFC021C100)]
    left = timers.left_armed(timers.parse_trace(TAIL_REARMED), ranges, module="m")
    assert [(x.family, x.arm_site) for x in left] == [
        ("timer", 0xFFFFFFFFC021C039),
        ("hrtimer", None),  # kmalloc'd, armed where no probe saw it: the callback names it
    ]
    assert left[1].callback.symbol == "tick_hr" and left[1].callback.module == "m"


def test_a_report_after_rmmod_is_told_from_one_while_loaded() -> None:
    """Is the module named in `[last unloaded: ...]` gone, and one in the list still loaded?"""
    oops = (CAPTURED / "hrtimer_left_armed.oops.txt").read_text()
    assert not timers._still_loaded(oops, "hrtimer_left_armed")
    assert timers._still_loaded("Modules linked in: m(OE) virtio\n", "m")


def test_declaration_of_a_static_is_found() -> None:
    """Is the line defining a static timer, or a DECLARE_ macro naming it, found?"""
    src = {
        "a.c": "#include <x.h>\n\nstatic struct hrtimer ticker;\n",
        "b.c": "static DECLARE_DELAYED_WORK(poller, poll_fn);\n",
    }
    assert timers.declaration("ticker", src) == ("a.c", 3)
    assert timers.declaration("poller", src) == ("b.c", 1)
    assert timers.declaration("nothing", src) == (None, None)
