"""A Gradescope bundle's run_autograder for real: unpacked into a root laid out as
Gradescope's, run against this machine's kmodlab, for four kinds of submission."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.test_gradescope import make_bundle, unpack

pytestmark = pytest.mark.vm
ROOT = Path(__file__).resolve().parents[2]
CRASH = """\
#include <linux/module.h>
static int __init crash_init(void)
{
	volatile int *p = NULL;
	*p = 1;
	return 0;
}
static void __exit crash_exit(void) {}
module_init(crash_init);
module_exit(crash_exit);
MODULE_LICENSE("GPL");
"""


def _run(root: Path) -> dict:
    env = {**os.environ, "KMODLAB_GRADESCOPE_ROOT": str(root),
           "KMODLAB_GRADESCOPE_PYTHON": sys.executable}  # fmt: skip
    r = subprocess.run([str(root / "run_autograder")], env=env, capture_output=True,
                       text=True, timeout=900)  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads((root / "results" / "results.json").read_text())


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, machine):
    return make_bundle(tmp_path_factory.mktemp("bundle"), "--hide", "greetings")


def _submit(bundle: Path, tmp_path: Path, files: dict[str, str]) -> dict:
    root = unpack(bundle, tmp_path / "autograder")
    for name, text in files.items():
        (root / "submission" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "submission" / name).write_text(text)
    return _run(root)


def test_solution_gets_full_marks_with_hidden_checks_after_publication(bundle, tmp_path):
    """Does the reference solution, uploaded in a folder as a zip would unpack, get every
    point, with the hidden check's test shown only after publication?"""
    doc = _submit(
        bundle, tmp_path, {"hello/hello.c": (ROOT / "solutions/hello/hello.c").read_text()}
    )
    tests = {t["name"]: t for t in doc["tests"]}
    assert doc["score"] == sum(t["max_score"] for t in doc["tests"]) > 0, doc
    assert all(t["status"] == "passed" for t in doc["tests"]), doc
    assert tests["greetings"]["visibility"] == "after_published"
    assert tests["build"]["visibility"] == "visible" and doc["stdout_visibility"] == "hidden"


def test_starter_builds_but_misses_the_exercise_points(bundle, tmp_path):
    """Does the unchanged starter get fewer points than the solution, failing the
    exercise's own check?"""
    doc = _submit(bundle, tmp_path, {"hello.c": (ROOT / "exercises/hello/hello.c").read_text()})
    tests = {t["name"]: t for t in doc["tests"]}
    assert tests["greetings"]["status"] == "failed"
    assert doc["score"] < sum(t["max_score"] for t in doc["tests"])


def test_a_crashing_module_is_a_graded_result(bundle, tmp_path):
    """Is a module whose init oopses graded (load failed, the oops reported), not a
    missing or grader-failure result?"""
    doc = _submit(bundle, tmp_path, {"crash.c": CRASH})
    tests = {t["name"]: t for t in doc["tests"]}
    assert tests["build"]["status"] == "passed"
    assert tests["load"]["status"] == "failed" and tests["load"]["score"] == 0
    assert "autograder" not in tests


def test_an_empty_submission_gets_a_result_naming_the_problem(bundle, tmp_path):
    """Does an empty upload get a results.json scoring 0, whose build test says the
    submission is empty, and no test passed?"""
    doc = _submit(bundle, tmp_path, {})
    tests = {t["name"]: t for t in doc["tests"]}
    assert doc["score"] == 0
    assert tests["build"]["status"] == "failed" and "is empty" in tests["build"]["output"]
    assert not any(t["status"] == "passed" for t in doc["tests"])
