"""Every C cell of the nbgrader course builds as the instructor wrote it (delimiters and all),
and as released it fails only at the stub, with the stub's message."""

from __future__ import annotations

import nbformat
import pytest

from kmodlab.build import build_submission
from kmodlab.course.extract import modules_of, write_modules
from kmodlab.course.nbgrader import C_STUB
from tests.course.conftest import ASSIGNMENTS, COURSE
from tests.course.test_nbgrader_config import student_version

pytestmark = pytest.mark.sandbox
# The kbuild assignment's answers are Makefiles, not C (its C files are given whole):
# its instructor and released versions are built and graded by the real nbgrader
# cycle (test_nbgrader_vm.py: reference full marks, released starter 0).
C_ASSIGNMENTS = [name for name in ASSIGNMENTS if name != "kbuild"]


def build(files: dict[str, str], exercise: str, tmp_path, kbuild_dir):
    src = tmp_path / "src"
    write_modules(files, src, exercise=exercise)
    return build_submission(src, headers=kbuild_dir, out_dir=tmp_path / "out")


@pytest.mark.parametrize("name", C_ASSIGNMENTS)
def test_instructor_version_builds(name, tmp_path, kbuild_dir, require_sandbox):
    nb = nbformat.read(str(COURSE / "source" / name / f"{name}.ipynb"), as_version=4)
    files = modules_of(nb)
    assert any("// BEGIN SOLUTION" in text for text in files.values())
    result = build(files, name, tmp_path, kbuild_dir)
    assert result.ok, result.log
    assert not [d for d in result.diagnostics if d.severity == "error"]


@pytest.mark.parametrize("name", C_ASSIGNMENTS)
def test_student_version_fails_only_at_the_stub(name, tmp_path, kbuild_dir, require_sandbox):
    nb = nbformat.read(str(COURSE / "source" / name / f"{name}.ipynb"), as_version=4)
    files = modules_of(student_version(nb))
    stubs = {
        (file, n)
        for file, text in files.items()
        for n, line in enumerate(text.splitlines(), 1)
        if C_STUB in line
    }
    assert stubs
    result = build(files, name, tmp_path, kbuild_dir)
    assert not result.ok
    errors = {(d.file, d.line) for d in result.diagnostics if d.severity == "error"}
    messages = {d.message for d in result.diagnostics if d.severity == "error"}
    assert errors == stubs, result.log
    assert all("kmodlab: write your code here" in m for m in messages), messages
