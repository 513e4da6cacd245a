"""The README's main command: `kmodlab lab` serves the course in JupyterLab."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

pytestmark = pytest.mark.vm


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_lab_serves_the_course_notebooks(machine):
    """Does `kmodlab lab` start JupyterLab on notebooks/, answering on localhost?"""
    port = _free_port()
    cmd = [sys.executable, "-m", "kmodlab", "lab", "--skip-setup", "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as r:
                    assert r.status == 200
                    break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None, proc.stdout.read().decode()
                assert time.monotonic() < deadline, "JupyterLab did not answer within 90 s"
                time.sleep(0.5)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out = proc.communicate(timeout=30)[0].decode()
    assert "notebooks" in out


def test_lab_demo_runs_hello(machine):
    """Does `kmodlab lab --demo` load hello and show its kernel log line?"""
    cmd = [sys.executable, "-m", "kmodlab", "lab", "--skip-setup", "--demo"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "  kernel: Hello, world!" in r.stdout.splitlines()
