"""`pytest --nbval-lax notebooks/`: the lessons, cell by cell, in the real guest (nbval).

nbval runs each notebook in a fresh kernel in notebooks/ (the lab's folders it
writes there, kmodlab-workspace/ and exercise-*/, are ignored by git) and
fails a cell that raises. Its cells boot the guest: they carry the `vm`
marker, and a cell may grade with fault injection, so it gets the time a
grade takes. tests/course/test_notebooks_vm.py runs the same notebooks and
also checks each claim the prose makes.
"""

from __future__ import annotations

import pytest

NOTEBOOK_CELL_TIMEOUT_S = 900


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.startswith("notebooks/") and ".ipynb" in item.nodeid:
            item.add_marker(pytest.mark.vm)
            item.add_marker(pytest.mark.timeout(NOTEBOOK_CELL_TIMEOUT_S))
