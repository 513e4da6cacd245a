"""Widgets for the lab: a module console, an lsmod table, a fault explorer, a symbol graph.

Each is a plain class holding its state in Python (what tests assert on) with
the ipywidgets tree in `.widget`. Displaying one gives JupyterLab the live
widget and gives every other consumer (nbval, nbconvert, a terminal) a
text/plain (and static HTML) picture of the same state, via _repr_mimebundle_.

The guest side is duck-typed: a Workspace (crashes are decoded and the guest
restarted, as in the magics) or anything with run(argv) and dmesg(), such as a
Session or a test's fake.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import ipywidgets as w

from kmodlab.errors import KmodlabError
from kmodlab.grader.report.ladder import ladder_lines, ladder_svg, point_title, where
from kmodlab.grader.report.model import Report
from kmodlab.lab import depgraph, render
from kmodlab.lab.render import Rendered
from kmodlab.vm.guest import CommandResult, GuestError
from kmodlab.vm.protocol import KmsgRecord

MODULES_DEP = "cat /lib/modules/$(uname -r)/modules.dep"
LOG_LINES_IN_TEXT = 20  # of the kernel log in a widget's text form


class LabWidget:
    """Common display protocol: the live widget where a frontend exists, text elsewhere."""

    widget: w.Widget

    def text(self) -> str:
        raise NotImplementedError

    def html(self) -> str:
        return f"<pre>{escape(self.text())}</pre>"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        data: dict[str, Any] = {"text/plain": self.text(), "text/html": self.html()}
        bundle = self.widget._repr_mimebundle_() if self.widget._repr_mimebundle_ else {}
        view = (bundle or {}).get("application/vnd.jupyter.widget-view+json")
        if view is not None:
            data["application/vnd.jupyter.widget-view+json"] = view
        return data

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.text())


class _Guest:
    """A widget's commands, through a Workspace (crash handling) or a bare session."""

    def __init__(self, target: Any):
        self.target = target

    def is_workspace(self) -> bool:
        return hasattr(self.target, "drain") and hasattr(self.target, "module_builds")

    def run(self, argv: list[str]) -> tuple[CommandResult | None, str | None]:
        """(result, problem): problem says what happened to a guest that died."""
        try:
            if self.is_workspace():
                step = self.target.run(argv)
                crash = step.crash
                return step.result, (None if crash is None else self.target.view_crash(crash).text)
            return self.target.run(argv), None
        except GuestError as e:
            return None, f"the guest stopped: {e.problem} (the next action starts a fresh one)"
        except KmodlabError as e:  # no lab to run in (not set up): a button cannot raise
            return None, e.line()

    def sh(self, script: str) -> tuple[CommandResult | None, str | None]:
        if self.is_workspace():
            try:
                step = self.target.sh(script)
            except KmodlabError as e:
                return None, e.line()
            return step.result, None if step.crash is None else step.crash.headline
        return self.run(["/bin/sh", "-c", script])

    def dmesg(self) -> list[KmsgRecord]:
        try:
            if self.is_workspace():
                step = self.target.drain()
                return list(step.result.kmsg) if step.result is not None else []
            return list(self.target.dmesg())
        except KmodlabError:  # GuestError included: the next action starts a fresh guest
            return []


# -- (1) a console for one module ---------------------------------------------
class ModuleConsole(LabWidget):
    """Load/unload buttons, a parameter field and a kernel-log pane for one module."""

    def __init__(self, session: Any, module: str, params: str = ""):
        self.guest = _Guest(session)
        self.module = module
        self.entries: list[KmsgRecord | str] = []
        self.last: CommandResult | None = None
        self.loaded: bool | None = None  # None: not known until the first action
        self.load_button = w.Button(description="load", button_style="success", icon="play")
        self.unload_button = w.Button(description="unload", button_style="warning", icon="stop")
        self.refresh_button = w.Button(description="refresh log", icon="refresh")
        self.params = w.Text(value=params, placeholder="param=value ...", description="params")
        self.status = w.HTML()
        self.log = w.HTML()
        self.load_button.on_click(lambda _b: self.load())
        self.unload_button.on_click(lambda _b: self.unload())
        self.refresh_button.on_click(lambda _b: self.refresh())
        buttons = w.HBox([self.load_button, self.unload_button, self.refresh_button])
        self.widget = w.VBox(
            [w.HTML(f"<b>{escape(module)}</b>"), self.params, buttons, self.status, self.log]
        )
        self._update()

    def load(self) -> CommandResult | None:
        # insmod joins its arguments into one string that the kernel parses itself
        # (param="a b" quoting included): pass the field as typed, as one argument.
        params = self.params.value.strip()
        return self._act(
            ["insmod", f"{self.module}.ko", *([params] if params else [])], loaded_if_ok=True
        )

    def unload(self) -> CommandResult | None:
        return self._act(["rmmod", self.module], loaded_if_ok=False)

    def refresh(self) -> None:
        """Drain what the kernel logged since the last command (timers, work items)."""
        self.entries += self.guest.dmesg()
        self._update()

    def _act(self, argv: list[str], *, loaded_if_ok: bool) -> CommandResult | None:
        result, problem = self.guest.run(argv)
        self.last = result
        if result is None:
            self.entries.append(f"$ {' '.join(argv)}: {problem}")
            self.loaded = False
        else:
            self.entries.append(f"$ {' '.join(argv)}   [{render.status_words(result)}]")
            self.entries += [f"  {line}" for line in result.stderr.splitlines()]
            self.entries += result.kmsg
            if problem:
                self.entries.append(problem.splitlines()[0])
                self.loaded = False
            elif result.ok:
                self.loaded = loaded_if_ok
            elif "File exists" in result.stderr:
                self.loaded = True
            elif "not currently loaded" in result.stderr:
                self.loaded = False
        self._update()
        return result

    def _update(self) -> None:
        word = {True: "loaded", False: "not loaded", None: "unknown"}[self.loaded]
        colour = {True: render.GREEN, False: render.GREY, None: render.GREY}[self.loaded]
        self.status.value = f'<span style="color:{colour}">{escape(self.module)}: {word}</span>'
        self.log.value = render.kmsg_html(self.entries)

    def log_lines(self) -> list[str]:
        return [e if isinstance(e, str) else e.format() for e in self.entries]

    def text(self) -> str:
        word = {True: "loaded", False: "not loaded", None: "state unknown"}[self.loaded]
        lines = self.log_lines()[-LOG_LINES_IN_TEXT:]
        head = [f"ModuleConsole {self.module} ({word})", "kernel log:"]
        return "\n".join(head + (lines or ["(empty)"]))

    def html(self) -> str:
        return render.log_view(self.entries, self.text().splitlines()[0]).html


# -- (2) lsmod as a table ------------------------------------------------------
@dataclass(frozen=True)
class ProcModule:
    name: str
    size: int
    refcount: int
    used_by: tuple[str, ...]
    state: str  # Live, Loading, Unloading
    taint: str  # e.g. "OE"; "" for in-tree modules


def parse_proc_modules(text: str) -> list[ProcModule]:
    """/proc/modules lines: `name size refcount deps, state address [(taints)]`."""
    rows = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 5 or not parts[1].isdigit():
            continue
        used = tuple(u for u in parts[3].split(",") if u and u != "-")
        refs = int(parts[2]) if parts[2].lstrip("-").isdigit() else 0
        taint = parts[6].strip("()") if len(parts) > 6 else ""
        rows.append(ProcModule(parts[0], int(parts[1]), refs, used, parts[4], taint))
    return rows


class LsmodTable(LabWidget):
    """lsmod from /proc/modules: name, size, refcount, used by; a refresh button."""

    def __init__(self, session: Any, *, refresh: bool = True):
        self.guest = _Guest(session)
        self.rows: list[ProcModule] = []
        self.problem: str | None = None
        self.table = w.HTML()
        self.refresh_button = w.Button(description="refresh", icon="refresh")
        self.refresh_button.on_click(lambda _b: self.refresh())
        self.widget = w.VBox([self.refresh_button, self.table])
        if refresh:
            self.refresh()
        else:
            self.table.value = self.html()

    def refresh(self) -> None:
        result, problem = self.guest.run(["cat", "/proc/modules"])
        self.problem = problem
        if result is not None and result.ok:
            self.rows = parse_proc_modules(result.stdout)
        self.table.value = self.html()

    def html(self) -> str:
        cell = "padding:2px 10px;text-align:left;border-bottom:1px solid #ddd"
        head = "".join(
            f'<th style="{cell}">{h}</th>' for h in ("Module", "Size", "Used", "by", "state")
        )
        body = "".join(self._row(r, cell) for r in self.rows)
        note = (
            f'<div style="color:{render.RED}">{escape(self.problem)}</div>' if self.problem else ""
        )
        table = '<table style="border-collapse:collapse;font-family:monospace">'
        return f"{note}{table}{head}{body}</table>"

    @staticmethod
    def _row(r: ProcModule, style: str) -> str:
        state = r.state + (f" ({r.taint})" if r.taint else "")
        cells = (r.name, str(r.size), str(r.refcount), ",".join(r.used_by), state)
        return "<tr>" + "".join(f'<td style="{style}">{escape(c)}</td>' for c in cells) + "</tr>"

    def text(self) -> str:
        lines = [f"{'Module':<24}{'Size':>8}  Used by"]
        for r in self.rows:
            lines.append(f"{r.name:<24}{r.size:>8}  {r.refcount} {','.join(r.used_by)}".rstrip())
        return "\n".join(([self.problem] if self.problem else []) + lines)


# -- (3) the fault-injection points of a report ---------------------------------
class FaultExplorer(LabWidget):
    """A slider over a report's fault-injection points: the ladder and the source lines."""

    def __init__(self, report: Report, sources: Mapping[str, str] | None = None):
        check = report.check("fault-injection")
        self.points: list[dict[str, Any]] = list(
            (check.data.get("points") if check else None) or []
        )
        self.sources = dict(sources or {})
        failing = [i for i, p in enumerate(self.points, 1) if p.get("verdict") != "pass"]
        self.slider = w.IntSlider(
            value=failing[0] if failing else 1,
            min=1,
            max=max(len(self.points), 1),
            description="point",
            disabled=not self.points,
            continuous_update=False,
        )
        self.view = w.HTML()
        self.slider.observe(lambda _change: self._update(), names="value")
        self.widget = w.VBox([self.slider, self.view])
        self._update()

    @property
    def point(self) -> dict[str, Any] | None:
        return self.points[self.slider.value - 1] if self.points else None

    def _update(self) -> None:
        self.view.value = self.html()

    def _heading(self, p: Mapping[str, Any]) -> str:
        verdict = "handled correctly" if p.get("verdict") == "pass" else str(p.get("verdict"))
        return f"{point_title(p, self.points)}: {p.get('call')} fails at {where(p)} ({verdict})"

    def html(self) -> str:
        p = self.point
        if p is None:
            return "<div>this report has no fault-injection points</div>"
        places = [p, *(p.get("leaked") or [])]
        quoted = "".join(
            render.source_html(self.sources.get(x.get("file") or ""), x.get("line"), context=1)
            for x in places
        )
        ladder = f'<div style="overflow-x:auto">{ladder_svg(p)}</div>'
        return f"<div><b>{escape(self._heading(p))}</b></div>{ladder}{quoted}"

    def text(self) -> str:
        p = self.point
        if p is None:
            return "FaultExplorer: this report has no fault-injection points"
        return "\n".join([self._heading(p), *("  " + line for line in ladder_lines(p))])


# -- (4) who uses whose symbols ------------------------------------------------
class SymbolGraph(LabWidget):
    """Modules and the symbols they take from each other, from the .ko files and modules.dep."""

    def __init__(
        self, kos: Mapping[str, Path], session: Any = None, *, modules_dep: str | None = None
    ):
        self.kos = dict(kos)
        self.guest = _Guest(session) if session is not None else None
        self.modules_dep_text = modules_dep
        self.problem: str | None = None
        self.picture = w.HTML()
        self.refresh_button = w.Button(description="read modules.dep", icon="refresh")
        self.refresh_button.on_click(lambda _b: self.refresh())
        self.refresh_button.disabled = self.guest is None
        self.widget = w.VBox([self.refresh_button, self.picture])
        self.graph = depgraph.graph_from_kos(self.kos, self.modules_dep_text)
        self.picture.value = self.html()

    @classmethod
    def from_workspace(cls, ws: Any, *, read_modules_dep: bool = True) -> SymbolGraph:
        kos = {name: _ko(build.modules, name) for name, build in ws.module_builds.items()}
        graph = cls({n: k for n, k in kos.items() if k is not None}, ws)
        if read_modules_dep and ws.has_session():
            graph.refresh()
        return graph

    def refresh(self) -> None:
        """Read depmod's modules.dep from the guest and mark the edges it confirms."""
        if self.guest is not None:
            result, problem = self.guest.sh(MODULES_DEP)
            self.problem = problem
            if result is not None and result.ok:
                self.modules_dep_text = result.stdout
        self.graph = depgraph.graph_from_kos(self.kos, self.modules_dep_text)
        self.picture.value = self.html()

    def html(self) -> str:
        return depgraph.graph_svg(self.graph)

    def text(self) -> str:
        return "symbol graph (consumer -> provider: symbols)\n" + self.graph.text()

    def rendered(self) -> Rendered:
        return Rendered(self.text(), self.html())


def _ko(modules: Sequence[Any], name: str) -> Path | None:
    return next((m.ko for m in modules if m.name == name), None)
