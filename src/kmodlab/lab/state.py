"""The lab of this Python process: one Workspace, created on first use, closed at exit.

A notebook kernel is one process, so one warm guest serves all its cells;
atexit stops it when the kernel shuts down (IPython 9 has no shutdown hook of
its own), unload_ipython_extension stops it earlier, and the Workspace's
reaper stops it if the kernel is killed outright.
"""

from __future__ import annotations

import atexit
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kmodlab.build import BuildResult
    from kmodlab.grader.report.model import Report
    from kmodlab.lab.workspace import Crash, Workspace
    from kmodlab.vm.guest import CommandResult

_current: Workspace | None = None
_last_report: Report | None = None
_atexit_registered = False


def current_workspace() -> Workspace:
    """The current workspace (./kmodlab-workspace unless %kmod workspace chose another)."""
    global _current
    if _current is None or _current.closed:
        from kmodlab.lab.workspace import Workspace

        use(Workspace())
    assert _current is not None
    return _current


def use(ws: Workspace) -> Workspace:
    """Make ws the lab's workspace (tests pass one with their own machine or session)."""
    global _current, _atexit_registered
    if _current is not None and _current is not ws and not _current.closed:
        _current.close()
    _current = ws
    if not _atexit_registered:
        atexit.register(shutdown)
        _atexit_registered = True
    return ws


def set_folder(folder: Path) -> Workspace:
    """Point the lab at another folder; the warm guest stays (it holds no sources)."""
    ws = current_workspace()
    ws.folder = Path(folder)
    return ws


def shutdown() -> None:
    """Stop the guest and drop the builds (the sources in the folder stay)."""
    global _current
    if _current is not None:
        _current.close()
        _current = None


def last() -> CommandResult | None:
    """The last command's result (None after a crash: see last_crash())."""
    return _current.last_result if _current is not None else None


def last_crash() -> Crash | None:
    return _current.last_crash if _current is not None else None


def last_build() -> BuildResult | None:
    return _current.last_build if _current is not None else None


def set_last_report(report: Report) -> None:
    global _last_report
    _last_report = report


def last_report() -> Report | None:
    return _last_report
