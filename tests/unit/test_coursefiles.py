"""The course's content: what `kmodlab course init` copies, from a checkout or a wheel."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from kmodlab import coursefiles
from kmodlab.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _tracked(*folders: str) -> set[str]:
    out = subprocess.run(
        ["git", "ls-files", *folders], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return set(out.split())


def test_course_init_copies_the_whole_course_and_nothing_run_time_left(tmp_path, monkeypatch):
    """Does `kmodlab course init DIR` copy every file of the course's five folders as the
    checkout has them, and leave out what running the course leaves in them (a lab
    workspace, a built .ko, nbgrader's gradebook and working folders)?"""
    src = tmp_path / "src"
    for f in ("autograder/hello/expectations.toml", "notebooks/02-hello.ipynb",
              "exercises/hello/hello.c", "solutions/hello/hello.c",
              "course/nbgrader_config.py", "course/.gitignore",
              "course/source/hello/hello.ipynb"):  # fmt: skip
        (src / f).parent.mkdir(parents=True, exist_ok=True)
        (src / f).write_text(f)
    for junk in ("notebooks/kmodlab-workspace/02-hello/hello.c", "notebooks/exercise-hello/x.c",
                 "exercises/hello/hello.ko", "course/gradebook.db", "course/grades.csv",
                 "course/submitted/alice/hello/hello.ipynb", "course/downloaded/hello/a.zip",
                 "notebooks/.ipynb_checkpoints/02-hello-checkpoint.ipynb"):  # fmt: skip
        (src / junk).parent.mkdir(parents=True, exist_ok=True)
        (src / junk).write_text("junk")
    monkeypatch.setattr(coursefiles, "content_root", lambda: src)
    assert main(["course", "init", str(tmp_path / "mine")]) == 0
    got = {str(p.relative_to(tmp_path / "mine")) for p in (tmp_path / "mine").rglob("*")
           if p.is_file()}  # fmt: skip
    assert got == {
        "autograder/hello/expectations.toml",
        "notebooks/02-hello.ipynb",
        "exercises/hello/hello.c",
        "solutions/hello/hello.c",
        "course/nbgrader_config.py",
        "course/.gitignore",
        "course/source/hello/hello.ipynb",
    }
    assert (tmp_path / "mine/solutions/hello/hello.c").read_text() == "solutions/hello/hello.c"


def test_course_init_student_copy_has_no_solutions_and_never_overwrites(tmp_path, capsys):
    """Does --student copy only notebooks/ and exercises/ (no solutions, no hidden checks),
    and does a second init into the same folder refuse in one line unless --force?"""
    dest = tmp_path / "student"
    assert main(["course", "init", "--student", str(dest)]) == 0
    assert sorted(p.name for p in dest.iterdir()) == ["exercises", "notebooks"]
    assert (dest / "exercises/hello/hello.c").is_file()
    capsys.readouterr()
    assert main(["course", "init", "--student", str(dest)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--force" in err[0] and "notebooks/" in err[0], err
    (dest / "exercises/hello/hello.c").write_text("mine")
    assert main(["course", "init", "--student", "--force", str(dest)]) == 0
    assert (dest / "exercises/hello/hello.c").read_text() != "mine"


def test_checkout_content_is_every_tracked_course_file():
    """Does copy_content, run on this checkout (as the wheel build runs it), take exactly
    the git-tracked files of the course's folders?"""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        written = coursefiles.copy_content(ROOT, Path(tmp))
    assert {str(p) for p in written} == _tracked(*coursefiles.FOLDERS)


@pytest.mark.slow
def test_a_wheel_carries_the_course_and_an_install_of_it_finds_the_exercises(tmp_path):
    """Does the wheel (built as pip builds it) carry the course as package data, and does
    kmodlab run from the unpacked wheel alone, away from any checkout, list the
    exercises, load an exercise's checks and copy the course out with `course init`?
    A file left in the checkout's build/ by an earlier build (since removed from the
    course) must not ride along."""
    stale = ROOT / "build" / "lib" / "kmodlab" / coursefiles.PACKAGED / "exercises" / "gone.txt"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_text("removed from the course since the last build\n")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist"),
         str(ROOT)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("kmodlab-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    packaged = {n.removeprefix("kmodlab/_course/") for n in names if "/_course/" in n}
    assert packaged == _tracked(*coursefiles.FOLDERS)
    assert not any(n.endswith((".ko", ".o", "gradebook.db")) for n in names)

    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {**os.environ, "PYTHONPATH": str(site)}
    for var in ("KMODLAB_AUTOGRADER", "KMODLAB_EXERCISES"):
        env.pop(var, None)
    away = tmp_path / "elsewhere"
    away.mkdir()

    def run(*argv: str) -> str:
        r = subprocess.run([sys.executable, *argv], cwd=away, env=env, capture_output=True,
                           text=True, timeout=120)  # fmt: skip
        assert r.returncode == 0, r.stderr
        return r.stdout

    out = run("-c", "import kmodlab, kmodlab.grader.exercise_plan as e, kmodlab.course as c;"
                    "print(kmodlab.__file__); print(e.known_exercises());"
                    "e.load('hello'); print(c.exercise_files('hello'))")  # fmt: skip
    where, known, files = out.splitlines()
    assert where.startswith(str(site)), where  # not the checkout's
    assert "hello" in known and "capstone" in known, known
    assert "hello.c" in files
    run("-m", "kmodlab", "course", "init", "mycourse")
    assert (away / "mycourse/notebooks/02-hello.ipynb").is_file()
    assert (away / "mycourse/autograder/hello/expectations.toml").is_file()
    assert (away / "mycourse/course/source/hello/hello.ipynb").is_file()
