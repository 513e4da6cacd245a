"""nbgrader for notebooks whose answers are C in %%kmodule cells.

nbgrader replaces a solution region with a stub chosen by the notebook's
language, Python here: its default stub (`# YOUR CODE HERE` and `raise
NotImplementedError()`) pasted into C would fail the student's build with
baffling errors. The stub here is one line that is a comment to Python and a
preprocessor error to C:

    #error "kmodlab: write your code here (replace this line)"

so an untouched C region fails its build at that very line, with that
message. Delimiters in C cells are C comments (`// BEGIN SOLUTION` and `//
END SOLUTION`): nbgrader matches them as substrings, so the instructor's
version builds as it is, and the stub takes the indentation of the `//
BEGIN SOLUTION` line. Python cells keep `### BEGIN SOLUTION`.

The folders the lab writes beside a notebook (kmodlab-workspace/, which
holds the solution after the instructor runs a source notebook) are never
released, collected or copied into a student's autograded folder.

A solution cell without a region would be replaced whole, its %%kmodule line
included, leaving the student a bare comment instead of a module cell:
CheckKmoduleCells (run first by `nbgrader generate_assignment`) refuses that,
and a delimiter that is not a C comment, with the cell and the fix.

During `nbgrader autograde`, the test cells that call course.points() or
course.check() are graded outside the notebook (kmodlab.course.outside):
GradeOutside starts the grade from the notebook's cells before the kernel
starts, and ScoreOutside puts its outputs into those cells after the kernel
has run, before nbgrader scores them. The student's Python cannot reach
that grade, and it overlaps the kernel's start and the lesson's cells.

    # nbgrader_config.py
    from kmodlab.course.nbgrader import configure
    configure(get_config())
"""

from __future__ import annotations

from typing import Any

from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader.utils import is_solution

C_STUB = '#error "kmodlab: write your code here (replace this line)"'
BEGIN = "BEGIN SOLUTION"
END = "END SOLUTION"
CELL_TIMEOUT_S = 300  # a cell may build, boot a guest and grade with fault injection
# Folders the lab writes beside a notebook. Running an instructor's source
# notebook writes the *solution* there: it must never be released to students,
# nor copied over a student's files when autograding.
LAB_FOLDERS = ("kmodlab-workspace", "exercise-*")


class KmoduleCellError(ValueError):
    pass


def kmodule_cell_problems(source: str, solution: bool) -> list[str]:
    """What would break a %%kmodule cell in nbgrader's student version ([] when fine)."""
    lines = source.split("\n")
    if not lines or not lines[0].startswith("%%kmodule"):
        return []
    problems = []
    delimiters = [(n, ln) for n, ln in enumerate(lines, 1) if BEGIN in ln or END in ln]
    for n, line in delimiters:
        stripped = line.strip()
        c_comment = stripped.startswith("//") or (
            stripped.startswith("/*") and stripped.endswith("*/")
        )
        if not c_comment:
            problems.append(
                f"line {n} ({stripped!r}) is not a C comment: write `// {BEGIN}` / `// {END}`"
            )
    if solution and not any(BEGIN in ln for _, ln in delimiters):
        problems.append(
            f"a solution cell with no `// {BEGIN}` region would be replaced whole, its "
            "%%kmodule line included: mark the part the student writes"
        )
    return problems


def kernel_graded_warning(cell: Any) -> str | None:
    """Why a test cell that uses `course` would be graded in the notebook's kernel during
    autograde (kmodlab.course.outside), or None when it is graded outside."""
    from kmodlab.course.outside import is_test_cell, names_course, recognised_call

    if not is_test_cell(cell) or not names_course(cell.source):
        return None
    if recognised_call(cell.source) is not None:
        return None
    return (
        "this test cell would be graded in the notebook's kernel, where the student's "
        "Python can replace it, and so would every test cell of the notebook: write it as "
        "one course.points(...) or course.check(...) call with literal arguments"
    )


class CheckKmoduleCells(NbGraderPreprocessor):
    """Refuse, before ClearSolutions, the %%kmodule cells it would turn into nonsense;
    warn of test cells autograde could not grade outside the notebook."""

    def preprocess_cell(self, cell: Any, resources: Any, index: int) -> tuple[Any, Any]:
        if cell.cell_type == "code":
            first = cell.source.split("\n", 1)[0]
            problems = kmodule_cell_problems(cell.source, is_solution(cell))
            if problems:
                raise KmoduleCellError(f"cell {index} ({first}): " + "; ".join(problems))
            if warning := kernel_graded_warning(cell):
                self.log.warning("cell %d (%s): %s", index, first, warning)
        return cell, resources


class GradeOutside(NbGraderPreprocessor):
    """Before Execute: start grading the test cells' exercises from the notebook's cells,
    and tell the kernel (through its environment) not to grade them itself."""

    def preprocess(self, nb: Any, resources: Any) -> tuple[Any, Any]:
        import os

        from kmodlab.course.checks import OUTSIDE_ENV
        from kmodlab.course.outside import OutsideGrades, OutsidePlan, cell_files

        plan = OutsidePlan.of(nb)
        if plan.calls:
            resources[RESOURCE] = OutsideGrades(plan, cell_files(nb)).start()
            os.environ[OUTSIDE_ENV] = ",".join(plan.exercises)
        else:
            resources.pop(RESOURCE, None)
            os.environ.pop(OUTSIDE_ENV, None)
        return nb, resources


class ScoreOutside(NbGraderPreprocessor):
    """After Execute: the recognised test cells' outputs are the outside grade's."""

    def preprocess(self, nb: Any, resources: Any) -> tuple[Any, Any]:
        import os
        from pathlib import Path

        from nbformat import from_dict

        from kmodlab.course.checks import OUTSIDE_ENV, keep_evidence
        from kmodlab.course.outside import cell_outputs

        os.environ.pop(OUTSIDE_ENV, None)
        grades = resources.pop(RESOURCE, None)
        if grades is None:
            return nb, resources
        grades.wait(CELL_TIMEOUT_S * max(1, len(grades.plan.exercises)))
        for index, call in grades.plan.calls.items():
            cell = nb.cells[index]
            outputs = cell_outputs(call, grades.outcome(call), cell.get("execution_count"))
            cell.outputs = [from_dict(o) for o in outputs]
        where = resources.get("metadata", {}).get("path")
        if where:  # the evidence documents, where the lab keeps them, for `kmodlab rejudge`
            for exercise, graded in grades.graded():
                keep_evidence(Path(where) / "kmodlab-workspace", exercise, graded.report)
        return nb, resources


RESOURCE = "kmodlab_outside_grades"


def configure(c: Any) -> Any:
    """Set what a kmodlab course needs on an nbgrader config object (get_config())."""
    from nbgrader.converters import GenerateAssignment

    c.ClearSolutions.code_stub = {"python": C_STUB}
    c.ClearSolutions.begin_solution_delimeter = BEGIN
    c.ClearSolutions.end_solution_delimeter = END
    default = list(GenerateAssignment.class_traits()["preprocessors"].default())
    if CheckKmoduleCells not in default:
        c.GenerateAssignment.preprocessors = [CheckKmoduleCells, *default]
    # The test cells graded outside the notebook (kmodlab.course.outside), around Execute.
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import Execute

    steps = list(Autograde.class_traits()["autograde_preprocessors"].default())
    if Execute in steps:
        at = steps.index(Execute)
        c.Autograde.autograde_preprocessors = [
            *steps[:at],
            GradeOutside,
            Execute,
            ScoreOutside,
            *steps[at + 1 :],
        ]
    from nbgrader.coursedir import CourseDirectory

    ignore = list(CourseDirectory.class_traits()["ignore"].default())
    c.CourseDirectory.ignore = ignore + [f for f in LAB_FOLDERS if f not in ignore]
    # A cell may boot a guest, build, and grade with a fault-injection sweep.
    c.Execute.timeout = CELL_TIMEOUT_S
    c.ExecutePreprocessor.timeout = CELL_TIMEOUT_S
    return c


def solved(nb: Any) -> Any:
    """The notebook as a student who wrote exactly the reference solution would submit it.

    nb is an instructor's source notebook: the solution regions keep their
    content and lose their delimiter lines; outputs are cleared. Useful to
    check, before releasing, that the reference solution gets full marks
    (`nbgrader autograde` of it as a pretend student).
    """
    import copy

    out = copy.deepcopy(nb)
    for cell in out.cells:
        if cell.cell_type != "code":
            continue
        lines = cell.source.split("\n")
        cell.source = "\n".join(ln for ln in lines if BEGIN not in ln and END not in ln)
        cell.outputs = []
        cell.execution_count = None
    return out
