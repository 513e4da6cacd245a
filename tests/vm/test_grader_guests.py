"""How the grader uses its guests: what it reuses, what it skips, how long it settles.

These are the savings behind the grader's speed; each test grades for real and
watches the Session calls, so a regression shows as a test failure, not only
as a slower benchmark.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from kmodlab.grader.collection.collect import Limits
from kmodlab.grader.pipeline import grade
from kmodlab.vm.session import Session

pytestmark = pytest.mark.vm
DATA = Path(__file__).parent.parent / "data"
HELLO = Path(__file__).parents[2] / "src" / "kmodlab" / "examples" / "hello"


@pytest.fixture
def calls(monkeypatch):
    """Every Session.run (argv, start, end) and every Session.restart made while grading."""
    seen: dict[str, list] = {"run": [], "restart": []}
    run, restart = Session.run, Session.restart

    def spy_run(self, command, **kw):
        t0 = time.monotonic()
        result = run(self, command, **kw)
        argv = command.split() if isinstance(command, str) else list(command)
        seen["run"].append((argv, t0, time.monotonic()))
        return result

    def spy_restart(self):
        seen["restart"].append(time.monotonic())
        return restart(self)

    monkeypatch.setattr(Session, "run", spy_run)
    monkeypatch.setattr(Session, "restart", spy_restart)
    return seen


def _copy(src: Path, tmp_path: Path) -> Path:
    dest = tmp_path / src.name
    shutil.copytree(src, dest)
    return dest


def test_clean_module_sweeps_its_fault_points_in_the_main_guest(machine, calls, tmp_path):
    """After a clean run (only the expected O/E taint), is the sweep done without a new guest?"""
    report = grade(_copy(DATA / "grader" / "four_resources", tmp_path), machine=machine)
    fi = next(c for c in report.checks if c.id == "fault-injection")
    assert fi.status == "pass" and len(fi.data["points"]) == 4
    assert calls["restart"] == []


def test_init_without_fallible_calls_starts_no_sweep_guest(machine, calls, tmp_path):
    """Does a module whose init calls nothing fallible skip the sweep, and its guest?"""
    report = grade(_copy(HELLO, tmp_path), machine=machine)
    assert report.score == report.max_score
    assert calls["restart"] == []
    assert [argv for argv, _, _ in calls["run"] if argv[0] == "@load"] == [["@load", "hello.ko"]]


def test_settle_lasts_its_time_from_the_unload_to_the_next_load(machine, calls, tmp_path):
    """Is the wait after the first unload at least settle_s, though trace and state fill it?"""
    limits = Limits(settle_s=1.5)
    grade(_copy(HELLO, tmp_path), machine=machine, limits=limits)
    runs = calls["run"]
    unloaded = next(end for argv, _, end in runs if argv[0] == "@unload")
    cycle_start = next(start for argv, start, _ in runs if argv[0] == "@cycle")
    assert cycle_start - unloaded >= limits.settle_s
    between = [argv for argv, start, _ in runs if unloaded <= start < cycle_start]
    assert any("@@ trace" in " ".join(a) for a in between)  # the trace is read in the settle
