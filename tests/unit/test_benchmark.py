"""The pure parts of bench/benchmark.py: statistics, verdicts, the table, arguments, the peer's
command. No VM, no timing."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _load_benchmark():
    name = "kmodlab_bench_benchmark"  # bench/ is a folder of scripts, not a package
    spec = importlib.util.spec_from_file_location(name, REPO / "bench" / "benchmark.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


bench = _load_benchmark()
Figure = bench.Figure


def _peer(*samples: float) -> Figure:
    return Figure("vng_hello", "virtme-ng run hello (the peer)", samples=list(samples))


def test_figure_statistics_are_median_min_and_max():
    """Does a figure report the median and the spread of its samples?"""
    fig = Figure("cold", "cold", samples=[3.0, 1.0, 2.0, 10.0])
    assert fig.median == 2.5 and fig.low == 1.0 and fig.high == 10.0


def test_a_figure_without_samples_has_no_numbers_and_no_verdict():
    """Is an unmeasured figure shown as such rather than as zero?"""
    fig = Figure("cold", "cold", target_s=2.5)
    assert fig.median is None and fig.low is None and fig.verdict(None) == "n/a"


def test_speedup_is_peer_time_over_ours():
    """Is 'x times faster' the peer's median divided by ours?"""
    fig = Figure("run_hello", "run", samples=[2.0, 2.0, 2.0])
    assert fig.speedup(_peer(12.0, 14.0, 13.0)) == pytest.approx(6.5)
    assert fig.speedup(None) is None
    assert bench.speedup(0.0, 13.0) is None


@pytest.mark.parametrize(
    ("median", "target", "min_speedup", "measured", "expected"),
    [
        (0.4, 0.5, None, None, "OK"),
        (0.5, 0.5, None, None, "OK"),  # the target is inclusive
        (0.6, 0.5, None, None, "MISSED"),
        (2.0, 3.0, 4.0, 6.0, "OK"),
        (2.0, 3.0, 4.0, 3.9, "MISSED"),  # fast enough but not 4x the peer
        (3.5, 3.0, 4.0, 9.0, "MISSED"),  # 4x the peer but over the time target
        (2.0, 3.0, 4.0, None, "OK (time only)"),  # --skip-peer
        (13.0, None, None, None, "n/a"),  # the peer itself
    ],
)
def test_verdict(median, target, min_speedup, measured, expected):
    """Is a figure OK only when it meets every target it has?"""
    assert bench.verdict(median, target, min_speedup, measured) == expected


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.0042, "4.2 ms"), (0.042, "42 ms"), (0.42, "420 ms"), (2.5, "2.50 s"), (13.94, "13.9 s")],
)
def test_durations_are_shown_in_readable_units(seconds, text):
    assert bench.format_duration(seconds) == text


def test_speedups_read_as_faster_or_slower():
    assert bench.format_speedup(27.34) == "27.3x faster"
    assert bench.format_speedup(1234.0) == "1234x faster"
    assert bench.format_speedup(0.5) == "2.0x slower"
    assert bench.format_speedup(None) == "-"


def _figures() -> tuple[list[Figure], Figure]:
    peer = _peer(13.0, 14.0, 12.0)
    figures = [
        Figure("restore", "fresh guest: snapshot", target_s=0.5, samples=[0.3, 0.2, 0.4]),
        Figure("cold", "fresh guest: cold boot", target_s=2.5, samples=[3.0, 2.8, 4.0]),
        Figure("run_hello", "kmodlab run hello", 3.0, 4.0, samples=[2.0, 2.5, 2.2]),
        peer,
    ]
    return figures, peer


def test_table_has_one_row_per_figure_with_target_verdict_and_ratio():
    """Does each row show median, spread, target, verdict and the ratio to the peer?"""
    figures, peer = _figures()
    lines = bench.format_table(figures, peer).splitlines()
    assert lines[0].split()[:4] == ["figure", "n", "median", "min"]
    assert set(lines[1]) <= {"-", " "}
    restore, cold, run, peer_row = lines[2:]
    assert "300 ms" in restore and "200 ms - 400 ms" in restore and "<= 500 ms" in restore
    assert "OK" in restore and "43.3x faster" in restore
    assert "MISSED" in cold and "<= 2.50 s" in cold
    assert "<= 3.00 s, >= 4x vng" in run and "5.9x faster" in run
    assert "13.0 s" in peer_row and peer_row.rstrip().endswith("-")


def test_table_columns_line_up():
    figures, peer = _figures()
    lines = bench.format_table(figures, peer).splitlines()
    column = lines[0].index("median")
    assert all(line[column - 2 : column] == "  " for line in lines)


def test_restore_over_cold_is_reported():
    figures, _ = _figures()
    line = bench.restore_vs_cold_line(figures[0], figures[1])
    assert line == "restore / cold boot = 0.10 (the snapshot is 10.0x faster)"


def test_json_holds_samples_medians_verdicts_and_ratios():
    """Does --json carry everything the table shows, as plain JSON?"""
    figures, peer = _figures()
    data = json.loads(json.dumps(bench.results_json(figures, peer, {"kernel": "k"})))
    run = data["figures"]["run_hello"]
    assert run["samples_s"] == [2.0, 2.5, 2.2] and run["median_s"] == 2.2
    assert run["verdict"] == "OK" and run["speedup_vs_peer"] == pytest.approx(13.0 / 2.2)
    assert data["figures"]["vng_hello"]["speedup_vs_peer"] is None
    assert data["restore_over_cold"] == pytest.approx(0.1)
    assert data["context"] == {"kernel": "k"}


def test_default_arguments():
    args = bench.parse_args([])
    assert (args.repeat, args.calls, args.peer_repeat) == (5, 50, 3)
    assert args.skip_peer is False and args.json is None


def test_arguments():
    args = bench.parse_args(["--repeat", "3", "--skip-peer", "--json", "out.json"])
    assert args.repeat == 3 and args.skip_peer and args.json == Path("out.json")


@pytest.mark.parametrize(
    "argv", [["--repeat", "0"], ["--repeat", "x"], ["--calls", "0"], ["--peer-repeat", "2"]]
)
def test_bad_counts_are_refused(argv, capsys):
    """Are counts that make no median (or fewer than 3 virtme-ng runs) refused?"""
    with pytest.raises(SystemExit):
        bench.parse_args(argv)
    err = capsys.readouterr().err
    assert "must be at least" in err or "not a whole number" in err


def test_the_peer_version_comes_from_the_bench_extra():
    """Is virtme-ng installed at the version pyproject.toml's `bench` extra pins?"""
    assert bench.bench_requirement((REPO / "pyproject.toml").read_text()) == "virtme-ng==1.42"
    assert bench.bench_requirement("[project]\nname = 'x'\n") == bench.DEFAULT_PEER_REQUIREMENT


def test_peer_command_is_an_argument_list_for_the_same_module():
    """Does vng boot the given image and load and unload the given hello.ko, without KVM here?"""
    ko = Path("/tmp/b x/hello.ko")
    argv = bench.vng_argv(Path("/v/vng"), Path("/r/boot/vmlinuz-6.1"), ko, disable_kvm=True)
    assert argv[:3] == ["/v/vng", "--run", "/r/boot/vmlinuz-6.1"]
    assert "--disable-kvm" in argv and "--force-9p" in argv and "--verbose" in argv
    assert argv[argv.index("--exec") + 1] == "insmod '/tmp/b x/hello.ko' && rmmod hello"
    kvm = bench.vng_argv(Path("vng"), Path("vmlinuz"), ko, disable_kvm=False)
    assert "--disable-kvm" not in kvm


VNG_OK = "[ 20.30] Hello, world!\n[ 20.48] Goodbye, world!\n"


@pytest.mark.parametrize(
    ("returncode", "output", "counts"),
    [
        (0, VNG_OK, True),
        # no udevd on the host: vng runs the command on the console and exits 255
        (255, VNG_OK + "virtme-ng-init: script exited with code 0\n", True),
        (255, VNG_OK + "virtme-ng-init: script exited with code 1\n", False),
        (0, "[ 20.48] Goodbye, world!\n", False),
        (0, "", False),
    ],
)
def test_a_peer_run_counts_only_if_the_module_said_hello_and_goodbye(returncode, output, counts):
    assert (bench.peer_problem(returncode, output) is None) is counts
