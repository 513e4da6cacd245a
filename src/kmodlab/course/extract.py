"""The modules of a notebook, as files: grade a class's notebooks without running them.

    modules_of(notebook) -> {"hello.c": "...", "provider.h": "..."}
    extract_class(Path("submitted"), Path("modules"), assignment="hello", exercise="hello")
    # then: kmodlab grade-batch modules --output-dir reports --exercise hello

A %%kmodule NAME cell becomes NAME.c exactly as the lab writes it (its first
line stands for the magic line, so line N of the file is line N of the cell,
and a report's lines are the student's cell lines); a %%writefile cell whose
file is a .c or .h becomes that file. When a name occurs twice, the later
cell wins, as it would running top to bottom. Nothing is executed.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import nbformat

from kmodlab.course.exercises import (
    build_folders,
    exercise_dir,
    exercise_files,
    student_writes_build,
)

SOURCE_SUFFIXES = (".c", ".h")
BUILD_FILES = ("Makefile", "Kbuild")
WORKSPACE = "kmodlab-workspace"


def _header(args_line: str) -> str:
    from kmodlab.lab.workspace import cell_header

    return cell_header(args_line)


def modules_of(
    notebook: Path | nbformat.NotebookNode, *, build_files: bool = False
) -> dict[str, str]:
    """build_files: also the Makefiles and Kbuilds %%writefile cells write, and every file
    by its path below kmodlab-workspace/ (the kbuild stage's provider/Makefile)."""
    nb = (
        notebook
        if isinstance(notebook, nbformat.NotebookNode)
        else nbformat.read(str(notebook), as_version=4)
    )
    files: dict[str, str] = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        first, _, body = cell.source.partition("\n")
        words = _words(first)
        if not words:
            continue
        if words[0] == "%%kmodule" and len(words) > 1 and not words[1].startswith("-"):
            text = body if body.endswith("\n") or not body else body + "\n"
            files[f"{words[1]}.c"] = _header(first[len("%%kmodule") :]) + text
        elif words[0] == "%%writefile":
            paths = [w for w in words[1:] if not w.startswith("-")]
            path = PurePosixPath(paths[0]) if paths else PurePosixPath()
            name = path.name
            if build_files and path.parts[:1] == (WORKSPACE,) and ".." not in path.parts:
                name = PurePosixPath(*path.parts[1:]).as_posix() if len(path.parts) > 1 else ""
            wanted = name.endswith(SOURCE_SUFFIXES) or (
                build_files and PurePosixPath(name).name in BUILD_FILES
            )
            if name and wanted:
                files[name] = body if body.endswith("\n") or not body else body + "\n"
    return files


def _words(line: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError:
        return line.split()


def write_modules(files: dict[str, str], out: Path, exercise: str | None = None) -> list[str]:
    """Write files into out (only the exercise's, plus its given headers); the names written."""
    out.mkdir(parents=True, exist_ok=True)
    chosen = dict(files)
    if exercise is not None:
        wanted = exercise_files(exercise)
        if wanted and student_writes_build(exercise):  # the student's own Makefiles too
            wanted += [f"{d}/{f}" for d in ["", *build_folders(exercise)] for f in BUILD_FILES]
            wanted = [w.lstrip("/") for w in wanted]
        if wanted:
            chosen = {n: t for n, t in files.items() if n in wanted}
            starter = exercise_dir(exercise)
            for n in wanted:
                if n.endswith(".h") and n not in chosen and starter is not None:
                    chosen[n] = (starter / n).read_text(encoding="utf-8")
    for name, text in chosen.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text, encoding="utf-8")
    return sorted(chosen)


def extract_class(
    submitted: Path,
    out: Path,
    *,
    assignment: str,
    exercise: str | None = None,
    notebooks: Sequence[str] | None = None,
) -> dict[str, list[str]]:
    """nbgrader's submitted/<student>/<assignment>/*.ipynb -> out/<student>/ module files."""
    done: dict[str, list[str]] = {}
    for student in sorted(p for p in submitted.iterdir() if p.is_dir()):
        folder = student / assignment
        if not folder.is_dir():
            continue
        files: dict[str, str] = {}
        own_build = exercise is not None and student_writes_build(exercise)
        for nb in sorted(folder.glob("*.ipynb")):
            if notebooks is None or nb.stem in notebooks:
                files.update(modules_of(nb, build_files=own_build))
        done[student.name] = write_modules(files, out / student.name, exercise)
    return done
