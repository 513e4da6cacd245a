"""%kmod make -C consumer --with provider: KBUILD_EXTRA_SYMBOLS across two folders, for real.

The guest is faked (FakeSession); bubblewrap, make, kbuild's modpost and the
two Makefiles are real. The provider's folder is shown read-only inside the
sandbox, at its own path, and only when the lab is told (--with).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kmodlab.errors import InputError
from kmodlab.lab.workspace import Workspace
from tests.unit.test_lab_fakes import FakeSession

pytestmark = [pytest.mark.sandbox, pytest.mark.usefixtures("require_sandbox")]

DATA = Path(__file__).resolve().parents[1] / "data" / "extrasyms"
# 6.1 stops at an undefined symbol (a warning only with KBUILD_MODPOST_WARN=1).
UNDEFINED = 'ERROR: modpost: "xsym_add" ['


@pytest.fixture
def lab(tmp_path: Path, kbuild_dir: Path):
    folder = tmp_path / "workspace"
    shutil.copytree(DATA, folder)
    session = FakeSession()
    ws = Workspace(folder, session=session, headers=kbuild_dir)
    built = ws.make([], in_folder="provider")
    assert built.result.ok, built.result.stdout
    yield ws, session
    ws.close()


def test_the_consumer_links_against_the_providers_symvers(lab):
    """With --with provider, does modpost find xsym_add (no undefined warning) and the .ko load's
    __versions carry its CRC?"""
    ws, session = lab
    step = ws.make([], in_folder="consumer", providers=["provider"])
    out = step.result.stdout
    assert step.result.ok, out
    assert "undefined!" not in out and "is missing" not in out, out
    consumer = ws.folder.resolve() / "consumer"
    assert (consumer / "xsym_consumer.ko").is_file()
    assert "xsym_add" in (consumer / "xsym_consumer.mod.c").read_text()  # in __versions
    assert "pushed to the guest: xsym_consumer.ko" in out
    assert set(session.modules) == {"xsym_provider", "xsym_consumer"}


def test_without_the_provider_folder_modpost_cannot_read_its_symvers(lab):
    """Without --with, does modpost stop at the unreadable Module.symvers, and the lab name the
    fix?"""
    ws, session = lab
    step = ws.make([], in_folder="consumer")
    out = step.result.stdout
    assert not step.result.ok
    assert "/consumer/../provider/Module.symvers: No such file or directory" in out, out
    assert "add --with provider" in out
    assert "xsym_consumer" not in session.modules


def test_without_extra_symbols_modpost_says_undefined(lab):
    """With KBUILD_EXTRA_SYMBOLS emptied, does modpost stop at xsym_add, undefined, and no
    consumer module is made?"""
    ws, session = lab
    step = ws.make(["KBUILD_EXTRA_SYMBOLS="], in_folder="consumer", providers=["provider"])
    out = step.result.stdout
    assert not step.result.ok
    assert UNDEFINED in out and "xsym_consumer.ko] undefined!" in out, out
    assert not (ws.folder.resolve() / "consumer" / "xsym_consumer.ko").exists()
    assert "xsym_consumer" not in session.modules


def test_the_provider_folder_is_read_only_inside(lab):
    """Does a consumer's recipe that writes into the provider's folder fail, leaving it intact?"""
    ws, _ = lab
    provider = ws.folder.resolve() / "provider"
    before = (provider / "Module.symvers").read_bytes()
    step = ws.make(["spoil"], in_folder="consumer", providers=["provider"])
    assert not step.result.ok
    assert "Read-only file system" in step.result.stdout, step.result.stdout
    assert not (provider / "spoiled").exists()
    assert (provider / "Module.symvers").read_bytes() == before


def test_a_provider_outside_the_workspace_is_refused(lab, tmp_path):
    """Is --with a folder outside the workspace (by path or by symlink) refused in one line?"""
    ws, _ = lab
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (ws.folder / "link").symlink_to(outside)
    for given in (str(outside), "../elsewhere", "link"):
        with pytest.raises(InputError, match="is outside the workspace") as refused:
            ws.make([], in_folder="consumer", providers=[given])
        assert "\n" not in refused.value.line()
        assert "copy that folder into it" in refused.value.line()
