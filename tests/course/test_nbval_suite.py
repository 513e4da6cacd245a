"""The notebooks are part of the suite, under nbval, once, as `vm` tests (no VM needed here)."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tomllib

import pytest

from tests.course.conftest import REPO


def collect(*args: str) -> list[str]:
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode in (0, 5), r.stdout + r.stderr  # 5: nothing selected
    return [line for line in r.stdout.splitlines() if "::" in line]


def test_kmodlab_test_runs_the_notebooks_under_nbval(monkeypatch):
    """Does `kmodlab test` pass --nbval-lax, with notebooks/ among pytest's testpaths?"""
    import kmodlab.cli as cli

    calls: list[list[str]] = []
    monkeypatch.setattr(cli.subprocess, "call", lambda argv, **_kw: calls.append(argv) or 0)
    assert cli.cmd_test(argparse.Namespace(pytest_args=[], skip_setup=True)) == 0
    (argv,) = [a for a in calls if "pytest" in a]
    assert "--nbval-lax" in argv and "--nbval-current-env" in argv
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "notebooks" in config["tool"]["pytest"]["ini_options"]["testpaths"]


@pytest.mark.slow
def test_notebook_cells_are_vm_tests_and_test_data_is_left_out():
    """Are the lessons' cells vm tests, and tests/data's notebooks not collected at all?"""
    cells = collect("--nbval-lax", "-m", "vm", "notebooks/01-setup.ipynb")
    assert cells and all(c.startswith("notebooks/01-setup.ipynb::Cell ") for c in cells)
    assert collect("--nbval-lax", "-m", "not vm", "notebooks/01-setup.ipynb") == []
    assert collect("--nbval-lax", "tests/data/browser") == []


def test_no_other_test_executes_the_notebooks():
    """Is nbval the only runner of the lessons (no test module executes them a second time)?"""
    imports_execute = re.compile(r"^from tests\.course\.nbrun import .*\bexecute\b", re.M)
    runners = [
        p.relative_to(REPO).as_posix()
        for p in (REPO / "tests").rglob("test_*.py")
        if imports_execute.search(p.read_text())
    ]
    assert runners == []
