"""The exercise guest is the grade's own session: never two guests of one grade at once."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from kmodlab.grader.pipeline import grade
from kmodlab.vm.guest import Guest

pytestmark = pytest.mark.vm
ROOT = Path(__file__).resolve().parents[2]


def test_an_exercise_with_guest_checks_grades_in_one_guest_at_a_time(machine, monkeypatch):
    """Does grading the params solution (its checks load the module with parameters in a
    guest) keep at most one QEMU guest alive at any moment, and still give full marks?"""
    monkeypatch.delenv("KMODLAB_AUTOGRADER", raising=False)
    alive: set[int] = set()
    most = [0]
    lock = threading.Lock()
    start, close = Guest.__init__, Guest.close

    def spy_start(self, *a, **kw):  # type: ignore[no-untyped-def]
        start(self, *a, **kw)
        with lock:
            alive.add(id(self))
            most[0] = max(most[0], len(alive))

    def spy_close(self):  # type: ignore[no-untyped-def]
        with lock:
            alive.discard(id(self))
        return close(self)

    monkeypatch.setattr(Guest, "__init__", spy_start)
    monkeypatch.setattr(Guest, "close", spy_close)
    report = grade(ROOT / "solutions" / "params", exercise="params", machine=machine)
    assert report.score == report.max_score, [(c.id, c.status, c.summary) for c in report.checks]
    assert {"count-param", "name-param"} <= {c.id for c in report.checks}
    assert most[0] == 1
