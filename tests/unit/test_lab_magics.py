"""%%kmodule and %kmod through IPython's own shell, against a fake session (no VM)."""

from __future__ import annotations

from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import kmodlab
import kmodlab.lab as lab
from kmodlab.lab.magics import parse_kmodule_line
from kmodlab.lab.workspace import Workspace
from tests.unit.test_lab_fakes import FakeSession
from tests.unit.test_lab_workspace import CELL_BODY, fake_build


@pytest.fixture
def ip():
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "kmodlab")
    yield shell
    shell.run_line_magic("unload_ext", "kmodlab")


@pytest.fixture
def fake(tmp_path: Path) -> FakeSession:
    return FakeSession()


@pytest.fixture
def ws(ip, tmp_path: Path, fake: FakeSession) -> Workspace:
    return lab.use(Workspace(tmp_path / "ws", session=fake, headers=tmp_path))


def shown(ip, line: str, cell: str | None = None) -> tuple[str, str]:
    """(text/plain, text/html) of what a magic displayed; the magic itself returns None."""
    with capture_output() as cap:
        if cell is None:
            value = ip.run_line_magic("kmod", line)
        else:
            value = ip.run_cell_magic("kmodule", line, cell)
    assert value is None
    text = "\n".join(o.data.get("text/plain", "") for o in cap.outputs)
    html = "\n".join(o.data.get("text/html", "") for o in cap.outputs)
    return text, html


def test_the_package_is_the_extension(ip):
    magics = ip.magics_manager.magics
    kmodlab.unload_ipython_extension(ip)
    assert "kmod" not in magics["line"] and "kmodule" not in magics["cell"]
    kmodlab.load_ipython_extension(ip)
    assert "kmod" in magics["line"] and "kmodule" in magics["cell"]


@pytest.mark.parametrize(
    ("line", "parsed"),
    [
        ("hello", ("hello", False, None)),
        ("hello --warn-as-error", ("hello", True, None)),
        ("hello --load", ("hello", False, [])),
        ("hello --load a=1 b='x y'", ("hello", False, ["a=1", "b=x y"])),
    ],
)
def test_kmodule_line(line, parsed):
    assert parse_kmodule_line(line) == parsed


@pytest.mark.parametrize("line", ["", "--load", "hello a=1", "hello --bogus"])
def test_kmodule_line_mistakes(line):
    with pytest.raises(ValueError):
        parse_kmodule_line(line)


def test_insmod_runs_the_module_file_with_its_parameters(ip, ws, fake):
    text, html = shown(ip, "insmod hello who=world")
    assert fake.calls[-1] == ["insmod", "hello.ko", "who=world"]
    assert "$ insmod hello.ko who=world   [exit 0]" in text and "hello: Hello who=world" in text
    assert "kernel log" in html
    assert lab.last() is not None and lab.last().ok  # type: ignore[union-attr]


def test_each_subcommand_reaches_the_guest(ip, ws, fake):
    for line, argv in [
        ("rmmod hello", ["rmmod", "hello"]),
        ("lsmod", ["lsmod"]),
        ("modinfo hello", ["modinfo", "hello"]),
        ("modprobe -r hello", ["modprobe", "-r", "hello"]),
        ("depmod", ["depmod", "-a"]),
        ("dmesg --all", ["dmesg"]),
    ]:
        shown(ip, line)
        assert fake.calls[-1] == argv


def test_sh_keeps_the_line_as_typed(ip, ws, fake):
    # IPython would expand $HOME and {x} in an ordinary magic's line.
    shown(ip, "sh grep -c . /proc/modules; echo $HOME {x} $(uname -r)")
    assert fake.calls[-1] == [
        "/bin/sh",
        "-c",
        "grep -c . /proc/modules; echo $HOME {x} $(uname -r)",
    ]


def test_dmesg_shows_this_labs_log(ip, ws, fake):
    shown(ip, "insmod hello")
    text, _ = shown(ip, "dmesg")
    assert text.splitlines()[0].startswith("kernel log of this lab")
    assert "hello: Hello" in text


def test_usage_mistakes_and_unknown_subcommands_explain_themselves(ip, ws, fake):
    assert "usage: %kmod insmod NAME" in shown(ip, "insmod")[0]
    assert "%kmod frobnicate: unknown" in shown(ip, "frobnicate")[0]
    assert "%%kmodule hello" in shown(ip, "help")[0]
    assert "usage: %kmod check" in shown(ip, "check --bogus")[0]
    assert fake.calls == []


def test_build_rebuilds_a_file_edited_outside_a_cell(ip, ws, fake, tmp_path):
    """Does %kmod build NAME build the edited NAME.c as it is, push it and reload it?"""
    fake_build(ws, tmp_path)
    shown(ip, "hello", CELL_BODY)
    edited = (ws.folder / "hello.c").read_text() + "/* edited in the editor */\n"
    (ws.folder / "hello.c").write_text(edited)
    text, _ = shown(ip, "build hello --load who=editor")
    assert "hello: built hello.ko" in text and "pushed to the guest" in text
    assert fake.calls[-1] == ["insmod", "hello.ko", "who=editor"]
    assert (ws.folder / "hello.c").read_text() == edited  # not rewritten from a cell


def test_build_of_a_module_with_no_file_is_a_one_line_error(ip, ws, fake, tmp_path):
    fake_build(ws, tmp_path)
    text, _ = shown(ip, "build nosuch")
    assert "there is no nosuch.c in the workspace" in text
    assert "write it with a %%kmodule nosuch cell" in text
    assert "usage: %kmod build NAME" in shown(ip, "build")[0]
    assert fake.calls == []


def test_kmodule_cell_builds_pushes_and_loads(ip, ws, fake, tmp_path):
    fake_build(ws, tmp_path)
    text, html = shown(ip, "hello --load who=cell", CELL_BODY)
    assert "hello: built hello.ko" in text and "pushed to the guest" in text
    assert fake.calls[-1] == ["insmod", "hello.ko", "who=cell"]
    assert (ws.folder / "hello.c").read_text().startswith("// %%kmodule hello --load who=cell\n")
    assert "hello: Hello who=cell" in html


def test_kmodule_cell_body_is_not_expanded_by_ipython(ip, ws, fake, tmp_path):
    fake_build(ws, tmp_path)
    body = '#define F(x) {x}\nstatic char *s = "$HOME";\n'
    shown(ip, "hello", body)
    assert (ws.folder / "hello.c").read_text().splitlines()[1:] == body.splitlines()


def test_workspace_subcommand_moves_the_folder_and_keeps_the_guest(ip, ws, fake, tmp_path):
    text, _ = shown(ip, f"workspace {tmp_path / 'elsewhere'}")
    assert str(tmp_path / "elsewhere") in text
    assert lab.current_workspace() is ws and ws.folder == tmp_path / "elsewhere"
    assert (tmp_path / "elsewhere").is_dir()  # made, so the next cell has somewhere to go


def test_workspace_that_is_a_file_is_a_one_line_error(ip, ws, fake, tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    text, _ = shown(ip, f"workspace {tmp_path / 'notes.txt'}")
    assert text.strip() == f"{tmp_path / 'notes.txt'} is a file: give a folder for the workspace"
    assert ws.folder != tmp_path / "notes.txt"


def test_unload_stops_the_guest(ip, ws, fake):
    shown(ip, "lsmod")
    ip.run_line_magic("unload_ext", "kmodlab")
    assert fake.closed and ws.closed
    assert "kmod" not in ip.magics_manager.magics["line"]
    ip.run_line_magic("load_ext", "kmodlab")  # the fixture unloads again
