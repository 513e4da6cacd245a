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


def test_make_line_takes_a_folder_and_providers():
    """Does `%kmod make -C consumer --with a --with b clean` split into folder, providers, args?"""
    from kmodlab.lab.magics import parse_make_line

    assert parse_make_line("-C consumer --with a --with b clean V=1") == (
        "consumer",
        ["a", "b"],
        ["clean", "V=1"],
    )
    assert parse_make_line("install") == (None, [], ["install"])
    with pytest.raises(ValueError, match="--with DIR"):
        parse_make_line("--with")


@pytest.fixture
def two(ws, monkeypatch):
    """A workspace with provider/ and consumer/ folders, and no sandbox (nothing may run)."""
    for name in ("provider", "consumer"):
        (ws.folder / name).mkdir()
        (ws.folder / name / "Makefile").write_text("all:\n\ttouch ran\n")
    monkeypatch.setattr(sandbox, "sandbox_available", lambda: False)
    return ws


def test_make_refuses_folders_outside_the_workspace(two, tmp_path):
    """Are -C and --with folders outside the workspace, or reached by a symlink out of it,
    refused in one line naming the fix, before anything runs?"""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (two.folder / "out").symlink_to(outside)
    for kwargs in (
        {"providers": [str(outside)]},
        {"providers": ["../elsewhere"]},
        {"providers": ["out"]},
        {"providers": ["provider/../../elsewhere"]},
        {"in_folder": "../elsewhere"},
        {"in_folder": "out"},
    ):
        with pytest.raises(InputError, match="is outside the workspace") as refused:
            two.make([], **kwargs)
        assert (
            "\n" not in refused.value.line() and "copy that folder into it" in refused.value.line()
        )
    assert not any(outside.iterdir())


def test_make_refuses_a_provider_that_is_or_holds_the_build_folder(two):
    """Is --with the folder make runs in (or the workspace around it) refused, so it stays
    writable and the provider read-only?"""
    for provider in ("consumer", ".", "consumer/."):
        with pytest.raises(InputError, match="the folder make runs in"):
            two.make([], in_folder="consumer", providers=[provider])
    with pytest.raises(InputError, match="there is no folder"):
        two.make([], in_folder="consumer", providers=["missing"])
    # Checked before the sandbox is even looked for: a valid pair gets as far as that.
    with pytest.raises(InputError, match="only inside the build sandbox"):
        two.make([], in_folder="consumer", providers=["provider"])
