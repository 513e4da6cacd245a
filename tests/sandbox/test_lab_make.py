"""%kmod make for real: the student's own Makefile runs kbuild inside the build sandbox.

The guest is faked (FakeSession): what is real is bubblewrap, make, the
guest kernel's kbuild tree and the student's Makefile with its recipes.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kmodlab.lab.workspace import Workspace
from tests.unit.test_lab_fakes import FakeSession

pytestmark = [pytest.mark.sandbox, pytest.mark.usefixtures("require_sandbox")]

ROOT = Path(__file__).resolve().parents[2]
INSTALL_RULE = (
    "\ninstall:\n\t$(MAKE) -C $(KDIR) M=$(CURDIR) INSTALL_MOD_PATH=$(CURDIR)/staging "
    "modules_install\n\nwhere:\n\t@echo PWD=$(PWD)\n\nescape:\n\ttouch $(ESCAPE)\n"
)


class GuestFiles(FakeSession):
    """A fake guest that keeps the files written into it."""

    def __init__(self) -> None:
        super().__init__()
        self.files: dict[str, bytes] = {}

    @property
    def guest(self) -> GuestFiles:
        return self

    def put(self, path: str, data: bytes, mode: int = 0o644) -> None:
        self.files[path] = data


@pytest.fixture
def lab(tmp_path: Path, kbuild_dir: Path):
    folder = tmp_path / "kbuild-lab"
    shutil.copytree(ROOT / "solutions" / "kbuild", folder)
    with (folder / "Makefile").open("a") as f:
        f.write(INSTALL_RULE)
    session = GuestFiles()
    ws = Workspace(folder, session=session, headers=kbuild_dir)
    yield ws, session
    ws.close()


def test_make_runs_the_students_makefile_and_pushes_what_it_built(lab):
    """Does `%kmod make` build kmodlab_pair.ko from two files, in the folder, and push it?"""
    ws, session = lab
    step = ws.make([])
    out = step.result.stdout
    assert step.result.ok, out
    folder = ws.folder.resolve()
    assert f"M={folder} modules" in out  # the Makefile's own `all` recipe ran
    assert "LD [M]" in out and "kmodlab_pair.ko" in out
    for made in ("kmodlab_pair.ko", "kmodlab_pair.mod.c", "Module.symvers", "modules.order"):
        assert (folder / made).is_file(), made
    assert (folder / "modules.order").read_text().split() == [f"{folder}/kmodlab_pair.ko"]
    mod_c = (folder / "kmodlab_pair.mod.c").read_text()
    assert "MODULE_INFO(name, KBUILD_MODNAME)" in mod_c or ".name = KBUILD_MODNAME" in mod_c
    assert session.modules == {"kmodlab_pair": folder / "kmodlab_pair.ko"}
    assert "pushed to the guest: kmodlab_pair.ko" in out


def test_the_makefile_runs_sandboxed_with_the_folder_as_pwd(lab, tmp_path):
    """Does a recipe see PWD as the folder, and fail to write outside it?"""
    ws, _ = lab
    assert f"PWD={ws.folder.resolve()}" in ws.make(["where"]).result.stdout
    # /tmp inside is the sandbox's own: the file never reaches the host's.
    outside = tmp_path / "outside-the-folder"
    ws.make(["escape", f"ESCAPE={outside}"])
    assert not outside.exists()
    # The rest of the system is read-only: the recipe fails.
    system = Path("/usr/local") / f"kmodlab-escape-{tmp_path.name}"
    try:
        assert not ws.make(["escape", f"ESCAPE={system}"]).result.ok
        assert not system.exists()
    finally:
        system.unlink(missing_ok=True)


def test_make_clean_removes_what_kbuild_made(lab):
    """Does `%kmod make clean` leave only the sources (and the exercise's provider and
    consumer folders, which the top Makefile does not build)?"""
    ws, _ = lab
    assert ws.make([]).result.ok
    assert ws.make(["clean"]).result.ok
    assert sorted(p.name for p in ws.folder.iterdir()) == [
        "Makefile",
        "consumer",
        "pair.h",
        "pair_main.c",
        "pair_util.c",
        "provider",
    ]


def test_modules_install_puts_the_module_under_install_mod_path(lab, kbuild_dir):
    """Does modules_install with INSTALL_MOD_PATH put the .ko under lib/modules/RELEASE/extra?"""
    ws, session = lab
    assert ws.make([]).result.ok
    step = ws.make(["install"])
    assert step.result.ok, step.result.stdout
    release = kbuild_dir.name.removeprefix("linux-headers-")  # uname -r in the guest
    installed = ws.folder / "staging" / "lib" / "modules" / release / "extra" / "kmodlab_pair.ko"
    assert installed.is_file()
    # Without System.map (Debian's headers have none) kbuild skips depmod: the guest runs it.
    assert "Skipping depmod" in step.result.stdout
    put = ws.install("staging")
    assert put.result.ok
    assert f"installed /lib/modules/{release}/extra/kmodlab_pair.ko" in put.result.stdout
    assert f"/lib/modules/{release}/extra/kmodlab_pair.ko" in session.files
