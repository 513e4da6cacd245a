"""`kmodlab shell DIR`: a line-by-line shell in the guest, with DIR's modules loaded in it.

There is no terminal in the guest to attach to (the agent runs one command
at a time and returns its output), so this is a REPL, not a PTY: each line is
one `/bin/sh -c` command line in the module folder; pipes, globs and
redirections work, interactive programs and job control do not. Each command's
kernel log lines are printed after its output.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kmodlab.errors import KmodlabError
from kmodlab.lab import render
from kmodlab.lab.workspace import LabStep, Workspace

PROMPT = "guest# "
BANNER = (
    "kmodlab shell: one command line at a time in the guest's module folder "
    "(no job control, no interactive programs). `exit` or Ctrl-D leaves."
)


def run_shell(
    folder: Path,
    *,
    machine: Any = None,
    session: Any = None,
    read_line: Callable[[str], str] | None = None,
    write: Callable[[str], None] | None = None,
) -> int:
    """Build folder's modules, push them into a fresh guest, then read and run lines.

    Returns 0 after exit/EOF, 1 when the modules do not build or the lab cannot
    start. read_line and write default to input() (with readline editing and
    history when available) and print; tests pass their own, and a session.
    """
    write = write or print
    if read_line is None:
        read_line = _terminal_reader()
    ws = Workspace(folder, machine=machine, session=session)
    try:
        if not _build_and_push(ws, write):
            return 1
        write(BANNER)
        _loop(ws, read_line, write)
        return 0
    except KmodlabError as e:
        write(f"kmodlab: {e.line()}")
        return 1
    finally:
        ws.close()


def _terminal_reader() -> Callable[[str], str]:
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401  (importing it gives input() line editing and history)
    interactive = sys.stdin.isatty()
    return lambda prompt: input(prompt if interactive else "")


def _build_and_push(ws: Workspace, write: Callable[[str], None]) -> bool:
    ws.warm_up()  # the guest restores while the modules build
    result = ws.build()
    summary = f"built {', '.join(m.name + '.ko' for m in result.modules) or 'nothing'}"
    if not result.ok:
        summary = "the modules do not build"
    view = render.build_view(
        ok=result.ok,
        cell_file=None,
        diagnostics=result.diagnostics,
        sources=ws.sources(),
        summary=summary,
    )
    write(view.text)
    if not result.ok:
        return False
    step = ws.push(result)
    if step.crash is not None:
        write(ws.view_crash(step.crash).text)
        return False
    return True


def _loop(ws: Workspace, read_line: Callable[[str], str], write: Callable[[str], None]) -> None:
    while True:
        try:
            line = read_line(PROMPT)
        except EOFError:
            write("")
            return
        except KeyboardInterrupt:
            write("")  # as in a shell: ^C at the prompt discards the line
            continue
        line = line.strip()
        if line in ("exit", "quit", "logout"):
            return
        if line:
            _run_line(ws, line, write)


def _run_line(ws: Workspace, line: str, write: Callable[[str], None]) -> None:
    try:
        step = ws.sh(line)
    except KeyboardInterrupt:
        # The agent cannot cancel a command: a fresh guest is the known state.
        write("interrupted: starting a fresh guest (your modules are pushed again)")
        ws.restart()
        return
    write(_step_text(ws, step))


def _step_text(ws: Workspace, step: LabStep) -> str:
    out: list[str] = []
    r = step.result
    if r is not None:
        out += [r.stdout.rstrip("\n")] if r.stdout.strip() else []
        out += [r.stderr.rstrip("\n")] if r.stderr.strip() else []
        if not r.ok:
            out.append(f"[{render.status_words(r)}]")
        out += [f"kernel: {line}" for line in render.kmsg_text(r.kmsg)]
    if step.crash is not None:
        out.append(ws.view_crash(step.crash).text)
    return "\n".join(out)
