"""A Report in the forms people and tools read: JSON, Gradescope's results.json, text.

Pure functions of a Report (and, for quoting, the submission's source text);
the only I/O here is read_sources(), which collects that text. A report quotes
only what the validator took (build/validate.py): regular files, never a
symbolic link, never a file the build did not use. A finding that names any
other file (a `#line` directive can name anything) is shown without a quote.
JSON layout: docs/report-schema.md. Gradescope layout: its autograder
specification (results.json: score, execution_time, output, tests[]).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kmodlab.errors import InputError
from kmodlab.grader.report.ladder import ladder_lines, ladder_svg, point_title, where
from kmodlab.grader.report.model import FLAGGED, CheckResult, Finding, Report

__all__ = ["ladder_svg", "quotable", "quote", "read_sources", "to_gradescope", "to_json", "to_text"]

STATUS_WORD = {"pass": "PASS", "fail": "FAIL", "error": "ERROR", "skip": "SKIP"}
ERROR_NOTE = "the grader itself could not decide this check; this is not a verdict on your code"
FLAGGED_NOTE = (
    f"{FLAGGED.upper()}: this submission does what an honest module never needs "
    "(see the integrity check); an instructor must review it before this score counts"
)
MAX_TEXT_LINES = 30  # of an oops or traceback in the text form; the JSON keeps it all


# -- JSON ---------------------------------------------------------------------
def to_json(report: Report) -> str:
    """The report as kmodlab-report/1 JSON text, indent 2, byte-for-byte reproducible.

    The schema's own fields keep the model's order (schema first, checks last);
    the free-form `data` mappings are key-sorted, so that the same verdicts
    give the same bytes whatever order the pipeline filled them in (diffable
    regrades, golden files).
    """
    d = report.to_dict()
    for check in d["checks"]:
        check["data"] = _sorted(check["data"])
        for finding in check["findings"]:
            finding["data"] = _sorted(finding["data"])
    return json.dumps(d, indent=2, ensure_ascii=False, allow_nan=False)


def _sorted(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {k: _sorted(obj[k]) for k in sorted(obj)}
    if isinstance(obj, list | tuple):
        return [_sorted(v) for v in obj]
    return obj


# -- Gradescope ---------------------------------------------------------------
def to_gradescope(report: Report, *, sources: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Gradescope's results.json: one test per check, in report order.

    A test is "passed" only when its check passed: a skipped or undecided
    check must not show green to a student who lost its points.
    """
    tests = []
    for check in report.checks:
        detail = "\n".join(_details(check, sources or {}))
        tests.append(
            {
                "name": check.id,
                "score": check.score,
                "max_score": check.max_score,
                "status": "passed" if check.status == "pass" else "failed",
                "output": f"{STATUS_WORD[check.status]}: {check.summary}"
                + (f"\n\n{detail}" if detail else ""),
                # A hidden check's own (expectations.toml), e.g. "after_published".
                "visibility": check.data.get("visibility", "visible"),
            }
        )
    return {
        "score": report.score,
        "execution_time": round(report.duration_s),  # whole seconds, as the spec shows
        "output": "\n".join(_header(report)),
        "tests": tests,
    }


# -- text ---------------------------------------------------------------------
def to_text(report: Report, *, sources: Mapping[str, str] | None = None) -> str:
    """The report for a person: header, one line per check, then what went wrong and where.

    sources maps a file name as findings name it (e.g. "mydev.c") to its text;
    with it, each finding quotes the student's line under its file:line.
    """
    out = [*_header(report), ""]
    id_width = max([len(c.id) for c in report.checks] + [8])
    for c in report.checks:
        score = f"{_num(c.score)}/{_num(c.max_score)}"
        out.append(f"{STATUS_WORD[c.status]:<5}  {c.id:<{id_width}}  {score:>7}  {c.summary}")
    for c in report.checks:
        detail = _details(c, sources or {}) if c.status != "pass" else []
        if detail:
            out += ["", f"{STATUS_WORD[c.status]} {c.id}: {c.summary}", *detail]
    return "\n".join(out) + "\n"


def _header(report: Report) -> list[str]:
    exercise = f" (exercise {report.exercise})" if report.exercise else ""
    lines = [
        f"kmodlab report for {report.submission}{exercise}",
        f"kernel {report.kernel}, graded in {report.duration_s:.1f} s",
        f"score {_num(report.score)} / {_num(report.max_score)}",
    ]
    if report.flagged:
        lines.append(FLAGGED_NOTE)
    if any(c.status == "error" for c in report.checks):
        lines.append("some checks could not be decided by the grader (ERROR): ask your instructor")
    return lines


def _num(x: float) -> str:
    """2.0 -> '2', 1.25 -> '1.25': scores read as people write them."""
    return f"{round(x, 2):g}"


def _details(check: CheckResult, sources: Mapping[str, str]) -> list[str]:
    """Indented lines explaining a non-passing check: findings, then ladders."""
    lines = [f"  ({ERROR_NOTE})"] if check.status == "error" else []
    quoted: set[tuple[Any, Any]] = set()  # each source line once per check
    for f in check.findings:
        lines += finding_lines(f, sources, quoted=quoted)
    if check.id == "fault-injection":
        lines += _fault_points(check.data.get("points") or [], sources, quoted)
    return lines


def finding_lines(
    f: Finding, sources: Mapping[str, str], *, quoted: set[tuple[Any, Any]] | None = None
) -> list[str]:
    """'  kind: message', 'at file:line', the quoted source line and a marker under it.

    quoted collects the (file, line) already shown, to show each only once.
    """
    lines = [f"  {f.kind}: {f.message}"]
    if f.file:
        lines.append(f"    at {where({'file': f.file, 'line': f.line})}")
    seen = quoted if quoted is not None else set()
    if f.file and f.line is not None and (f.file, f.line) not in seen:
        seen.add((f.file, f.line))
        end = f.data.get("end_line") if isinstance(f.data.get("end_line"), int) else None
        col = f.data.get("column") if isinstance(f.data.get("column"), int) else None
        lines += quote(sources, f.file, f.line, end_line=end, column=col, indent=4)
    for key in ("detail", "report"):  # free text: ours, and the kernel's report
        text = f.data.get(key)
        if isinstance(text, str) and text.strip():
            lines += ["    " + t for t in _clip(text.rstrip().splitlines())]
    return lines


def _clip(lines: list[str]) -> list[str]:
    # An oops with a long call trace would bury everything after it.
    if len(lines) <= MAX_TEXT_LINES:
        return lines
    return [*lines[:MAX_TEXT_LINES], f"... ({len(lines) - MAX_TEXT_LINES} more lines in the JSON)"]


def _fault_points(
    points: list[dict[str, Any]], sources: Mapping[str, str], quoted: set[tuple[Any, Any]]
) -> list[str]:
    bad = [p for p in points if p.get("verdict") != "pass"]
    lines: list[str] = []
    for p in bad:
        lines += [
            "",
            f"  {point_title(p, points)}: {p.get('call')} fails at {where(p)}",
        ]
        lines += ["    " + line for line in ladder_lines(p)]
        shown = []
        for item in [p, *(p.get("leaked") or [])]:
            at = (item.get("file"), item.get("line"))
            if at not in quoted:
                quoted.add(at)
                shown += quote(sources, at[0], at[1], indent=6)
        lines += ["    in your code:", *shown] if shown else []
    good = len(points) - len(bad)
    if bad and good:
        were = "injected failure was" if good == 1 else f"{good} injected failures were"
        lines += ["", f"  the other {were} cleaned up correctly"]
    return lines


def quote(
    sources: Mapping[str, str],
    file: str | None,
    line: int | None,
    *,
    end_line: int | None = None,
    column: int | None = None,
    indent: int = 0,
) -> list[str]:
    """Lines `  27 | code` and a `^^^` marker, or [] when the text is not at hand.

    Tabs are expanded first (kernel code is tab-indented) so the marker sits
    under the code whatever the reader's tab width.
    """
    text = sources.get(file or "")
    if text is None or line is None:
        return []
    all_lines = text.splitlines()
    if not 1 <= line <= len(all_lines):
        return []
    last = max(line, min(end_line or line, len(all_lines)))
    pad, gutter = " " * indent, len(str(last))
    out = []
    for n in range(line, last + 1):
        raw = all_lines[n - 1]
        code = raw.expandtabs(8).rstrip()
        out.append(f"{pad}{n:>{gutter}} | {code}")
        if column is not None and column >= 1 and n == line:
            # gcc 12 counts display columns, tabs already expanded to 8.
            marker = " " * (column - 1) + "^"
        elif column is None and code.strip():
            start = len(code) - len(code.lstrip())
            marker = " " * start + "^" * (len(code) - start)
        else:
            continue  # a column marks one place; blank lines need no underline
        out.append(f"{pad}{' ' * gutter} | {marker}")
    return out


def quotable(report: Report, folder: Path) -> dict[str, str]:
    """The files a form may quote: those the grade validated (report.sources), else
    `folder` read now (a report loaded from JSON carries none)."""
    if report.sources:
        return report.sources
    return read_sources(folder) if folder.is_dir() else {}


def read_sources(submission: Path) -> dict[str, str]:
    """The files the validator takes from a submission, by relative path, for quoting.

    The same files, by the same rules, as the build copied: a folder the
    validator refuses gives no quotes at all, never a guess.
    """
    from kmodlab.build.validate import load_submission  # the build, only when quoting a folder

    try:
        return load_submission(submission).texts()
    except InputError:
        return {}
