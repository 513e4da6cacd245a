"""Sharded batches and `kmodlab merge`, with a fake grade() run in separate processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from kmodlab.cli import main
from kmodlab.errors import InputError
from kmodlab.grader.batch import grade_batch
from kmodlab.grader.report.model import CheckResult, Report
from kmodlab.grader.shard import SHARD_FILE, merge, parse_shard, shard_of

ROOT = Path(__file__).resolve().parents[2]
NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]

# One grade-batch in its own process, with a deterministic fake grade(): mallory's
# submission makes the grader fail (an error report), the others score by name.
BATCH_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from kmodlab.grader.batch import grade_batch
    from kmodlab.grader.report.model import CheckResult, Report
    from kmodlab.grader.shard import parse_shard

    subs, out, shard, exercise = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]

    def grade(sub):
        if sub.name == "mallory":
            raise RuntimeError("the grader broke on this one")
        score = len(sub.name) % 3
        checks = [CheckResult("build", "pass", 2, 2, "built"),
                  CheckResult("greeting", "pass" if score else "fail", score, 2, "greeted")]
        return Report(sub.name, "6.1.0-56-amd64", checks, duration_s=1.5, exercise=exercise)

    grade_batch(subs, out, grade=grade, progress=False,
                shard=parse_shard(shard) if shard != "-" else None)
    """
)


def make_class(root: Path, names=(*NAMES, "mallory")) -> Path:
    for n in names:
        (root / "subs" / n).mkdir(parents=True)
        (root / "subs" / n / "m.c").write_text(f"// {n}\nint x;\n")
    return root / "subs"


def run_batch(tmp_path: Path, subs: Path, out: Path, shard: str = "-", exercise: str = "hello"):
    script = tmp_path / "batch.py"
    if not script.is_file():  # rewritten while another process starts, it would run empty
        script.write_text(BATCH_SCRIPT)
    return subprocess.Popen([sys.executable, str(script), str(subs), str(out), shard, exercise])


def _normalised(path: Path) -> dict:
    """A report as a dict without the times (a grader error's duration is measured)."""

    def strip(x):
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if k != "duration_s"}
        if isinstance(x, list):
            return [strip(v) for v in x]
        return x

    return strip(json.loads(path.read_text()))


def test_parse_shard_takes_k_of_n_and_refuses_the_rest():
    """Is K/N read with 1 <= K <= N, and is anything else a one-line error?"""
    assert parse_shard("1/1") == (1, 1) and parse_shard("3/4") == (3, 4)
    for bad in ("0/4", "5/4", "4", "a/b", "1/0", "-1/2", "1/4/2", ""):
        with pytest.raises(InputError):
            parse_shard(bad)


def test_shards_are_stable_across_processes_and_cover_every_submission_once():
    """Is a folder's shard the same in every process (not Python's salted hash()), known
    in advance, and does each name fall in exactly one of N shards, roughly evenly?"""
    assert [shard_of(n, 4) for n in ("alice", "bob", "carol", "dave")] == [4, 3, 3, 4]
    code = "from kmodlab.grader.shard import shard_of; print(shard_of('alice', 4))"
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True)  # fmt: skip
        assert out.stdout.strip() == "4"
    counts = Counter(shard_of(f"student{i:03d}", 4) for i in range(400))
    assert set(counts) == {1, 2, 3, 4} and min(counts.values()) > 60, counts


@pytest.mark.parametrize("n", [1, 3])
def test_n_shards_in_separate_processes_merged_equal_one_unsharded_run(tmp_path, n):
    """Do N grade-batch processes, each with --shard K/N into its own folder, merged with
    `kmodlab merge`, give the same reports, submission by submission, and the same
    summary.csv and gradebook.csv as one unsharded batch (a grader error included)?"""
    subs = make_class(tmp_path)
    whole = tmp_path / "whole"
    procs = [run_batch(tmp_path, subs, whole)]
    shards = [tmp_path / f"shard{k}" for k in range(1, n + 1)]
    procs += [run_batch(tmp_path, subs, out, f"{k}/{n}") for k, out in enumerate(shards, 1)]
    assert [p.wait(timeout=120) for p in procs] == [0] * (n + 1)
    graded = [{p.stem for p in s.glob("*.json")} - {"shard"} for s in shards]
    assert sum(len(g) for g in graded) == len(NAMES) + 1  # each submission in one shard
    merged = tmp_path / "merged"
    assert main(["merge", *map(str, shards), "--output-dir", str(merged)]) == 0
    for name in (*NAMES, "mallory"):
        assert _normalised(merged / f"{name}.json") == _normalised(whole / f"{name}.json"), name
        assert (merged / f"{name}.txt").is_file()
    for table in ("summary.csv", "gradebook.csv"):
        assert (merged / table).read_text() == (whole / table).read_text(), table


def test_merge_is_idempotent_and_keeps_what_dest_already_has(tmp_path):
    """Does merging again (or the same folder twice) change nothing, and does merging the
    shards one at a time into the same folder end with all of them?"""
    subs = make_class(tmp_path)
    shards = [tmp_path / "s1", tmp_path / "s2"]
    procs = [run_batch(tmp_path, subs, out, f"{k}/2") for k, out in enumerate(shards, 1)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["merge", str(shards[0]), str(shards[1]), "-o", str(a)]) == 0
    first = {p.name: p.read_bytes() for p in a.iterdir()}
    assert main(["merge", str(shards[0]), str(shards[1]), str(shards[0]), "-o", str(a)]) == 0
    assert {p.name: p.read_bytes() for p in a.iterdir()} == first
    assert main(["merge", str(shards[0]), "-o", str(b)]) == 1  # shard 2/2 still missing
    assert main(["merge", str(shards[1]), "-o", str(b)]) == 0  # b remembers shard 1/2
    assert {p.name: p.read_bytes() for p in b.iterdir()} == first


def test_merge_refuses_outputs_of_different_exercises(tmp_path, capsys):
    """Does merging a hello batch with a params batch stop in one line naming both, and
    write nothing?"""
    subs = make_class(tmp_path, ["alice", "bob"])
    p1 = run_batch(tmp_path, subs, tmp_path / "hello", exercise="hello")
    p2 = run_batch(tmp_path, subs, tmp_path / "params", exercise="params")
    assert (p1.wait(timeout=60), p2.wait(timeout=60)) == (0, 0)
    dest = tmp_path / "merged"
    rc = main(["merge", str(tmp_path / "hello"), str(tmp_path / "params"), "-o", str(dest)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert "hello" in err[0] and "params" in err[0] and "different exercises" in err[0]
    assert not dest.exists()


def test_merge_refuses_two_different_reports_for_one_student(tmp_path, capsys):
    """Are two outputs with different reports for the same student refused (a stale
    shard), naming the student?"""
    for folder, score in (("o1", 1), ("o2", 2)):
        report = Report("alice", "k", [CheckResult("build", "pass", score, 2, "")])
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "alice.json").write_text(json.dumps(report.to_dict()))
    rc = main(["merge", str(tmp_path / "o1"), str(tmp_path / "o2"), "-o", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert rc == 2 and "alice has two different reports" in err


def test_merge_says_what_is_not_graded_yet(tmp_path, capsys):
    """Does merge exit 1 and name the submissions a shard lists without a finished report
    (a shard still running, or killed)?"""
    subs = make_class(tmp_path, ["alice", "bob", "carol"])
    out = tmp_path / "s1"
    assert run_batch(tmp_path, subs, out, "1/1").wait(timeout=60) == 0
    (out / "bob.json").write_text('{"torn": ')  # killed mid-write (cannot happen, but say so)
    assert main(["merge", str(out), "-o", str(tmp_path / "m")]) == 1
    assert "1 submissions of the shards not graded yet: bob" in capsys.readouterr().err


def test_a_shard_folder_is_not_reused_for_another_shard(tmp_path):
    """Does grade-batch refuse an output folder holding another shard's reports (whose
    summary would mix two shards)?"""
    subs = make_class(tmp_path, ["alice", "bob", "carol"])
    out = tmp_path / "out"
    grade_batch(subs, out, grade=lambda s: Report(s.name, "k", []), progress=False, shard=(1, 2))
    assert json.loads((out / SHARD_FILE).read_text())["shard"] == [1, 2]
    with pytest.raises(InputError, match="holds shard 1/2"):
        grade_batch(subs, out, grade=lambda s: Report(s.name, "k", []), progress=False,
                    shard=(2, 2))  # fmt: skip


def test_merge_of_a_folder_without_reports_is_an_error(tmp_path, capsys):
    """Is a folder that holds no reports (a typo, the submissions folder) one line?"""
    (tmp_path / "empty").mkdir()
    assert main(["merge", str(tmp_path / "empty"), "-o", str(tmp_path / "m")]) == 2
    assert "no reports" in capsys.readouterr().err
    with pytest.raises(InputError):
        merge([tmp_path / "nope"], tmp_path / "m")


def test_merge_names_a_hashed_report_by_its_submission(tmp_path) -> None:
    """Does a shard's report filed under a hashed name merge under the student's own name?"""
    hostile = "=HYPERLINK(" + "x" * 240 + ")"
    subs = make_class(tmp_path, names=("alice", hostile))

    def grade(sub: Path) -> Report:
        return Report(sub.name, "6.1.0-56-amd64", [CheckResult("build", "pass", 1, 1, "ok")])

    outs = []
    for k in (1, 2):
        out = tmp_path / f"out{k}"
        grade_batch(subs, out, grade=grade, progress=False, shard=(k, 2))
        outs.append(out)
    result = merge(outs, tmp_path / "merged")
    assert result.missing == [] and result.reports == 2
    rows = (tmp_path / "merged" / "summary.csv").read_text().splitlines()
    assert sorted(r.split(",")[0] for r in rows[1:]) == sorted(["alice", "'" + hostile])
