"""The widgets' models against the real guest: buttons pressed from Python, state asserted."""

from __future__ import annotations

from pathlib import Path

import pytest
from IPython.core.formatters import DisplayFormatter

from kmodlab.lab.widgets import LsmodTable, ModuleConsole, SymbolGraph
from kmodlab.lab.workspace import Workspace

pytestmark = [pytest.mark.vm, pytest.mark.usefixtures("require_sandbox")]

CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"
HELLO = (Path(__file__).resolve().parents[1] / "data" / "modules" / "hello" / "hello.c").read_text()


@pytest.fixture(scope="module")
def ws(machine, tmp_path_factory):
    w = Workspace(tmp_path_factory.mktemp("lab-widgets"), machine=machine)
    outcome = w.kmodule("hello", HELLO)
    assert outcome.ok, w.view_cell(outcome).text
    yield w
    w.close()


def test_module_console_load_button_loads_and_logs(ws):
    console = ModuleConsole(ws, "hello")
    table = LsmodTable(ws)
    assert "hello" not in [r.name for r in table.rows]
    console.load_button.click()
    assert console.loaded is True and console.last is not None and console.last.ok
    assert "Hello" in console.log.value
    table.refresh_button.click()
    row = next(r for r in table.rows if r.name == "hello")
    assert row.refcount == 0 and row.state == "Live" and "OE" in row.taint
    assert "<td" in table.table.value and ">hello<" in table.table.value
    console.unload_button.click()
    assert console.loaded is False and "Goodbye" in console.log.value
    table.refresh()
    assert "hello" not in [r.name for r in table.rows]
    plain = DisplayFormatter().format(console)[0]["text/plain"]
    assert plain.startswith("ModuleConsole hello (not loaded)") and "Goodbye" in plain


def test_module_console_parameters_reach_the_module(ws):
    params = Path(__file__).resolve().parents[1] / "data" / "modules" / "params" / "params.c"
    assert ws.kmodule("params", params.read_text()).ok
    console = ModuleConsole(ws, "params")
    console.params.value = 'whom="the lab"'  # the kernel's own quoting
    console.load()
    assert console.loaded is True and "params: hello, the lab" in console.log.value
    console.unload()
    assert "params: goodbye, the lab" in console.log.value
    ws.delete("params")


def test_symbol_graph_of_provider_and_consumer(ws):
    for name in ("provider", "consumer"):
        assert ws.kmodule(name, (CORPUS / "provider_consumer" / f"{name}.c").read_text()).ok
    graph = SymbolGraph.from_workspace(ws)
    edge = next(e for e in graph.graph.edges if e.provider == "provider")
    assert edge.consumer == "consumer" and edge.symbols == ("provider_add",)
    assert edge.in_modules_dep is True  # depmod in the guest agrees
    assert "provider_add" in graph.picture.value and graph.picture.value.startswith("<svg")
    ws.delete("consumer")
    ws.delete("provider")
