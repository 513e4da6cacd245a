"""The student edition: what students get, made from the repository.

    make_student_edition(Path("student-edition"))

It holds the notebooks (notebooks/*.ipynb), the starters (exercises/), and
the public checks (autograder/<stage>/expectations.toml, or public.toml where
a stage's own checks are hidden tests): never solutions/, course/ (the
instructors' nbgrader notebooks, solutions inside), tests/ (wrong answers,
hidden expectations) or a hidden expectations file. Students then grade with

    KMODLAB_AUTOGRADER=student-edition/autograder kmodlab grade exercises/hello --exercise hello
"""

from __future__ import annotations

import shutil
from pathlib import Path

from kmodlab.errors import InputError
from kmodlab.grader.verdicts.expectations import load_expectations

PUBLIC = "public.toml"  # a stage's public checks, when its own checks are hidden tests
README = """# kmodlab: the student edition

- `notebooks/`: the lessons, in order (`01-setup.ipynb` first); open them in
  the lab (`kmodlab lab` from a kmodlab installation, or JupyterLab with
  kmodlab installed: `%load_ext kmodlab`).
- `exercises/<stage>/`: each stage's starter and its task (`README.md`).
- `autograder/<stage>/expectations.toml`: the checks you can run yourself:

      export KMODLAB_AUTOGRADER="$PWD/autograder"
      kmodlab grade exercises/hello --exercise hello

  The capstone's own checks are hidden tests: here it is graded on the
  generic checks only; your instructor grades the rest.
"""


def make_student_edition(out: Path, repo: Path | None = None) -> list[Path]:
    """Write the student edition to out (a new or empty folder); the files written."""
    repo = repo or Path(__file__).resolve().parents[3]
    for part in ("notebooks", "exercises", "autograder"):
        if not (repo / part).is_dir():
            raise InputError(f"{repo} has no {part}/ folder", "run this from a kmodlab checkout")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise InputError(f"{out} is not empty", "give a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def copy(src: Path, rel: str) -> None:
        dest = out / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        written.append(dest)

    for nb in sorted((repo / "notebooks").glob("*.ipynb")):
        copy(nb, f"notebooks/{nb.name}")
    for stage in sorted(p for p in (repo / "exercises").iterdir() if p.is_dir()):
        for f in sorted(p for p in stage.rglob("*") if p.is_file()):  # kbuild's provider/ too
            copy(f, f"exercises/{stage.name}/{f.relative_to(stage).as_posix()}")
        checks = repo / "autograder" / stage.name
        public = checks / PUBLIC if (checks / PUBLIC).is_file() else checks / "expectations.toml"
        if public.is_file():
            load_expectations(public)  # a broken public file must not reach students
            copy(public, f"autograder/{stage.name}/expectations.toml")
    (out / "README.md").write_text(README, encoding="utf-8")
    written.append(out / "README.md")
    return written
