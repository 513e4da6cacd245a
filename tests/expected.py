"""Verdict patterns several tests expect of the grader, stated once."""

from __future__ import annotations

from collections.abc import Mapping

# A module whose rmmod hits a kernel BUG or oops: the module stays loaded, so
# nothing judged after the unload can be.
RMMOD_KILLED: Mapping[str, str] = {
    "unload": "fail",
    "cycle": "skip",
    "kernel-health": "fail",
    "leaks": "skip",
    "registrations": "skip",
    "exit-order": "skip",
}
