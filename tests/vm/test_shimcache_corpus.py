"""Grades that link a cached shim give the reports of grades that compile their own.

Three batches of the same cases: one filling an empty shim cache, one reading it
(every shim a hit), one with the cache off (each grade compiles its shims with its
own secrets). A patched shim that recorded, counted or failed calls differently, or
named another module, would change a verdict, a fault point or a summary.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kmodlab.grader.batch import grade_batch
from kmodlab.grader.collection.shimcache import CACHE_ENV
from kmodlab.grader.pipeline import grade
from kmodlab.grader.report.formats import to_text
from kmodlab.grader.report.model import Report

pytestmark = pytest.mark.vm
ROOT = Path(__file__).parent.parent.parent
CASES = {
    "hello": ROOT / "solutions" / "hello",
    "four_resources": ROOT / "tests" / "data" / "grader" / "four_resources",
    "provider_consumer": ROOT / "tests" / "data" / "corpus" / "provider_consumer",
    # keeper (two objects: kmalloc, kfree) and lister (vzalloc, kstrdup, ...): two shims.
    "two_sets": ROOT / "tests" / "data" / "shimcache" / "two_sets",
}


def _batch(machine, subs: Path, out: Path, cache: str) -> dict[str, Report]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(CACHE_ENV, cache)
        summary = grade_batch(
            subs, out, grade=lambda s: grade(s, machine=machine), jobs=2, progress=False
        )
    assert summary.errors == [] and len(summary.graded) == len(CASES)
    return {c: Report.from_dict(json.loads((out / f"{c}.json").read_text())) for c in CASES}


def _entries(cache: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in cache.iterdir() if not p.name.startswith(".")}


@pytest.fixture(scope="module")
def batches(machine, tmp_path_factory) -> dict:
    subs = tmp_path_factory.mktemp("submissions")
    for case, src in CASES.items():
        shutil.copytree(src, subs / case, ignore=shutil.ignore_patterns("*.o", "*.ko", ".*"))
    cache = tmp_path_factory.mktemp("shims")
    filled = _batch(machine, subs, tmp_path_factory.mktemp("filled"), str(cache))
    after_fill = _entries(cache)
    hits = _batch(machine, subs, tmp_path_factory.mktemp("hits"), str(cache))
    off = _batch(machine, subs, tmp_path_factory.mktemp("off"), "off")
    return dict(filled=filled, hits=hits, off=off, after_fill=after_fill, after=_entries(cache))


def _stable(value):
    """A check's data without what differs between any two grades: kernel addresses."""
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k != "handle"}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def _verdicts(report: Report) -> list[tuple]:
    return [
        (c.id, c.status, c.score, c.max_score, c.summary, _stable(c.data)) for c in report.checks
    ]


@pytest.mark.parametrize("case", list(CASES))
def test_a_cached_shim_grade_equals_an_uncached_one(batches, case):
    """Does grading with a shim from the cache (filled by this grade, or by an earlier
    one) give the checks, scores, summaries and fault points of a grade that compiled
    its own shim?"""
    off = batches["off"][case]
    assert off.check("fault-injection").status == "pass", to_text(off)
    for kind in ("filled", "hits"):
        assert _verdicts(batches[kind][case]) == _verdicts(off), (kind, to_text(off))


def test_the_second_batch_compiled_no_shim(batches):
    """Does the second batch find every shim it needs in the cache (no entry added or
    rewritten), one entry per wrapper set of the first?"""
    assert batches["after"] == batches["after_fill"]
    # hello, the provider and the consumer import nothing fallible (one shim with no
    # wrapper); four_resources, keeper and lister each their own set.
    assert len(batches["after_fill"]) == 4


def test_every_module_of_a_submission_has_its_own_fault_points(batches):
    """Are the fault points of a submission's two modules, whose shims differ, each
    recorded under its own module (the shim names the module it is linked into)?"""
    points = batches["hits"]["two_sets"].check("fault-injection").data["points"]
    assert {(p["module"], p["call"]) for p in points} == {
        ("keeper", "kmalloc"),
        ("lister", "vzalloc"),
        ("lister", "kstrdup"),
    }, points
