"""The rendered edition: lessons executed, written as HTML with their outputs kept."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.course.conftest import NOTEBOOKS, REPO

SMALL = REPO / "tests" / "data" / "notebooks" / "render-small.ipynb"


def render(out, *notebooks):
    return subprocess.run(
        [sys.executable, "-m", "kmodlab.course", "render", str(out), *map(str, notebooks)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.slow
def test_render_keeps_outputs_and_links_the_page(tmp_path):
    """Does `render` execute a notebook and write its HTML with outputs, linked from the index?"""
    r = render(tmp_path / "out", SMALL)
    assert r.returncode == 0, r.stdout + r.stderr
    page = (tmp_path / "out" / "render-small.html").read_text()
    assert "the sum is 42" in page  # the output, not just the code
    assert "a self-check shown failing" in page  # a cell meant to raise is shown raising
    assert 'href="render-small.html"' in (tmp_path / "out" / "index.html").read_text()
    assert "outputs" in json.loads(SMALL.read_text())["cells"][1]  # the source is untouched
    assert json.loads(SMALL.read_text())["cells"][1]["outputs"] == []


@pytest.mark.slow
def test_render_reports_a_cell_that_raised(tmp_path):
    """Is a cell that raised (not tagged raises-exception) named, with exit status 1?"""
    nb = json.loads(SMALL.read_text())
    nb["cells"][2]["metadata"] = {}
    broken = tmp_path / "broken.ipynb"
    broken.write_text(json.dumps(nb))
    r = render(tmp_path / "out", broken)
    assert r.returncode == 1 and "cells that raised: cell 1: AssertionError" in r.stdout


def test_render_refuses_a_missing_notebook(tmp_path):
    """Is a missing notebook one line naming it, exit status 2?"""
    r = render(tmp_path / "out", tmp_path / "nope.ipynb")
    assert r.returncode == 2 and "no notebook" in r.stderr and len(r.stderr.splitlines()) == 1


@pytest.mark.vm
@pytest.mark.timeout(900)
def test_render_a_real_lesson_in_the_lab(tmp_path, lab_machine):
    """Does the first lesson render, executed in the lab, with the guest's own output in it?"""
    r = render(tmp_path / "out", NOTEBOOKS / "01-setup.ipynb")
    page = (tmp_path / "out" / "01-setup.html").read_text()
    assert "first: hello from inside the kernel" in page, r.stdout + r.stderr
    assert "NULL pointer dereference" in page  # the oops the lesson causes on purpose
    assert r.returncode == 0, r.stdout
