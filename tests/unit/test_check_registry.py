"""Each check kind is one unit, listed once: these fail when a kind is listed in one place
and not another."""

import re
from pathlib import Path

import pytest

from kmodlab.grader import exercise_plan as exercises
from kmodlab.grader.verdicts import expectations as ex
from kmodlab.grader.verdicts import judges

ROOT = Path(__file__).resolve().parents[2]


def test_generic_checks_are_one_registry():
    """Does each generic check carry its id, points, evidence and judge, ids unique, with the
    ids, default points and weights all read from that one list?"""
    ids = [c.id for c in judges.GENERIC]
    assert len(ids) == len(set(ids))
    assert tuple(ids) == judges.GENERIC_CHECKS
    assert dict(judges.DEFAULT_GENERIC_POINTS) == {c.id: c.points for c in judges.GENERIC}
    assert ex.DEFAULT_GENERIC_POINTS is judges.DEFAULT_GENERIC_POINTS
    assert all(callable(c.judge) and c.evidence for c in judges.GENERIC)


def test_no_other_module_lists_the_generic_ids():
    """Does no source file spell out the generic ids as a list of its own?"""
    listing = re.compile(r'"build",\s*\n?\s*"load",\s*\n?\s*"unload"')
    found = [
        p.relative_to(ROOT) for p in (ROOT / "src").rglob("*.py") if listing.search(p.read_text())
    ]
    assert found == []


def test_the_report_schema_documents_every_generic_check():
    """Does docs/report-schema.md name each generic check of the registry?"""
    doc = (ROOT / "docs" / "report-schema.md").read_text()
    missing = [c.id for c in judges.GENERIC if f"`{c.id}`" not in doc]
    assert missing == []


def test_exercise_kinds_are_one_registry():
    """Is every exercise kind one Kind (fields, parser, check class, evidence source,
    judge), with the check classes and kinds one to one?"""
    assert set(ex.KINDS) == {k.name for k in ex.KINDS.values()}
    classes = [k.check for k in ex.KINDS.values()]
    assert len(set(classes)) == len(classes)
    assert {k.evidence for k in ex.KINDS.values()} <= {ex.FILES, ex.GENERIC_RUN, ex.GUEST}
    subclasses = {c for c in vars(ex).values() if isinstance(c, type) and c is not ex.Check}
    assert {c for c in subclasses if issubclass(c, ex.Check)} == set(classes)


def test_guest_collectors_are_exactly_the_guest_kinds():
    """Does exactly each kind whose evidence comes from the guest have a guest collector?"""
    guest = {k.name for k in ex.KINDS.values() if k.evidence == ex.GUEST}
    assert set(exercises.GUEST_COLLECTORS) == guest


@pytest.mark.parametrize("kind", list(ex.KINDS))
def test_every_kind_is_documented(kind):
    """Does docs/expectations.md describe each kind and each of its fields?"""
    doc = (ROOT / "docs" / "expectations.md").read_text()
    assert f'"{kind}"' in doc or f"`{kind}`" in doc
    for field in ex.KINDS[kind].fields:
        assert f"`{field}`" in doc, f"{kind}: field {field} is not documented"
