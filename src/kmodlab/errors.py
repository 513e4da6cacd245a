"""Errors a user can act on.

Anything raised as a KmodlabError reaches the user as a single line (problem and
fix), never as a traceback; the CLI catches it at the top.
"""


class KmodlabError(Exception):
    """A problem the user can fix; the message names the problem and the fix."""

    def __init__(self, problem: str, fix: str | None = None):
        self.problem = problem
        self.fix = fix
        super().__init__(self.line())

    def line(self) -> str:
        text = self.problem.rstrip(".")
        return f"{text}: {self.fix}" if self.fix else text


class SetupError(KmodlabError):
    """The lab is not (or cannot be) set up: packages, kernel, cache."""


class InputError(KmodlabError):
    """A submission folder or argument the lab cannot use."""


class SandboxUnavailable(KmodlabError):
    """No working sandbox to run a build in."""
