"""Packaging: environment.yml agrees with pyproject.toml; the extras keep the grader light."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# conda-forge names of PyPI projects, where they differ (none today).
CONDA_NAME: dict[str, str] = {}
# Extras that are not part of the conda environment: the benchmark's virtme-ng
# is not on conda-forge, and the benchmark is run from a checkout's .venv.
NOT_IN_CONDA = {"bench"}
REQ = re.compile(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*(.*)$")


def _split(req: str) -> tuple[str, str]:
    m = REQ.match(req.strip())
    assert m, req
    return m.group(1).lower().replace("_", "-"), m.group(3).replace(" ", "")


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _pypi_requirements() -> dict[str, str]:
    """{conda name: version spec} of every dependency and extra, kmodlab itself left out."""
    project = _pyproject()
    reqs = list(project["dependencies"])
    for extra, items in project["optional-dependencies"].items():
        if extra not in NOT_IN_CONDA:
            reqs += items
    out = {}
    for req in reqs:
        name, spec = _split(req)
        if name != "kmodlab":
            out[CONDA_NAME.get(name, name)] = spec
    return out


def _conda_dependencies() -> tuple[dict[str, str], list[str]]:
    """environment.yml's conda packages {name: spec} and its pip lines (a flat YAML list)."""
    conda: dict[str, str] = {}
    pip: list[str] = []
    section = None
    for raw in (ROOT / "environment.yml").read_text().splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line:
            continue
        if not line.startswith(" "):
            section = line.split(":", 1)[0]
        elif section == "dependencies" and line.startswith("      - "):
            pip.append(line.strip()[2:])  # under `- pip:`
        elif section == "dependencies" and line.startswith("  - ") and line != "  - pip:":
            name, spec = _split(line[4:])
            conda[name] = spec
    return conda, pip


def test_environment_yml_lists_every_python_dependency_with_the_same_bounds():
    """Does environment.yml carry exactly pyproject's dependencies and extras (but the
    benchmark's), each with pyproject's version bounds, from conda-forge?"""
    text = (ROOT / "environment.yml").read_text()
    assert re.search(r"^channels:\n  - conda-forge\n", text, re.M), "conda-forge channel"
    conda, _pip = _conda_dependencies()
    wanted = _pypi_requirements()
    extra = set(conda) - set(wanted) - {"python", "pip"}
    assert not extra, f"environment.yml has packages pyproject.toml lacks: {sorted(extra)}"
    missing = set(wanted) - set(conda)
    assert not missing, f"environment.yml lacks: {sorted(missing)}"
    for name, spec in wanted.items():
        assert conda[name] == spec, f"{name}: environment.yml {conda[name]!r}, pyproject {spec!r}"


def test_environment_yml_python_matches_requires_python_and_installs_kmodlab():
    """Is the environment's Python the one pyproject requires, and is kmodlab itself
    installed from the checkout by pip (so the `kmodlab` command exists)?"""
    conda, pip = _conda_dependencies()
    assert conda["python"] == _pyproject()["requires-python"]
    assert "pip" in conda
    assert pip == ["-e ."], pip


def test_the_grader_does_not_import_jupyter_or_nbgrader():
    """Does importing the CLI, the engine and the grader (what a grading container runs)
    leave IPython, Jupyter, ipywidgets, nbformat and nbgrader unimported, so the base
    install without the [lab] and [course] extras can grade?"""
    code = (
        "import sys\n"
        "import kmodlab, kmodlab.cli, kmodlab.build, kmodlab.run, kmodlab.doctor\n"
        "import kmodlab.grader.pipeline, kmodlab.grader.batch, kmodlab.grader.report.formats\n"
        "import kmodlab.vm.session, kmodlab.kernel.fetch, kmodlab.setup\n"
        "kmodlab.cli.build_parser()\n"
        "heavy = ('IPython', 'ipykernel', 'ipywidgets', 'jupyter', 'jupyterlab', "
        "'jupyter_server', 'jupyter_core', 'nbformat', 'nbclient', 'nbconvert', 'nbgrader', "
        "'traitlets', 'zmq', 'tornado')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]", out.stdout


def _hide(monkeypatch, *names: str) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        "kmodlab.extras.importlib.util.find_spec",
        lambda name, *a: None if name in names else real(name, *a),
    )


def test_lab_without_the_lab_extra_names_it_in_one_line_before_setting_up(
    monkeypatch, capsys, tmp_path
):
    """Does `kmodlab lab` without JupyterLab installed stop at once (no set-up, no
    download) with one line naming the extra to install, kmodlab[lab]?"""
    from kmodlab import cli

    _hide(monkeypatch, "jupyterlab")
    monkeypatch.setattr(cli, "cmd_setup", lambda a: pytest.fail("set-up ran"))
    (tmp_path / "notebooks").mkdir()
    rc = cli.main(["lab", "--notebooks", str(tmp_path / "notebooks")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert "jupyterlab" in err[0] and "pip install 'kmodlab[lab]'" in err[0]


def test_test_command_without_the_dev_extra_names_it(monkeypatch, capsys):
    """Does `kmodlab test` without pytest name kmodlab[dev] in one line?"""
    from kmodlab import cli

    _hide(monkeypatch, "pytest", "nbval")
    monkeypatch.setattr(cli, "cmd_setup", lambda a: pytest.fail("set-up ran"))
    rc = cli.main(["test"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "kmodlab[dev]" in err[0], err


def test_lab_demo_needs_no_lab_extra(monkeypatch):
    """Does `kmodlab lab --demo` (a build and a run, no JupyterLab) work without the extra?"""
    from kmodlab import cli

    _hide(monkeypatch, "jupyterlab", "IPython", "ipywidgets", "ipykernel", "nbformat")
    monkeypatch.setattr(cli, "_hello_demo", lambda: 0)
    assert cli.main(["lab", "--demo", "--skip-setup"]) == 0


def test_extras_in_pyproject_are_the_ones_the_commands_name():
    """Does every extra a command can ask for exist in pyproject.toml, with the modules
    the command checks for among its requirements (lab: jupyterlab, course: nbgrader)?"""
    from kmodlab.extras import EXTRAS

    extras = _pyproject()["optional-dependencies"]
    for name in EXTRAS:
        assert name in extras, name
    reqs = {e: " ".join(extras[e]).lower() for e in extras}
    assert "jupyterlab" in reqs["lab"] and "ipywidgets" in reqs["lab"]
    assert "nbgrader" in reqs["course"] and "kmodlab[lab]" in reqs["course"]
    assert "kmodlab[lab,course]" in reqs["dev"] and "pytest" in reqs["dev"]
    base = " ".join(_pyproject()["dependencies"]).lower()
    assert not any(h in base for h in ("jupyter", "nbgrader", "ipython", "ipywidgets"))
