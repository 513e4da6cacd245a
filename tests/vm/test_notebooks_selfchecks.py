"""The lessons' self-checks in the real guest: the reference answer passes, typical wrong
answers fail with the feedback a student needs (the judges alone: tests/unit/test_selfcheck.py).

The lessons' own cells hold the starter answers (shown failing when nbval runs them);
these are the answers a student would write. Each test measures its facts in a
fresh guest (test_selfcheck_lessons.measured_here); the student's commands always run.
"""

from __future__ import annotations

import pytest

from kmodlab.course import selfcheck as sc
from tests.vm.test_selfcheck_lessons import measured_here, outcome  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.vm, pytest.mark.timeout(600)]

EXTRA = "/lib/modules/$(uname -r)/extra/"


@pytest.mark.parametrize(
    ("commands", "expected"),
    [
        (f"cp /tmp/tick.ko /tmp/tock.ko {EXTRA} && depmod", "passed"),
        (
            "mkdir -p /lib/modules/$(uname -r)/updates && cp /tmp/t*.ko "
            "/lib/modules/$(uname -r)/updates/ && depmod -a",
            "passed",
        ),
        (f"%kmod sh cp /tmp/tick.ko /tmp/tock.ko {EXTRA}\n%kmod sh depmod", "passed"),
        (f"cp /tmp/tick.ko /tmp/tock.ko {EXTRA}", "run depmod after copying"),
        (f"cp /tmp/tock.ko {EXTRA} && depmod", "tick.ko is not installed"),
        ("insmod /tmp/tick.ko && insmod /tmp/tock.ko", "let `modprobe tock` do the loading"),
    ],
)
def test_install_pair_in_the_guest(machine, commands, expected):
    """Does `modprobe tock` after the student's install load tick first, or say what is missing?"""
    assert expected in outcome(sc.install_pair, commands=commands)


def test_lsmod_reading_in_the_guest(machine):
    """Is tick's use count and holder read in the guest, and lsmod's source file checked?"""
    right = {"used_by": 1, "holders": ["tock"], "count_file": "/sys/module/tick/refcnt"}
    assert outcome(sc.lsmod_reading, **right) == "passed"
    wrong_count = {**right, "used_by": 0}
    assert "0 is tick's count before tock loads" in outcome(sc.lsmod_reading, **wrong_count)
    wrong_file = {**right, "count_file": "/proc/modules"}
    assert "reads each one's use count" in outcome(sc.lsmod_reading, **wrong_file)


def test_kallsyms_kinds_in_the_guest(machine):
    """Is the running kernel's /proc/kallsyms the answer key for exported and local?"""
    assert outcome(sc.kallsyms_kinds, exported={"kmemdup"}, local="resolve_symbol") == "passed"
    both = outcome(sc.kallsyms_kinds, exported={"kmemdup", "module_flags"}, local="resolve_symbol")
    assert "module_flags is global (T)" in both
    capital = outcome(sc.kallsyms_kinds, exported={"kmemdup"}, local="module_flags")
    assert "lowercase" in capital


@pytest.mark.parametrize(
    ("provider", "commands", "expected"),
    [
        ("tuner", "insmod tuner.ko && insmod gauge.ko", "passed"),
        ("tuner", "modprobe gauge", "passed"),
        ("tuner", "insmod gauge.ko; insmod tuner.ko", "must be loaded first"),
        ("gauge", "insmod gauge.ko", "does not export what gauge misses"),
    ],
)
def test_unknown_symbol_fix_in_the_guest(machine, provider, commands, expected):
    """Does the fix load gauge after tuner in a fresh guest, and a wrong one say why not?"""
    assert expected in outcome(sc.unknown_symbol_fix, provider=provider, commands=commands)
