"""`pytest --nbval-lax notebooks/`: the lessons, cell by cell, in the real guest (nbval).

This is how the notebooks are tested, by instructors and by `kmodlab test`
(which passes `--nbval-lax`; `notebooks` is in pytest's testpaths): each
notebook runs once, in a fresh kernel, and a cell that raises fails. Here:

- every notebook cell gets the `vm` marker (its cells boot the guest) and a
  grading-size timeout (a cell may grade with fault injection); without a
  lab VM the cells skip, or fail under `kmodlab test` (KMODLAB_REQUIRE_VM);
- the kernel runs in a temporary folder, not in notebooks/: the lab writes
  its workspaces (kmodlab-workspace/, exercise-*/) where the notebook runs,
  and a student's own work in the checkout's notebooks/ must not be
  overwritten by the lessons' cells;
- after a notebook's last cell, what its prose claims is checked against
  the outputs the cells showed (tests/course/test_notebooks_vm.py's tables);
  a missing claim fails that last cell;
- notebooks outside notebooks/ (test data) are not collected.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

NOTEBOOK_CELL_TIMEOUT_S = 900
NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"
_lab_checked: list[str | None] = []  # [] unchecked; [None] the VM is there; [why] it is not


def _is_lesson(path: Path) -> bool:
    return path.suffix == ".ipynb" and path.resolve().parent == NOTEBOOKS


def _is_cell(item: pytest.Item) -> bool:
    return item.__class__.__name__ == "IPyNbCell" and _is_lesson(Path(str(item.path)))


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path.suffix == ".ipynb" and not _is_lesson(collection_path):
        return True  # tests/data's notebooks are data for other tests
    return None


def pytest_configure(config: pytest.Config) -> None:
    if not (getattr(config.option, "nbval_lax", False) or getattr(config.option, "nbval", False)):
        return
    import nbval.plugin

    made: list[Path] = []
    original = nbval.plugin.RunningKernel

    class KernelElsewhere(original):  # type: ignore[misc, valid-type]
        """nbval's kernel, started in a fresh temporary folder instead of the notebook's."""

        def __init__(self, kernel_name, cwd=None, startup_timeout=60):  # type: ignore[no-untyped-def]
            if cwd is not None and Path(cwd).resolve() == NOTEBOOKS:
                cwd = tempfile.mkdtemp(prefix="kmodlab-nbval-")
                made.append(Path(cwd))
            super().__init__(kernel_name, cwd=cwd, startup_timeout=startup_timeout)

    nbval.plugin.RunningKernel = KernelElsewhere
    config.add_cleanup(lambda: [shutil.rmtree(p, ignore_errors=True) for p in made])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _is_cell(item):
            item.add_marker(pytest.mark.vm)
            item.add_marker(pytest.mark.timeout(NOTEBOOK_CELL_TIMEOUT_S))


def pytest_runtest_setup(item: pytest.Item) -> None:
    if not _is_cell(item):
        return
    if not _lab_checked:
        from kmodlab.errors import KmodlabError
        from kmodlab.vm.session import prepare

        try:
            prepare()
            _lab_checked.append(None)
        except KmodlabError as e:
            _lab_checked.append(f"the lab VM: {e.line()}")
    if _lab_checked[0] is not None:
        from tests.conftest import unavailable

        unavailable(_lab_checked[0])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):  # type: ignore[no-untyped-def]
    if not _is_cell(item):
        return (yield)
    try:
        return (yield)
    finally:
        # Keep what the cell showed (nbval keeps it only on the item), raised or not.
        nb = item.parent.nb  # type: ignore[attr-defined]
        code = [c for c in nb.cells if c.cell_type == "code"]
        code[item.cell_num].outputs = list(item.test_outputs or [])  # type: ignore[attr-defined]
        if item.cell_num == len(code) - 1:
            _check_claims(item, nb)


def _check_claims(item: pytest.Item, nb) -> None:  # type: ignore[no-untyped-def]
    from nbval.plugin import NbCellError

    from tests.course.nbrun import Executed
    from tests.course.test_notebooks_vm import check_claims, specific_claims

    name = Path(str(item.path)).stem
    ran = Executed(nb, 0.0)
    problems = check_claims(name, ran) + specific_claims(name, ran)
    if problems:
        message = f"{name}: what the notebook claims was not shown:\n" + "\n".join(problems)
        raise NbCellError(item.cell_num, message, item.cell.source)  # type: ignore[attr-defined]
