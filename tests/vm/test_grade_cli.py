"""`kmodlab grade` as users run it: formats, output file, exit statuses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.vm
DATA = Path(__file__).parent.parent / "data"


def kmodlab(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "kmodlab", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_json_report_follows_the_schema(machine):
    """Is --format json a kmodlab-report/1 with the ten generic checks and exit status 0?"""
    r = kmodlab("grade", str(DATA / "leaky" / "leak_kmalloc"), "--format", "json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["schema"] == "kmodlab-report/1" and report["kernel"] == machine.kernel.abi
    assert [c["id"] for c in report["checks"]] == [
        "build", "load", "unload", "cycle", "kernel-health", "leaks", "registrations",
        "fault-injection", "exit-order", "integrity",
    ]  # fmt: skip
    assert report["score"] < report["max_score"] and report["duration_s"] > 0
    leaks = next(c for c in report["checks"] if c["id"] == "leaks")
    assert leaks["status"] == "fail" and leaks["findings"][0]["file"] == "leak_kmalloc.c"
    for check in report["checks"]:
        assert set(check) == {"id", "status", "score", "max_score", "summary", "findings", "data"}


def test_gradescope_results_written_to_a_file(machine, tmp_path):
    """Does --format gradescope --output write Gradescope's results.json fields?"""
    out = tmp_path / "results" / "results.json"
    r = kmodlab("grade", str(DATA / "corpus" / "clean_one"), "--format", "gradescope",
                "--output", str(out))  # fmt: skip
    assert r.returncode == 0, r.stderr
    results = json.loads(out.read_text())
    assert results["score"] == 9 and isinstance(results["execution_time"], int | float)
    assert {t["status"] for t in results["tests"]} == {"passed"}
    assert set(results["tests"][0]) >= {"name", "score", "max_score", "status", "output"}


def test_text_report_is_for_people(machine):
    """Does the text report list one line per check and quote the failing source line?"""
    r = kmodlab("grade", str(DATA / "grader" / "ladder_skips_one"))
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert any(line.startswith("FAIL   fault-injection") for line in lines)
    assert "51 |         buf = kzalloc(64, GFP_KERNEL);" in r.stdout


def test_missing_submission_is_one_line_and_no_report(tmp_path):
    """Without a submission folder, is there one line on stderr and a non-zero status?"""
    r = kmodlab("grade", str(tmp_path / "nobody"))
    assert r.returncode == 2 and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and "nobody" in r.stderr


def test_unknown_exercise_is_one_line(tmp_path):
    """Is an exercise name that does not exist refused with the known ones listed?"""
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "a.c").write_text("int x;\n")
    r = kmodlab("grade", str(sub), "--exercise", "no-such-exercise")
    assert r.returncode == 2 and "no-such-exercise" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
