"""The Gradescope bundle and its run_autograder, with grading faked (the real run is in
tests/vm/test_instructors_gradescope.py)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from kmodlab import gradescope
from kmodlab.cli import main
from kmodlab.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
FAKE_DEBS = (
    "linux-image-6.1.0-50-amd64_6.1.176-1_amd64.deb",
    "linux-headers-6.1.0-50-amd64_6.1.176-1_amd64.deb",
    "linux-headers-6.1.0-50-common_6.1.176-1_all.deb",
    "linux-kbuild-6.1_6.1.176-1_amd64.deb",
)


def fake_inputs(tmp_path: Path) -> tuple[Path, Path]:
    debs, wheels = tmp_path / "debs", tmp_path / "wheels"
    debs.mkdir()
    wheels.mkdir()
    for name in FAKE_DEBS:
        (debs / name).write_bytes(b"!<arch>\n")
    for name in ("kmodlab-0.1.0-py3-none-any.whl", "rich-13.9.4-py3-none-any.whl"):
        (wheels / name).write_bytes(b"PK")
    return debs, wheels


def make_bundle(tmp_path: Path, *extra: str) -> Path:
    debs, wheels = fake_inputs(tmp_path)
    out = tmp_path / "autograder.zip"
    argv = ["gradescope", "hello", "-o", str(out), "--debs", str(debs), "--wheels", str(wheels)]
    assert main([*argv, *extra]) == 0
    return out


def unpack(bundle: Path, root: Path) -> Path:
    """Lay the bundle out as Gradescope does: source/, a copy of run_autograder at the
    top, submission/ and results/."""
    with zipfile.ZipFile(bundle) as z:
        z.extractall(root / "source")
        for info in z.infolist():  # extractall drops the mode bits
            os.chmod(root / "source" / info.filename, info.external_attr >> 16 & 0o777)
    (root / "run_autograder").write_bytes((root / "source" / "run_autograder").read_bytes())
    os.chmod(root / "run_autograder", 0o755)
    (root / "submission").mkdir()
    (root / "results").mkdir()
    return root


def test_bundle_holds_scripts_wheels_debs_and_the_exercise(tmp_path):
    """Does the zip hold executable setup.sh and run_autograder, the wheels, the four
    kernel packages by their own names, the exercise's expectations and the config?"""
    bundle = make_bundle(tmp_path, "--hide", "greetings")
    with zipfile.ZipFile(bundle) as z:
        modes = {i.filename: i.external_attr >> 16 for i in z.infolist()}
        config = json.loads(z.read(gradescope.CONFIG))
        setup = z.read("setup.sh").decode()
    assert modes["setup.sh"] & stat.S_IXUSR and modes["run_autograder"] & stat.S_IXUSR
    assert {f"debs/{n}" for n in FAKE_DEBS} <= set(modes)
    assert "wheels/kmodlab-0.1.0-py3-none-any.whl" in modes
    assert "autograder/hello/expectations.toml" in modes
    assert config == {"exercise": "hello", "hidden": ["greetings"], "visibility": "visible"}
    assert "--no-index --find-links" in setup and 'setup --debs "$here/debs"' in setup
    assert "git clone" not in setup and "__PYTHONS__" not in setup


def test_bundle_refuses_an_unknown_exercise_or_check_in_one_line(tmp_path, capsys):
    """Are an unknown exercise and a --hide naming no check each one line, before any
    work (no zip written)?"""
    debs, wheels = fake_inputs(tmp_path)
    base = ["-o", str(tmp_path / "a.zip"), "--debs", str(debs), "--wheels", str(wheels)]
    assert main(["gradescope", "nosuch", *base]) == 2
    assert "there is no exercise 'nosuch'" in capsys.readouterr().err
    assert main(["gradescope", "hello", *base, "--hide", "nosuch"]) == 2
    assert "no such check" in capsys.readouterr().err
    assert not (tmp_path / "a.zip").exists()


def test_visibility_hides_the_chosen_checks_until_published():
    """Are the configured checks after_published, the others visible, and the grader's
    stdout hidden?"""
    results = {"tests": [{"name": "build"}, {"name": "greeting"}], "score": 1}
    out = gradescope.apply_visibility(results, {"hidden": ["greeting"]})
    assert [t["visibility"] for t in out["tests"]] == ["visible", "after_published"]
    assert out["stdout_visibility"] == "hidden" and out["visibility"] == "visible"


def _results(root: Path) -> dict:
    return json.loads((root / "results" / "results.json").read_text())


def test_run_writes_a_result_when_the_grader_fails_or_the_submission_is_unusable(
    tmp_path, monkeypatch
):
    """Does run() leave results.json with one failed test (score 0, the reason) when
    grading raises, and name the submission's problem when it is unusable?"""
    root = unpack(make_bundle(tmp_path), tmp_path / "gs")

    def broken(root, config):
        raise RuntimeError("the VM exploded")

    monkeypatch.setattr(gradescope, "_grade", broken)
    assert gradescope.run(root) == 0
    doc = _results(root)
    assert doc["score"] == 0 and doc["tests"][0]["status"] == "failed"
    assert "RuntimeError: the VM exploded" in doc["tests"][0]["output"]

    def unusable(root, config):
        raise InputError("submission has no .c files", "upload your module's .c file")

    monkeypatch.setattr(gradescope, "_grade", unusable)
    gradescope.run(root)
    doc = _results(root)
    assert doc["tests"][0]["name"] == "submission" and "no .c files" in doc["tests"][0]["output"]


def test_a_result_exists_while_grading_so_a_timeout_still_leaves_one(tmp_path, monkeypatch):
    """Is a provisional results.json (score 0, 'did not finish') on disk before grading
    starts, so that Gradescope's timeout killing the grader still finds a result?"""
    root = unpack(make_bundle(tmp_path), tmp_path / "gs")
    seen = {}

    def grade(root, config):
        seen.update(_results(root))
        return {"score": 3, "tests": [{"name": "build", "score": 3, "max_score": 3}]}

    monkeypatch.setattr(gradescope, "_grade", grade)
    gradescope.run(root)
    assert seen["score"] == 0 and "did not finish" in seen["tests"][0]["output"]
    assert _results(root)["score"] == 3


def test_run_autograder_writes_results_even_without_kmodlab(tmp_path):
    """Does run_autograder itself write a valid results.json (score 0, the reason) when
    kmodlab is not installed in the image (setup.sh failed)?"""
    root = unpack(make_bundle(tmp_path), tmp_path / "gs")
    env = {**os.environ, "KMODLAB_GRADESCOPE_ROOT": str(root),
           "KMODLAB_GRADESCOPE_PYTHON": str(tmp_path / "no-python")}  # fmt: skip
    r = subprocess.run([str(root / "run_autograder")], env=env, capture_output=True, timeout=60)
    assert r.returncode == 0
    doc = _results(root)
    assert doc["score"] == 0 and "not installed" in doc["tests"][0]["output"]


def test_submission_folder_finds_files_one_folder_down(tmp_path):
    """Is a zip uploaded with its folder (hello/hello.c) graded from that folder, and a
    submission with .c files at the top graded as it is?"""
    (tmp_path / "sub" / "hello").mkdir(parents=True)
    (tmp_path / "sub" / "hello" / "hello.c").write_text("int x;\n")
    (tmp_path / "sub" / "__MACOSX" / "hello").mkdir(parents=True)
    (tmp_path / "sub" / "__MACOSX" / "hello" / "._hello.c").write_text("junk")
    assert gradescope.submission_folder(tmp_path / "sub") == tmp_path / "sub" / "hello"
    (tmp_path / "sub" / "top.c").write_text("int y;\n")
    assert gradescope.submission_folder(tmp_path / "sub") == tmp_path / "sub"


@pytest.mark.slow
def test_bundled_wheels_install_offline_into_a_fresh_venv(tmp_path):
    """Does a bundle made from this checkout carry wheels from which kmodlab (the base
    install, no extras) installs with no package index, as setup.sh installs it?"""
    debs, _ = fake_inputs(tmp_path)
    out = tmp_path / "autograder.zip"
    assert main(["-q", "gradescope", "hello", "-o", str(out), "--debs", str(debs)]) == 0
    with zipfile.ZipFile(out) as z:
        z.extractall(tmp_path / "src")
    wheels = sorted(p.name for p in (tmp_path / "src" / "wheels").iterdir())
    assert any(w.startswith("kmodlab-") for w in wheels) and any("pyelftools" in w for w in wheels)
    assert not any(w.startswith(("jupyterlab", "nbgrader", "ipython")) for w in wheels), wheels
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    r = subprocess.run(
        [str(venv / "bin/python"), "-m", "pip", "install", "-q", "--no-index", "--find-links",
         str(tmp_path / "src" / "wheels"), "kmodlab"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    r = subprocess.run([str(venv / "bin/kmodlab"), "--version"], capture_output=True, text=True)
    assert r.stdout.strip() == "kmodlab 0.1.0"
