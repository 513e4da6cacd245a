#!/usr/bin/env python3
"""Grader benchmark: three figures, each against the naive approach in the same run,
and a fourth: re-scoring the batch from its evidence.

    .venv/bin/python bench/grader_benchmark.py [--repeat 3] [--batch 50] [--json out.json]
    .venv/bin/python bench/grader_benchmark.py --rejudge-only OUT   # figure 4 only, no guest
    .venv/bin/python bench/captured_batch.py OUT   # such an OUT from the captured documents

1. a clean hello submission fully graded (target <= 4 s);
2. a four-resource module with its whole fault-injection sweep (<= 6 s);
3. a batch of 50 submissions on 2 jobs (<= 75 s);
4. `grade-batch --rejudge` of that batch's 50 evidence documents (<= 2 s), with
   how many times faster than grading them it is;
5. Gradescope's run_autograder for the hello solution, on a warm machine (<= 6 s);
6. nbgrader autograde of one hello notebook, the reference solution (<= 5 s).

Figures 5 and 6 are whole processes, as a course runs them (start-up and
imports included); 6 needs the [course] extra (nbgrader) and is skipped
without it. With --before PATH (a PYTHONPATH holding earlier code, e.g. the
src/ of `git archive main src`), each of their samples is paired with one of
the earlier code, taken alternately in the same run; --whole-only times
figures 5 and 6 alone.

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
import os
import shutil
import statistics
import subprocess
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


def _env(before: str | None) -> dict[str, str]:
    """The environment of a whole-process figure: the earlier code first with --before."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    if before:
        env["PYTHONPATH"] = before
    return env


def run_autograder_s(work: Path, before: str | None = None) -> float:
    """One run of run_autograder in a root laid out as Gradescope's, for the hello solution."""
    from importlib import resources

    root = work / "gradescope"
    shutil.rmtree(root, ignore_errors=True)
    (root / "source" / "autograder" / "hello").mkdir(parents=True)
    (root / "submission").mkdir()
    (root / "results").mkdir()
    shutil.copyfile(REPO / "autograder/hello/expectations.toml",
                    root / "source/autograder/hello/expectations.toml")  # fmt: skip
    config = {"exercise": "hello", "hidden": [], "visibility": "visible"}
    (root / "source/kmodlab-gradescope.json").write_text(json.dumps(config))
    script = root / "run_autograder"
    script.write_bytes(
        resources.files("kmodlab.gradescope").joinpath("run_autograder").read_bytes()
    )
    script.chmod(0o755)
    shutil.copyfile(REPO / "solutions/hello/hello.c", root / "submission/hello.c")
    env = {**_env(before), "KMODLAB_GRADESCOPE_ROOT": str(root),
           "KMODLAB_GRADESCOPE_PYTHON": sys.executable}  # fmt: skip
    started = time.perf_counter()
    subprocess.run([str(script)], env=env, check=True, capture_output=True, timeout=600)
    elapsed = time.perf_counter() - started
    doc = json.loads((root / "results/results.json").read_text())
    if doc["score"] != sum(t["max_score"] for t in doc["tests"]):
        raise SystemExit(f"benchmark: run_autograder did not give the solution full marks: {doc}")
    return elapsed


def nbgrader_course(work: Path) -> Path | None:
    """A copy of course/ with the hello assignment released and the solution submitted."""
    try:
        import nbformat

        from kmodlab.course.nbgrader import solved
    except ImportError:
        return None  # no [course] extra
    course = work / "course"
    made = ("gradebook.db", "release", "submitted", "autograded", "feedback", "kmodlab-workspace")
    shutil.copytree(REPO / "course", course, ignore=shutil.ignore_patterns(*made))
    nbgrader(course, "generate_assignment", "hello", "--force")
    nb = nbformat.read(str(course / "source/hello/hello.ipynb"), as_version=4)
    folder = course / "submitted" / "reference" / "hello"
    folder.mkdir(parents=True)
    nbformat.write(solved(nb), str(folder / "hello.ipynb"))
    return course


def nbgrader(course: Path, *args: str, before: str | None = None) -> None:
    subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=_env(before),
                   check=True, capture_output=True, timeout=900)  # fmt: skip


def autograde_s(course: Path, before: str | None = None) -> float:
    """nbgrader autograde of the one submitted hello notebook (full marks, or it fails)."""
    started = time.perf_counter()
    nbgrader(course, "autograde", "hello", "--student", "reference", "--force", before=before)
    elapsed = time.perf_counter() - started
    # The gradebook's score, not the cells' last values: a self-check cell
    # earns its points by not failing and prints no number.
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        got = gradebook.find_submission("hello", "reference")
        score, max_score = got.score, got.max_score
    if score != max_score:
        raise SystemExit(f"benchmark: autograde gave the reference {score} of {max_score}")
    return elapsed


def whole_processes(work: Path, repeat: int, before: str | None, skip_course: bool):
    """Figures 5 and 6, and with --before the same figures of the earlier code, alternated."""
    g = Figure("run_autograder", "Gradescope run_autograder, hello", target_s=6.0)
    gb = Figure("run_autograder_before", "run_autograder, hello (before)")
    n = Figure("nbgrader_autograde", "nbgrader autograde, one notebook", target_s=5.0)
    nb = Figure("nbgrader_autograde_before", "nbgrader autograde (before)")
    run_autograder_s(work)  # warm: the first run of a fresh machine is not timed
    course = None if skip_course else nbgrader_course(work)
    for i in range(repeat):
        for fig, code in ((g, None), (gb, before)) if before else ((g, None),):
            fig.samples.append(run_autograder_s(work, code))
            say(f"{fig.key} {i + 1}/{repeat}: {format_duration(fig.samples[-1])}")
        for fig, code in ((n, None), (nb, before)) if before and course else ((n, None),):
            if course:
                fig.samples.append(autograde_s(course, code))
                say(f"{fig.key} {i + 1}/{repeat}: {format_duration(fig.samples[-1])}")
    return g, gb, n, nb


def whole_lines(g: Figure, gb: Figure, n: Figure, nb: Figure) -> list[str]:
    lines = [line(g, gb if gb.samples else None)]
    lines += [line(gb, None)] if gb.samples else []
    lines += [line(n, nb if nb.samples else None) if n.samples else "nbgrader autograde: skipped"]
    lines += [line(nb, None)] if nb.samples else []
    return [ln.replace("faster than naive", "faster than before") for ln in lines]


def line(f: Figure, peer: Figure | None) -> str:
    speed = f"{peer.median / f.median:.1f}x faster than naive" if peer and f.median else ""
    target = f"target {f.target_text()}" if f.target_s else ""
    verdict = f.verdict(None) if f.target_s else ""
    return (f"{f.label:<44} median {format_duration(f.median):>9}  {target:<14} "
            f"{verdict:<7} {speed}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeat", type=int, default=3,
                   help="runs of figures 1 and 2, or of --rejudge-only (default 3)")  # fmt: skip
    p.add_argument("--batch", type=int, default=50, help="submissions in figure 3 (default 50)")
    p.add_argument("--jobs", type=int, default=2, help="parallel jobs for figure 3 (default 2)")
    p.add_argument("--json", type=Path, help="write the numbers here")
    p.add_argument("--rejudge-only", type=Path, metavar="OUT",
                   help="only time `grade-batch --rejudge` of this grade-batch output folder "
                   "(a copy of it; no guest)")  # fmt: skip
    p.add_argument("--skip-course", action="store_true", help="no nbgrader figure")
    p.add_argument("--before", metavar="PYTHONPATH",
                   help="also time figures 5 and 6 with this PYTHONPATH (earlier code), "
                   "alternating with the current code")  # fmt: skip
    p.add_argument("--whole-only", action="store_true", help="only figures 5 and 6")
    args = p.parse_args(argv)
    if args.rejudge_only:
        load = "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
        count = len(list(args.rejudge_only.glob("*.evidence.json.xz")))
        r = Figure("rejudge", f"rejudge {count} evidence documents", target_s=2.0)
        with tempfile.TemporaryDirectory(prefix="kmodlab-gbench-") as tmp:
            for i in range(args.repeat):  # each run on a fresh copy: rejudging rewrites it
                shutil.copytree(args.rejudge_only, Path(tmp) / f"reports{i}")
                r.samples.append(rejudge_s(Path(tmp) / f"reports{i}"))
                say(f"rejudge {i + 1}/{args.repeat}: {format_duration(r.samples[-1])}")
        print(rejudge_line(r, None))
        print(f"{load} at the start, {os.getloadavg()[0]:.2f} at the end")
        if args.json:
            data = {r.key: {"median_s": r.median, "samples": r.samples, "target_s": r.target_s}}
            args.json.write_text(json.dumps(data, indent=2) + "\n")
        return 0
    from kmodlab.vm.session import prepare, start_guest

    machine = prepare()
    start_guest(machine).close()  # the snapshot exists before anything is timed
    load = "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    if args.whole_only:
        with tempfile.TemporaryDirectory(prefix="kmodlab-gbench-") as tmp:
            whole = whole_processes(Path(tmp), args.repeat, args.before, args.skip_course)
        print(*whole_lines(*whole), sep="\n")
        print(f"{load} at the start, {os.getloadavg()[0]:.2f} at the end")
        if args.json:
            args.json.write_text(json.dumps(_numbers(whole), indent=2) + "\n")
        return 0
    with tempfile.TemporaryDirectory(prefix="kmodlab-gbench-") as tmp:
        work = Path(tmp)
        hello = copy_hello(work / "hello")
        h, hn = measure_pair("grade_hello", "hello fully graded", 4.0, hello, machine, args.repeat)
        four = DATA / "grader" / "four_resources"
        f, fn = measure_pair("grade_four", "four resources + fault sweep", 6.0, four, machine,
                             args.repeat)  # fmt: skip
        b = Figure("batch", f"{args.batch} submissions, {args.jobs} jobs", target_s=75.0)
        b.samples.append(batch_s(machine, args.batch, args.jobs, work))
        bn = Figure("batch_naive", "batch (naive, projected)")
        bn.samples.append(naive_class_s(machine, args.batch, args.jobs, work))
        r = Figure("rejudge", f"rejudge the {args.batch} evidence documents", target_s=2.0)
        r.samples.append(rejudge_s(work / "reports"))
        whole = whole_processes(work, args.repeat, args.before, args.skip_course)
    print(f"grader benchmark: {machine.accel_note}")
    for ours, naive in ((h, hn), (f, fn), (b, bn)):
        print(line(ours, naive))
        print(line(naive, None))
    print(rejudge_line(r, b))
    print(*whole_lines(*whole), sep="\n")
    print(f"{load} at the start, {os.getloadavg()[0]:.2f} at the end")
    if args.json:
        figures = [h, hn, f, fn, b, bn, r, *whole]
        args.json.write_text(json.dumps(_numbers(figures), indent=2) + "\n")
    return 0


def _numbers(figures) -> dict:  # type: ignore[no-untyped-def]
    return {x.key: {"median_s": x.median, "samples": x.samples, "target_s": x.target_s}
            for x in figures if x.samples}  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
