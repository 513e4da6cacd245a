"""The student edition: notebooks, starters and public checks; no solution, no hidden test."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmodlab.course.__main__ import main
from kmodlab.course.edition import make_student_edition
from kmodlab.errors import InputError
from kmodlab.grader.verdicts.expectations import load_expectations

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def edition(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("edition") / "student-edition"
    assert main(["student-edition", str(out)]) == 0
    return out


def files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_it_contains_no_solution_file(edition):
    """Is no solutions/ file in the edition, by path or by content (bar the starters)?"""
    shipped = files(edition)
    assert not [p for p in shipped if p.startswith(("solutions/", "course/", "tests/"))]
    starters = set(files(ROOT / "exercises").values())
    solutions = {p: d for p, d in files(ROOT / "solutions").items() if d not in starters}
    assert solutions  # the reference solutions differ from the starters
    leaked = [(name, p) for name, d in shipped.items() for p, s in solutions.items() if d == s]
    assert not leaked
    for name, data in shipped.items():
        assert b"BEGIN SOLUTION" not in data and b"HIDDEN TESTS" not in data, name


def test_it_contains_no_hidden_test(edition):
    """Are the capstone's hidden checks (its own [[checks]]) out of the edition?"""
    full = load_expectations(ROOT / "autograder" / "capstone" / "expectations.toml")
    public = load_expectations(edition / "autograder" / "capstone" / "expectations.toml")
    assert full.checks and not public.checks
    assert public.generic_points == full.generic_points and public.requires == full.requires
    text = (edition / "autograder" / "capstone" / "expectations.toml").read_text()
    for check in full.checks:
        assert f'"{check.id}"' not in text
    assert "kmodlab_counter" not in text and "Hello from kmodlab" not in text


def test_it_contains_every_notebook_starter_and_public_check(edition):
    """Does it hold every lesson, every starter file, and loadable checks for every stage?"""
    shipped = files(edition)
    for nb in (ROOT / "notebooks").glob("*.ipynb"):
        assert shipped[f"notebooks/{nb.name}"] == nb.read_bytes()
    for f in (ROOT / "exercises").rglob("*"):
        if f.is_file():
            assert (
                shipped[f"exercises/{f.relative_to(ROOT / 'exercises').as_posix()}"]
                == f.read_bytes()
            )
    for stage in (ROOT / "exercises").iterdir():
        expectations = edition / "autograder" / stage.name / "expectations.toml"
        assert load_expectations(expectations).name == stage.name
    assert "KMODLAB_AUTOGRADER" in (edition / "README.md").read_text()


def test_it_refuses_a_folder_that_is_not_empty(tmp_path):
    """Is writing over an existing, non-empty folder refused in one line?"""
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(InputError, match="is not empty"):
        make_student_edition(tmp_path)
    assert (tmp_path / "mine.txt").read_text() == "keep me"
