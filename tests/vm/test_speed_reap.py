"""A guest whose QEMU is ended from outside leaves no zombie behind (issue 13's speed).

A Jupyter kernel shutting down SIGTERMs the children in its process group and
waits, up to 4 s, while any is left; a QEMU nobody waited for stays its child,
a zombie, so nbgrader waited 2.5 s at the end of every notebook and then
SIGTERMed the kernel ("Kernel is taking too long to finish, terminating").
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from kmodlab.vm.session import start_guest

pytestmark = pytest.mark.vm


def _state(pid: int) -> str | None:
    """The process's state letter (Z for a zombie), None once it is reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def test_a_qemu_killed_from_outside_is_reaped_without_anyone_waiting(machine):
    """Is a guest's QEMU that another process SIGTERMs reaped by the guest itself (no zombie
    left for a Jupyter kernel's shutdown to wait on), before close() or poll() is called?"""
    guest = start_guest(machine)
    try:
        assert guest.run(["true"]).ok
        pid = guest.proc.pid
        os.kill(pid, signal.SIGTERM)  # as ipykernel does to its children at shutdown
        deadline = time.monotonic() + 30  # generous: the reaping is immediate when it works
        while _state(pid) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _state(pid) is None, f"QEMU {pid} is left as state {_state(pid)!r} (a zombie)"
        assert guest.proc.returncode is not None  # reaped through Popen: close() stays quiet
    finally:
        guest.close()
