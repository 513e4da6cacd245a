"""kmodlab.course.check against the real grader: the reference solution passes, the starter
does not, and nothing reaches stderr (nbgrader would zero the test cell)."""

from __future__ import annotations

import shutil

import pytest

from kmodlab.course import check, grade, points
from kmodlab.course.checks import forget
from tests.course.conftest import REPO

pytestmark = pytest.mark.vm


@pytest.fixture(autouse=True)
def fresh_cache():
    forget()
    yield
    forget()


def test_solution_passes_and_starter_fails_quietly(lab_machine, tmp_path, capfd):
    solution = tmp_path / "solution"
    shutil.copytree(REPO / "solutions" / "hello", solution)
    (solution / "stray.c").write_text("this is not C and must not be graded\n")
    check("hello", solution)
    report = grade("hello", solution)
    assert report.score == report.max_score

    # A copy: a graded workspace gets the grade's evidence document beside it.
    starter = tmp_path / "starter"
    shutil.copytree(REPO / "exercises" / "hello", starter)
    with pytest.raises(AssertionError) as e:
        check("hello", starter, checks=["greetings", "modinfo"])
    assert "Not passing: greetings, modinfo" in str(e.value)
    assert points("hello", 3, starter, checks=["modinfo"]) == 1.0

    captured = capfd.readouterr()
    assert captured.err == ""
    assert "score 14 / 14" in captured.out
