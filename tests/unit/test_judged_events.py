"""The kmem trace's fast path (kmemtrace.judged_events) against the reference parser.

The judges read judged_events(): parse_trace's events without the frees of
addresses the trace never saw allocated, parsed from a few lines in a
hundred. Checked here on every trace of every captured evidence document
(tests/data/evidence, real grades) and of tests/data/witness/kmem, and on
lines made to fool its cheap string tests. Last, the folder the rejudging
benchmark times (bench/captured_batch.py) is rejudged unchanged.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from kmodlab.grader import evidence
from kmodlab.grader.collection import kmemtrace
from kmodlab.grader.collection.kmemtrace import judged_events, parse_trace
from kmodlab.grader.rejudge import rejudge_document
from kmodlab.grader.report.formats import to_json

DATA = Path(__file__).parent.parent / "data"
DOCUMENTS = sorted((DATA / "evidence").rglob("*.evidence.json.xz"))
WITNESS = sorted((DATA / "witness" / "kmem").glob("*.trace.txt*"))


def _name(path: Path) -> str:
    return f"{path.parent.name}/{path.name.split('.')[0]}"


def _traces(doc: dict) -> list[str]:
    texts = [doc["trace"], *doc["trace_reads"], *(p["trace"] for p in doc["points"])]
    return [t for t in texts if t]


def _witness(path: Path) -> str:
    data = path.read_bytes()
    return (gzip.decompress(data) if path.suffix == ".gz" else data).decode()


def reference(text: str) -> list[kmemtrace.TraceEvent]:
    """What judged_events() promises, computed from parse_trace()."""
    events = parse_trace(text)
    allocated = {e.ptr for e in events if e.is_alloc and e.event != "vmalloc" and e.ptr is not None}
    return [e for e in events if e.is_alloc or (e.ptr is not None and e.ptr in allocated)]


def test_every_captured_document_has_traces_to_compare():
    """Are there captured traces, with kernel frees to leave out, so the comparisons below
    test something?"""
    traces = [t for p in DOCUMENTS for t in _traces(evidence.read_document(p))]
    assert len(DOCUMENTS) >= 26 and len(traces) >= 30
    assert all(len(judged_events(t)) * 5 < len(parse_trace(t)) for t in traces)


@pytest.mark.parametrize("path", DOCUMENTS, ids=_name)
def test_fast_events_are_the_references_on_a_captured_document(path):
    """Does judged_events() give exactly parse_trace's events less the frees of addresses
    never allocated, on every trace of this real grade?"""
    for text in _traces(evidence.read_document(path)):
        assert judged_events(text) == reference(text)


@pytest.mark.parametrize("path", WITNESS, ids=lambda p: p.name)
def test_fast_events_are_the_references_on_a_witness_trace(path):
    """The same on the memory witness's captured traces (kfree_rcu, pages, vmalloc,
    hashed pointers among them)?"""
    text = _witness(path)
    assert judged_events(text) == reference(text)


@pytest.mark.parametrize("path", DOCUMENTS, ids=_name)
def test_verdicts_are_the_same_as_with_the_reference_parser(path, monkeypatch):
    """Is a captured document's whole report the same when every judge reads the full
    parse_trace() instead of the fast path?"""
    doc = evidence.read_document(path)
    fast = to_json(rejudge_document(doc, where=str(path)))
    monkeypatch.setattr(kmemtrace, "_judged_events", lambda t: tuple(parse_trace(t)))
    assert to_json(rejudge_document(doc, where=str(path))) == fast


HEAD = "           insmod-90      [000] .....    12.000001: "


def test_lines_made_to_fool_the_string_tests_give_the_references_events():
    """Frees written oddly (a 0x prefix, leading zeros, capitals, a hashed pointer, a second
    ptr=, a task named like a free), page frees and kvfree_rcu: the same events as the
    reference, and the frees of allocated addresses among them?"""
    site = "call_site=0xffffffffc0201010"
    lines = [
        f"{HEAD}kmalloc: {site} ptr=ffff888004a3c000 bytes_req=32 bytes_alloc=32",
        f"{HEAD}kmalloc: {site} ptr=ffff888004a3d000 bytes_req=32 bytes_alloc=32",
        f"{HEAD}kmalloc: {site} ptr=ffff888004a3e000 bytes_req=32 bytes_alloc=32",
        f"{HEAD}kmodlab_ap: (x_init+0x1c/0x60 [x] <- alloc_pages) ret=0xffffea0000100000",
        f"{HEAD}kfree: call_site=kfree_x+0x1/0x2 ptr=0x0000ffff888004a3c000",
        f"{HEAD}kfree: call_site=a ptr=b ptr=ffff888004a3d000",  # frees "b": nothing
        f"{HEAD}kfree: call_site=a b ptr=ffff888004a3d000",
        f"{HEAD}kfree: call_site=a ptr=(____ptrval____)",
        f"{HEAD}kmem_cache_free: call_site=a ptr=ffff888004a3f000 name=x",
        "  ptr=ffff888004a3e000-1     [000] .....    12.5: kfree: call_site=a ptr=1234",
        f"{HEAD}kmodlab_fpp: (__free_pages+0x0/0x10) page=0xffffea0000100000",
        f"{HEAD}kmodlab_fp: (free_pages+0x0/0x10) addr=0xffff888000001000",
        f"{HEAD}kmodlab_kvfree_rcu: (kvfree_call_rcu+0x0/0x10) head=0x0 func=0xffff888004a3e000",
        f"{HEAD}kfree: call_site=a ptr=FFFF888004A3E000",
        f"{HEAD}sched_switch: prev_comm=ptr=ffff888004a3e000",
    ]
    text = "\n".join(["@@ trace", *lines, "@@ vmalloc", "@@ end"])
    fast = judged_events(text)
    assert fast == reference(text)
    freed = [(e.event, e.ptr) for e in fast if not e.is_alloc]
    assert freed == [
        ("kfree", 0xFFFF888004A3C000),
        ("kfree", 0xFFFF888004A3D000),
        ("free_pages", 0xFFFFEA0000100000),
        ("kvfree_rcu", 0xFFFF888004A3E000),
        ("kfree", 0xFFFF888004A3E000),
    ]


def _bench_script(name: str):
    import importlib.util
    import sys

    path = Path(__file__).resolve().parents[2] / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"kmodlab_bench_{name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_benchmarks_captured_batch_rejudges_unchanged(tmp_path, capsys):
    """Does bench/captured_batch.py make a grade-batch folder that `--rejudge-only` times
    with every document accepted and no score changed (the benchmark exits otherwise)?"""
    out = tmp_path / "reports"
    _bench_script("captured_batch").make(out, 3)
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"student00{i}{ext}" for i in range(3)
                     for ext in (".evidence.json.xz", ".json", ".txt")]  # fmt: skip
    assert evidence.read_document(out / "student001.evidence.json.xz")["submission"] == "student001"
    argv = ["--rejudge-only", str(out), "--repeat", "1", "--json", str(tmp_path / "r.json")]
    assert _bench_script("grader_benchmark").main(argv) == 0
    assert "rejudge 3 evidence documents" in capsys.readouterr().out
    assert (tmp_path / "r.json").is_file()
