"""Module files from notebooks, as the lab writes them: grade a class without running them."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from kmodlab.course.__main__ import main
from kmodlab.course.extract import extract_class, modules_of, write_modules
from kmodlab.lab.workspace import Workspace

HELLO = 'static int x;\nMODULE_LICENSE("GPL");'


def make_notebook(path: Path, *sources: str) -> Path:
    nb = new_notebook(cells=[new_markdown_cell("# title")] + [new_code_cell(s) for s in sources])
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def test_a_kmodule_cell_becomes_the_file_the_lab_writes(tmp_path):
    nb = make_notebook(tmp_path / "n.ipynb", f"%%kmodule hello --load count=2\n{HELLO}")
    files = modules_of(nb)
    ws = Workspace(tmp_path / "ws")
    try:
        written = ws.write_cell("hello", HELLO, "hello --load count=2").read_text()
    finally:
        ws.close()
    assert files == {"hello.c": written}  # same bytes, so the same line numbers


def test_later_cells_win_and_headers_come_from_writefile(tmp_path):
    nb = make_notebook(
        tmp_path / "n.ipynb",
        "%%kmodule hello\nint old;",
        "%kmod insmod hello",
        "%%writefile exercise-symbols/provider.h\n#define P 1",
        "%%writefile notes.txt\nnot a source",
        "%%kmodule hello\nint new;",
        "print('%%kmodule in a string is not a cell magic')",
    )
    files = modules_of(nb)
    assert set(files) == {"hello.c", "provider.h"}
    assert "int new;" in files["hello.c"] and "int old;" not in files["hello.c"]
    assert files["provider.h"] == "#define P 1\n"


def test_exercise_filter_keeps_its_files_and_adds_given_headers(tmp_path):
    files = {"provider.c": "p", "consumer.c": "c", "demo.c": "d"}
    names = write_modules(files, tmp_path / "out", exercise="symbols")
    assert names == ["consumer.c", "provider.c", "provider.h"]
    assert not (tmp_path / "out" / "demo.c").exists()


def test_a_class_from_nbgrader_folders_and_the_command(tmp_path, capsys):
    submitted = tmp_path / "submitted"
    make_notebook(submitted / "alice" / "hello" / "hello.ipynb", f"%%kmodule hello\n{HELLO}")
    make_notebook(submitted / "bob" / "hello" / "hello.ipynb", "%kmod lsmod")
    (submitted / "carol" / "other").mkdir(parents=True)
    done = extract_class(submitted, tmp_path / "modules", assignment="hello", exercise="hello")
    assert done == {"alice": ["hello.c"], "bob": []}
    assert (tmp_path / "modules" / "alice" / "hello.c").is_file()

    assert main(["extract", str(submitted), str(tmp_path / "m2"), "--assignment", "hello"]) == 0
    assert "alice: hello.c" in capsys.readouterr().out
    one = submitted / "alice" / "hello" / "hello.ipynb"
    assert main(["extract", str(one), str(tmp_path / "m3")]) == 0
    assert (tmp_path / "m3" / "hello.c").is_file()
