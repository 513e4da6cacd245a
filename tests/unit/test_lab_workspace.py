"""The Workspace with a fake session: cells as files, builds, pushes, commands, crashes."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmodlab.build import BuildResult, BuiltModule
from kmodlab.build.diagnostics import Diagnostic
from kmodlab.errors import InputError
from kmodlab.lab.workspace import Workspace, cell_header, check_module_name
from kmodlab.vm.guest import GuestCrashed, GuestHung
from tests.unit.test_lab_fakes import PANIC_CONSOLE, FakeSession

CELL_BODY = "#include <linux/module.h>\n\nstatic int __init hello_init(void)\n{\n\treturn 0;\n}\n"


@pytest.fixture
def fake() -> FakeSession:
    return FakeSession()


@pytest.fixture
def ws(tmp_path: Path, fake: FakeSession):
    w = Workspace(tmp_path / "ws", session=fake, headers=tmp_path)
    yield w
    w.close()


def fake_build(ws: Workspace, tmp_path: Path, *, ok: bool = True, diagnostics=()):
    """Replace the sandboxed build by one that 'builds' every .c file of the folder."""

    def build() -> BuildResult:
        out = tmp_path / f"build-{len(list(tmp_path.glob('build-*')))}"
        out.mkdir()
        modules = []
        for c in sorted(ws.folder.glob("*.c")):
            (out / f"{c.stem}.ko").write_bytes(b"\x7fELF")
            modules.append(BuiltModule(c.stem, out / f"{c.stem}.ko", [c.name]))
        result = BuildResult(ok, modules if ok else [], list(diagnostics), "", 0.5, out, True)
        ws.last_build = result
        return result

    ws.build = build  # type: ignore[method-assign]


def test_the_cell_file_has_the_cells_line_numbers(ws: Workspace):
    cell = "%%kmodule hello --load\n" + CELL_BODY
    path = ws.write_cell("hello", CELL_BODY, "hello --load")
    assert path == ws.folder / "hello.c"
    file_lines = path.read_text().splitlines()
    cell_lines = cell.splitlines()
    assert len(file_lines) == len(cell_lines)
    assert file_lines[0] == cell_header("hello --load").rstrip() == "// %%kmodule hello --load"
    assert file_lines[1:] == cell_lines[1:]  # line N of the file is line N of the cell
    assert ws.cell_names() == ["hello"]


@pytest.mark.parametrize("bad", ["my-mod", "1abc", "a b", "", "x" * 60, "../evil"])
def test_module_names_must_be_kernel_module_names(bad: str):
    with pytest.raises(InputError):
        check_module_name(bad)


def test_a_cell_builds_pushes_and_defers_depmod(ws: Workspace, fake: FakeSession, tmp_path: Path):
    fake_build(ws, tmp_path)
    outcome = ws.kmodule("hello", CELL_BODY)
    assert outcome.ok and outcome.pushed == ["hello"] and fake.pushed == [["hello"]]
    assert fake.calls == []  # no depmod yet: insmod does not need it
    ws.insmod("hello")
    ws.run(["modinfo", "hello"])
    ws.run(["modprobe", "hello"])
    assert [c[0] for c in fake.calls] == ["insmod", "depmod", "modinfo", "modprobe"]


def test_warn_as_error_refuses_to_push_a_cell_with_warnings(
    ws: Workspace, fake: FakeSession, tmp_path: Path
):
    warning = Diagnostic("hello.c", 3, 1, "warning", "unused-variable", "unused variable 'x'")
    fake_build(ws, tmp_path, diagnostics=[warning])
    assert ws.kmodule("hello", CELL_BODY).ok  # a warning alone does not stop a cell
    outcome = ws.kmodule("hello", CELL_BODY, warn_as_error=True)
    assert not outcome.ok and fake.pushed == [["hello"]]
    assert "warnings count as errors" in ws.view_cell(outcome).text


def test_a_failed_build_shows_the_cells_line_and_pushes_nothing(
    ws: Workspace, fake: FakeSession, tmp_path: Path
):
    error = Diagnostic("hello.c", 6, 9, "error", "compile-error", "'y' undeclared", "hello_init")
    fake_build(ws, tmp_path, ok=False, diagnostics=[error])
    outcome = ws.kmodule("hello", CELL_BODY.replace("return 0;", "return y;"))
    assert not outcome.ok and fake.pushed == []
    text = ws.view_cell(outcome).text
    assert "hello: build failed (1 error)" in text
    assert "cell line 6, column 9: error: 'y' undeclared" in text
    assert "6 |         return y;" in text  # line 6 of the cell: %%kmodule is line 1


def test_a_bad_name_is_a_one_line_problem_not_a_traceback(ws: Workspace):
    outcome = ws.kmodule("my-mod", CELL_BODY)
    assert not outcome.ok and "not a module name" in (outcome.problem or "")
    assert "my-mod" in ws.view_cell(outcome).text


def test_load_reloads_the_module(ws: Workspace, fake: FakeSession, tmp_path: Path):
    fake_build(ws, tmp_path)
    first = ws.kmodule("hello", CELL_BODY, load=["who=world"])
    assert [s.result.argv for s in first.steps] == [["insmod", "hello.ko", "who=world"]]  # type: ignore[union-attr]
    second = ws.kmodule("hello", CELL_BODY, load=[])
    assert [s.result.argv[0] for s in second.steps] == ["rmmod", "insmod"]  # type: ignore[union-attr]
    assert "hello: Goodbye" in ws.view_cell(second).text
    assert ws.last_result is not None and ws.last_result.argv == ["insmod", "hello.ko"]


def test_load_does_not_insmod_when_the_old_module_cannot_go(
    ws: Workspace, fake: FakeSession, tmp_path: Path
):
    fake_build(ws, tmp_path)
    ws.kmodule("hello", CELL_BODY, load=[])
    fake.loaded["hello"] = ["consumer"]
    outcome = ws.kmodule("hello", CELL_BODY, load=[])
    assert [s.result.argv[0] for s in outcome.steps] == ["rmmod"]  # type: ignore[union-attr]
    assert "in use by: consumer" in ws.view_cell(outcome).text


def test_old_builds_are_pruned_and_deleted_cells_do_not_come_back(
    ws: Workspace, fake: FakeSession, tmp_path: Path
):
    fake_build(ws, tmp_path)
    ws.kmodule("hello", CELL_BODY)
    ws.kmodule("other", CELL_BODY)
    assert set(fake.modules) == {"hello", "other"}
    ws.delete("other")
    ws.kmodule("hello", CELL_BODY)
    assert set(fake.modules) == {"hello"}  # a fresh guest would push only what exists
    dirs = [p for p in ws._builds_root.iterdir()]  # the fake builds elsewhere: nothing kept here
    assert dirs == []


def test_an_oops_becomes_a_crash_and_a_fresh_guest(ws: Workspace, fake: FakeSession):
    fake.oops_on.add("oops")
    step = ws.insmod("oops")
    assert step.result is not None and step.result.status == "signaled"
    assert step.crash is not None and step.crash.kind == "oops" and step.crash.restarted
    assert fake.restarts == 1
    text = ws.view_step(step).text
    assert "the kernel reported: BUG: kernel NULL pointer dereference" in text
    assert "started a fresh one" in text
    assert ws.last_crash is step.crash and ws.last_result is step.result
    assert any(isinstance(e, str) and "fresh guest #2" in e for e in ws.log)
    assert ws.insmod("hello").result.ok  # type: ignore[union-attr]


@pytest.mark.parametrize("error", [GuestCrashed, GuestHung])
def test_a_dead_guest_becomes_a_crash_with_the_kernels_report(
    ws: Workspace, fake: FakeSession, error
):
    ws.insmod("hello")
    fake.fail_next = error(
        "the guest stopped (QEMU exited): Kernel panic - not syncing: boom", PANIC_CONSOLE
    )
    step = ws.insmod("boom")
    assert step.result is None and step.crash is not None
    assert step.crash.kind == ("hung" if error is GuestHung else "crashed")
    assert step.crash.restarted and not fake.closed
    assert "Kernel panic - not syncing: boom" in step.crash.report_text
    assert ws.last_result is None and ws.last_crash is step.crash
    text = ws.view_step(step).text
    assert "Kernel panic - not syncing" in text and "started a fresh one" in text
    assert ws.run(["lsmod"]).result.ok  # type: ignore[union-attr]  # the next command works


def test_a_module_command_that_times_out_restarts_the_guest(ws: Workspace, fake: FakeSession):
    from kmodlab.vm.guest import CommandResult

    fake.run = lambda argv, timeout_s=30.0: CommandResult(list(argv), "timeout", None, "", "")  # type: ignore[method-assign]
    step = ws.insmod("hang")
    assert step.crash is not None and step.crash.kind == "timeout" and fake.restarts == 1
    assert ws.sh("sleep 100").crash is None  # an ordinary command's timeout is just a result


def test_drain_collects_what_the_kernel_logged_between_commands(ws: Workspace, fake: FakeSession):
    from tests.unit.test_lab_fakes import record

    ws.insmod("hello")
    fake.pending = [record("hello: timer fired", seq=999)]
    ws.drain()
    assert [e.text for e in ws.log if not isinstance(e, str)] == [
        "hello: Hello",
        "hello: timer fired",
    ]


def test_sh_runs_a_shell_line(ws: Workspace, fake: FakeSession):
    ws.sh("cat /proc/modules | wc -l")
    assert fake.calls[-1] == ["/bin/sh", "-c", "cat /proc/modules | wc -l"]
    assert ws.view_step(ws.sh("true")).text.startswith("$ true")


def test_a_guest_that_dies_in_the_deferred_depmod_is_reported(
    ws: Workspace, fake: FakeSession, tmp_path: Path
):
    fake_build(ws, tmp_path)
    ws.kmodule("hello", CELL_BODY)
    fake.fail_next = GuestCrashed("the guest stopped (QEMU exited): Kernel panic", PANIC_CONSOLE)
    step = ws.run(["modprobe", "hello"])
    assert step.crash is not None and step.crash.argv == ["depmod", "-a"]
    assert ["modprobe", "hello"] not in fake.calls
    assert ws.run(["modprobe", "hello"]).result.ok  # type: ignore[union-attr]


def test_a_guest_that_cannot_start_is_a_one_line_problem(
    ws: Workspace, fake: FakeSession, tmp_path: Path
):
    from kmodlab.vm.guest import BootFailed

    def no_boot() -> FakeSession:
        raise BootFailed("the guest never became ready", fix="run `kmodlab doctor`")

    fake_build(ws, tmp_path)
    fake.start = no_boot  # type: ignore[method-assign]
    outcome = ws.kmodule("hello", CELL_BODY, load=[])
    assert not outcome.ok and outcome.problem is not None and "kmodlab doctor" in outcome.problem
    text = ws.view_cell(outcome).text
    assert text.startswith("hello: built hello.ko in 0.5 s")  # the build itself was fine
    assert "warnings count as errors" not in text and "never became ready" in text


def test_a_cell_the_folders_makefile_does_not_build_is_pointed_out(
    ws: Workspace, fake: FakeSession, tmp_path: Path
):
    def only_other() -> BuildResult:
        out = tmp_path / "build-other"
        out.mkdir(exist_ok=True)
        (out / "other.ko").write_bytes(b"\x7fELF")
        modules = [BuiltModule("other", out / "other.ko", ["other.c"])]
        return BuildResult(True, modules, [], "", 0.5, out, True)

    ws.build = only_other  # type: ignore[method-assign]
    outcome = ws.kmodule("hello", CELL_BODY)
    assert outcome.note is not None and "add hello.o to its obj-m line" in outcome.note
    assert "add hello.o to its obj-m line" in ws.view_cell(outcome).text
