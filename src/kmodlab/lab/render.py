"""What the lab shows in a notebook: build errors, command output, crashes, reports.

Every view is a Rendered: the same content as HTML (for JupyterLab) and as
plain text (for a terminal IPython, nbval, nbconvert to text). Pure functions
of their inputs, no I/O, so they are tested on captured data. All text that
came from the student, the compiler or the guest is escaped: a printk can say
anything, including `<script>`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from kmodlab.build.diagnostics import Diagnostic
from kmodlab.grader.report.formats import STATUS_WORD, to_text
from kmodlab.grader.report.ladder import ladder_svg, point_title, where
from kmodlab.grader.report.model import CheckResult, Finding, Report
from kmodlab.vm.guest import CommandResult
from kmodlab.vm.protocol import KmsgRecord

GREEN, RED, ORANGE, GREY, BLUE = "#2e7d32", "#c62828", "#ef6c00", "#757575", "#1565c0"
_BOX = "font-family:var(--jp-code-font-family,monospace);font-size:13px;line-height:1.4"
# text-align: JupyterLab right-aligns table cells, and a <pre> inside one would follow.
_PRE = (
    "margin:2px 0;padding:4px 6px;white-space:pre-wrap;background:#fafafa;border-radius:4px;"
    "text-align:left"
)
SEVERITY_COLOUR = {"error": RED, "warning": ORANGE, "note": GREY}
STATUS_COLOUR = {"pass": GREEN, "fail": RED, "error": ORANGE, "skip": GREY}
# Kernel log levels 0..7: emerg..debug. Errors and worse in red, warnings in orange.
_LEVEL_COLOUR = {0: RED, 1: RED, 2: RED, 3: RED, 4: ORANGE}
KMSG_FOLD = 12  # kernel log lines shown beside a command before the rest folds away


@dataclass(frozen=True)
class Rendered:
    """One view in two forms. IPython picks HTML in a notebook, text elsewhere."""

    text: str
    html: str

    def _repr_html_(self) -> str:
        return self.html

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.text)

    def __str__(self) -> str:
        return self.text

    def __add__(self, other: Rendered) -> Rendered:
        return Rendered(f"{self.text}\n{other.text}", self.html + other.html)


def box(inner: str, colour: str = GREY) -> str:
    style = f"{_BOX};border-left:4px solid {colour};padding-left:8px;margin:4px 0"
    return f'<div class="kmodlab" style="{style}">{inner}</div>'


def pre(text: str, colour: str | None = None) -> str:
    style = _PRE + (f";color:{colour}" if colour else "")
    return f'<pre style="{style}">{escape(text)}</pre>'


# -- source quoting -------------------------------------------------------------
# gcc (11 and later) counts columns in display units with tabs at 8, so the caret
# goes at column - 1 of the tab-expanded line, not of the raw one.
TABSTOP = 8


def _lines_around(source: str | None, line: int | None, context: int) -> range:
    if source is None or line is None:
        return range(0)
    count = len(source.splitlines())
    if not 1 <= line <= count:
        return range(0)
    return range(max(1, line - context), min(count, line + context) + 1)


def source_text(
    source: str | None,
    line: int | None,
    column: int | None = None,
    *,
    before: int = 0,
    indent: int = 4,
) -> list[str]:
    """`  7 | code` (after `before` lines of context) and a caret under the column,
    or an underline of the whole line when there is no column."""
    numbers = _lines_around(source, line, before)
    if not numbers or source is None or line is None:
        return []
    lines = source.splitlines()
    pad, width = " " * indent, len(str(line))
    out = [f"{pad}{n:>{width}} | {lines[n - 1].expandtabs(TABSTOP).rstrip()}" for n in numbers]
    out = out[: line - numbers[0] + 1]  # context before the line only: the caret ends it
    code = lines[line - 1].expandtabs(TABSTOP).rstrip()
    if column:
        marker = " " * (column - 1) + "^"
    else:
        start = len(code) - len(code.lstrip())
        marker = " " * start + "^" * (len(code) - start)
    return [*out, f"{pad}{' ' * width} | {marker}"]


def source_html(
    source: str | None, line: int | None, column: int | None = None, context: int = 1
) -> str:
    """The offending line highlighted, with context lines each side and a caret."""
    numbers = _lines_around(source, line, context)
    if not numbers or source is None:
        return ""
    lines = source.splitlines()
    width = len(str(numbers[-1]))
    rows = []
    for n in numbers:
        code = escape(lines[n - 1].expandtabs(TABSTOP))
        style = "background:#ffebee;font-weight:bold" if n == line else f"color:{GREY}"
        rows.append(f'<div style="{style}">{n:>{width}} | {code}</div>')
        if n == line and column:
            rows.append(f'<div style="color:{RED}">{" " * width} | {" " * (column - 1)}^</div>')
    return f'<pre style="{_PRE}">{"".join(rows)}</pre>'


# -- build ----------------------------------------------------------------------
def _diag_where(d: Diagnostic, cell_file: str | None) -> str:
    if d.file == cell_file and d.line is not None:
        col = f", column {d.column}" if d.column else ""
        return f"cell line {d.line}{col}"
    return ":".join(str(p) for p in (d.file, d.line, d.column) if p is not None)


def diagnostic_view(
    d: Diagnostic,
    sources: Mapping[str, str],
    cell_file: str | None,
    quoted: set[tuple[str | None, int | None]] | None = None,
) -> Rendered:
    """One compiler message on the cell's line (or the file's), the source quoted once."""
    at = _diag_where(d, cell_file)
    fn = f" (in function {d.function})" if d.function else ""
    head = f"{at + ': ' if at else ''}{d.severity}: {d.message}{fn}"
    seen = quoted if quoted is not None else set()
    # gcc's notes repeat the line of the error they explain: quote each line once.
    show = (d.file, d.line) not in seen
    seen.add((d.file, d.line))
    source = sources.get(d.file or "") if show else None
    colour = SEVERITY_COLOUR.get(d.severity, GREY)
    html = (
        f'<div><b style="color:{colour}">{escape(d.severity)}</b> '
        f"<b>{escape(at)}</b>{': ' if at else ''}{escape(d.message)}{escape(fn)}</div>"
        + source_html(source, d.line, d.column)
    )
    return Rendered("\n".join([head, *source_text(source, d.line, d.column)]), html)


def build_view(
    *,
    ok: bool,
    cell_file: str | None,
    diagnostics: Sequence[Diagnostic],
    sources: Mapping[str, str],
    summary: str,
) -> Rendered:
    """The build's verdict then its messages: the cell's own first, other files after."""
    own = [d for d in diagnostics if d.file == cell_file]
    rest = [d for d in diagnostics if d.file != cell_file]
    quoted: set[tuple[str | None, int | None]] = set()
    parts = [diagnostic_view(d, sources, cell_file, quoted) for d in own + rest]
    colour = GREEN if ok and not own else (ORANGE if ok else RED)
    text = "\n".join([summary, *(p.text for p in parts)])
    html = box(
        f'<div style="color:{colour};font-weight:bold">{escape(summary)}</div>'
        + "".join(p.html for p in parts),
        colour,
    )
    return Rendered(text, html)


def count_words(diagnostics: Sequence[Diagnostic]) -> str:
    """'1 error, 2 warnings' (notes are context for those, not counted)."""
    n_err = sum(d.severity == "error" for d in diagnostics)
    n_warn = sum(d.severity == "warning" for d in diagnostics)
    words = []
    if n_err:
        words.append(f"{n_err} error{'s' * (n_err != 1)}")
    if n_warn:
        words.append(f"{n_warn} warning{'s' * (n_warn != 1)}")
    return ", ".join(words)


# -- commands and the kernel log ------------------------------------------------
def kmsg_text(records: Sequence[KmsgRecord]) -> list[str]:
    return [r.format() for r in records]


def _kmsg_row(r: KmsgRecord | str) -> str:
    if isinstance(r, str):  # a marker the lab inserted: a fresh guest, a restart
        return f'<div style="color:{BLUE};font-style:italic">{escape(r)}</div>'
    colour = _LEVEL_COLOUR.get(r.level)
    style = f' style="color:{colour}"' if colour else ""
    return f"<div{style}>{escape(r.format())}</div>"


def kmsg_html(records: Sequence[KmsgRecord | str], *, fold_after: int | None = None) -> str:
    """Kernel log lines coloured by level; past fold_after lines, the rest folds away
    (an oops is ~60 lines of registers that would push everything else off screen)."""
    rows = [_kmsg_row(r) for r in records]
    if fold_after is not None and len(rows) > fold_after + 5:
        rest = "".join(rows[fold_after:])
        more = f"{len(rows) - fold_after} more lines"
        rows = [*rows[:fold_after], f"<details><summary>{more}</summary>{rest}</details>"]
    inner = "".join(rows) or f'<div style="color:{GREY}">(nothing)</div>'
    return f'<pre style="{_PRE}">{inner}</pre>'


def command_line(argv: Sequence[str]) -> str:
    # /bin/sh -c SCRIPT is how `%kmod sh` runs: show the script the student typed.
    if len(argv) == 3 and argv[0] == "/bin/sh" and argv[1] == "-c":
        return argv[2]
    return " ".join(argv)


def status_words(r: CommandResult) -> str:
    if r.status == "exited":
        return f"exit {r.returncode}"
    if r.status == "signaled":
        return f"killed by signal {-(r.returncode or 0)}"
    return r.status


def command_view(r: CommandResult) -> Rendered:
    """`$ command`, its output, and beside it the kernel log lines it caused."""
    head = f"$ {command_line(r.argv)}   [{status_words(r)}]"
    text = [head]
    text += [r.stdout.rstrip("\n")] if r.stdout.strip() else []
    text += [r.stderr.rstrip("\n")] if r.stderr.strip() else []
    if r.kmsg:
        text += ["kernel log:", *("  " + line for line in kmsg_text(r.kmsg))]
    colour = GREEN if r.ok else RED
    output = (pre(r.stdout) if r.stdout else "") + (pre(r.stderr, RED) if r.stderr else "")
    head_html = (
        f"<div><b>$ {escape(command_line(r.argv))}</b> "
        f'<span style="color:{colour}">[{escape(status_words(r))}]</span></div>'
    )
    # Output and kernel log side by side; an empty side is left out, not shown empty.
    columns = [("output", output)] if output else []
    log = kmsg_html(r.kmsg, fold_after=KMSG_FOLD)
    columns += [("kernel log", log)] if r.kmsg or not output else []
    html = box(head_html + _columns(*columns), colour)
    return Rendered("\n".join(text), html)


def _columns(*columns: tuple[str, str]) -> str:
    """Side by side where the output area is wide enough, stacked where it is not."""
    cells = "".join(
        f'<div style="flex:1 1 320px;min-width:0"><div style="color:{GREY}">{escape(title)}</div>'
        f"{inner}</div>"
        for title, inner in columns
    )
    return f'<div style="display:flex;gap:12px;flex-wrap:wrap">{cells}</div>'


def log_view(entries: Sequence[KmsgRecord | str], title: str) -> Rendered:
    """A kernel log: records, and the lab's own markers between guests."""
    lines = [e if isinstance(e, str) else e.format() for e in entries]
    text = "\n".join([title, *lines]) if lines else f"{title}\n(nothing logged yet)"
    return Rendered(text, box(f"<div><b>{escape(title)}</b></div>{kmsg_html(entries)}", BLUE))


def note_view(message: str, colour: str = BLUE) -> Rendered:
    return Rendered(message, box(f"<div>{escape(message)}</div>", colour))


# -- crashes --------------------------------------------------------------------
def crash_view(
    *,
    headline: str,
    location: tuple[str, int, str] | None,
    cell_file_names: Sequence[str],
    sources: Mapping[str, str],
    report_text: str,
    aftermath: str,
) -> Rendered:
    """The kernel's report, the student's line it points at, and what the lab did next.

    location is (file, line, function) decoded from the RIP or the call trace.
    """
    text = [headline]
    html = [f'<div style="color:{RED};font-weight:bold">{escape(headline)}</div>']
    if location is not None:
        file, line, function = location
        at = (
            f"cell line {line} of %%kmodule {file[:-2]}"
            if file in cell_file_names
            else f"{file}:{line}"
        )
        # The faulting instruction is often attributed to the line after the culprit
        # (a load folded into the return): show the lines leading up to it.
        text += [f"in {function}, at {at}", *source_text(sources.get(file), line, before=2)]
        html.append(f"<div>in <b>{escape(function)}</b>, at <b>{escape(at)}</b></div>")
        html.append(source_html(sources.get(file), line, context=2))
    if report_text.strip():
        text += ["", *report_text.rstrip().splitlines()]
        html.append(
            f"<details><summary>the kernel's report</summary>{pre(report_text.rstrip())}</details>"
        )
    text += ["", aftermath]
    html.append(f'<div style="color:{BLUE}">{escape(aftermath)}</div>')
    return Rendered("\n".join(text), box("".join(html), RED))


# -- grader reports -------------------------------------------------------------
def _num(x: float) -> str:
    return f"{round(x, 2):g}"


def _finding_html(f: Finding, sources: Mapping[str, str]) -> str:
    at = f" <b>{escape(where({'file': f.file, 'line': f.line}))}</b>" if f.file else ""
    col = f.data.get("column") if isinstance(f.data.get("column"), int) else None
    extra = ""
    for key in ("detail", "report"):
        value = f.data.get(key)
        if isinstance(value, str) and value.strip():
            extra += f"<details><summary>{key}</summary>{pre(value.rstrip())}</details>"
    return (
        f"<div>{escape(f.kind)}: {escape(f.message)}{at}</div>"
        + source_html(sources.get(f.file or ""), f.line, col, context=0)
        + extra
    )


def _points_html(check: CheckResult, sources: Mapping[str, str]) -> str:
    points = check.data.get("points") or []
    out = []
    for p in points:
        if p.get("verdict") == "pass":
            continue
        out.append(
            f"<div><b>{escape(point_title(p, points))}</b>: "
            f"{escape(str(p.get('call')))} fails at {escape(where(p))}</div>"
            f'<div style="overflow-x:auto">{ladder_svg(p)}</div>'
            + source_html(sources.get(p.get("file") or ""), p.get("line"), context=0)
        )
    return "".join(out)


def _check_row(c: CheckResult, sources: Mapping[str, str]) -> str:
    colour = STATUS_COLOUR[c.status]
    detail = "" if c.status == "pass" else "".join(_finding_html(f, sources) for f in c.findings)
    if c.id == "fault-injection" and c.status != "pass":
        detail += _points_html(c, sources)
    cell = "padding:3px 8px;vertical-align:top;border-bottom:1px solid #eee;text-align:left"
    return (
        f'<tr style="background:{colour}14"><td style="{cell};color:{colour};font-weight:bold">'
        f'{STATUS_WORD[c.status]}</td><td style="{cell};white-space:nowrap">{escape(c.id)}</td>'
        f'<td style="{cell};text-align:right">{_num(c.score)}/{_num(c.max_score)}</td>'
        f'<td style="{cell}">{escape(c.summary)}{detail}</td></tr>'
    )


def report_view(report: Report, sources: Mapping[str, str] | None = None) -> Rendered:
    """The grader's report: a green/red row per check, findings quoted, ladders drawn."""
    sources = sources or {}
    exercise = f" (exercise {report.exercise})" if report.exercise else ""
    head = (
        f"<div><b>kmodlab report for {escape(report.submission)}{escape(exercise)}</b>: "
        f"score {_num(report.score)} / {_num(report.max_score)}, kernel {escape(report.kernel)}, "
        f"graded in {report.duration_s:.1f} s</div>"
    )
    rows = "".join(_check_row(c, sources) for c in report.checks)
    table = f'<table style="border-collapse:collapse;margin-top:4px">{rows}</table>'
    ok = all(c.status in ("pass", "skip") for c in report.checks)
    return Rendered(to_text(report, sources=sources), box(head + table, GREEN if ok else RED))
