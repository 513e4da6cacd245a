"""The integrity check's object view on real plain builds (the sandbox, no VM).

The course's solutions and the clean corpus must raise no flag from their
objects; hostile cases whose reach survives only in the object (a string
the compiler joined, an import) must.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kmodlab.build import build_submission
from kmodlab.grader.report.formats import read_sources
from kmodlab.grader.verdicts import integrity

pytestmark = [pytest.mark.sandbox, pytest.mark.usefixtures("require_sandbox")]
ROOT = Path(__file__).parent.parent.parent
CLEAN = [
    *sorted(p for p in (ROOT / "solutions").iterdir() if p.is_dir()),
    *(ROOT / "tests" / "data" / c for c in ("corpus/clean_one", "corpus/provider_consumer")),
    *(ROOT / "tests" / "data" / c for c in ("leaky/clean_four", "grader/many_apis")),
    ROOT / "tests" / "data" / "channel" / "control_clean",
    ROOT / "tests" / "data" / "channel" / "control_own_file",
]


def _objects(src: Path, tmp_path: Path, kbuild_dir: Path) -> list[integrity.ObjectFacts]:
    work = tmp_path / "src"
    shutil.copytree(src, work)
    result = build_submission(work, headers=kbuild_dir, out_dir=tmp_path / "out", link=False)
    assert result.ok, result.log
    return integrity.read_objects(result.build_dir)


@pytest.mark.parametrize("src", CLEAN, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_clean_objects_raise_no_flag(src: Path, tmp_path: Path, kbuild_dir: Path) -> None:
    """Do the plain objects of a solution or clean module hold nothing the check flags?"""
    objects = _objects(src, tmp_path, kbuild_dir)
    assert objects, "no object was read"
    assert integrity.findings(read_sources(src), objects) == []


@pytest.mark.parametrize(
    ("case", "rule"),
    [("kallsyms_lookup", "symbol"), ("kmodlab_symbol", "instrumentation"), ("forge_frame", None)],
)
def test_hostile_objects_show_the_reach(case, rule, tmp_path: Path, kbuild_dir: Path) -> None:
    """Does the object alone (no source) show what the hostile module reaches for?"""
    objects = _objects(ROOT / "tests" / "data" / "channel" / case, tmp_path, kbuild_dir)
    found = integrity.findings({}, objects)
    if rule is None:  # a walk of ->files leaves no import: only the source view sees it
        assert found == []
    else:
        assert rule in {f.data["rule"] for f in found}
