"""%kmod make and %kmod install refuse what they cannot do safely, in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

import kmodlab.build.sandbox as sandbox
from kmodlab.errors import InputError
from kmodlab.lab.workspace import Workspace
from tests.unit.test_lab_fakes import FakeSession


@pytest.fixture
def ws(tmp_path: Path):
    w = Workspace(tmp_path / "ws", session=FakeSession(), headers=tmp_path)
    w.folder.mkdir()
    yield w
    w.close()


def test_make_needs_a_makefile(ws):
    """Is a folder without Makefile refused, saying to write one?"""
    with pytest.raises(InputError, match="there is no Makefile in"):
        ws.make([])


def test_make_never_runs_a_makefile_outside_the_sandbox(ws, monkeypatch):
    """Without bubblewrap, is the student's Makefile refused rather than run on the host?"""
    (ws.folder / "Makefile").write_text("all:\n\ttouch ran-on-the-host\n")
    monkeypatch.setattr(sandbox, "sandbox_available", lambda: False)
    with pytest.raises(InputError, match="only inside the build sandbox"):
        ws.make([])
    assert not (ws.folder / "ran-on-the-host").exists()


def test_install_needs_a_tree_with_modules(ws):
    """Is %kmod install of a folder without lib/modules/*/*.ko refused, naming the fix?"""
    with pytest.raises(InputError, match="modules_install"):
        ws.install("staging")
