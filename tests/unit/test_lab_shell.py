"""The line-by-line guest shell with a fake session: build, push, one command per line."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmodlab.build import BuildResult, BuiltModule
from kmodlab.build.diagnostics import Diagnostic
from kmodlab.lab import shell
from kmodlab.lab.workspace import Workspace
from kmodlab.vm.guest import CommandResult, GuestCrashed
from tests.unit.test_lab_fakes import PANIC_CONSOLE, FakeSession


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "hello.c").write_text("/* a module */\n")
    return tmp_path


def pretend_build(monkeypatch, ok: bool = True, diagnostics=()):
    def build(self: Workspace) -> BuildResult:
        ko = self._builds_root / "hello.ko"
        ko.write_bytes(b"\x7fELF")
        modules = [BuiltModule("hello", ko, ["hello.c"])] if ok else []
        return BuildResult(ok, modules, list(diagnostics), "", 0.1, self._builds_root, True)

    monkeypatch.setattr(Workspace, "build", build)


def run(folder: Path, session: FakeSession, lines: list[str]) -> tuple[int, str]:
    feed = iter(lines)

    def read_line(prompt: str) -> str:
        try:
            return next(feed)
        except StopIteration:
            raise EOFError from None

    out: list[str] = []
    code = shell.run_shell(folder, session=session, read_line=read_line, write=out.append)
    return code, "\n".join(out)


def test_each_line_runs_in_the_guest_with_its_kernel_log(folder, monkeypatch):
    pretend_build(monkeypatch)
    fake = FakeSession()
    code, out = run(
        folder, fake, ["insmod hello.ko", "", "cat /proc/modules | head -1", "exit", "never"]
    )
    assert code == 0 and fake.pushed == [["hello"]] and fake.closed
    assert [c[2] for c in fake.calls if c[0] == "/bin/sh"] == [
        "insmod hello.ko",
        "cat /proc/modules | head -1",
    ]
    assert "built hello.ko" in out and shell.BANNER in out
    assert "kernel: " in out and "hello: Hello" in out


def test_eof_leaves_and_a_failing_command_shows_its_status(folder, monkeypatch):
    pretend_build(monkeypatch)
    fake = FakeSession()
    fake.run = lambda argv, timeout_s=30.0: CommandResult(  # type: ignore[method-assign]
        list(argv), "exited", 1, "", "sh: nope: not found\n"
    )
    code, out = run(folder, fake, ["nope"])
    assert code == 0 and "sh: nope: not found" in out and "[exit 1]" in out


def test_a_crash_is_reported_and_the_shell_goes_on(folder, monkeypatch):
    pretend_build(monkeypatch)
    fake = FakeSession()
    code, out = run(folder, fake, ["true"])  # boots, pushes
    fake.fail_next = GuestCrashed(
        "the guest stopped (QEMU exited): Kernel panic - not syncing: boom", PANIC_CONSOLE
    )
    code, out = run(folder, fake, ["insmod boom.ko", "echo still here"])
    assert code == 0 and "Kernel panic - not syncing: boom" in out and "started a fresh one" in out
    assert fake.calls[-1] == ["/bin/sh", "-c", "echo still here"]


def test_a_folder_that_does_not_build_gives_1_and_the_errors(folder, monkeypatch):
    error = Diagnostic("hello.c", 1, 4, "error", "compile-error", "expected ';'")
    pretend_build(monkeypatch, ok=False, diagnostics=[error])
    fake = FakeSession()
    code, out = run(folder, fake, ["true"])
    assert code == 1 and "hello.c:1:4: error: expected ';'" in out and fake.calls == []
