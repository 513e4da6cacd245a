"""Checking a submission folder: each problem is one InputError line naming problem and fix."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kmodlab.build.validate import load_submission
from kmodlab.errors import InputError

HELLO = b'#include <linux/module.h>\nMODULE_LICENSE("GPL");\n'


def folder(tmp_path: Path, files: dict[str, bytes]) -> Path:
    root = tmp_path / "sub"
    root.mkdir()
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def input_error(src: Path, **kwargs) -> str:
    with pytest.raises(InputError) as info:
        load_submission(src, **kwargs)
    text = str(info.value)
    assert "\n" not in text, text
    assert ": " in text  # problem: fix
    return text


def test_takes_sources_and_kbuild_files_only(tmp_path: Path) -> None:
    src = folder(
        tmp_path,
        {
            "hello.c": HELLO,
            "hello.h": b"#define X 1\n",
            "Makefile": b"obj-m := hello.o\n",
            "Kbuild": b"obj-m := hello.o\n",
            "README.md": b"notes",
            "hello.o": b"\x7fELF\x00\xff",
            "hello.ko": b"\x7fELF\x00\xff",
            "hello.mod.c": b"generated",
            ".hello.o.cmd": b"x",
            "notes.ipynb": b"{}",
            ".ipynb_checkpoints/hello-checkpoint.c": b"\xff old",
            "__pycache__/x.c": b"\xff",
            "src/util.c": b"int util;\n",
            "src/Makefile": b"ignored: subfolder makefiles are not read\n",
        },
    )
    sub = load_submission(src)
    assert sorted(sub.files) == ["Kbuild", "Makefile", "hello.c", "hello.h", "src/util.c"]
    assert sub.files["hello.c"] == HELLO
    assert sub.sources == ["hello.c", "hello.h", "src/util.c"]
    assert sub.text("Makefile") == "obj-m := hello.o\n"
    assert sub.text("missing") is None


def test_missing_path(tmp_path: Path) -> None:
    text = input_error(tmp_path / "nope")
    assert "nope does not exist" in text


def test_file_instead_of_folder(tmp_path: Path) -> None:
    (tmp_path / "hello.c").write_bytes(HELLO)
    assert "is a file, not a folder" in input_error(tmp_path / "hello.c")


def test_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    assert "is empty" in input_error(tmp_path / "sub")


def test_no_c_files_names_what_is_there(tmp_path: Path) -> None:
    src = folder(tmp_path, {"hello.py": b"", "Makefile": b"obj-m := x.o\n"})
    text = input_error(src)
    assert "has no .c files" in text and "hello.py" in text


def test_only_build_products_is_no_c_files(tmp_path: Path) -> None:
    src = folder(tmp_path, {"hello.ko": b"", "hello.mod.c": b"", ".ipynb_checkpoints/a.c": b""})
    assert "has no .c files" in input_error(src)


def test_non_utf8_names_file_and_byte_offset(tmp_path: Path) -> None:
    src = folder(tmp_path, {"ok.c": HELLO, "latin1.c": b"int a;\n/* caf\xe9 */\n"})
    text = input_error(src)
    assert "latin1.c is not UTF-8" in text
    assert "0xe9 at byte offset 13 (line 2)" in text
    assert "save the file as UTF-8" in text


def test_file_over_the_size_limit(tmp_path: Path) -> None:
    src = folder(tmp_path, {"big.c": b"/*" + b"x" * (600 * 1024) + b"*/\n"})
    text = input_error(src)
    assert "big.c is 600 KiB" in text and "512 KiB limit" in text


def test_total_over_the_size_limit(tmp_path: Path) -> None:
    files = {f"part{i}.c": b"x" * 1000 for i in range(5)}
    text = input_error(folder(tmp_path, files), max_total_bytes=4000)
    assert "add up to" in text


@pytest.mark.parametrize(
    "name",
    [
        "my module.c",
        "hello(1).c",
        "héllo.c",
        "-rf.c",
        "$(shell id).c",
        "a:b.c",
        "with.dot.c",
        "bad name/x.c",
    ],
)
def test_unsafe_names(tmp_path: Path, name: str) -> None:
    src = folder(tmp_path, {"ok.c": HELLO, name: HELLO})
    text = input_error(src)
    assert "is not a name a module build can use" in text
    assert "rename it" in text


def test_non_utf8_file_name_is_shown_escaped(tmp_path: Path) -> None:
    src = folder(tmp_path, {"ok.c": HELLO})
    with open(os.path.join(os.fsencode(src), b"caf\xe9.c"), "wb") as f:
        f.write(HELLO)
    text = input_error(src)
    assert "caf" in text and text.isprintable()


def test_symlink_is_refused(tmp_path: Path) -> None:
    src = folder(tmp_path, {"ok.c": HELLO})
    (src / "secret.h").symlink_to("/etc/passwd")
    assert "secret.h is a symbolic link" in input_error(src)


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    src = folder(tmp_path, {"ok.c": HELLO})
    os.mkfifo(src / "pipe.c")
    assert "pipe.c is not a regular file" in input_error(src)


def test_symlinked_and_hidden_folders_are_not_followed(tmp_path: Path) -> None:
    src = folder(tmp_path, {"ok.c": HELLO})
    (src / "linked").symlink_to("/usr/include/linux")
    assert sorted(load_submission(src).files) == ["ok.c"]
