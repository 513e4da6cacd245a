"""The optional parts of kmodlab and the pip extra that installs each.

The base package is the engine and the grader (what a grading container
needs); the lab (JupyterLab, widgets) is `kmodlab[lab]`, the course tools
(nbgrader) `kmodlab[course]`, the test suite `kmodlab[dev]`. A command that
needs an extra checks for it first and names it in one line.
"""

from __future__ import annotations

import importlib.util

from kmodlab.errors import SetupError

# extra -> (what it is for, the top-level modules it must provide)
EXTRAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "lab": ("the lab", ("IPython", "ipykernel", "ipywidgets", "jupyterlab", "nbformat")),
    "course": ("the course tools", ("nbconvert", "nbformat", "nbgrader")),
    "dev": ("the test suite", ("pytest", "pytest_timeout", "nbval")),
}


def missing(extra: str) -> list[str]:
    """The modules of an extra that cannot be imported here."""
    return [m for m in EXTRAS[extra][1] if importlib.util.find_spec(m) is None]


def require(extra: str) -> None:
    """Raise a one-line SetupError naming the extra to install when any module of it is missing."""
    gone = missing(extra)
    if gone:
        what = EXTRAS[extra][0]
        raise SetupError(
            f"{what} needs {', '.join(gone)}, which {'is' if len(gone) == 1 else 'are'} "
            "not installed",
            f"pip install 'kmodlab[{extra}]' (from a checkout: pip install '.[{extra}]')",
        )
