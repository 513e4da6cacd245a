"""The rendered edition: the lessons executed in the real lab, as HTML with their outputs.

    python -m kmodlab.course render OUT [NOTEBOOK ...]

For students who read before they run. Each notebook is executed top to
bottom as a student would run it (a fresh kernel of this environment, the
lab's guest, in a temporary folder so its workspaces stay out of the
course), then written as OUT/NAME.html with every output kept, and
OUT/index.html links them in order. A cell that raises is rendered with its
error and the edition is still written (a lesson's self-check shown failing
is meant to); the command reports the cells that raised.
"""

from __future__ import annotations

import html
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kmodlab.errors import InputError


@dataclass(frozen=True)
class RenderedLesson:
    notebook: str  # the notebook's file name
    html: Path
    raised: list[str]  # "cell N: Ename" of cells that raised, but for those meant to


def course_notebooks() -> list[Path]:
    """The lessons, in order: the checkout's notebooks/, else the installed course's."""
    from kmodlab.coursefiles import content_root

    root = content_root()
    folder = (root or Path(".")) / "notebooks"
    found = sorted(folder.glob("[0-9]*.ipynb"))
    if not found:
        raise InputError(f"no notebooks in {folder}", "give the notebooks to render")
    return found


def render(
    out: Path, notebooks: Sequence[Path] | None = None, *, cell_timeout_s: float = 900
) -> list[RenderedLesson]:
    """Execute each notebook and write OUT/NAME.html (outputs kept) and OUT/index.html."""
    from kmodlab.extras import require

    require("course")
    notebooks = list(notebooks) if notebooks else course_notebooks()
    for nb in notebooks:
        if not nb.is_file():
            raise InputError(f"no notebook {nb}", "name .ipynb files, or none for the course's")
    out.mkdir(parents=True, exist_ok=True)
    done = [_render_one(nb, out, cell_timeout_s) for nb in notebooks]
    (out / "index.html").write_text(_index(done))
    return done


def _render_one(notebook: Path, out: Path, cell_timeout_s: float) -> RenderedLesson:
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(notebook), as_version=4)
    with tempfile.TemporaryDirectory(prefix="kmodlab-render-") as workdir:
        client = NotebookClient(
            nb,
            timeout=cell_timeout_s,
            kernel_name="python3",
            allow_errors=True,  # a lesson may show a failure on purpose: keep going
            resources={"metadata": {"path": workdir}},
        )
        client.execute()
    body, _ = HTMLExporter().from_notebook_node(nb)
    target = out / f"{notebook.stem}.html"
    target.write_text(body)
    return RenderedLesson(notebook.name, target, _raised(nb))


def _raised(nb) -> list[str]:  # type: ignore[no-untyped-def]
    raised = []
    code = [c for c in nb.cells if c.cell_type == "code"]
    for i, cell in enumerate(code):
        if "raises-exception" in cell.metadata.get("tags", []):
            continue
        raised += [f"cell {i}: {o.ename}" for o in cell.outputs if o.output_type == "error"]
    return raised


def _index(done: Sequence[RenderedLesson]) -> str:
    items = "\n".join(
        f'<li><a href="{html.escape(r.html.name)}">{html.escape(r.notebook)}</a></li>' for r in done
    )
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        "<title>kmodlab: the course, executed</title></head><body>\n"
        "<h1>kmodlab: the course, executed</h1>\n"
        "<p>Every lesson run top to bottom in the real lab, with its outputs: "
        "read it before you run it.</p>\n"
        f"<ol>\n{items}\n</ol>\n</body></html>\n"
    )
