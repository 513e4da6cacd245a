"""The grader reads KBUILD_EXTRA_SYMBOLS as real kbuild does (issue 12, kbuild stage).

The grader never runs a student's Makefile: objm.extra_symbols reads it as
data, as modpost's pass would (from the kernel's folder). Here the same
Makefiles run for real (the lab's `%kmod make -C consumer --with provider`:
bubblewrap, make, kbuild's modpost), and the reading must agree with what
kbuild did: the provider's Module.symvers named (the consumer builds) or not
(modpost stops).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kmodlab.build.objm import extra_symbols
from kmodlab.lab.workspace import Workspace
from tests.unit.test_lab_fakes import FakeSession

pytestmark = [pytest.mark.sandbox, pytest.mark.usefixtures("require_sandbox")]

DATA = Path(__file__).resolve().parents[1] / "data" / "extrasyms"
WAYS = {
    "$(PWD)/../provider/Module.symvers": True,
    "$(M)/../provider/Module.symvers": True,
    "$(src)/../provider/Module.symvers": True,
    # modpost's pass reads the Makefile from the kernel's folder:
    "$(CURDIR)/../provider/Module.symvers": False,
    "$(shell pwd)/../provider/Module.symvers": False,
    "../provider/Module.symvers": False,
    "$(PWD)/provider/Module.symvers": False,
}


@pytest.fixture(scope="module")
def built(tmp_path_factory, kbuild_dir: Path) -> dict[str, tuple[bool, str]]:
    """Each way of writing it: (did the consumer build, make's output)."""
    out = {}
    for n, way in enumerate(WAYS):
        folder = tmp_path_factory.mktemp(f"ws{n}") / "workspace"
        shutil.copytree(DATA, folder)
        makefile = folder / "consumer" / "Makefile"
        text = makefile.read_text().replace(
            "KBUILD_EXTRA_SYMBOLS := $(PWD)/../provider/Module.symvers",
            f"KBUILD_EXTRA_SYMBOLS := {way}",
        )
        makefile.write_text(text)
        ws = Workspace(folder, session=FakeSession(), headers=kbuild_dir)
        try:
            assert ws.make([], in_folder="provider").result.ok
            step = ws.make([], in_folder="consumer", providers=["provider"])
            made = (folder.resolve() / "consumer" / "xsym_consumer.ko").is_file()
            out[way] = (step.result.ok and made, step.result.stdout)
        finally:
            ws.close()
    return out


@pytest.mark.parametrize("way", list(WAYS))
def test_the_reading_agrees_with_kbuild(built, way):
    """Does the grader's reading name the provider's Module.symvers exactly when real
    kbuild, running that Makefile, found the provider's exports?"""
    ok, log = built[way]
    assert ok == WAYS[way], log[-2000:]
    (named,) = extra_symbols(f"obj-m += xsym_consumer.o\nKBUILD_EXTRA_SYMBOLS := {way}\n")
    assert (named.path == "../provider/Module.symvers") == ok
