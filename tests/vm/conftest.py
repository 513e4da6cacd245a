"""Fixtures for the real-VM tier: a prepared lab machine and built fixture modules."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kmodlab.errors import KmodlabError
from tests.conftest import unavailable

DATA = Path(__file__).parent.parent / "data"


@pytest.fixture(scope="session")
def machine():
    from kmodlab.vm.session import prepare

    try:
        return prepare()
    except KmodlabError as e:
        unavailable(f"the lab VM: {e.line()}")


@pytest.fixture(scope="session")
def built(machine, tmp_path_factory):
    """built(name) -> the .ko of tests/data/modules/<name> (or tests/data/<dir>/<name>
    when name has a slash), built once per session."""
    from kmodlab.build import build_submission

    cache: dict[str, Path] = {}

    def build(name: str) -> Path:
        if name not in cache:
            stem = name.replace("/", "-")
            src = tmp_path_factory.mktemp(f"src-{stem}")
            folder = DATA / name if "/" in name else DATA / "modules" / name
            shutil.copytree(folder, src, dirs_exist_ok=True)
            out = tmp_path_factory.mktemp(f"build-{stem}")
            result = build_submission(src, headers=machine.kernel.headers, out_dir=out)
            assert result.ok, result.log
            (module,) = result.modules
            cache[name] = module.ko
        return cache[name]

    return build


@pytest.fixture
def session(machine):
    from kmodlab.vm.session import Session, silent

    with Session(machine, progress=silent) as s:
        yield s
