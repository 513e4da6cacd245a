"""Read what an executed notebook showed (and execute one, as a student would).

Executed reads the outputs of a notebook nbval ran (the root conftest.py) or
execute() ran; no assertions here. The kernel is the python3
kernel of the running interpreter (the project's environment), started in
the folder given, so a notebook's workspaces land there and not in the
checkout.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient


@dataclass
class Executed:
    nb: nbformat.NotebookNode
    seconds: float
    cell_seconds: dict[int, float] = field(default_factory=dict)

    @property
    def code_cells(self) -> list[tuple[int, nbformat.NotebookNode]]:
        return [(i, c) for i, c in enumerate(self.nb.cells) if c.cell_type == "code"]

    def errors(self) -> list[str]:
        """One line per cell that raised (but for one tagged raises-exception, shown failing)."""
        out = []
        for i, c in self.code_cells:
            if _meant(c):
                continue
            for o in c.get("outputs", []):
                if o.output_type == "error":
                    first = c.source.split("\n", 1)[0]
                    out.append(f"cell {i} ({first}): {o.ename}: {o.evalue}")
        return out

    def cell(self, contains: str) -> nbformat.NotebookNode:
        """The one code cell whose source contains `contains`."""
        found = [c for _, c in self.code_cells if contains in c.source]
        assert len(found) == 1, f"{len(found)} cells contain {contains!r}"
        return found[0]

    def by_id(self, cell_id: str) -> nbformat.NotebookNode:
        (found,) = [c for _, c in self.code_cells if c.id == cell_id]
        return found

    def text(self, cell: nbformat.NotebookNode | None = None) -> str:
        """What a reader sees as text: streams, text/plain results, tracebacks."""
        # The whole notebook's text leaves out the cells shown failing on purpose.
        cells = [cell] if cell is not None else [c for _, c in self.code_cells if not _meant(c)]
        parts: list[str] = []
        for c in cells:
            for o in c.get("outputs", []):
                if o.output_type == "stream":
                    parts.append(o.text)
                elif o.output_type in ("display_data", "execute_result"):
                    parts.append(str(o.get("data", {}).get("text/plain", "")))
                elif o.output_type == "error":
                    parts.append("\n".join(o.traceback))
        return "\n".join(parts)

    def slowest(self, n: int = 3) -> list[tuple[float, str]]:
        pairs = [
            (s, self.nb.cells[i].source.split("\n", 1)[0]) for i, s in self.cell_seconds.items()
        ]
        return sorted(pairs, reverse=True)[:n]


def execute(notebook: Path, workdir: Path, *, cell_timeout: float = 300) -> Executed:
    nb = nbformat.read(str(notebook), as_version=4)
    workdir.mkdir(parents=True, exist_ok=True)
    client = NotebookClient(
        nb,
        timeout=cell_timeout,
        kernel_name="python3",
        allow_errors=True,  # run every cell; the test reports all errors at once
        resources={"metadata": {"path": str(workdir)}},
    )
    seconds: dict[int, float] = {}
    run_cell = client.async_execute_cell

    async def timed(cell, cell_index, *args, **kwargs):  # type: ignore[no-untyped-def]
        t0 = time.monotonic()
        try:
            return await run_cell(cell, cell_index, *args, **kwargs)
        finally:
            seconds[cell_index] = time.monotonic() - t0

    client.async_execute_cell = timed  # type: ignore[method-assign]
    t0 = time.monotonic()
    client.execute()
    return Executed(nb, time.monotonic() - t0, seconds)


def _meant(cell: nbformat.NotebookNode) -> bool:
    """A cell tagged raises-exception: a self-check the lesson shows failing, on purpose."""
    return "raises-exception" in cell.metadata.get("tags", [])
