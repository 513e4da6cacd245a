"""Where an exercise's starter files are, and which files of a workspace it grades.

exercises/<name>/ holds the starter a student begins from (the same files the
notebooks' exercise cells start with); its .c and .h names are the files an
exercise grades: a workspace may hold demo modules, experiments, or a cell the
student deleted whose file stayed behind, and none of those are the answer.
"""

from __future__ import annotations

import os
from pathlib import Path

from kmodlab.grader.exercise_plan import autograder_dir

SOURCE_SUFFIXES = (".c", ".h")


def exercises_root() -> Path:
    """$KMODLAB_EXERCISES, else exercises/ beside the autograder folder, else the checkout's."""
    env = os.environ.get("KMODLAB_EXERCISES")
    if env:
        return Path(env)
    beside = autograder_dir().parent / "exercises"
    if beside.is_dir():
        return beside
    return Path(__file__).resolve().parents[3] / "exercises"


def exercise_dir(name: str) -> Path | None:
    """exercises/<name>, or None when this installation has no starter for it."""
    folder = exercises_root() / name
    return folder if folder.is_dir() else None


def exercise_files(name: str) -> list[str]:
    """The .c and .h file names of the exercise's starter ([] when there is none), with
    those of its folders one level down by relative path (kbuild's provider/sums.c)."""
    folder = exercise_dir(name)
    if folder is None:
        return []
    found = [p for p in folder.iterdir() if p.is_file()]
    found += [p for d in folder.iterdir() if d.is_dir() for p in d.iterdir() if p.is_file()]
    return sorted(p.relative_to(folder).as_posix() for p in found if p.suffix in SOURCE_SUFFIXES)


def build_folders(name: str) -> list[str]:
    """The starter's folders one level down that have a Makefile or Kbuild of their own
    (the kbuild stage's provider/ and consumer/), by name."""
    folder = exercise_dir(name)
    if folder is None:
        return []
    return sorted(
        d.name
        for d in folder.iterdir()
        if d.is_dir() and any((d / f).is_file() for f in ("Makefile", "Kbuild"))
    )


def student_writes_build(name: str) -> bool:
    """Whether the exercise grades the student's own Makefile: some check of a kind judged
    from the submission's files (kbuild)."""
    from kmodlab.grader.exercise_plan import load
    from kmodlab.grader.verdicts import expectations as exp

    try:
        checks = load(name).expectations.checks
    except Exception:  # no such exercise here: the starter's build description, as usual
        return False
    return any(exp.KINDS[c.kind].evidence == exp.FILES for c in checks)
