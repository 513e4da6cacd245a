#!/usr/bin/env python3
"""What does kbuild's start cost in the sandbox, for one kernel tree against another?

    .venv/bin/python bench/probe_bench.py HEADERS_A HEADERS_B [--pairs 4] [--runs 5]

Each pair runs, for tree A then tree B (then B first on the next pair, and so on),
--runs sandboxed `make M=... modules` of kmodlab's hello from a clean folder
("hello") and --runs more in the built folder ("no-op": nothing to compile, only
kbuild's start and modpost). Counted around each set: busy CPU of the whole machine
(/proc/stat, so the sandbox's PID namespace hides nothing, and the other users
of the machine count too: compare within a pair) and processes started (forks).
Prints one line per set and the medians per tree. Asserts nothing.
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


def one_set(headers: Path, tmp: Path, runs: int, kind: str) -> tuple[float, int, float]:
    folder = tmp / "build"
    if kind == "no-op":
        fresh(folder)
        make(headers, folder)
    cpu0, forks0 = machine()
    t0 = time.monotonic()
    for _ in range(runs):
        if kind == "hello":
            fresh(folder)
        make(headers, folder)
    wall = time.monotonic() - t0
    cpu1, forks1 = machine()
    return (cpu1 - cpu0) / runs, round((forks1 - forks0) / runs), wall / runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    trees = {"A": args.a, "B": args.b}
    results: dict[tuple[str, str], list[tuple[float, int, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="kmodlab-probe-bench-") as tmp:
        os.chmod(tmp, 0o755)
        for pair in range(args.pairs):
            order = ["A", "B"] if pair % 2 == 0 else ["B", "A"]
            for kind in ("no-op", "hello"):
                for name in order:
                    r = one_set(trees[name], Path(tmp), args.runs, kind)
                    results.setdefault((name, kind), []).append(r)
                    print(
                        f"pair {pair} {kind:5} {name}: {r[0]:.3f} CPU-s, {r[1]} processes, "
                        f"{r[2]:.2f} s wall per make (load {os.getloadavg()[0]:.1f})",
                        flush=True,
                    )
    for kind in ("no-op", "hello"):
        for name in trees:
            rs = results[(name, kind)]
            print(
                f"median {kind:5} {name} ({trees[name]}): "
                f"{statistics.median(r[0] for r in rs):.3f} CPU-s, "
                f"{statistics.median(r[1] for r in rs):.0f} processes, "
                f"{statistics.median(r[2] for r in rs):.2f} s wall per make"
            )


if __name__ == "__main__":
    main()
