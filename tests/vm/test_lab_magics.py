"""The notebook magics on the real guest, driven through IPython's own shell.

One workspace (one warm guest) serves the module; tests that crash the guest
check that the next command works on the fresh one the lab started.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import kmodlab.lab as lab
from kmodlab.lab.workspace import Workspace

pytestmark = [pytest.mark.vm, pytest.mark.usefixtures("require_sandbox")]

MODULES = Path(__file__).resolve().parents[1] / "data" / "modules"
CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"

HELLO = """\
#include <linux/module.h>

static int __init hello_init(void)
{
	pr_info("Hello, world!\\n");
	return 0;
}

static void __exit hello_exit(void)
{
	pr_info("Goodbye, world!\\n");
}

module_init(hello_init);
module_exit(hello_exit);
MODULE_LICENSE("GPL");
"""


@pytest.fixture(scope="module")
def ws(machine, tmp_path_factory):
    w = Workspace(tmp_path_factory.mktemp("lab") / "kmodlab-workspace", machine=machine)
    lab.use(w)
    yield w
    lab.shutdown()


@pytest.fixture
def ip(ws):
    shell = InteractiveShell.instance()
    shell.extension_manager.load_extension("kmodlab")  # as %load_ext, quiet when loaded
    lab.use(ws)
    return shell


def shown(ip, line: str, cell: str | None = None) -> tuple[str, str]:
    with capture_output() as cap:
        if cell is None:
            assert ip.run_line_magic("kmod", line) is None
        else:
            assert ip.run_cell_magic("kmodule", line, cell) is None
    text = "\n".join(o.data.get("text/plain", "") for o in cap.outputs)
    html = "\n".join(o.data.get("text/html", "") for o in cap.outputs)
    return text, html


def test_a_build_error_is_shown_on_the_cells_own_line(ip, ws):
    broken = HELLO.replace("return 0;", "return missing;")
    cell_lines = f"%%kmodule hello\n{broken}".splitlines()
    bad_line = next(i for i, text in enumerate(cell_lines, 1) if "missing" in text)
    text, html = shown(ip, "hello", broken)
    assert text.startswith("hello: build failed")
    assert f"cell line {bad_line}, column 16: error: 'missing' undeclared" in text
    assert f"{bad_line} |         return missing;" in text
    assert "make[" not in text and "/tmp/" not in text  # no raw kbuild dump
    assert f"cell line {bad_line}, column 16" in html and "background:#ffebee" in html
    assert lab.last_build() is not None and not lab.last_build().ok  # type: ignore[union-attr]


def test_hello_loads_logs_and_unloads(ip, ws):
    text, _ = shown(ip, "hello", HELLO)
    assert "hello: built hello.ko" in text and "pushed to the guest" in text
    text, html = shown(ip, "insmod hello")
    result = lab.last()
    assert result is not None and result.ok and "Hello, world!" in result.log
    assert "$ insmod hello.ko   [exit 0]" in text and "Hello, world!" in html
    shown(ip, "lsmod")
    assert any(line.split()[:1] == ["hello"] for line in lab.last().stdout.splitlines())  # type: ignore[union-attr]
    shown(
        ip, "sh grep -c hello /proc/modules; ls -a /sys/module/hello/sections | grep -x .init.tex."
    )
    assert lab.last().stdout.split() == ["1", ".init.text"]  # type: ignore[union-attr]
    shown(ip, "modinfo hello")  # needs depmod, which the lab runs first
    assert "name:           hello" in lab.last().stdout  # type: ignore[union-attr]
    shown(ip, "rmmod hello")
    assert lab.last().ok and "Goodbye, world!" in lab.last().log  # type: ignore[union-attr]
    text, _ = shown(ip, "dmesg")
    assert text.index("Hello, world!") < text.index("Goodbye, world!")


def test_an_edited_cell_reloads_in_one_go(ip, ws):
    shown(ip, "hello --load", HELLO)
    t0 = time.monotonic()
    text, _ = shown(ip, "hello --load", HELLO.replace("Hello, world!", "Hello again!"))
    elapsed = time.monotonic() - t0
    assert "Goodbye, world!" in text and "Hello again!" in text
    assert lab.last().argv == ["insmod", "hello.ko"] and lab.last().ok  # type: ignore[union-attr]
    print(f"warm edited hello cell: {elapsed:.2f} s")
    shown(ip, "rmmod hello")
    shown(ip, "hello", HELLO)


def test_a_file_edited_in_the_editor_is_rebuilt_and_reloaded(ip, ws):
    """Does %kmod build hello --load take hello.c as edited outside the notebook?"""
    shown(ip, "hello --load", HELLO)
    path = ws.folder / "hello.c"
    path.write_text(path.read_text().replace("Hello, world!", "Hello from the editor!"))
    text, _ = shown(ip, "build hello --load")
    assert "hello: built hello.ko" in text
    assert "Goodbye, world!" in text and "Hello from the editor!" in text
    assert lab.last().argv == ["insmod", "hello.ko"] and lab.last().ok  # type: ignore[union-attr]
    shown(ip, "rmmod hello")
    shown(ip, "hello", HELLO)


def test_an_oops_is_decoded_to_the_cell_and_the_next_cell_works(ip, ws):
    source = (MODULES / "null_deref" / "null_deref.c").read_text()
    shown(ip, "null_deref", source)
    boots = ws.session.boots
    text, html = shown(ip, "insmod null_deref")
    crash = lab.last_crash()
    assert crash is not None and crash.kind == "oops" and crash.restarted
    cell = f"%%kmodule null_deref\n{source}".splitlines()
    assert crash.location is not None and crash.location[:1] == ("null_deref.c",)
    line = crash.location[1]
    # The faulting load is `return t->value;` or the `}` it is folded into.
    assert "t->value" in "\n".join(cell[line - 2 : line])
    assert f"cell line {line} of %%kmodule null_deref" in text
    assert "started a fresh one" in text and "NULL pointer dereference" in html
    assert ws.session.boots == boots + 1
    shown(ip, "insmod hello")  # the next cell works, in the fresh guest
    assert lab.last().ok and "Hello, world!" in lab.last().log  # type: ignore[union-attr]
    shown(ip, "rmmod hello")
    shown(ip, "delete null_deref")


def test_a_panic_restarts_the_guest_and_the_next_cell_works(ip, ws):
    source = (MODULES / "panic_init" / "panic_init.c").read_text()
    shown(ip, "panic_init", source)
    text, _ = shown(ip, "insmod panic_init")
    crash = lab.last_crash()
    assert crash is not None and crash.kind == "crashed" and crash.restarted
    assert lab.last() is None
    assert "Kernel panic - not syncing: panic_init" in text
    assert crash.location is not None and crash.location[0] == "panic_init.c"
    assert "panic(" in f"%%kmodule panic_init\n{source}".splitlines()[crash.location[1] - 1]
    shown(ip, "insmod hello")
    assert lab.last().ok  # type: ignore[union-attr]
    shown(ip, "rmmod hello")
    shown(ip, "delete panic_init")


def test_provider_and_consumer_cells(ip, ws):
    provider = (CORPUS / "provider_consumer" / "provider.c").read_text()
    consumer = (CORPUS / "provider_consumer" / "consumer.c").read_text()
    assert "pushed to the guest" in shown(ip, "provider", provider)[0]
    text, _ = shown(ip, "consumer", consumer)
    built = text.split(" built ")[1].split(" in ")[0].split(", ")
    assert {"consumer.ko", "provider.ko"} <= set(built)  # one build: modpost sees both
    shown(ip, "insmod consumer")
    first = lab.last()
    assert first is not None and not first.ok and "Unknown symbol" in first.stderr
    assert "Unknown symbol provider_add" in first.log
    shown(ip, "insmod provider")
    assert lab.last().ok  # type: ignore[union-attr]
    shown(ip, "insmod consumer")
    assert lab.last().ok and "consumer: 2 + 3 = 5" in lab.last().log  # type: ignore[union-attr]
    shown(ip, "rmmod provider")
    assert not lab.last().ok and "in use by: consumer" in lab.last().stderr  # type: ignore[union-attr]
    text, html = shown(ip, "graph")
    assert "consumer -> provider: provider_add (modules.dep agrees)" in text and "<svg" in html
    shown(ip, "rmmod consumer")
    shown(ip, "rmmod provider")
    shown(ip, "modprobe consumer")  # modules.dep: modprobe loads the provider first
    assert lab.last().ok and "consumer: 2 + 3 = 5" in lab.last().log  # type: ignore[union-attr]
    shown(ip, "sh grep -o '^[a-z]*' /proc/modules | head -2")
    assert lab.last().stdout.split() == ["consumer", "provider"]  # type: ignore[union-attr]
    shown(ip, "modprobe -r consumer")
    shown(ip, "delete consumer")
    shown(ip, "delete provider")


def test_check_renders_the_graders_report(ip, ws):
    shown(ip, "hello", HELLO)
    text, html = shown(ip, "check")
    report = lab.last_report()
    assert report is not None and report.check("build").status == "pass"  # type: ignore[union-attr]
    assert report.check("load").status == "pass"  # type: ignore[union-attr]
    assert text.startswith(f"kmodlab report for {ws.folder.name}")
    assert html.count("<tr") == len(report.checks)


def test_the_line_shell_runs_commands_with_the_folders_modules(machine, tmp_path):
    from kmodlab.lab.shell import run_shell

    (tmp_path / "hello.c").write_text(HELLO)
    lines = iter(["insmod hello.ko", "grep -c hello /proc/modules", "rmmod hello", "exit"])
    out: list[str] = []
    assert (
        run_shell(tmp_path, machine=machine, read_line=lambda _p: next(lines), write=out.append)
        == 0
    )
    said = "\n".join(out)
    assert "built hello.ko" in said and "kernel: " in said
    assert "Hello, world!" in said and "Goodbye, world!" in said
    assert "\n1\n" in f"\n{said}\n"


REAPED = """
import sys, threading, time
from pathlib import Path
from kmodlab.lab.workspace import Workspace
from kmodlab.vm.session import prepare
ws = Workspace(Path(sys.argv[1]), machine=prepare())
ws.session.push_modules([Path(sys.argv[2])], depmod=False)
print(ws.session.guest.proc.pid, flush=True)
ws.run(["insmod", "lockup_init.ko"], timeout_s=600)  # the guest locks up: never returns
"""


def test_a_killed_kernel_does_not_leave_its_guest_running(machine, built, tmp_path):
    """A notebook kernel killed outright runs no atexit, and a locked-up guest cannot
    notice its host went away: the reaper stops that QEMU."""
    import signal
    import subprocess
    import sys

    kernel = subprocess.Popen(
        [sys.executable, "-c", REAPED, str(tmp_path), str(built("lockup_init"))],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert kernel.stdout is not None
        qemu = int(kernel.stdout.readline())
        assert b"qemu-system" in Path(f"/proc/{qemu}/cmdline").read_bytes()
        time.sleep(3)  # insmod is running: the guest spins with interrupts off
    finally:
        kernel.send_signal(signal.SIGKILL)
        kernel.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if b"qemu-system" not in Path(f"/proc/{qemu}/cmdline").read_bytes():
                break  # gone, or a zombie waiting for init
        except OSError:
            break
        time.sleep(0.1)
    else:
        os.kill(qemu, signal.SIGKILL)
        pytest.fail("the guest outlived its killed kernel")


def test_bench_cells_gives_both_figures(machine):
    from kmodlab.lab import bench_cells

    figures = bench_cells(machine=machine, rounds=1)
    assert set(figures) == {"lab_first_cell_s", "lab_warm_cell_s", "lab_warm_build_s"}
    assert 0 < figures["lab_warm_build_s"] <= figures["lab_warm_cell_s"]
    print(figures)
