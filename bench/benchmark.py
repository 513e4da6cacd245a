#!/usr/bin/env python3
"""How fast is kmodlab, against virtme-ng measured in the same run on the same kernel?

    .venv/bin/python bench/benchmark.py [--repeat 5] [--skip-peer] [--json PATH]

Figures (medians over --repeat repetitions; see bench/README.md):
  restore     fresh guest from the saved snapshot, up to the answer of its first command
  cold        the same, booting the kernel instead of restoring the snapshot
  run_hello   run_submission() of the hello example: sandboxed build, fresh guest,
              insmod, rmmod, kernel log
  round_trip  one command in a warm session (median over --calls calls)
  vng_hello   the peer: `vng --run vmlinuz --exec "insmod hello.ko && rmmod hello"`
              with the same kernel, the same hello.ko and its modules from the
              kernel's own .deb (unpacked into a temporary root, never into /lib/modules)

The numbers depend on the machine and on its load; nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PEER_REQUIREMENT = "virtme-ng==1.42"
MIN_PEER_REPEAT = 3  # virtme-ng's runs differ by seconds: fewer than 3 make no median
VNG_TIMEOUT_S = 300.0
HELLO_TEXT = "Hello, world!"
GOODBYE_TEXT = "Goodbye, world!"
# virtme-ng-init prints this on the console; without udevd on the host (as on the
# project's machines) vng cannot find its script I/O ports, runs the command on the
# console instead and exits 255 whatever the command's status.
VNG_SCRIPT_OK = "script exited with code 0"
APT_AS_ROOT = ["-o", "APT::Sandbox::User=root"]


class BenchError(Exception):
    """A measurement that could not be made; ends the benchmark with one line."""


def say(message: str) -> None:
    print(f"benchmark: {message}", file=sys.stderr, flush=True)


# -- figures: pure ---------------------------------------------------------------
@dataclass
class Figure:
    """One measured quantity: its samples (seconds), its target, and how to judge it."""

    key: str
    label: str
    target_s: float | None = None  # the median must be at most this
    min_speedup: float | None = None  # ... and at least this many times faster than the peer
    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None

    @property
    def low(self) -> float | None:
        return min(self.samples) if self.samples else None

    @property
    def high(self) -> float | None:
        return max(self.samples) if self.samples else None

    def speedup(self, peer: Figure | None) -> float | None:
        """How many times faster than the peer (peer median / our median)."""
        return speedup(self.median, peer.median if peer else None)

    def verdict(self, peer: Figure | None) -> str:
        """OK, MISSED, "OK (time only)" when the speed-up target went unchecked, or n/a."""
        return verdict(self.median, self.target_s, self.min_speedup, self.speedup(peer))

    def target_text(self) -> str:
        parts = []
        if self.target_s is not None:
            parts.append(f"<= {format_duration(self.target_s)}")
        if self.min_speedup is not None:
            parts.append(f">= {self.min_speedup:g}x vng")
        return ", ".join(parts) or "-"


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b, or None when either is unknown or b is not positive."""
    if a is None or b is None or b <= 0:
        return None
    return a / b


def speedup(ours: float | None, peer: float | None) -> float | None:
    """How many times faster we are than the peer."""
    return ratio(peer, ours)


def verdict(
    median: float | None,
    target_s: float | None,
    min_speedup: float | None,
    measured_speedup: float | None,
) -> str:
    if median is None or (target_s is None and min_speedup is None):
        return "n/a"
    if target_s is not None and median > target_s:
        return "MISSED"
    if min_speedup is not None:
        if measured_speedup is None:
            return "OK (time only)" if target_s is not None else "n/a"
        if measured_speedup < min_speedup:
            return "MISSED"
    return "OK"


def format_duration(seconds: float | None) -> str:
    """0.0042 -> "4.2 ms", 0.42 -> "420 ms", 2.5 -> "2.50 s", 13.9 -> "13.9 s"."""
    if seconds is None:
        return "-"
    if seconds < 0.01:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 10:
        return f"{seconds:.2f} s"
    return f"{seconds:.1f} s"


def format_speedup(factor: float | None) -> str:
    if factor is None:
        return "-"
    if factor >= 1:
        return f"{factor:.1f}x faster" if factor < 100 else f"{factor:.0f}x faster"
    return f"{1 / factor:.1f}x slower"


def format_table(figures: list[Figure], peer: Figure | None) -> str:
    """The results as a plain-text table, one row per figure, peer last."""
    header = ("figure", "n", "median", "min - max", "target", "verdict", "vs virtme-ng")
    rows = [header]
    for fig in figures:
        spread = f"{format_duration(fig.low)} - {format_duration(fig.high)}"
        ratio = "-" if fig is peer else format_speedup(fig.speedup(peer))
        rows.append(
            (
                fig.label,
                str(len(fig.samples)),
                format_duration(fig.median),
                spread,
                fig.target_text(),
                fig.verdict(peer),
                ratio,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def restore_vs_cold_line(restore: Figure, cold: Figure) -> str | None:
    fraction = ratio(restore.median, cold.median)
    if not fraction:
        return None
    return f"restore / cold boot = {fraction:.2f} (the snapshot is {format_speedup(1 / fraction)})"


def results_json(figures: list[Figure], peer: Figure | None, context: dict) -> dict:
    """Everything the table shows, plus the raw samples, for --json."""
    out: dict = {"context": context, "figures": {}}
    for fig in figures:
        out["figures"][fig.key] = {
            "label": fig.label,
            "samples_s": fig.samples,
            "median_s": fig.median,
            "min_s": fig.low,
            "max_s": fig.high,
            "target_s": fig.target_s,
            "min_speedup": fig.min_speedup,
            "verdict": fig.verdict(peer),
            "speedup_vs_peer": None if fig is peer else fig.speedup(peer),
        }
    by_key = {f.key: f for f in figures}
    if "restore" in by_key and "cold" in by_key:
        out["restore_over_cold"] = ratio(by_key["restore"].median, by_key["cold"].median)
    return out


# -- arguments -------------------------------------------------------------------
def _count(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, not {value}")
        return value

    return parse


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/benchmark.py",
        description="Time kmodlab's guest start, `kmodlab run` of hello and warm commands, "
        "against virtme-ng running the same kernel and module, in one run.",
    )
    parser.add_argument(
        "--repeat", type=_count(1), default=5, help="repetitions per kmodlab figure (default 5)"
    )
    parser.add_argument(
        "--calls",
        type=_count(1),
        default=50,
        help="commands timed in the warm session (default 50)",
    )
    parser.add_argument(
        "--peer-repeat",
        type=_count(MIN_PEER_REPEAT),
        default=MIN_PEER_REPEAT,
        help=f"virtme-ng runs (default and minimum {MIN_PEER_REPEAT}; each takes 10-30 s)",
    )
    parser.add_argument(
        "--skip-peer", action="store_true", help="measure kmodlab only, not virtme-ng"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the numbers here")
    return parser.parse_args(argv)


# -- kmodlab measurements ----------------------------------------------------------
def timed(action: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def repeat(figure: Figure, times: int, measure: Callable[[], float]) -> Figure:
    for i in range(times):
        figure.samples.append(measure())
        say(f"{figure.key} {i + 1}/{times}: {format_duration(figure.samples[-1])}")
    return figure


def copy_hello(dest: Path) -> Path:
    """A copy of the hello example, as a student's submission folder."""
    src = resources.files("kmodlab.examples").joinpath("hello")
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("hello.c", "Makefile"):
        (dest / name).write_bytes(src.joinpath(name).read_bytes())
    return dest


def first_answer_s(machine, *, use_snapshot: bool) -> float:
    """From nothing to the answer of a fresh guest's first command."""
    from kmodlab.vm.session import start_guest

    started = time.perf_counter()
    guest = start_guest(machine, use_snapshot=use_snapshot)
    try:
        result = guest.run(["true"])
        elapsed = time.perf_counter() - started
    finally:
        guest.close()
    if not result.ok:
        raise BenchError(f"`true` failed in a fresh guest: {result.status} {result.returncode}")
    return elapsed


def run_hello_s() -> float:
    """run_submission() of a fresh copy of the hello example, end to end."""
    from kmodlab.run import run_submission

    with tempfile.TemporaryDirectory(prefix="kmodlab-bench-") as tmp:
        src = copy_hello(Path(tmp) / "hello")
        elapsed, report = timed(lambda: run_submission(src))
    shutil.rmtree(report.build.build_dir, ignore_errors=True)
    if not report.ok:
        raise BenchError(f"kmodlab run of hello failed: {report.build.errors or report.crash}")
    if HELLO_TEXT not in "\n".join(r.log for r in report.results):
        raise BenchError(f"kmodlab run of hello did not log {HELLO_TEXT!r}")
    return elapsed


def round_trips(machine, calls: int) -> list[float]:
    """Times of `calls` commands in one warm session (after one unmeasured command)."""
    from kmodlab.vm.session import Session

    samples = []
    with Session(machine) as session:
        session.run(["true"])
        for _ in range(calls):
            elapsed, result = timed(lambda: session.run(["true"]))
            if not result.ok:
                raise BenchError(f"`true` failed in the warm session: {result.status}")
            samples.append(elapsed)
    return samples


def measure_kmodlab(machine, args: argparse.Namespace) -> list[Figure]:
    from kmodlab.vm.session import start_guest

    say("warming up (saves the guest snapshot if there is none yet)")
    start_guest(machine).close()
    restore = Figure("restore", "fresh guest: snapshot -> 1st answer", target_s=0.5)
    cold = Figure("cold", "fresh guest: cold boot -> 1st answer", target_s=2.5)
    run = Figure("run_hello", "kmodlab run hello, end to end", target_s=3.0, min_speedup=4.0)
    trip = Figure("round_trip", "warm round trip: Session.run", target_s=0.05)
    repeat(restore, args.repeat, lambda: first_answer_s(machine, use_snapshot=True))
    repeat(cold, args.repeat, lambda: first_answer_s(machine, use_snapshot=False))
    repeat(run, args.repeat, run_hello_s)
    trip.samples = round_trips(machine, args.calls)
    say(f"round_trip: {args.calls} calls, median {format_duration(trip.median)}")
    return [restore, cold, run, trip]


# -- the peer: virtme-ng ------------------------------------------------------------
def bench_requirement(pyproject_text: str) -> str:
    """The virtme-ng requirement of the `bench` extra in pyproject.toml."""
    extras = tomllib.loads(pyproject_text).get("project", {}).get("optional-dependencies", {})
    for requirement in extras.get("bench", []):
        if requirement.replace("_", "-").lower().startswith("virtme-ng"):
            return requirement
    return DEFAULT_PEER_REQUIREMENT


def bench_venv() -> Path:
    from kmodlab.paths import home

    return home() / "bench-venv"


def peer_requirement() -> str:
    pyproject = REPO / "pyproject.toml"
    if not pyproject.is_file():
        return DEFAULT_PEER_REQUIREMENT
    return bench_requirement(pyproject.read_text())


def find_or_install_vng(requirement: str) -> Path:
    """`vng` on PATH, else in the bench venv, else installed there now (with pip's progress)."""
    on_path = shutil.which("vng")
    if on_path:
        return Path(on_path)
    venv = bench_venv()
    vng = venv / "bin" / "vng"
    if vng.is_file():
        return vng
    say(f"vng is not installed: installing {requirement} into {venv} (once)")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--progress-bar", "on"]
    result = subprocess.run([*pip, requirement], check=False)
    if result.returncode != 0 or not vng.is_file():
        raise BenchError(f"pip could not install {requirement} into {venv}")
    return vng


def vng_env(vng: Path) -> dict[str, str]:
    """vng starts `virtme-run` through PATH: its own folder must come first."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(vng.parent), env.get("PATH", "")])
    return env


def vng_version(vng: Path) -> str:
    proc = subprocess.run(
        [str(vng), "--version"], capture_output=True, text=True, env=vng_env(vng), check=False
    )
    return (proc.stdout or proc.stderr).strip()


def image_deb(kernel) -> Path:
    """The kernel's own linux-image .deb (same version as the set-up kernel), in the cache."""
    from kmodlab.paths import home

    manifest = kernel.read_manifest()
    package, version = f"linux-image-{kernel.abi}", manifest["version"]
    debs = home() / "bench" / "debs"
    pattern = f"{package}_{version}_*.deb"
    found = sorted(debs.glob(pattern))
    source = str(manifest.get("source", ""))
    if not found and source.startswith("debs:"):  # set up offline from a folder of .debs
        found = sorted(Path(source.removeprefix("debs:")).glob(pattern))
    if found:
        return found[0]
    debs.mkdir(parents=True, exist_ok=True)
    say(f"downloading {package} {version} (its modules are for virtme-ng; kept in {debs})")
    with tempfile.TemporaryDirectory(dir=debs, prefix=".partial-") as partial:
        argv = ["apt-get", *(APT_AS_ROOT if os.geteuid() == 0 else []), "download"]
        result = subprocess.run([*argv, f"{package}={version}"], cwd=partial, check=False)
        got = sorted(Path(partial).glob(pattern))
        if result.returncode != 0 or not got:
            raise BenchError(
                f"apt-get download {package}={version} failed: run `apt-get update` and retry, "
                "or `kmodlab setup` if the archive has moved to a newer kernel"
            )
        os.replace(got[0], debs / got[0].name)
    return debs / got[0].name


def unpack_image(deb: Path, root: Path, kernel) -> Path:
    """Unpack the image .deb into root (boot/, lib/modules/<abi>/) and run depmod there.

    vng looks for the modules next to the kernel image: it walks up from the
    image's path to the first folder holding lib/modules/<abi>, so this root is
    found without touching the host's /lib/modules.
    Returns the vmlinuz inside root.
    """
    say(f"unpacking {deb.name} into {root} (about 400 MB, removed at the end)")
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    vmlinuz = root / "boot" / f"vmlinuz-{kernel.abi}"
    if not filecmp.cmp(vmlinuz, kernel.vmlinuz, shallow=False):
        raise BenchError(f"{deb.name} holds another kernel than {kernel.vmlinuz}")
    # vng would run depmod itself on its first (timed) run.
    subprocess.run(["depmod", "-b", str(root), kernel.abi], check=True)
    return vmlinuz


def build_hello_ko(kernel, work: Path) -> Path:
    """hello.ko built once, in the sandbox, against the kernel's headers."""
    from kmodlab.build import build_submission

    build = build_submission(copy_hello(work / "hello"), headers=kernel.headers, out_dir=work)
    if not build.ok:
        raise BenchError(f"building hello for virtme-ng failed: {build.errors}")
    return build.modules[0].ko


def vng_argv(vng: Path, vmlinuz: Path, ko: Path, *, disable_kvm: bool) -> list[str]:
    """The peer's command: boot the kernel, load and unload the module, power off.

    --force-9p: vng would otherwise first try virtiofsd, which fails with Debian's
    QEMU 7.2 and costs 3.1 s of retries before it falls back to 9p anyway.
    --verbose: the kernel console, where "Hello, world!" appears, is /dev/null without it.
    """
    script = f"insmod {shlex.quote(str(ko))} && rmmod hello"
    flags = ["--disable-kvm"] if disable_kvm else []
    return [str(vng), "--run", str(vmlinuz), *flags, "--force-9p", "--verbose", "--exec", script]


def peer_problem(returncode: int, output: str) -> str | None:
    """Why a vng run does not count as the same work as ours, or None if it does."""
    for text in (HELLO_TEXT, GOODBYE_TEXT):
        if text not in output:
            return f"its output lacks {text!r} (exit status {returncode})"
    if returncode != 0 and VNG_SCRIPT_OK not in output:
        return f"the command failed in the guest (exit status {returncode})"
    return None


def vng_run_s(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    try:
        elapsed, proc = timed(
            lambda: subprocess.run(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                timeout=VNG_TIMEOUT_S,
                check=False,
            )
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"vng did not finish within {VNG_TIMEOUT_S:g} s") from None
    problem = peer_problem(proc.returncode, proc.stdout)
    if problem:
        tail = "\n".join(proc.stdout.splitlines()[-15:])
        raise BenchError(f"vng did not do the same work: {problem}\n{tail}")
    return elapsed


@dataclass
class Peer:
    """A ready peer: the command to time and what it runs."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    version: str


def prepare_peer(kernel, machine, work: Path) -> Peer:
    requirement = peer_requirement()
    vng = find_or_install_vng(requirement)
    vmlinuz = unpack_image(image_deb(kernel), work / "root", kernel)
    ko = build_hello_ko(kernel, work)
    disable_kvm = machine.spec.accel.name != "kvm"
    argv = vng_argv(vng, vmlinuz, ko, disable_kvm=disable_kvm)
    version = vng_version(vng)
    pinned = requirement.partition("==")[2]
    if pinned and pinned not in version.split():
        say(f"warning: {vng} is {version!r}, not the {requirement} the figures are meant for")
    say(f"peer: {version}: {shlex.join(argv)}")
    return Peer(argv, vng_env(vng), work, version)


def measure_peer(peer: Peer, times: int) -> Figure:
    figure = Figure("vng_hello", "virtme-ng run hello (the peer)")
    return repeat(figure, times, lambda: vng_run_s(peer.argv, peer.env, peer.cwd))


# -- main ---------------------------------------------------------------------------
def context(
    kernel, machine, args: argparse.Namespace, peer: Peer | None, load_start: float
) -> dict:
    import kmodlab

    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "kmodlab": kmodlab.__version__,
        "kernel": kernel.abi,
        "accelerator": machine.spec.accel.name,
        "cpus": os.cpu_count(),
        "load_average_1m_start": load_start,
        "load_average_1m_end": os.getloadavg()[0],
        "repeat": args.repeat,
        "calls": args.calls,
        "peer": None if peer is None else {"version": peer.version, "argv": peer.argv},
        "peer_repeat": None if peer is None else args.peer_repeat,
    }


def benchmark(args: argparse.Namespace, work: Path) -> tuple[list[Figure], Figure | None, dict]:
    from kmodlab.paths import current_kernel
    from kmodlab.vm.session import prepare

    kernel = current_kernel()
    machine = prepare(kernel=kernel)
    load_start = os.getloadavg()[0]
    say(f"kernel {kernel.abi}; {machine.accel_note}; load average {load_start:.1f}")
    peer = None if args.skip_peer else prepare_peer(kernel, machine, work)
    figures = measure_kmodlab(machine, args)
    peer_figure = measure_peer(peer, args.peer_repeat) if peer else None
    if peer_figure:
        figures.append(peer_figure)
    return figures, peer_figure, context(kernel, machine, args, peer, load_start)


def report(figures: list[Figure], peer: Figure | None, ctx: dict) -> str:
    lines = [
        f"kmodlab {ctx['kmodlab']}, kernel {ctx['kernel']}, {ctx['accelerator']}, "
        f"{ctx['cpus']} CPUs, load average {ctx['load_average_1m_start']:.1f} at the start "
        f"and {ctx['load_average_1m_end']:.1f} at the end",
        "",
        format_table(figures, peer),
        "",
    ]
    by_key = {f.key: f for f in figures}
    line = restore_vs_cold_line(by_key["restore"], by_key["cold"])
    if line:
        lines.append(line)
    if peer is None:
        lines.append("virtme-ng not measured (--skip-peer): speed-up targets unchecked")
    else:
        lines.append(f"peer: {ctx['peer']['version']}, {len(peer.samples)} runs")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from kmodlab.errors import KmodlabError

    args = parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="kmodlab-bench-vng-") as tmp:
            figures, peer, ctx = benchmark(args, Path(tmp))
    except (BenchError, KmodlabError, subprocess.CalledProcessError) as e:
        say(f"error: {e}")
        return 2
    print(report(figures, peer, ctx))
    if args.json:
        args.json.write_text(json.dumps(results_json(figures, peer, ctx), indent=2) + "\n")
        say(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
