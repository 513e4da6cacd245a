"""Lessons 1, 2 and 7's self-checks in the real guest: the answer a student reads there
passes, typical wrong ones fail with what is wrong (the judges alone:
tests/unit/test_selfcheck_lessons.py). Each test measures its facts in a fresh
guest (an empty facts folder); the answers after the first are judged from them."""

from __future__ import annotations

import platform

import pytest

from kmodlab.course import selfcheck as sc
from kmodlab.paths import current_kernel

pytestmark = [pytest.mark.vm, pytest.mark.timeout(600)]


@pytest.fixture(autouse=True)
def measured_here(tmp_path, monkeypatch):
    """Facts measured by this test in the real guest, never those a previous run kept."""
    monkeypatch.setattr(sc, "_facts_dir", lambda: tmp_path / "facts")


def outcome(check, **answer) -> str:
    """'passed' or the AssertionError's message."""
    try:
        check(**answer)
    except AssertionError as e:
        return str(e)
    return "passed"


def test_kernel_release_is_the_guests(machine):
    """Is the guest's release (the kernel kmodlab built for) the answer, and the host's
    release refused as the host's?"""
    guest = current_kernel().abi
    assert outcome(sc.kernel_release, release=guest, modules_dir=f"/lib/modules/{guest}/") == (
        "passed"
    )
    host = outcome(sc.kernel_release, release=platform.release(), modules_dir="/lib/modules")
    assert "is the host's kernel" in host


def test_secret_reading_in_the_guest(machine):
    """Are secret.ko's line level (KERN_NOTICE) and taint letters (P, O, E) read from the
    guest, and pr_info's level and a taint without P refused?"""
    assert outcome(sc.secret_reading, level=5, taint="POE") == "passed"
    assert "pr_info's level" in outcome(sc.secret_reading, level=6, taint="POE")
    assert "the letter its license sets" in outcome(sc.secret_reading, level=5, taint="OE")


def test_open_holds_in_the_guest(machine):
    """With /dev/kmodlab_held open twice, is held's use count 2, and 1 or 0 refused?"""
    assert outcome(sc.open_holds, used_by=2) == "passed"
    assert "a reference of its own" in outcome(sc.open_holds, used_by=1)
    assert ".owner = THIS_MODULE" in outcome(sc.open_holds, used_by=0)
