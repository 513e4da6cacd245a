"""The "unwind ladder" of one fault-injection point, as text and as SVG.

A module's init acquires resources one after another; when a call fails, the
error path must release what was acquired, in reverse order (the goto-label
ladder). The pipeline injects a failure at each call and records what was
acquired before it, what the error path released and what it left behind; this
module draws that record so a student sees which rung is missing.

The input is one entry of CheckResult(id="fault-injection").data["points"]
(shape documented in docs/report-schema.md). Pure: no I/O.
"""

from __future__ import annotations

import errno
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

Point = Mapping[str, Any]
Resource = Mapping[str, Any]

OK, FAIL, UNDO = "✓", "✗", "↩"


def where(item: Resource) -> str:
    """`file:line`, or what is known of it."""
    file, line = item.get("file"), item.get("line")
    if file and line is not None:
        return f"{file}:{line}"
    return str(file or (f"line {line}" if line is not None else "unknown place"))


def point_title(point: Resource, points: list[Resource]) -> str:
    """ "injected failure 2 of 4", counted within the point's module ("... of 3 in b")
    when the submission has several: the index is the call number instrument.arm() fails."""
    module = point.get("module")
    same = [p for p in points if p.get("module") == module]
    several = len({p.get("module") for p in points}) > 1
    title = f"injected failure {point.get('index', '?')} of {len(same)}"
    return f"{title} in {module}" if several and module else title


def errno_text(value: int) -> str:
    """-12 -> '-12 (-ENOMEM)': students know the names, not the numbers."""
    name = errno.errorcode.get(-value) if value < 0 else None
    return f"{value} (-{name})" if name else str(value)


def _same(a: Resource, b: Resource) -> bool:
    """Is b the same acquisition as a (a leak report names the acquisition)?"""
    # By handle when both have one; else by the acquisition site, which is
    # enough because a leak record copies the acquisition's api/file/line.
    if a.get("handle") is not None and b.get("handle") is not None:
        return a["handle"] == b["handle"]
    return (a.get("api"), a.get("file"), a.get("line")) == (
        b.get("api"),
        b.get("file"),
        b.get("line"),
    )


def _undoes(release: Resource, acquisition: Resource) -> bool:
    # A release happens at another site than its acquisition, so only the
    # handle can tie them together.
    handle = acquisition.get("handle")
    return handle is not None and release.get("handle") == handle


def pair_releases(point: Point) -> tuple[list[Resource | None], list[Resource]]:
    """For each acquisition, the release that undid it (or None); then releases that undid none."""
    acquired: Sequence[Resource] = point.get("acquired") or []
    unmatched = list(point.get("released") or [])
    paired: list[Resource | None] = []
    for acq in acquired:
        rel = next((r for r in unmatched if _undoes(r, acq)), None)
        if rel is not None:
            unmatched.remove(rel)
        paired.append(rel)
    return paired, unmatched


def leak_hint(point: Point, leaked: Resource) -> str:
    """Why the error path missed it, in the words a goto-ladder author thinks in."""
    acquired: Sequence[Resource] = point.get("acquired") or []
    paired, _ = pair_releases(point)
    k = next((i for i, a in enumerate(acquired) if _same(a, leaked)), None)
    if k is None:
        return "your error path never frees it"
    if any(paired[:k]):
        # Something acquired earlier was released: the goto jumped past this rung.
        return "your error path never frees it; the label for it was skipped"
    if not any(paired):
        return "your error path never frees it; nothing was cleaned up after the failure"
    return "your error path never frees it; the unwinding stops before it"


def ladder_lines(point: Point) -> list[str]:
    """The ladder as text lines, unindented: acquisitions, the failure, releases, leftovers."""
    acquired: Sequence[Resource] = point.get("acquired") or []
    width = max([len(str(r.get("api"))) for r in _all_resources(point)] + [8])
    lines = [f"{OK} {a.get('api', '?'):<{width}}  {where(a)}" for a in acquired]
    # A point whose load never reached its call: nothing failed there.
    what = "never reached" if point.get("verdict") == "not-injected" else "fails here (injected)"
    lines.append(f"{FAIL} {point.get('call', '?'):<{width}}  {where(point)}  {what}")
    lines += _release_lines(point, width)
    lines += _outcome_lines(point)
    for leak in point.get("leaked") or []:
        # The pipeline's hint names the skipped label when the source shows it.
        hint = leak.get("hint") or leak_hint(point, leak)
        lines.append(f"LEFT BEHIND: {leak.get('api', '?')} at {where(leak)} — {hint}")
    # Registrations still present after the failed init (a device, a /proc entry).
    lines += [f"LEFT BEHIND: {what}" for what in point.get("leftovers") or []]
    return lines


def _all_resources(point: Point) -> list[Resource]:
    call = {"api": point.get("call")}
    return [*(point.get("acquired") or []), *(point.get("released") or []), call]


def _release_lines(point: Point, width: int) -> list[str]:
    acquired: Sequence[Resource] = point.get("acquired") or []
    lines = []
    for rel in point.get("released") or []:
        undone = next((a for a in acquired if _undoes(rel, a)), None)
        why = f"  undoes {undone.get('api')} from {where(undone)}" if undone else ""
        lines.append(f"{UNDO} {rel.get('api', '?'):<{width}}  {where(rel)}{why}")
    return lines


def _outcome_lines(point: Point) -> list[str]:
    lines = []
    returned = point.get("init_returned")
    if point.get("verdict") == "crash":
        lines.append("the kernel crashed in the error path")
    elif returned == 0:
        lines.append(f"init returned 0: it reported success although {point.get('call')} failed")
    elif returned is not None:
        lines.append(f"init returned {errno_text(returned)}")
    # A leak's message would repeat the LEFT BEHIND lines that follow.
    leaks = point.get("leaked") or point.get("leftovers")
    if point.get("message") and (point.get("verdict") == "crash" or not leaks):
        lines.append(str(point["message"]))
    return lines


# -- SVG ----------------------------------------------------------------------
_ROW, _CHAR, _PAD, _GAP = 24, 7.8, 16, 60  # px: row, monospace char at 13px, margin, rung
_GREEN, _RED, _BLUE, _GREY = "#2e7d32", "#c62828", "#1565c0", "#9e9e9e"


def ladder_svg(point: Point) -> str:
    """A small self-contained SVG of the ladder: one rung per acquisition.

    Left rail: what init acquired, then the injected failure. Right rail: the
    release that undid each acquisition on the same rung, or a red
    "LEFT BEHIND" where the error path missed it. Below: what init returned
    and why each leftover was missed.
    """
    paired, stray = pair_releases(point)
    leaked = point.get("leaked") or []
    rows = _svg_rows(point.get("acquired") or [], paired, leaked, point)
    rows += [("", "", f"{UNDO} {r.get('api')}  {where(r)}", _BLUE, None) for r in stray]
    title = f"Unwind ladder: {point.get('call')} fails at {where(point)}"
    footer = _outcome_lines(point) + [
        f"LEFT BEHIND: {lk.get('api')} at {where(lk)}: {leak_hint(point, lk)}" for lk in leaked
    ]
    footer += [f"LEFT BEHIND: {what}" for what in point.get("leftovers") or []]
    left_w = max([len(r[1]) + 2 for r in rows] + [10]) * _CHAR
    right_w = max([len(r[2]) for r in rows] + [10]) * _CHAR
    text_w = max(len(line) for line in [title, *footer]) * _CHAR
    width = int(2 * _PAD + max(left_w + _GAP + right_w, text_w))
    height = int(_PAD * 2 + _ROW * (len(rows) + len(footer) + 1))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="monospace" font-size="13" role="img">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        _text(_PAD, _PAD + 12, title, "#000000", bold=True),
        *_svg_rungs(rows, left_w),
    ]
    color = _RED if point.get("verdict") != "pass" else _GREY
    for j, line in enumerate(footer):
        out.append(_text(_PAD, _PAD + _ROW * (len(rows) + j + 1) + 12, line, color))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _svg_rungs(rows: Sequence[tuple[str, str, str, str, str | None]], left_w: float) -> list[str]:
    out = []
    x_right = _PAD + left_w + _GAP
    for i, (mark, left, right, color, rung) in enumerate(rows):
        y = _PAD + _ROW * (i + 1) + 12
        if left:
            out.append(_text(_PAD, y, f"{mark} {left}", color))
        if right and left:
            dash = ' stroke-dasharray="4 3"' if rung == _RED else ""
            out.append(
                f'<line x1="{_PAD + left_w:.0f}" y1="{y - 4}" x2="{x_right - 6:.0f}" '
                f'y2="{y - 4}" stroke="{rung or _GREY}" stroke-width="2"{dash}/>'
            )
        if right:
            out.append(_text(x_right, y, right, rung or color))
    return out


def _svg_rows(
    acquired: Sequence[Resource],
    paired: Sequence[Resource | None],
    leaked: Sequence[Resource],
    point: Point,
) -> list[tuple[str, str, str, str, str | None]]:
    """(mark, left text, right text, left colour, rung colour) per row."""
    rows: list[tuple[str, str, str, str, str | None]] = []
    for acq, rel in zip(acquired, paired, strict=True):
        left = f"{acq.get('api')}  {where(acq)}"
        if rel is not None:
            rows.append((OK, left, f"{UNDO} {rel.get('api')}  {where(rel)}", _GREEN, _BLUE))
        elif any(_same(acq, lk) for lk in leaked):
            rows.append((OK, left, f"{FAIL} LEFT BEHIND: never freed", _GREEN, _RED))
        else:
            rows.append((OK, left, "", _GREEN, None))
    rows.append((FAIL, f"{point.get('call')}  {where(point)}  fails here", "", _RED, None))
    return rows


def _text(x: float, y: float, text: str, color: str, *, bold: bool = False) -> str:
    weight = ' font-weight="bold"' if bold else ""
    return f'<text x="{x:.0f}" y="{y:.0f}" fill="{color}"{weight}>{escape(text)}</text>'
