"""Operations an instructor runs into: an LMS download collected by nbgrader, and
`kmodlab lab` stopped by a signal (real nbgrader, real JupyterLab)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _documented_regexps() -> dict[str, str]:
    """The named_regexp lines of docs/instructors.md, by the LMS named in the comment above."""
    lines = (ROOT / "docs" / "instructors.md").read_text().splitlines()
    out = {}
    for i, line in enumerate(lines):
        m = re.match(r'\s*c\.FileNameCollectorPlugin\.named_regexp = r"(.*)"$', line)
        if m:
            lms = (
                next(p for p in reversed(lines[:i]) if p.strip().startswith("# ") and "," in p)
                .strip()[2:]
                .split(",")[0]
            )
            out[lms] = m.group(1)
    return out


# A made-up LMS download: (path in the zip, student id it must give, or None: skipped)
DOWNLOADS = {
    "Canvas": [
        ("doejane_12345_67890_hello.ipynb", "12345"),
        ("smithbob_LATE_23456_78901_hello-1.ipynb", "23456"),
        ("leeann_34567_89012_hello.ipynb", "34567"),
        ("leeann_34567_89012_notes.txt", None),
    ],
    "Moodle": [
        ("Jane Doe_12345_assignsubmission_file_hello.ipynb", "12345"),
        ("Bob Smith_23456_assignsubmission_file_/hello.ipynb", "23456"),
        ("Ann Lee_34567_assignsubmission_onlinetext_onlinetext.html", None),
    ],
}


def test_docs_give_a_regexp_for_each_lms_tested_here():
    """Does docs/instructors.md give one zip_collect regexp for each LMS tested below?"""
    assert sorted(_documented_regexps()) == sorted(DOWNLOADS)


@pytest.mark.slow
@pytest.mark.parametrize("lms", sorted(DOWNLOADS))
def test_nbgrader_zip_collect_files_each_students_notebook_with_the_documented_regexp(
    tmp_path, lms
):
    """Does nbgrader's own zip_collect, configured with the docs' line for this LMS, put
    each student's notebook from a made-up LMS zip into submitted/<id>/hello/hello.ipynb,
    byte for byte, and skip what is not a notebook?"""
    course = tmp_path / "course"
    (course / "release" / "hello").mkdir(parents=True)
    shutil.copy(ROOT / "course/source/hello/hello.ipynb", course / "release/hello/hello.ipynb")
    config = (ROOT / "course" / "nbgrader_config.py").read_text()
    regexp = _documented_regexps()[lms]
    config += f'\nc.FileNameCollectorPlugin.named_regexp = r"{regexp}"\n'
    (course / "nbgrader_config.py").write_text(config)
    archive = course / "downloaded" / "hello" / "archive"
    archive.mkdir(parents=True)
    bodies = {}
    with zipfile.ZipFile(archive / f"{lms.lower()}-submissions.zip", "w") as z:
        for name, student in DOWNLOADS[lms]:
            body = f'{{"student": "{student}", "file": "{name}"}}'
            z.writestr(name, body)
            if student:
                bodies[student] = body
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    r = subprocess.run(
        [sys.executable, "-m", "nbgrader", "zip_collect", "hello"],
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    got = {p.parent.parent.name: p.read_text() for p in (course / "submitted").glob("*/hello/*")}
    assert got == bodies, r.stderr[-3000:]
    assert all((course / "submitted" / s / "hello" / "hello.ipynb").is_file() for s in bodies)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.slow
def test_sigterm_to_kmodlab_lab_stops_jupyterlab_too(tmp_path):
    """Does SIGTERM to `kmodlab lab` (as a hub or systemd sends it) stop the JupyterLab it
    started, instead of leaving it running orphaned, and does kmodlab then exit?"""
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    port = _free_port()
    env = {
        **os.environ,
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
    }
    lab = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kmodlab",
            "lab",
            "--skip-setup",
            "--notebooks",
            str(notebooks),
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    jupyter = None
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # JupyterLab listening: it is fully started
            if jupyter is None and _children(lab.pid):
                jupyter = _children(lab.pid)[0]
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert lab.poll() is None, "kmodlab lab exited on its own"
            time.sleep(0.2)
        else:
            pytest.fail("JupyterLab did not start listening within 120 s")
        assert jupyter is not None and _alive(jupyter)
        lab.send_signal(signal.SIGTERM)
        rc = lab.wait(timeout=60)
        deadline = time.monotonic() + 30
        while _alive(jupyter) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(jupyter), "JupyterLab outlived kmodlab lab"
        assert rc == 128 + signal.SIGTERM
    finally:
        for pid in (jupyter, lab.pid):
            if pid and _alive(pid):
                os.kill(pid, signal.SIGKILL)
        lab.wait(timeout=10)


def test_doctor_json_is_one_document_with_every_finding(monkeypatch, capsys):
    """Does `doctor --json` print one JSON document with each component's ok and detail,
    an overall ok, and exit 1 when any component fails, as the text form does?"""
    import json

    from kmodlab import cli, doctor

    findings = [
        doctor.ComponentStatus("qemu", True, "QEMU 7.2"),
        doctor.ComponentStatus("sandbox", False, "no"),
    ]
    monkeypatch.setattr(doctor, "run_checks", lambda: iter(findings))
    assert cli.main(["doctor", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc == {
        "ok": False,
        "checks": [
            {"component": "qemu", "ok": True, "detail": "QEMU 7.2"},
            {"component": "sandbox", "ok": False, "detail": "no"},
        ],
    }


@pytest.mark.parametrize(
    "argv", [["-q", "course", "init"], ["course", "init", "-q"], ["course", "init", "--quiet"]]
)
def test_quiet_leaves_results_and_drops_status_lines(tmp_path, capsys, argv):
    """Does -q (before or after the command) drop the status lines on stderr but keep the
    result on stdout, where without it both appear?"""
    from kmodlab import cli

    assert cli.main(["course", "init", "--student", str(tmp_path / "a")]) == 0
    loud = capsys.readouterr()
    assert "kmodlab lab" in loud.err and "files in" in loud.out
    assert cli.main([*argv, "--student", str(tmp_path / "b")]) == 0
    quiet = capsys.readouterr()
    assert quiet.err == "" and "files in" in quiet.out


def test_quiet_still_prints_errors(tmp_path, capsys):
    """Is an error still printed (one line) with -q?"""
    from kmodlab import cli

    (tmp_path / "f").write_text("x")
    assert cli.main(["-q", "course", "init", str(tmp_path / "f")]) == 2
    assert capsys.readouterr().err.startswith("kmodlab: error: ")


def test_verbose_shows_an_internal_errors_traceback(monkeypatch, capsys):
    """Does -v print the traceback of an internal error (a bug), which is one line
    without it?"""
    from kmodlab import cli

    def broken(args):
        raise RuntimeError("a bug")

    monkeypatch.delenv("KMODLAB_DEBUG", raising=False)
    monkeypatch.setattr(cli, "cmd_doctor", broken)
    assert cli.main(["doctor"]) == 70
    assert capsys.readouterr().err.count("\n") == 1
    monkeypatch.setattr(cli, "cmd_doctor", broken)
    assert cli.main(["doctor", "-v"]) == 70
    err = capsys.readouterr().err
    assert "Traceback" in err and "a bug" in err


def test_pytest_keeps_its_own_q_and_v():
    """Do -q and -v after `kmodlab test` still go to pytest?"""
    from kmodlab.cli import parse

    args = parse(["test", "-q", "-k", "hello"])
    assert args.pytest_args == ["-q", "-k", "hello"] and not args.quiet


def test_every_environment_variable_is_in_the_readme():
    """Is every environment variable kmodlab (or its test suite) reads listed in the
    README's Configuration table?"""
    read = re.compile(r"""(?:environ\.get|environ\[|getenv)\(?\s*["']([A-Z][A-Z0-9_]+)["']""")
    names = set()
    for folder in ("src", "tests", "bench"):
        for path in (ROOT / folder).rglob("*.py"):
            names |= set(read.findall(path.read_text()))
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Configuration") :]
    listed = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", table, re.M))
    assert "KMODLAB_HOME" in names and "KMODLAB_AUTOGRADER" in names
    assert sorted(names - listed - {"PATH"}) == []  # PATH: a test's child process
