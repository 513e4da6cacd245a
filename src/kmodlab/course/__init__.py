"""The course's glue: exercises, self-checks and nbgrader test cells.

    from kmodlab import course
    course.check("hello")                      # an nbgrader test cell: full marks or AssertionError
    course.check("hello", checks=["greetings"])
    course.points("hello", checks=["greetings"])  # an nbgrader test cell: the points earned
    course.grade("hello")                      # the Report itself

check() grades the notebook's workspace (the folder the %%kmodule cells
write) the way `kmodlab grade --exercise NAME` would, in fresh guests, and
raises AssertionError naming the failing checks and the student's lines when
the score is below what the cell awards. The grading runs once per content:
several test cells on the same modules share one report.

The nbgrader configuration (a C-safe solution stub, timeouts) is in
kmodlab.course.nbgrader; extracting the modules of submitted notebooks for
`kmodlab grade-batch` is in kmodlab.course.extract (`python -m kmodlab.course`).
"""

from __future__ import annotations

from kmodlab.course.checks import check, grade, points
from kmodlab.course.exercises import exercise_dir, exercise_files, exercises_root

__all__ = [
    "check",
    "exercise_dir",
    "exercise_files",
    "exercises_root",
    "grade",
    "points",
]
