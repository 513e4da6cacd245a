"""The demo notebook in a real JupyterLab, in a real Chromium, against the real guest.

Starts `jupyter lab` (the venv's, so its kernel is the venv's Python with
kmodlab installed) on a free port with a random token, opens a copy of
tests/data/browser/hello-demo.ipynb (hello, insmod, dmesg, rmmod: what
`./kmodlab lab --demo` shows without a browser), runs all cells from the Run menu, waits for the
module's "Hello, world!" in an output area, saves a screenshot to
artifacts/jupyterlab-hello.png, and checks that stopping the server stops the
kernel's guest too.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import unavailable

pytestmark = [pytest.mark.vm, pytest.mark.browser, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "tests" / "data" / "browser" / "hello-demo.ipynb"
SCREENSHOT = ROOT / "artifacts" / "jupyterlab-hello.png"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children() -> dict[int, list[int]]:
    """Parent pid -> child pids, from /proc (no psutil here)."""
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _qemu_below(pid: int) -> list[int]:
    """QEMU processes anywhere below pid: the guests the notebook's kernel started."""
    tree, found, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            todo.append(child)
            try:
                if b"qemu-system" in Path(f"/proc/{child}/cmdline").read_bytes():
                    found.append(child)
            except OSError:
                pass
    return found


def _alive(pid: int) -> bool:
    try:
        return b"qemu-system" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _wait_until_up(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"jupyter lab exited at start:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 (our own server)
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"jupyter lab did not answer within 90 s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def jupyter(machine, tmp_path) -> Iterator[tuple[str, subprocess.Popen]]:
    """A JupyterLab server on a copy of the demo notebook: (base URL with token, process)."""
    if not Path(CHROMIUM).is_file():
        unavailable(f"Chromium at {CHROMIUM}")
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    token, port = secrets.token_hex(16), _free_port()
    env = dict(os.environ)
    # Private Jupyter dirs: no user config, kernelspec or workspace leaks in.
    for var, sub in [
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTER_DATA_DIR", "data"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("IPYTHONDIR", "ipython"),
    ]:
        env[var] = str(tmp_path / sub)
    env.pop("JUPYTER_PATH", None)
    log = tmp_path / "jupyter.log"
    argv = [
        str(Path(sys.executable).parent / "jupyter"),
        "lab",
        "--no-browser",
        f"--ServerApp.token={token}",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.root_dir={root}",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if os.geteuid() == 0:  # the lab's own machines run everything as root
        argv.append("--allow-root")
    with log.open("wb") as out:
        server = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=root)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until_up(f"{base}/api/status?token={token}", server, log)
        yield f"{base}/lab/tree/{NOTEBOOK.name}?token={token}&reset", server
    finally:
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _kernel_idle(url: str) -> bool:
    """Has the server a notebook session whose kernel is up and idle?"""
    import json

    base, _, query = url.partition("/lab/")
    token = query.split("token=")[1].split("&")[0]
    try:
        with urllib.request.urlopen(f"{base}/api/sessions?token={token}", timeout=5) as r:  # noqa: S310
            sessions = json.load(r)
    except OSError:
        return False
    return any(s.get("kernel", {}).get("execution_state") == "idle" for s in sessions)


def _run_all_cells(page, url: str) -> None:
    """Run > Run All Cells, once the kernel is really up; again if nothing started.

    The toolbar's status can read idle before the kernel's channels are
    connected, and a Run All issued then is dropped, so the server's own
    session list decides, and the first execution prompt confirms.
    """
    deadline = time.monotonic() + 90
    while not _kernel_idle(url) and time.monotonic() < deadline:
        time.sleep(0.5)
    no = page.locator(".jp-toast-button", has_text="No")  # the news question covers outputs
    if no.count():
        no.first.click()
    for _attempt in range(3):
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        started = page.locator(".jp-InputPrompt", has_text=re.compile(r"\[(\*|\d+)\]"))
        try:
            started.first.wait_for(state="attached", timeout=20_000)
            return
        except Exception:
            page.keyboard.press("Escape")
    pytest.fail("Run All Cells did not start the notebook's cells")


def test_demo_notebook_runs_in_jupyterlab(jupyter):
    from playwright.sync_api import sync_playwright

    url, server = jupyter
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.goto(url)
            page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
            _run_all_cells(page, url)
            hello = page.locator(".jp-OutputArea-output", has_text="Hello, world!").first
            goodbye = page.locator(".jp-OutputArea-output", has_text="Goodbye, world!").first
            try:
                hello.wait_for(state="attached", timeout=240_000)
                goodbye.wait_for(state="attached", timeout=120_000)
            except Exception:
                SCREENSHOT.parent.mkdir(exist_ok=True)
                page.screenshot(path=str(SCREENSHOT.with_name("jupyterlab-failed.png")))
                outputs = page.locator(".jp-OutputArea-output").all_inner_texts()
                pytest.fail(f"no Hello/Goodbye in the outputs: {outputs}")
            hello.scroll_into_view_if_needed()
            SCREENSHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOT))
            errors = page.locator(".jp-OutputArea-output[data-mime-type*='error']")
            assert errors.count() == 0, errors.first.inner_text()
        finally:
            browser.close()
    guests = _qemu_below(server.pid)
    assert guests, "the notebook's kernel should be running a guest"
    server.terminate()  # stops the kernel; the kernel's atexit stops its guest
    server.wait(timeout=60)
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in guests) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in guests), "the guest outlived the notebook's kernel"
    assert SCREENSHOT.stat().st_size > 10_000
