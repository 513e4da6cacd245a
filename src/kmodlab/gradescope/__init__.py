"""Gradescope: the autograder bundle, and what runs inside it per submission.

`kmodlab gradescope EXERCISE --output autograder.zip` writes the zip Gradescope
builds its image from: setup.sh (run once, as root, in the image build),
run_autograder (run per submission), and everything set-up needs without a
network beyond the distribution's package archive: kmodlab's wheel and its
dependencies' wheels (wheels/), the four kernel packages as `kmodlab setup
--debs` takes them (debs/), and the exercise's expectations (autograder/).

run_autograder calls `python -m kmodlab.gradescope run ROOT`, which ALWAYS
leaves ROOT/results/results.json: a provisional "did not finish" result is
written first (so a kill or a timeout still leaves one), then the graded
result, or a result naming the failure (score 0, the reason) when grading
itself failed. A shell fallback in run_autograder writes one even when
kmodlab is not installed at all.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from kmodlab.errors import InputError, KmodlabError
from kmodlab.paths import atomic_write

CONFIG = "kmodlab-gradescope.json"
HIDDEN = "after_published"  # Gradescope shows these tests once grades are published
# Python and venv for setup.sh; `kmodlab setup` installs the rest (QEMU, gcc-12, ...).
PYTHONS = ("python3.13", "python3.12", "python3.11", "python3")


# -- the bundle ---------------------------------------------------------------------
def build_bundle(
    exercise: str,
    output: Path,
    *,
    debs: Path | None,
    wheels: Path | None = None,
    hide: Sequence[str] = (),
    hide_exercise_checks: bool = False,
    say: Callable[[str], None] = lambda _m: None,
) -> list[str]:
    """Write the autograder zip; the names in it."""
    from kmodlab.grader import exercise_plan as exercises

    plan = exercises.load(exercise)  # an unknown exercise is one line, before any work
    spec = plan.expectations
    ids = [c.id for c in spec.checks]
    unknown = [h for h in hide if h not in ids and h not in plan.weights]
    if unknown:
        raise InputError(
            f"--hide {unknown[0]}: exercise {exercise} has no such check",
            f"use one of: {', '.join([*plan.weights, *ids])}",
        )
    hidden = sorted({*hide, *(ids if hide_exercise_checks else [])})
    config = {"exercise": exercise, "hidden": hidden, "visibility": "visible"}
    with tempfile.TemporaryDirectory(prefix="kmodlab-gradescope-") as tmp:
        stage = Path(tmp)
        _wheels(stage / "wheels", wheels, say)
        _debs(stage / "debs", debs, say)
        target = stage / "autograder" / exercise
        target.mkdir(parents=True)
        shutil.copyfile(spec.path, target / "expectations.toml")
        (stage / CONFIG).write_text(json.dumps(config, indent=2) + "\n")
        here = resources.files("kmodlab.gradescope")
        setup = here.joinpath("setup.sh").read_text().replace("__PYTHONS__", " ".join(PYTHONS))
        (stage / "setup.sh").write_text(setup)
        (stage / "run_autograder").write_text(here.joinpath("run_autograder").read_text())
        return _zip(stage, output)


def _zip(stage: Path, output: Path) -> list[str]:
    names = []
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(p for p in stage.rglob("*") if p.is_file()):
            name = path.relative_to(stage).as_posix()
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            executable = name in ("setup.sh", "run_autograder")
            info.external_attr = (0o100755 if executable else 0o100644) << 16
            info.compress_type = (
                zipfile.ZIP_STORED if name.endswith(".deb") else zipfile.ZIP_DEFLATED
            )
            z.writestr(info, path.read_bytes())
            names.append(name)
    os.replace(partial, output)
    return names


def _wheels(dest: Path, given: Path | None, say: Callable[[str], None]) -> None:
    """kmodlab's wheel and its dependencies' (pure Python) wheels, for an offline install."""
    dest.mkdir(parents=True)
    if given is not None:
        found = sorted(given.glob("*.whl"))
        if not any(p.name.startswith("kmodlab-") for p in found):
            raise InputError(f"--wheels {given} holds no kmodlab-*.whl", "build it: pip wheel .")
        for p in found:
            shutil.copyfile(p, dest / p.name)
        return
    from kmodlab.coursefiles import checkout_root

    root = checkout_root()
    if root is None:
        raise InputError(
            "this kmodlab is installed, not a checkout: its wheel cannot be rebuilt here",
            "pass --wheels DIR holding kmodlab's wheel and its dependencies' wheels",
        )
    say("building kmodlab's wheel and fetching its dependencies' wheels (pip)")
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    _pip([*pip, "wheel", "--no-deps", "-w", str(dest), str(root)])
    (wheel,) = dest.glob("kmodlab-*.whl")
    # The base install only (no [lab]/[course]): pure-Python wheels, any Python 3.
    _pip([*pip, "download", "--only-binary=:all:", "-d", str(dest), str(wheel)])


def _pip(argv: list[str]) -> None:
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise InputError(
            f"pip could not make the wheels ({last})",
            "connect to the package index once, or pass --wheels DIR",
        )


def _debs(dest: Path, given: Path | None, say: Callable[[str], None]) -> None:
    """The four kernel packages of the kernel set up here, as `kmodlab setup --debs` takes."""
    from kmodlab.kernel import fetch

    dest.mkdir(parents=True)
    if given is not None:
        _packages, files = fetch.debs_from_dir(given)
    else:
        from kmodlab.kernel.abi import resolve_packages
        from kmodlab.paths import current_kernel

        abi = current_kernel().abi
        say(f"downloading the packages of kernel {abi} (about 85 MB)")
        files = fetch.download(resolve_packages(abi), dest.parent / "downloads", say=say,
                               quiet=True)  # fmt: skip
    for path in files.values():
        shutil.copyfile(path, dest / path.name)
    shutil.rmtree(dest.parent / "downloads", ignore_errors=True)


# -- inside Gradescope: one submission --------------------------------------------------
def failure(reason: str, *, test: str = "autograder", output: str | None = None) -> dict:
    """results.json for a submission that could not be graded: one failed test, score 0."""
    return {
        "score": 0,
        "output": output or f"The autograder could not grade this submission: {reason}",
        "stdout_visibility": "hidden",
        "tests": [
            {
                "name": test,
                "score": 0,
                "max_score": 0,
                "status": "failed",
                "output": reason,
                "visibility": "visible",
            }
        ],
    }


def apply_visibility(results: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """Per-test visibility (the config's hidden checks after publication), top-level
    visibility, and the grader's stdout hidden from students."""
    hidden = set(config.get("hidden", []))
    for test in results.get("tests", []):
        test["visibility"] = HIDDEN if test.get("name") in hidden else "visible"
    results["visibility"] = config.get("visibility", "visible")
    results["stdout_visibility"] = "hidden"
    return results


def submission_folder(submission: Path) -> Path:
    """The folder holding the .c files: Gradescope unpacks an uploaded zip as is, so the
    files may sit one folder down (hello/hello.c)."""
    if any(submission.glob("*.c")) or not submission.is_dir():
        return submission
    folders = {p.parent for p in submission.rglob("*.c") if "__MACOSX" not in p.parts}
    return folders.pop() if len(folders) == 1 else submission


def run(root: Path) -> int:
    """Grade root/submission into root/results/results.json; see the module docstring."""
    results = root / "results" / "results.json"

    def write(doc: dict) -> None:
        atomic_write(results, (json.dumps(doc, indent=2) + "\n").encode())

    write(failure("grading did not finish (out of time, or the grader was killed)"))
    try:
        config = json.loads((root / "source" / CONFIG).read_text())
    except (OSError, ValueError) as e:
        write(failure(f"the autograder bundle is broken: {CONFIG} ({e})"))
        return 0
    try:
        write(apply_visibility(_grade(root, config), config))
    except KmodlabError as e:  # the submission is unusable: no .c files, too large, ...
        write(apply_visibility(failure(e.line(), test="submission"), config))
    except Exception as e:  # the grader failed: still a result, with the reason
        write(apply_visibility(failure(f"{type(e).__name__}: {e}"), config))
    return 0


def _grade(root: Path, config: dict[str, Any]) -> dict[str, Any]:
    from kmodlab.grader.pipeline import grade
    from kmodlab.grader.report import formats

    os.environ.setdefault("KMODLAB_AUTOGRADER", str(root / "source" / "autograder"))
    folder = submission_folder(root / "submission")
    report = grade(folder, exercise=config["exercise"])
    return formats.to_gradescope(report, sources=formats.quotable(report, folder))


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] != "run":
        print("usage: python -m kmodlab.gradescope run ROOT", file=sys.stderr)
        return 2
    return run(Path(args[1]))


if __name__ == "__main__":
    sys.exit(main())
