"""The interactive lab: IPython magics over a warm guest, widgets, a line shell.

    %load_ext kmodlab

This package's top level stays light (no IPython, no ipywidgets): `import
kmodlab` re-exports the two extension hooks from here, and the CLI imports
kmodlab too. Everything else is imported on first use.

(The current Workspace is current_workspace(): `workspace` is the submodule.)
"""

from __future__ import annotations

from typing import Any

from kmodlab.lab.state import (
    current_workspace,
    last,
    last_build,
    last_crash,
    last_report,
    shutdown,
    use,
)

__all__ = [
    "FaultExplorer",
    "LsmodTable",
    "ModuleConsole",
    "SymbolGraph",
    "Workspace",
    "bench_cells",
    "current_workspace",
    "last",
    "last_build",
    "last_crash",
    "last_report",
    "load_ipython_extension",
    "run_shell",
    "shutdown",
    "unload_ipython_extension",
    "use",
]

_LAZY = {
    "FaultExplorer": "kmodlab.lab.widgets",
    "LsmodTable": "kmodlab.lab.widgets",
    "ModuleConsole": "kmodlab.lab.widgets",
    "SymbolGraph": "kmodlab.lab.widgets",
    "Workspace": "kmodlab.lab.workspace",
    "bench_cells": "kmodlab.lab.bench",
    "run_shell": "kmodlab.lab.shell",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'kmodlab.lab' has no attribute {name!r}")


def load_ipython_extension(ip: Any) -> None:
    """%load_ext kmodlab: register %%kmodule and %kmod. The guest boots on first use."""
    from kmodlab.lab.magics import KmodlabMagics

    ip.register_magics(KmodlabMagics)


def unload_ipython_extension(ip: Any) -> None:
    """%unload_ext kmodlab: stop the guest now and remove the magics."""
    shutdown()
    magics = getattr(getattr(ip, "magics_manager", None), "magics", {})
    magics.get("cell", {}).pop("kmodule", None)
    magics.get("line", {}).pop("kmod", None)
