#!/usr/bin/env python3
"""Grader benchmark: three figures, each against the naive approach in the same run,
and a fourth: re-scoring the batch from its evidence.

    .venv/bin/python bench/grader_benchmark.py [--repeat 3] [--batch 50] [--json out.json]
    .venv/bin/python bench/grader_benchmark.py --rejudge-only OUT   # figure 4 only, no guest

1. a clean hello submission fully graded (target <= 4 s);
2. a four-resource module with its whole fault-injection sweep (<= 6 s);
3. a batch of 50 submissions on 2 jobs (<= 180 s);
4. `grade-batch --rejudge` of that batch's 50 evidence documents (<= 2 s), with
   how many times faster than grading them it is.

The naive approach grades with the same code but no saved snapshot, no
overlap of build and boot, and a cold-booted guest for the load run, another
for cycling and one per fault-injection point (Limits(naive=True)); it is
measured in this run for figures 1 and 2, and figure 3's naive time is
projected from the naive per-submission times measured here (running it
would take most of an hour).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark import Figure, copy_hello, format_duration, say  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
# A class of submissions: mostly correct work, some typical bugs.
MIX = (
    "corpus/clean_one",
    "grader/four_resources",
    "leaky/leak_kmalloc",
    "grader/ladder_skips_one",
    "corpus/provider_consumer",
    "leaky/leak_proc",
    "corpus/compile_error",
    "leaky/clean_four",
    "corpus/fake_output_leak",
    "grader/unchecked_alloc",
)


def grade_s(folder: Path, machine, *, naive: bool) -> float:
    from kmodlab.grader.pipeline import Limits, grade

    started = time.perf_counter()
    report = grade(folder, machine=machine, limits=Limits(naive=naive))
    elapsed = time.perf_counter() - started
    failed = [c.id for c in report.checks if c.status == "error"]
    if failed:
        raise SystemExit(f"benchmark: the grader could not decide {failed} for {folder.name}")
    return elapsed


def measure_pair(key: str, label: str, target: float, folder: Path, machine, repeat: int):
    ours = Figure(key, label, target_s=target)
    naive = Figure(f"{key}_naive", f"{label} (naive)")
    for i in range(repeat):
        ours.samples.append(grade_s(folder, machine, naive=False))
        naive.samples.append(grade_s(folder, machine, naive=True))
        say(f"{key} {i + 1}/{repeat}: {format_duration(ours.samples[-1])}, "
            f"naive {format_duration(naive.samples[-1])}")  # fmt: skip
    return ours, naive


def batch_s(machine, count: int, jobs: int, work: Path) -> float:
    from kmodlab.grader.batch import grade_batch
    from kmodlab.grader.pipeline import grade

    subs = work / "class"
    for i in range(count):
        shutil.copytree(DATA / MIX[i % len(MIX)], subs / f"student{i:03d}")
    started = time.perf_counter()
    summary = grade_batch(subs, work / "reports", grade=lambda s: grade(s, machine=machine),
                          jobs=jobs, progress=True)  # fmt: skip
    elapsed = time.perf_counter() - started
    if summary.errors:
        raise SystemExit(f"benchmark: grader errors in the batch: {summary.errors}")
    return elapsed


def naive_class_s(machine, count: int, jobs: int, work: Path) -> float:
    """The naive time of the class, projected from one naive grade of each distinct case."""
    per_case = [grade_s(DATA / case, machine, naive=True) for case in MIX]
    per_submission = statistics.mean(per_case)
    return per_submission * count / jobs


def rejudge_s(reports: Path) -> float:
    """Seconds to re-score a grade-batch folder from its evidence documents (no guest)."""
    from kmodlab.grader.rejudge import rejudge_batch

    started = time.perf_counter()
    summary = rejudge_batch(reports)
    elapsed = time.perf_counter() - started
    if summary.bad or summary.changed:
        raise SystemExit(f"benchmark: rejudge refused {summary.bad} or changed {summary.changed}")
    return elapsed


def rejudge_line(r: Figure, batch: Figure | None) -> str:
    ratio = f"{batch.median / r.median:.0f}x faster than grading them" if batch else ""
    return line(r, None) + ratio


def line(f: Figure, peer: Figure | None) -> str:
    speed = f"{peer.median / f.median:.1f}x faster than naive" if peer and f.median else ""
    target = f"target {f.target_text()}" if f.target_s else ""
    verdict = f.verdict(None) if f.target_s else ""
    return (f"{f.label:<44} median {format_duration(f.median):>9}  {target:<14} "
            f"{verdict:<7} {speed}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeat", type=int, default=3, help="runs of figures 1 and 2 (default 3)")
    p.add_argument("--batch", type=int, default=50, help="submissions in figure 3 (default 50)")
    p.add_argument("--jobs", type=int, default=2, help="parallel jobs for figure 3 (default 2)")
    p.add_argument("--json", type=Path, help="write the numbers here")
    p.add_argument("--rejudge-only", type=Path, metavar="OUT",
                   help="only time `grade-batch --rejudge` of this grade-batch output folder "
                   "(a copy of it; no guest)")  # fmt: skip
    args = p.parse_args(argv)
    if args.rejudge_only:
        with tempfile.TemporaryDirectory(prefix="kmodlab-gbench-") as tmp:
            shutil.copytree(args.rejudge_only, Path(tmp) / "reports")
            count = len(list((Path(tmp) / "reports").glob("*.evidence.json.xz")))
            r = Figure("rejudge", f"rejudge {count} evidence documents", target_s=2.0)
            r.samples.append(rejudge_s(Path(tmp) / "reports"))
        print(rejudge_line(r, None))
        return 0
    from kmodlab.vm.session import prepare, start_guest

    machine = prepare()
    start_guest(machine).close()  # the snapshot exists before anything is timed
    with tempfile.TemporaryDirectory(prefix="kmodlab-gbench-") as tmp:
        work = Path(tmp)
        hello = copy_hello(work / "hello")
        h, hn = measure_pair("grade_hello", "hello fully graded", 4.0, hello, machine, args.repeat)
        four = DATA / "grader" / "four_resources"
        f, fn = measure_pair("grade_four", "four resources + fault sweep", 6.0, four, machine,
                             args.repeat)  # fmt: skip
        b = Figure("batch", f"{args.batch} submissions, {args.jobs} jobs", target_s=180.0)
        b.samples.append(batch_s(machine, args.batch, args.jobs, work))
        bn = Figure("batch_naive", "batch (naive, projected)")
        bn.samples.append(naive_class_s(machine, args.batch, args.jobs, work))
        r = Figure("rejudge", f"rejudge the {args.batch} evidence documents", target_s=2.0)
        r.samples.append(rejudge_s(work / "reports"))
    print(f"grader benchmark: {machine.accel_note}")
    for ours, naive in ((h, hn), (f, fn), (b, bn)):
        print(line(ours, naive))
        print(line(naive, None))
    print(rejudge_line(r, b))
    if args.json:
        figures = [h, hn, f, fn, b, bn, r]
        data = {x.key: {"median_s": x.median, "samples": x.samples, "target_s": x.target_s}
                for x in figures}  # fmt: skip
        args.json.write_text(json.dumps(data, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
