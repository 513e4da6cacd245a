"""Widget state driven from Python, against a fake session: clicks, sliders, text fallbacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from IPython.core.formatters import DisplayFormatter

from kmodlab.grader.report.model import Report
from kmodlab.lab.widgets import (
    FaultExplorer,
    LsmodTable,
    ModuleConsole,
    SymbolGraph,
    parse_proc_modules,
)
from kmodlab.lab.workspace import Workspace
from kmodlab.vm.guest import CommandResult, GuestCrashed
from tests.unit.test_lab_fakes import PANIC_CONSOLE, FakeSession, record

REPORTS = Path(__file__).resolve().parents[1] / "data" / "reports"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

PROC_MODULES = """\
consumer 16384 0 - Live 0xffffffffc0232000 (OE)
provider 16384 1 consumer, Live 0xffffffffc020e000 (OE)
virtio_pci_legacy_dev 16384 1 virtio_pci, Live 0xffffffffc0223000
virtio_ring 49152 3 virtio_console,virtio_pci,virtio, Live 0xffffffffc0201000
hello 12288 0 [permanent], Live 0xffffffffc020e000 (OE)
stuck 16384 1 - Loading 0xffffffffc0300000 (OE+)
"""


def formatted(obj) -> dict:
    """What IPython's display() would publish for obj (data by MIME type)."""
    data, _meta = DisplayFormatter().format(obj)
    return data


def test_proc_modules_parsing():
    rows = {r.name: r for r in parse_proc_modules(PROC_MODULES + "garbage line\n")}
    assert list(rows) == [
        "consumer",
        "provider",
        "virtio_pci_legacy_dev",
        "virtio_ring",
        "hello",
        "stuck",
    ]
    assert rows["provider"].used_by == ("consumer",) and rows["provider"].refcount == 1
    assert rows["virtio_ring"].used_by == ("virtio_console", "virtio_pci", "virtio")
    assert rows["consumer"].used_by == () and rows["consumer"].taint == "OE"
    assert rows["hello"].used_by == ("[permanent]",)
    assert rows["stuck"].state == "Loading" and rows["virtio_ring"].taint == ""


def test_module_console_buttons_drive_the_guest_and_fill_the_log():
    fake = FakeSession()
    console = ModuleConsole(fake, "hello", params="who=world")
    assert console.loaded is None and "unknown" in console.status.value
    console.load_button.click()
    assert fake.calls[-1] == ["insmod", "hello.ko", "who=world"]
    assert console.loaded is True and "hello: Hello who=world" in console.log.value
    console.load_button.click()  # again: kmod says File exists, it is still loaded
    assert console.loaded is True and "File exists" in console.log.value
    console.unload_button.click()
    assert console.loaded is False and "hello: Goodbye" in console.log.value
    fake.pending = [record("hello: a timer fired late", seq=500)]
    console.refresh_button.click()
    assert console.log_lines()[-1].endswith("hello: a timer fired late")


def test_module_console_survives_a_dead_guest():
    fake = FakeSession()
    console = ModuleConsole(fake, "boom")
    fake.fail_next = GuestCrashed("the guest stopped (QEMU exited): Kernel panic", PANIC_CONSOLE)
    console.load_button.click()
    assert console.loaded is False and console.last is None
    assert "the guest stopped" in console.log.value


def test_module_console_through_a_workspace_decodes_and_restarts(tmp_path: Path):
    fake = FakeSession()
    fake.oops_on.add("oops")
    ws = Workspace(tmp_path, session=fake, headers=tmp_path)
    console = ModuleConsole(ws, "oops")
    console.load()
    assert fake.restarts == 1 and console.loaded is False
    assert any("the kernel reported: BUG" in line for line in console.log_lines())
    ws.close()


def test_module_console_text_fallback_is_meaningful():
    fake = FakeSession()
    console = ModuleConsole(fake, "hello")
    console.load()
    data = formatted(console)
    assert data["text/plain"].splitlines()[:2] == ["ModuleConsole hello (loaded)", "kernel log:"]
    assert "hello: Hello" in data["text/plain"]
    assert WIDGET_VIEW in data and "text/html" in data


def test_lsmod_table_refresh():
    fake = FakeSession()
    table = LsmodTable(fake)
    assert [r.name for r in table.rows] == ["virtio_ring"]
    fake.loaded = {"provider": ["consumer"], "consumer": []}
    table.refresh_button.click()
    assert [r.name for r in table.rows][:2] == ["provider", "consumer"]
    assert "<td" in table.table.value and "consumer" in table.table.value
    text = formatted(table)["text/plain"].splitlines()
    assert text[0].split() == ["Module", "Size", "Used", "by"]
    assert text[1].split() == ["provider", "16384", "1", "consumer"]


@pytest.fixture
def rich() -> Report:
    return Report.from_dict(json.loads((REPORTS / "rich.json").read_text()))


def test_fault_explorer_starts_at_the_first_failing_point_and_follows_the_slider(rich: Report):
    sources = {"mydev.c": (REPORTS / "sample" / "mydev.c").read_text()}
    fx = FaultExplorer(rich, sources)
    points = rich.check("fault-injection").data["points"]  # type: ignore[union-attr]
    first_bad = next(i for i, p in enumerate(points, 1) if p["verdict"] != "pass")
    assert fx.slider.value == first_bad and fx.slider.max == len(points)
    assert "<svg" in fx.view.value and "LEFT BEHIND" in fx.text()
    fx.slider.value = 1
    assert fx.point == points[0]
    assert "handled correctly" in fx.view.value and "injected failure 1 of" in fx.text()
    line = sources["mydev.c"].splitlines()[points[0]["line"] - 1].strip()
    assert line.split()[0] in fx.view.value  # the source line of the failing call
    assert formatted(fx)["text/plain"] == fx.text()


def test_fault_explorer_without_points(rich: Report):
    rich.checks = [c for c in rich.checks if c.id != "fault-injection"]
    fx = FaultExplorer(rich)
    assert fx.slider.disabled and fx.point is None
    assert "no fault-injection points" in fx.text()


def test_symbol_graph_from_captured_modules_dep(monkeypatch):
    from kmodlab.lab import depgraph

    tables = {
        "provider": depgraph.SymbolTable(
            "provider", {"provider_add": "EXPORT_SYMBOL_GPL"}, frozenset({"_printk"})
        ),
        "consumer": depgraph.SymbolTable("consumer", {}, frozenset({"provider_add", "_printk"})),
    }
    monkeypatch.setattr(depgraph, "symbol_table", lambda ko, name: tables[name])
    dep = "extra/provider.ko:\nextra/consumer.ko: extra/provider.ko\n"
    fake = FakeSession()
    fake.run = lambda argv, timeout_s=30.0: CommandResult(argv, "exited", 0, dep, "")  # type: ignore[method-assign]
    graph = SymbolGraph({"provider": Path("p.ko"), "consumer": Path("c.ko")}, fake)
    assert graph.graph.edges[0].in_modules_dep is None  # modules.dep not read yet
    graph.refresh_button.click()
    edge = next(e for e in graph.graph.edges if e.provider == "provider")
    assert edge.consumer == "consumer" and edge.symbols == ("provider_add",) and edge.in_modules_dep
    assert "consumer -> provider: provider_add (modules.dep agrees)" in graph.text()
    assert "<svg" in graph.picture.value and "provider_add" in graph.picture.value
