#!/usr/bin/env python3
"""What does kbuild's start cost in the sandbox, for one kernel tree against another?

    .venv/bin/python bench/probe_bench.py HEADERS_A HEADERS_B [--pairs 4] [--runs 5]

Each pair runs, for tree A then tree B (then B first on the next pair, and so on),
--runs sandboxed `make M=... modules` of kmodlab's hello from a clean folder
("hello") and --runs more in the built folder ("no-op": nothing to compile, only
kbuild's start and modpost). Counted around each set: the CPU of this script and
everything it starts (a cpuacct cgroup of its own, cgroup v1, where it can make
one: the sandbox's PID namespace hides nothing from it), busy CPU of the whole
machine (/proc/stat: the other users of the machine count too, so under load it
is about cores x wall time; compare within a pair) and processes started on the
machine (forks). Prints one line per set and the medians per tree. Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

from kmodlab.build.builder import make_argv
from kmodlab.build.sandbox import MINIMAL_ENV, hand_over, sandbox_argv

TICK = os.sysconf("SC_CLK_TCK")
CPUACCT = Path("/sys/fs/cgroup/cpuacct")


def own_cgroup() -> Path | None:
    """A cpuacct cgroup holding this process (and so all it starts), or None."""
    group = CPUACCT / f"kmodlab-probe-bench-{os.getpid()}"
    try:
        group.mkdir()
        (group / "cgroup.procs").write_text(str(os.getpid()))
    except OSError:
        return None
    return group


def leave(group: Path | None) -> None:
    if group is not None:
        (CPUACCT / "cgroup.procs").write_text(str(os.getpid()))
        group.rmdir()


def used(group: Path | None) -> float:
    return int((group / "cpuacct.usage").read_text()) / 1e9 if group else float("nan")


def machine() -> tuple[float, int]:
    """(busy CPU-s of all cores since boot, processes started since boot)."""
    busy = forks = 0
    for line in Path("/proc/stat").read_text().splitlines():
        f = line.split()
        if f[0] == "cpu":
            # user nice system idle iowait irq softirq steal: all but idle and iowait.
            busy = sum(int(x) for i, x in enumerate(f[1:9]) if i not in (3, 4))
        elif f[0] == "processes":
            forks = int(f[1])
    return busy / TICK, forks


def make(headers: Path, folder: Path) -> None:
    argv = sandbox_argv(make_argv(headers, folder), build_dir=folder, headers=headers)
    done = subprocess.run(argv, capture_output=True, text=True, env=dict(MINIMAL_ENV))
    if done.returncode != 0:
        sys.exit(f"probe_bench: make failed in {folder}: {done.stderr[-400:]}")


def fresh(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    src = resources.files("kmodlab.examples").joinpath("hello").joinpath("hello.c")
    (folder / "hello.c").write_bytes(src.read_bytes())
    (folder / "Kbuild").write_text("obj-m := hello.o\n")
    hand_over(folder)


Figures = tuple[float, float, int, float]  # own CPU-s, machine CPU-s, forks, wall s


def one_set(headers: Path, tmp: Path, runs: int, kind: str, group: Path | None) -> Figures:
    folder = tmp / "build"
    if kind == "no-op":
        fresh(folder)
        make(headers, folder)
    own0, (cpu0, forks0), t0 = used(group), machine(), time.monotonic()
    for _ in range(runs):
        if kind == "hello":
            fresh(folder)
        make(headers, folder)
    wall = time.monotonic() - t0
    own1, (cpu1, forks1) = used(group), machine()
    n = runs
    return (own1 - own0) / n, (cpu1 - cpu0) / n, round((forks1 - forks0) / n), wall / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    trees = {"A": args.a, "B": args.b}
    results: dict[tuple[str, str], list[Figures]] = {}
    group = own_cgroup()
    with tempfile.TemporaryDirectory(prefix="kmodlab-probe-bench-") as tmp:
        os.chmod(tmp, 0o755)
        for pair in range(args.pairs):
            order = ["A", "B"] if pair % 2 == 0 else ["B", "A"]
            for kind in ("no-op", "hello"):
                for name in order:
                    r = one_set(trees[name], Path(tmp), args.runs, kind, group)
                    results.setdefault((name, kind), []).append(r)
                    print(
                        f"pair {pair} {kind:5} {name}: {r[0]:.3f} CPU-s own, {r[1]:.3f} CPU-s "
                        f"machine, {r[2]} processes, {r[3]:.2f} s wall per make "
                        f"(load {os.getloadavg()[0]:.1f})",
                        flush=True,
                    )
    leave(group)
    for kind in ("no-op", "hello"):
        for name in trees:
            rs = results[(name, kind)]
            med = [statistics.median(r[i] for r in rs) for i in range(4)]
            print(
                f"median {kind:5} {name} ({trees[name]}): {med[0]:.3f} CPU-s own, "
                f"{med[1]:.3f} CPU-s machine, {med[2]:.0f} processes, {med[3]:.2f} s wall per make"
            )


if __name__ == "__main__":
    main()
