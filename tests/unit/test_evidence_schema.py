"""Does docs/evidence-schema.md list every key the captured evidence documents hold?"""

from __future__ import annotations

import re
from pathlib import Path

from kmodlab.grader import evidence

ROOT = Path(__file__).parent.parent.parent
SCHEMA_DOC = ROOT / "docs" / "evidence-schema.md"
DATA = ROOT / "tests" / "data" / "evidence"
# Objects whose keys are data (a module's, a file's, a section's name): one `*` each.
DATA_KEYS = {
    "sources",
    "kos",
    "debug",
    "debug.*.sections",
    "debug.*.symbols",
    "debug.*.lines",
    "sections",
    "sections.*",
    "imports",
    "build.file_map",
    "points[].call.detail",
    "exercise.modinfo",
    "exercise.modinfo.*",
    "exercise.exports",
    "exercise.exports.*",
    "exercise.kbuild.modules",
    # kbuild's extra-symbols step: modules by name (its folders are the check's own
    # provider_folder and consumer_folder, documented by name).
    "exercise.extra_symbols.provider.modules",
    "exercise.extra_symbols.consumer.modules",
    "exercise.extra_symbols.load",
    "exercise.params",
    "exercise.params.*",
    "exercise.files",
}


def key_paths(obj: object, prefix: str = "") -> set[str]:
    """`loads[].result.kmsg`-style paths of every key, data keys as `*`."""
    paths: set[str] = set()
    if isinstance(obj, dict):
        for k, v in obj.items():
            name = "*" if prefix in DATA_KEYS else k
            path = f"{prefix}.{name}" if prefix else name
            paths |= {path} | key_paths(v, path)
    elif isinstance(obj, list):
        for v in obj:
            paths |= key_paths(v, f"{prefix}[]")
    return paths


def documented_paths() -> set[str]:
    """Every backticked name in the first column of the document's tables."""
    found: set[str] = set()
    for line in SCHEMA_DOC.read_text(encoding="utf-8").splitlines():
        cells = line.split("|")
        if line.startswith("|") and len(cells) > 2:
            found |= set(re.findall(r"`([^`]+)`", cells[1]))
    return found


def _documents() -> list[dict]:
    return [evidence.read_document(p) for p in sorted(DATA.rglob("*.evidence.json.xz"))]


def test_every_key_of_the_captured_documents_is_documented():
    """Is every key of every captured document (tests/data/evidence) in a table of
    docs/evidence-schema.md?"""
    docs = _documents()
    assert len(docs) >= 10
    produced = set().union(*(key_paths(d) for d in docs))
    # A data key itself (`debug.*`) is documented by its object's row (`debug`).
    produced = {p for p in produced if not p.endswith(".*")}
    missing = sorted(produced - documented_paths())
    assert not missing, f"document these in docs/evidence-schema.md: {missing}"


def test_every_top_level_key_written_is_documented():
    """Does the doc list every top-level key to_document writes, even for an empty grade?"""
    doc = evidence.to_document(
        evidence.Evidence(submission=Path("s")), kernel="k", exercise=None, cycles=1, duration_s=0
    )
    assert sorted(set(doc) - documented_paths()) == []


def test_the_doc_names_the_schema_version():
    """Does the doc name the version the code writes and reads?"""
    assert f"`{evidence.SCHEMA}`" in SCHEMA_DOC.read_text(encoding="utf-8")


def test_the_schema_check_can_fail():
    """Would a key missing from the doc be caught: is an invented key reported missing?"""
    assert "no_such_key" not in documented_paths()
    assert key_paths({"debug": {"hello": {"lines": {"x+0x1": None}}}}) == {
        "debug",
        "debug.*",
        "debug.*.lines",
        "debug.*.lines.*",
    }
