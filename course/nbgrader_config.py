"""nbgrader configuration for the kmodlab course.

Run nbgrader from this folder (`cd course && nbgrader generate_assignment hello`),
with the Python environment kmodlab is installed in. See docs/instructors.md.
"""

from kmodlab.course.nbgrader import configure

c = get_config()  # noqa: F821 (nbgrader provides get_config)

# C-safe solution stub, %%kmodule cell checks, timeouts that fit a guest and a grade.
configure(c)

c.CourseDirectory.course_id = "kmodlab"
# Assignments are the folders of source/: `nbgrader generate_assignment NAME`
# adds NAME to the gradebook; `nbgrader autograde NAME` adds the students it
# finds in submitted/ (or add them first: `nbgrader db student add ID`).
