"""The command line: argument handling and one-line errors for bad input."""

from __future__ import annotations

import argparse

import pytest

from kmodlab.cli import main, parse


def _one_line_error(capsys, argv) -> str:
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("command", ["build", "run"])
def test_missing_folder_is_one_line(capsys, tmp_path, command):
    """Is a path that does not exist reported in one line naming it?"""
    line = _one_line_error(capsys, [command, str(tmp_path / "nope")])
    assert line.startswith("kmodlab: error: ") and "nope" in line


def test_bad_submissions_are_one_line_each(capsys, tmp_path):
    """Do an empty folder, a folder without .c files, a non-UTF-8 file, a huge file and a
    file given instead of a folder each give one line naming the problem?"""
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "empty" in _one_line_error(capsys, ["build", str(empty)])

    no_c = tmp_path / "no_c"
    no_c.mkdir()
    (no_c / "notes.txt").write_text("hello")
    assert ".c" in _one_line_error(capsys, ["build", str(no_c)])

    latin = tmp_path / "latin"
    latin.mkdir()
    (latin / "mod.c").write_bytes(b"/* caf\xe9 */\nint x;\n")
    assert "mod.c" in _one_line_error(capsys, ["build", str(latin)])

    huge = tmp_path / "huge"
    huge.mkdir()
    (huge / "big.c").write_bytes(b"/*" + b"x" * (5 << 20) + b"*/\n")
    assert "big.c" in _one_line_error(capsys, ["build", str(huge)])

    a_file = tmp_path / "file.c"
    a_file.write_text("int x;\n")
    assert "file.c" in _one_line_error(capsys, ["build", str(a_file)])


def test_run_takes_one_command_after_double_dash_and_options_anywhere():
    """Is everything after -- one command, with options before it still parsed?"""
    args = parse(["run", "hello", "--timings", "--", "insmod", "hello.ko", "whom=x"])
    assert args.dir == "hello" and args.timings and args.argv == ["insmod", "hello.ko", "whom=x"]


def test_test_command_passes_unknown_arguments_to_pytest():
    """Do pytest's own options reach pytest?"""
    args = parse(["test", "--skip-setup", "-m", "not vm", "-x"])
    assert args.skip_setup and args.pytest_args == ["-m", "not vm", "-x"]


def test_unknown_option_is_a_usage_error(capsys):
    """Is an unknown option refused by the other commands?"""
    with pytest.raises(SystemExit) as e:
        parse(["run", "--bogus", "hello"])
    assert e.value.code == 2


def test_the_test_command_leaves_the_container_tier_out_unless_asked(monkeypatch):
    """Does `kmodlab test` add -m 'not container' by default, and keep a -m of the user's?"""
    import kmodlab.cli as cli

    calls: list[list[str]] = []
    monkeypatch.setattr(cli.subprocess, "call", lambda argv, **_kw: calls.append(argv) or 0)
    base = {"skip_setup": True}
    assert cli.cmd_test(argparse.Namespace(pytest_args=["-x"], **base)) == 0
    assert cli.cmd_test(argparse.Namespace(pytest_args=["-m", "container"], **base)) == 0
    pytests = [argv for argv in calls if "pytest" in argv]
    assert pytests[0][-3:] == ["-m", "not container", "-x"]
    assert "not container" not in pytests[1] and pytests[1][-2:] == ["-m", "container"]
