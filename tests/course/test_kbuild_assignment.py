"""The kbuild nbgrader assignment: its Makefiles reach the grader (fast tier).

Its notebook writes Makefiles with %%writefile cells (three folders), not
%%kmodule cells; the real nbgrader round trip is tests/course/test_nbgrader_vm.py
(every assignment of course/source, kbuild included).
"""

from __future__ import annotations

import nbformat

from kmodlab.course import checks as course_checks
from kmodlab.course.extract import extract_class, modules_of
from kmodlab.course.nbgrader import solved
from tests.course.conftest import COURSE

SOURCE = COURSE / "source" / "kbuild" / "kbuild.ipynb"
FIX = "KBUILD_EXTRA_SYMBOLS := $(PWD)/../provider/Module.symvers"
EXPECTED = {
    "Makefile",
    "pair.h",
    "pair_main.c",
    "pair_util.c",
    "provider/Makefile",
    "provider/sums.c",
    "consumer/Makefile",
    "consumer/sums_user.c",
}


def test_extract_keeps_the_folders_and_the_students_makefiles(tmp_path):
    """Does `python -m kmodlab.course extract --exercise kbuild` write the three Makefiles
    and the sources at their paths below the workspace, ready for grade-batch?"""
    nb = solved(nbformat.read(str(SOURCE), as_version=4))
    folder = tmp_path / "submitted" / "ada" / "kbuild"
    folder.mkdir(parents=True)
    nbformat.write(nb, str(folder / "kbuild.ipynb"))
    done = extract_class(tmp_path / "submitted", tmp_path / "out", assignment="kbuild",
                         exercise="kbuild")  # fmt: skip
    assert set(done["ada"]) == EXPECTED
    assert FIX in (tmp_path / "out" / "ada" / "consumer" / "Makefile").read_text()


def test_other_notebooks_extract_as_before():
    """Without build_files, is a %%writefile source still taken by its file name only?"""
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("%%writefile kmodlab-workspace/sub/x.c\nint x;")]
    )
    nb.cells.append(nbformat.v4.new_code_cell("%%writefile kmodlab-workspace/Makefile\nobj-m"))
    assert set(modules_of(nb)) == {"x.c"}


def test_the_test_cells_grade_the_workspaces_folders(tmp_path, monkeypatch):
    """Do the kbuild test cells hand the grader the three Makefiles and the folders'
    sources (and nothing the lab built there)?"""
    ws = tmp_path / "kmodlab-workspace"
    nb = solved(nbformat.read(str(SOURCE), as_version=4))
    for rel, text in modules_of(nb, build_files=True).items():
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_text(text)
    (ws / "provider" / "sums.mod.c").write_text("/* made by kbuild */\n")
    chosen = course_checks._choose_files("kbuild", ws, None)
    assert set(chosen) == EXPECTED
