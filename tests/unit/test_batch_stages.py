"""A batch's grades in stages: the next submissions build while `jobs` guests run."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from kmodlab.grader import pipeline
from kmodlab.grader.batch import grade_batch
from tests.unit.test_batch import fake_report, make_class


def test_a_batch_of_jobs_2_has_four_grades_under_way(tmp_path):
    """With jobs=2, do four grade() calls meet at a barrier (two building, two in guests)?"""
    barrier = threading.Barrier(4, timeout=20)

    def grade(sub: Path):
        barrier.wait()  # BrokenBarrierError (an error report) unless four run at once
        return fake_report(sub)

    subs = make_class(tmp_path, ["a", "b", "c", "d"])
    summary = grade_batch(subs, tmp_path / "out", grade=grade, jobs=2, progress=False)
    assert summary.errors == [] and sorted(summary.graded) == ["a", "b", "c", "d"]


def _busiest(kind: str, threads: int, jobs: int) -> int:
    """How many threads were inside one kind of slot at once, `threads` trying, `jobs` slots."""
    inside, most, lock = [0], [0], threading.Lock()

    def work() -> None:
        with pipeline._slot(kind):
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.05)
            with lock:
                inside[0] -= 1

    with pipeline.staged(jobs):
        workers = [threading.Thread(target=work) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    return most[0]


def test_no_more_than_jobs_guests_or_builds_at_once():
    """Inside staged(2), do at most two grades build, and two run guests, at any moment?"""
    assert _busiest("guests", 6, 2) == 2
    assert _busiest("builds", 6, 2) == 2


def test_outside_a_batch_nothing_waits_for_a_slot():
    """Is a lone grade (no staged batch) never held back by slots?"""
    inside = []
    with pipeline._slot("guests"), pipeline._slot("builds"):
        inside.append(True)
    assert inside and pipeline._stages is None


def test_a_parallel_batch_starts_the_largest_submissions_first(tmp_path):
    """Are the submissions with the most source bytes graded first (the short ones fill the end)?"""
    from kmodlab.grader.batch import largest_first

    subs = make_class(tmp_path, ["a", "b", "c"])
    (subs / "b" / "big.c").write_text("int y;\n" * 500)
    (subs / "c" / "util.h").write_text("int z;\n" * 50)
    (subs / "a" / "notes.txt").write_text("x" * 100_000)  # not a source
    order = largest_first([subs / n for n in ("a", "b", "c")])
    assert [p.name for p in order] == ["b", "c", "a"]
