"""The command line against the real guest, as a user runs it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.vm
MODULES = Path(__file__).parent.parent / "data" / "modules"


def kmodlab(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "kmodlab", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def test_run_hello_prints_its_kernel_log(machine, tmp_path):
    """Does `kmodlab run DIR -- insmod hello.ko` show the module's line from the kernel log?"""
    shutil.copytree(MODULES / "hello", tmp_path / "hello")
    r = kmodlab("run", str(tmp_path / "hello"), "--", "insmod", "hello.ko")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "$ insmod hello.ko"
    assert "  kernel: Hello, world!" in r.stdout.splitlines()


def test_run_without_commands_loads_then_unloads(machine, tmp_path):
    """Without commands, does run insmod every module and then rmmod it?"""
    shutil.copytree(MODULES / "hello", tmp_path / "hello")
    r = kmodlab("run", str(tmp_path / "hello"))
    lines = r.stdout.splitlines()
    assert r.returncode == 0, r.stderr
    assert lines.index("$ insmod hello.ko") < lines.index("$ rmmod hello")
    assert "  kernel: Goodbye, world!" in lines


def test_run_of_an_oopsing_module_shows_the_oops_and_fails(machine, tmp_path):
    """Does a module that oopses in init make run fail and print the kernel's report?"""
    shutil.copytree(MODULES / "null_deref", tmp_path / "m")
    r = kmodlab("run", str(tmp_path / "m"), "--", "insmod", "null_deref.ko")
    assert r.returncode == 1
    assert "(killed by signal 9)" in r.stdout
    assert "kernel: BUG: kernel NULL pointer dereference" in r.stdout
    assert "Traceback" not in r.stderr


def test_build_error_points_at_the_students_line(machine, tmp_path):
    """Is a compile error reported against the student's file and line?"""
    src = tmp_path / "broken"
    src.mkdir()
    (src / "broken.c").write_text(
        '#include <linux/module.h>\nMODULE_LICENSE("GPL");\nstatic int __init b_init(void)\n'
        "{\n\treturn undeclared_thing;\n}\nmodule_init(b_init);\n"
    )
    r = kmodlab("build", str(src))
    assert r.returncode == 1
    assert "broken.c:5:" in r.stdout and "undeclared_thing" in r.stdout


def test_doctor_reports_every_component(machine):
    """Does doctor print one OK line per component, the guest included?"""
    r = kmodlab("doctor")
    assert r.returncode == 0, r.stdout
    components = [line.split()[1] for line in r.stdout.splitlines()]
    for name in (
        "qemu",
        "kernel",
        "headers",
        "compiler",
        "sandbox",
        "python",
        "accelerator",
        "machine",
    ):
        assert name in components
    machine_line = next(ln for ln in r.stdout.splitlines() if ln.split()[1] == "machine")
    assert machine.spec.machine.name in machine_line
    assert r.stdout.splitlines()[-1].startswith("OK    guest")
