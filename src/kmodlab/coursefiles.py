"""The course's content (notebooks, exercises, solutions, autograder specs, the
nbgrader course) in a checkout and in an installed package.

In a checkout the content is the top-level folders. A wheel carries a copy of
them as package data, kmodlab/_course/<folder>/ (setup.py's build step calls
copy_content), so a non-editable install grades exercises and `kmodlab course
init DIR` copies the course out of it. The folders are copied whole: what is
in them is the course's business, not this module's.
"""

from __future__ import annotations

import fnmatch
import shutil
from pathlib import Path

# Every folder of the course, in the order `course init` reports them.
FOLDERS = ("notebooks", "exercises", "solutions", "autograder", "course")
# What a student needs; the rest (solutions, hidden checks, the nbgrader
# source with its solution regions) is the instructor's.
STUDENT_FOLDERS = ("notebooks", "exercises")
PACKAGED = "_course"  # kmodlab/_course/ in a wheel
# What running the course leaves in those folders (lab workspaces, builds,
# nbgrader's working folders): never packaged, never copied.
IGNORED = (
    "kmodlab-workspace",
    "exercise-*",
    ".ipynb_checkpoints",
    "__pycache__",
    ".*",
    "*.o",
    "*.ko",
    "*.mod",
    "*.mod.c",
    "*.cmd",
    "Module.symvers",
    "modules.order",
    "gradebook.db",
    "grades.csv",
    "release",
    "submitted",
    "autograded",
    "feedback",
    "downloaded",
    "exchange",
)


def _ignored(name: str) -> bool:
    if name == ".gitignore":  # course/'s keeps nbgrader's outputs out of the course's repo
        return False
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in IGNORED)


def checkout_root() -> Path | None:
    """The git checkout this module runs from (editable install), or None when installed."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() and (root / "autograder").is_dir() else None


def content_root() -> Path | None:
    """The folder holding notebooks/, exercises/, ...: the checkout, else the package's copy."""
    root = checkout_root()
    if root is not None:
        return root
    packaged = Path(__file__).resolve().parent / PACKAGED
    return packaged if packaged.is_dir() else None


def copy_content(src_root: Path, dst_root: Path, folders: tuple[str, ...] = FOLDERS) -> list[Path]:
    """Copy the course folders of src_root into dst_root (what run-time leaves out); the files
    written, relative to dst_root."""
    written: list[Path] = []
    for folder in folders:
        src = src_root / folder
        if src.is_dir():
            written += _copy_tree(src, dst_root / folder, Path(folder))
    return written


def _copy_tree(src: Path, dst: Path, rel: Path) -> list[Path]:
    written: list[Path] = []
    for entry in sorted(src.iterdir()):
        if _ignored(entry.name) or entry.is_symlink():
            continue
        if entry.is_dir():
            written += _copy_tree(entry, dst / entry.name, rel / entry.name)
        elif entry.is_file():
            dst.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(entry, dst / entry.name)
            written.append(rel / entry.name)
    return written


def init_course(dest: Path, *, student: bool = False, force: bool = False) -> list[Path]:
    """Copy the course into dest (the files written, relative to it); refuses to
    overwrite a folder of the course unless force."""
    from kmodlab.errors import InputError, SetupError

    src = content_root()
    if src is None:
        raise SetupError(
            "this kmodlab has no course content (a wheel built without it?)",
            "reinstall kmodlab from a release wheel or a git checkout",
        )
    folders = STUDENT_FOLDERS if student else FOLDERS
    if dest.exists() and not dest.is_dir():
        raise InputError(f"{dest}: not a folder", "pass a new or empty folder")
    if not force:
        clash = [f for f in folders if (dest / f).exists()]
        if clash:
            raise InputError(
                f"{dest} already has {', '.join(f + '/' for f in clash)}",
                "pass another folder, or --force to overwrite those files",
            )
    dest.mkdir(parents=True, exist_ok=True)
    return copy_content(src, dest, folders)
