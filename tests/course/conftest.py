"""Fixtures for the course's tests: the notebooks, the nbgrader course, a lab machine."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kmodlab.errors import KmodlabError
from tests.conftest import unavailable

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
COURSE = REPO / "course"
# The staged notebooks, in order, and the exercise each one ends with.
STAGES = {
    "01-setup": "setup",
    "02-hello": "hello",
    "02b-kbuild": "kbuild",
    "03-managing": "params",
    "04-symbols": "symbols",
    "05-rules": "rules",
    "06-unwinding": "unwinding",
    "07-capstone": "capstone",
}
ASSIGNMENTS = sorted(p.name for p in (COURSE / "source").iterdir() if p.is_dir())
# A test cell whose source has this calls kmodlab.course.selfcheck: a lesson's self-check,
# worth its own points in the assignment beside the exercise's (docs/exercises.md).
SELF_CHECK = "selfcheck."


@pytest.fixture(scope="session")
def lab_machine():
    """The prepared lab VM (the notebooks and the grader start their own guests)."""
    from kmodlab.vm.session import prepare

    try:
        return prepare()
    except KmodlabError as e:
        unavailable(f"the lab VM: {e.line()}")


def nbgrader_env() -> dict[str, str]:
    """nbgrader runs `alembic` by name: the environment's bin folder goes first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def nbgrader(course: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run `nbgrader ARGS` in a course folder; fail the test with its log if it fails."""
    r = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course,
        env=nbgrader_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert r.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}"
    return r


@pytest.fixture
def course_copy(tmp_path: Path) -> Path:
    """A copy of course/ without anything a previous run left in it."""
    dest = tmp_path / "course"
    shutil.copytree(
        COURSE,
        dest,
        ignore=shutil.ignore_patterns(
            "gradebook.db",
            "release",
            "submitted",
            "autograded",
            "feedback",
            "kmodlab-workspace",
            ".ipynb_checkpoints",
        ),
    )
    return dest
