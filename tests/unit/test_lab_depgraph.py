"""Who uses whose symbols: the graph from symbol tables and modules.dep, and its SVG."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kmodlab.lab import depgraph
from kmodlab.lab.depgraph import KERNEL, SymbolTable, compute_graph, graph_svg, parse_modules_dep

CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"

# Captured from the guest (6.1.0-56-amd64) after pushing provider and consumer.
MODULES_DEP = """\
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_ring.ko:
extra/provider.ko:
extra/consumer.ko: extra/provider.ko
"""

TABLES = {
    "provider": SymbolTable(
        "provider",
        {"provider_add": "EXPORT_SYMBOL_GPL"},
        frozenset({"_printk", "__fentry__", "__x86_return_thunk"}),
    ),
    "consumer": SymbolTable(
        "consumer", {}, frozenset({"provider_add", "_printk", "__fentry__", "__x86_return_thunk"})
    ),
    "loner": SymbolTable("loner", {"loner_thing": "EXPORT_SYMBOL"}, frozenset({"_printk"})),
}


def test_modules_dep_parsing():
    deps = parse_modules_dep(MODULES_DEP + "\nnot a dep line\n")
    assert deps["consumer"] == ["provider"] and deps["provider"] == []
    assert deps["virtio"] == ["virtio_ring"]
    assert parse_modules_dep("kernel/x/y.ko.xz: kernel/x/z.ko.xz\n") == {"y": ["z"]}


def test_edges_match_undefined_symbols_to_exports():
    graph = compute_graph(TABLES, parse_modules_dep(MODULES_DEP))
    module_edges = [e for e in graph.edges if e.provider != KERNEL]
    assert [(e.consumer, e.provider, e.symbols, e.in_modules_dep) for e in module_edges] == [
        ("consumer", "provider", ("provider_add",), True)
    ]
    kernel = {e.consumer: e.symbols for e in graph.edges if e.provider == KERNEL}
    assert kernel["consumer"] == ("__fentry__", "__x86_return_thunk", "_printk")
    assert graph.providers_of("consumer") == ["provider"]
    text = graph.text()
    assert "consumer -> provider: provider_add (modules.dep agrees)" in text
    assert "consumer -> vmlinux: 3 kernel symbols" in text


def test_an_edge_depmod_does_not_know_is_flagged():
    graph = compute_graph(TABLES, {"consumer": [], "provider": []})
    edge = next(e for e in graph.edges if e.provider == "provider")
    assert edge.in_modules_dep is False
    assert "missing from modules.dep" in graph.text()
    assert "not in modules.dep" in graph_svg(graph)


def test_the_svg_is_well_formed_and_puts_providers_left_of_consumers():
    graph = compute_graph(TABLES, None)
    svg = graph_svg(graph)
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    texts = {t.text: float(t.get("x", 0)) for t in root.iter("{http://www.w3.org/2000/svg}text")}
    assert texts["provider"] < texts["consumer"]
    assert "provider_add" in texts and "loner" in texts
    assert sum(1 for _ in root.iter("{http://www.w3.org/2000/svg}line")) == 1


def test_names_are_escaped_in_the_svg():
    tables = {
        "a": SymbolTable("a", {"x<y": "EXPORT_SYMBOL"}, frozenset()),
        "b": SymbolTable("b", {}, frozenset({"x<y"})),
    }
    ET.fromstring(graph_svg(compute_graph(tables)))  # parses: the < was escaped


def test_a_cycle_does_not_hang_the_layout():
    tables = {
        "a": SymbolTable("a", {"fa": "EXPORT_SYMBOL"}, frozenset({"fb"})),
        "b": SymbolTable("b", {"fb": "EXPORT_SYMBOL"}, frozenset({"fa"})),
    }
    ET.fromstring(graph_svg(compute_graph(tables)))


@pytest.mark.sandbox
def test_symbol_tables_of_real_modules(kbuild_dir, require_sandbox, tmp_path):
    from kmodlab.build import build_submission

    src = tmp_path / "src"
    shutil.copytree(CORPUS / "provider_consumer", src)
    result = build_submission(src, headers=kbuild_dir, out_dir=tmp_path / "out")
    assert result.ok, result.log
    kos = {m.name: m.ko for m in result.modules}
    provider = depgraph.symbol_table(kos["provider"])
    consumer = depgraph.symbol_table(kos["consumer"])
    assert provider.exports == {"provider_add": "EXPORT_SYMBOL_GPL"}
    assert "provider_add" in consumer.imports and "_printk" in consumer.imports
    assert "provider_add" not in provider.imports
    graph = depgraph.graph_from_kos(kos, MODULES_DEP)
    assert ("consumer", "provider", ("provider_add",), True) in [
        (e.consumer, e.provider, e.symbols, e.in_modules_dep) for e in graph.edges
    ]
