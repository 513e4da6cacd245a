"""Sharded grading for real: two `grade-batch --shard` processes, merged, against one run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kmodlab.cli import main

pytestmark = pytest.mark.vm
HELLO = Path(__file__).resolve().parents[2] / "src" / "kmodlab" / "examples" / "hello" / "hello.c"


def _checks(path: Path) -> list[tuple]:
    doc = json.loads(path.read_text())
    return [(c["id"], c["status"], c["score"], c["max_score"]) for c in doc["checks"]]


def test_two_shards_in_separate_processes_merged_equal_one_run(machine, tmp_path):
    """Do `grade-batch --shard 1/2` and `--shard 2/2`, run at once as separate processes on
    the real VM, merged by `kmodlab merge`, give each submission the checks, statuses and
    scores one unsharded run gives, and the same summary.csv and gradebook.csv?"""
    subs = tmp_path / "subs"
    # ann and ben fall in shard 1 of 2, cat in shard 2; ben's hello has no licence,
    # which modpost refuses (a failed build: graded, not a grader error).
    for name in ("ann", "ben", "cat"):
        (subs / name).mkdir(parents=True)
        text = HELLO.read_text()
        if name == "ben":
            text = text.replace('MODULE_LICENSE("GPL");', "")
        (subs / name / "hello.c").write_text(text)
    cmd = [sys.executable, "-m", "kmodlab", "-q", "grade-batch", str(subs),
           "--no-fault-injection", "--cycles", "2"]  # fmt: skip
    shards = [tmp_path / "s1", tmp_path / "s2"]
    procs = [
        subprocess.Popen([*cmd, "--output-dir", str(out), "--shard", f"{k}/2"])
        for k, out in enumerate(shards, 1)
    ]
    assert [p.wait(timeout=900) for p in procs] == [0, 0]
    assert sorted(p.stem for p in shards[0].glob("*.json")) == ["ann", "ben", "shard"]
    assert sorted(p.stem for p in shards[1].glob("*.json")) == ["cat", "shard"]
    whole = tmp_path / "whole"
    assert subprocess.run([*cmd, "--output-dir", str(whole)], timeout=900).returncode == 0
    merged = tmp_path / "merged"
    assert main(["merge", str(shards[0]), str(shards[1]), "-o", str(merged)]) == 0
    for name in ("ann", "ben", "cat"):
        assert _checks(merged / f"{name}.json") == _checks(whole / f"{name}.json"), name
    assert _checks(whole / "ben.json")[0][:2] == ("build", "fail")
    assert all(c[1] == "pass" for c in _checks(whole / "ann.json"))
    for table in ("summary.csv", "gradebook.csv"):
        assert (merged / table).read_text() == (whole / table).read_text(), table
