"""The `kmodlab` command: a thin layer over the Python API.

Every user-fixable problem is a KmodlabError, printed as one line
("kmodlab: error: PROBLEM: FIX") with exit status 2; never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from kmodlab import __version__
from kmodlab.errors import InputError, KmodlabError
from kmodlab.extras import require as require_extra

EXIT_USAGE = 2
EXIT_UNGRADED = 1  # grade-batch: some submission could not be graded (listed on stderr)


# -q: 0 (results and errors only), default 1 (also status lines), -v: 2 (also the
# traceback of an internal error). Status lines go to stderr, results to stdout.
VERBOSITY = 1


def _print_err(msg: str) -> None:
    print(f"kmodlab: {msg}", file=sys.stderr)


def _say(msg: str) -> None:
    """A status line (what kmodlab is doing, where it wrote): not with -q."""
    if VERBOSITY >= 1:
        _print_err(msg)


# -- setup / doctor ---------------------------------------------------------
def cmd_setup(args: argparse.Namespace) -> int:
    from kmodlab import paths
    from kmodlab.grader.collection.collect import grading_preparation
    from kmodlab.setup import setup
    from kmodlab.vm.session import prepare, start_guest

    shared = getattr(args, "shared", False)
    if shared:  # the guest made below (initramfs, snapshot) is for every user too
        os.environ["KMODLAB_HOME"] = str(paths.shared_home())
    kernel = setup(
        debs_dir=args.debs, install_packages=not args.no_install, quiet=VERBOSITY < 1, shared=shared
    )
    _say("preparing the guest (initramfs, accelerator, saved snapshot)")
    machine = prepare(kernel=kernel)
    _say(machine.accel_note)
    start_guest(machine).close()  # saves the snapshot on first use
    # And the one every grade restores, its traces already on.
    start_guest(machine, preparation=grading_preparation()).close()
    if shared:
        paths.open_to_all(paths.shared_home())
    _say(f"ready: guest kernel {kernel.abi}")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from kmodlab.doctor import run_checks

    failed = 0
    findings = []
    for finding in run_checks():
        if args.json:
            findings.append(dataclasses.asdict(finding))
        else:
            print(finding.line(), flush=True)
        failed += not finding.ok
    if args.json:
        print(json.dumps({"ok": not failed, "checks": findings}, indent=2))
    return 1 if failed else 0


# -- build ------------------------------------------------------------------
def _print_diagnostics(result) -> None:  # type: ignore[no-untyped-def]
    for d in result.diagnostics:
        if d.severity == "note":
            continue  # gcc's notes mostly point into kernel headers
        where = f"{d.file}:{d.line}:" if d.file and d.line else (f"{d.file}:" if d.file else "")
        print(f"{where} {d.severity}: {d.message}".strip())


def _show_command(args: argparse.Namespace, what: str, submission: str) -> int:
    from kmodlab import dryrun

    use_snapshot = not getattr(args, "no_snapshot", False)
    # --no-sandbox builds unsandboxed only where no sandbox works (asking runs bwrap once).
    sandboxed = not getattr(args, "no_sandbox", False) or dryrun.sandbox_available()
    commands = dryrun.show(what, Path(submission), sandboxed=sandboxed, use_snapshot=use_snapshot)
    print(dryrun.render(commands), end="")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from kmodlab.build import build_submission, load_submission
    from kmodlab.paths import current_kernel

    if args.show_command:
        return _show_command(args, "build", args.dir)
    sub = load_submission(Path(args.dir))  # bad input is reported first; read once
    kernel = current_kernel()
    out = Path(args.output) if args.output else None
    result = build_submission(
        sub, headers=kernel.headers, out_dir=out, allow_unsandboxed=args.no_sandbox
    )
    if args.json:
        print(json.dumps(_build_json(result), indent=2))
        return 0 if result.ok else 1
    _print_diagnostics(result)
    if result.ok:
        for m in result.modules:
            print(f"built {m.name}.ko: {m.ko}")
        return 0
    print("build failed" + ("" if result.diagnostics else ":\n" + result.log[-4000:]))
    return 1


def _build_json(result) -> dict:  # type: ignore[no-untyped-def]
    return {
        "ok": result.ok,
        "sandboxed": result.sandboxed,
        "duration_s": round(result.duration_s, 3),
        "modules": [{"name": m.name, "ko": str(m.ko)} for m in result.modules],
        "diagnostics": [
            {k: getattr(d, k) for k in ("file", "line", "column", "severity", "kind", "message")}
            for d in result.diagnostics
        ],
    }


# -- run --------------------------------------------------------------------
def _commands(args: argparse.Namespace) -> list[list[str]] | None:
    import shlex

    cmds = [shlex.split(c) for c in args.command or []]
    if args.argv:
        cmds.append(list(args.argv))
    return cmds or None


def cmd_run(args: argparse.Namespace) -> int:
    from kmodlab.run import format_result, run_submission

    if args.show_command:
        return _show_command(args, "run", args.dir)
    report = run_submission(
        Path(args.dir),
        _commands(args),
        use_snapshot=not args.no_snapshot,
        allow_unsandboxed=args.no_sandbox,
        timeout_s=args.timeout,
    )
    if not report.build.ok:
        _print_diagnostics(report.build)
        print(
            "build failed" + ("" if report.build.diagnostics else ":\n" + report.build.log[-4000:])
        )
        return 1
    for r in report.results:
        print(format_result(r))
    if report.crash:
        print(f"the guest crashed: {report.crash.problem}")
        for rep in report.crash.reports:
            print(rep.text)
    if args.timings:
        print(json.dumps({k: round(v, 3) for k, v in report.timings.items()}), file=sys.stderr)
    return 0 if report.ok else 1


# -- grade ------------------------------------------------------------------
def _limits(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from kmodlab.grader.pipeline import Limits

    return Limits(cycles=args.cycles, fault_injection=not args.no_fault_injection)


def _render(report, fmt: str, submission: Path, sources=None) -> str:  # type: ignore[no-untyped-def]
    from kmodlab.grader.report import formats

    if sources is None:
        sources = formats.quotable(report, submission)
    if fmt == "json":
        return formats.to_json(report)
    if fmt == "gradescope":
        return json.dumps(formats.to_gradescope(report, sources=sources), indent=2)
    return formats.to_text(report, sources=sources)


def cmd_grade(args: argparse.Namespace) -> int:
    from kmodlab.grader.pipeline import grade
    from kmodlab.grader.rejudge import evidence_path, write_evidence
    from kmodlab.paths import atomic_write

    if args.show_command:
        return _show_command(args, "grade", args.submission)
    submission = Path(args.submission)
    report = grade(submission, exercise=args.exercise, limits=_limits(args), progress=_say)
    text = _render(report, args.format, submission)
    evidence = args.evidence or (evidence_path(Path(args.output)) if args.output else None)
    if evidence and report.evidence is not None:
        write_evidence(Path(evidence), report.evidence)  # before the report: it is the proof
    if args.output:
        atomic_write(Path(args.output), text.encode() + b"\n")
        _say(f"report written to {args.output} (score {report.score}/{report.max_score})")
    else:
        print(text)
    return 0


def cmd_rejudge(args: argparse.Namespace) -> int:
    from kmodlab.grader.rejudge import rejudge_file

    reports = [rejudge_file(Path(p), args.exercise) for p in args.evidence]
    if args.format == "json" and len(reports) > 1:
        print(json.dumps([r.to_dict() for r in reports], indent=2))
        return 0
    for report in reports:
        sources = (report.evidence or {}).get("sources", {})
        print(_render(report, args.format, Path(report.submission), sources=sources))
    return 0


def cmd_grade_batch(args: argparse.Namespace) -> int:
    if args.rejudge:
        return _rejudge_batch(args)
    if not (args.submissions and args.output_dir):
        raise InputError(
            "grade-batch needs SUBMISSIONS_DIR and --output-dir",
            "pass both, or --rejudge OUT to re-score an earlier output folder",
        )
    from kmodlab.grader.batch import grade_batch
    from kmodlab.grader.pipeline import grade
    from kmodlab.grader.shard import parse_shard
    from kmodlab.vm.session import prepare

    if args.shard:
        parse_shard(args.shard)  # a bad --shard is reported before the guest is prepared
    machine = prepare()  # once: every submission reuses the same saved guest
    limits = _limits(args)
    summary = grade_batch(
        Path(args.submissions),
        Path(args.output_dir),
        grade=lambda sub: grade(sub, exercise=args.exercise, limits=limits, machine=machine),
        jobs=args.jobs,
        progress=VERBOSITY >= 1,
        shard=parse_shard(args.shard) if args.shard else None,
        retry_errors=args.retry_errors,
    )
    _say(
        f"{summary.total} submissions: {len(summary.graded)} graded now, "
        f"{len(summary.resumed)} already done, {len(summary.errors)} grader errors; "
        f"summary in {summary.csv_path}"
    )
    if not summary.ungraded:
        return 0
    _print_err(f"{len(summary.ungraded)} could not be graded (rerun with --retry-errors):")
    for name, why in sorted(summary.ungraded.items()):
        shown = name if name.isprintable() else ascii(name)
        _print_err(f"  {shown}: {why}")
    return EXIT_UNGRADED


def _rejudge_batch(args: argparse.Namespace) -> int:
    from kmodlab.grader.rejudge import rejudge_batch

    if args.submissions or args.output_dir or args.shard or args.retry_errors:
        raise InputError(
            "--rejudge takes only the output folder (and --exercise)",
            "run `kmodlab grade-batch --rejudge OUT [--exercise NAME]`",
        )
    s = rejudge_batch(Path(args.rejudge), args.exercise)
    _say(
        f"{len(s.rejudged)} reports rejudged from their evidence ({len(s.changed)} scores "
        f"changed), {len(s.kept)} kept without evidence; summary in {s.csv_path}"
    )
    for name, why in sorted(s.bad.items()):
        _print_err(f"  {name}: {why}")
    return EXIT_UNGRADED if s.bad else 0


def cmd_merge(args: argparse.Namespace) -> int:
    from kmodlab.grader.shard import merge

    result = merge([Path(p) for p in args.outputs], Path(args.output_dir))
    print(
        f"{result.dest}: {result.reports} reports from {len(args.outputs)} folders "
        "(summary.csv, gradebook.csv)"
    )
    if result.absent_shards:
        _print_err(f"not merged yet: shard {', '.join(result.absent_shards)}")
    if result.missing:
        shown = ", ".join(result.missing[:5]) + (", ..." if len(result.missing) > 5 else "")
        _print_err(f"{len(result.missing)} submissions of the shards not graded yet: {shown}")
    return 1 if result.missing or result.absent_shards else 0


def cmd_gradescope(args: argparse.Namespace) -> int:
    from kmodlab.gradescope import build_bundle

    output = Path(args.output)
    names = build_bundle(
        args.exercise,
        output,
        debs=args.debs,
        wheels=args.wheels,
        hide=args.hide or (),
        hide_exercise_checks=args.hide_exercise_checks,
        visibility=args.visibility,
        say=_say,
    )
    wheels = sum(n.startswith("wheels/") for n in names)
    debs = sum(n.startswith("debs/") for n in names)
    print(f"{output}: setup.sh, run_autograder, {wheels} wheels, {debs} kernel packages")
    return 0


def cmd_shell(args: argparse.Namespace) -> int:
    from kmodlab.lab.shell import run_shell

    return run_shell(Path(args.dir))


# -- course -----------------------------------------------------------------
def cmd_course_init(args: argparse.Namespace) -> int:
    from kmodlab.coursefiles import init_course

    dest = Path(args.dir)
    written = init_course(dest, student=args.student, force=args.force)
    folders = sorted({p.parts[0] for p in written})
    print(f"{dest}: {len(written)} files in {', '.join(f + '/' for f in folders)}")
    if "notebooks" in folders:
        _say(f"start the lab with: cd {dest} && kmodlab lab")
    if "autograder" in folders:
        _say(
            f"to grade with these (edited) checks: export KMODLAB_AUTOGRADER={dest.resolve()}"
            "/autograder"
        )
    return 0


def cmd_course_extract(args: argparse.Namespace) -> int:
    require_extra("course")
    from kmodlab.course.__main__ import main as course_main

    # Options before the first positional argument are not in REMAINDER: parse() kept them.
    return course_main(["extract", *args.unknown, *args.rest, *args.argv])


def cmd_course_render(args: argparse.Namespace) -> int:
    require_extra("course")
    from kmodlab.course.__main__ import main as course_main

    return course_main(["render", str(args.out), *map(str, args.notebooks)])


# -- lab / test -------------------------------------------------------------
def _repo_root() -> Path | None:
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file() and (parent / "tests").is_dir():
            return parent
    return None


def cmd_lab(args: argparse.Namespace) -> int:
    """The main job: set up, then JupyterLab on the course notebooks (or the hello demo)."""
    notebooks = None if args.demo else notebooks_dir(args.notebooks)
    if notebooks is not None:
        require_extra("lab")  # before set-up: say it at once, not after minutes of downloads
    if not args.skip_setup:
        cmd_setup(argparse.Namespace(debs=args.debs, no_install=False))
    if notebooks is None:
        return _hello_demo()
    argv = lab_argv(notebooks, port=args.port, ip=args.ip, open_browser=args.browser)
    _say(f"starting JupyterLab on {notebooks} (open the URL below; Ctrl-C stops it)")
    # The guest itself starts with the first notebook cell that needs it.
    return serve(argv, cwd=notebooks)


def notebooks_dir(given: Path | None) -> Path:
    """--notebooks, else the checkout's notebooks/, else ./notebooks (from `course init`)."""
    if given is not None:
        if not given.is_dir():
            raise InputError(f"{given}: not a folder", "pass the folder holding the notebooks")
        return given
    root = _repo_root()
    for candidate in ([root / "notebooks"] if root else []) + [Path.cwd() / "notebooks"]:
        if candidate.is_dir():
            return candidate
    raise InputError(
        "no course notebooks here (an installed kmodlab carries them as course content)",
        "run `kmodlab course init DIR`, then `kmodlab lab` in DIR (or `kmodlab lab --demo`)",
    )


def serve(argv: list[str], *, cwd: Path) -> int:
    """Run a server (JupyterLab) in the foreground and pass SIGTERM and SIGHUP on to it.

    Without this, SIGTERM (a hub, systemd, `kill`) would end kmodlab and leave
    JupyterLab running, orphaned. Ctrl-C reaches both from the terminal:
    JupyterLab asks to confirm, and kmodlab waits for its answer.
    """
    proc = subprocess.Popen(argv, cwd=cwd)
    received: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        received.append(signum)
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signum)

    old = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        while True:
            try:
                rc = proc.wait()
                break
            except KeyboardInterrupt:
                continue  # the terminal sent SIGINT to JupyterLab too; it decides
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    return 128 + received[0] if received else rc


def lab_argv(notebooks: Path, *, port: int, ip: str, open_browser: bool) -> list[str]:
    argv = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={notebooks}",
            f"--ServerApp.port={port}", f"--ServerApp.ip={ip}"]  # fmt: skip
    if not open_browser:
        argv.append("--no-browser")
    if os.geteuid() == 0:
        argv.append("--allow-root")  # the lab machines run as root; the guest is the sandbox
    return argv


def _hello_demo() -> int:
    from kmodlab.run import format_result, run_submission

    with tempfile.TemporaryDirectory(prefix="kmodlab-hello-") as tmp:
        src = resources.files("kmodlab.examples").joinpath("hello")
        for name in ("hello.c", "Makefile"):
            (Path(tmp) / name).write_bytes(src.joinpath(name).read_bytes())
        print("Building hello.c in the sandbox and loading it into the lab VM...\n")
        report = run_submission(Path(tmp), [["insmod", "hello.ko"], ["lsmod"], ["rmmod", "hello"]])
    if not report.build.ok:
        _print_diagnostics(report.build)
        return 1
    for r in report.results:
        print(format_result(r) + "\n")
    return 0 if report.ok else 1


def cmd_test(args: argparse.Namespace) -> int:
    root = _repo_root()
    if root is None:
        raise KmodlabError(
            "the test suite lives in a kmodlab checkout", "run this from a git clone"
        )
    require_extra("dev")
    if not args.skip_setup:
        from kmodlab.kernel.hostpkgs import TEST_PACKAGES, ensure_host_packages

        cmd_setup(argparse.Namespace(debs=None, no_install=False))
        ensure_host_packages(install=True, say=_say, quiet=VERBOSITY < 1, packages=TEST_PACKAGES)
    _say("ruff check")
    lint = subprocess.call([sys.executable, "-m", "ruff", "check", "."], cwd=root)
    # Set up above, the real-VM tier must run: a missing VM fails it, never skips it.
    env = {**os.environ, "KMODLAB_REQUIRE_VM": "1"}
    # The container tier needs images made by hand first (tests/container/test_image.py
    # says how): it runs when asked for, `kmodlab test -m container`, not by default.
    chosen = any(a == "-m" or a.startswith("-m") for a in args.pytest_args)
    select = [] if chosen else ["-m", "not container"]
    # The notebooks run under nbval (`notebooks` is in testpaths; conftest.py marks their
    # cells `vm`), once, in the kernel of this environment.
    nbval = ["--nbval-lax", "--nbval-current-env"]
    argv = [sys.executable, "-m", "pytest", *nbval, *select, *args.pytest_args]
    tests = subprocess.call(argv, cwd=root, env=env)
    return tests or lint


# -- parser -----------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    from kmodlab.records import COMMAND_TIMEOUT_S  # the one default, also for the API

    p = argparse.ArgumentParser(
        prog="kmodlab",
        description="Write Linux kernel modules, build them in a sandbox, "
        "and run them in a real Debian kernel under QEMU (never in your own kernel).",
    )
    p.add_argument("--version", action="version", version=f"kmodlab {__version__}")
    _verbosity_flags(p, default=0)
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    s = sub.add_parser("setup", help="install packages, fetch the guest kernel and headers")
    s.add_argument(
        "--debs",
        type=Path,
        metavar="DIR",
        help="take the kernel .deb files from DIR instead of downloading (offline)",
    )
    s.add_argument(
        "--no-install",
        action="store_true",
        help="do not apt-get install missing host packages, only report them",
    )
    s.add_argument(
        "--shared",
        action="store_true",
        help="set up for every user of this machine (as root, once): into "
        "$KMODLAB_SHARED_CACHE (default /var/cache/kmodlab), which users only read; "
        "lab, grade and test then need no root",
    )
    s.set_defaults(func=cmd_setup)

    s = sub.add_parser(
        "doctor",
        help="check every component, one line each",
        description="Check every component (QEMU, accelerator, kernel, headers, compiler, "
        "sandbox, Python, guest): one line each, OK or the fix. Exit status 1 when any fails.",
    )
    s.add_argument(
        "--json",
        action="store_true",
        help='print {"ok": ..., "checks": [{"component", "ok", "detail"}, ...]} instead',
    )
    s.set_defaults(func=cmd_doctor)

    s = sub.add_parser("build", help="build every module of a submission folder in the sandbox")
    s.add_argument(
        "dir", metavar="DIR", help="folder with the .c files (and optional Makefile/Kbuild)"
    )
    s.add_argument("-o", "--output", metavar="OUT", help="keep the build folder here")
    s.add_argument("--json", action="store_true", help="print the result as JSON")
    _sandbox_flag(s)
    _show_command_flag(s)
    s.set_defaults(func=cmd_build)

    s = sub.add_parser(
        "run",
        help="build DIR, boot a fresh guest with its modules, run commands",
        description="Build DIR, boot a fresh guest with its modules in the working folder, and "
        "run commands there. Without commands: insmod every module, then rmmod them.",
        epilog="examples:\n  kmodlab run hello -- insmod hello.ko\n"
        "  kmodlab run hello -c 'insmod hello.ko' -c 'cat /proc/modules' -c 'rmmod hello'",
        usage="kmodlab run [-h] [-c CMD] [options] DIR [-- COMMAND...]",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("dir", metavar="DIR")
    s.add_argument(
        "-c",
        "--command",
        action="append",
        metavar="CMD",
        help="a command to run (repeatable, split like a shell does)",
    )
    s.add_argument(
        "--timeout",
        type=float,
        default=COMMAND_TIMEOUT_S,
        help=f"seconds per command (default {COMMAND_TIMEOUT_S:g})",
    )
    s.add_argument("--no-snapshot", action="store_true", help="boot cold instead of restoring")
    s.add_argument("--timings", action="store_true", help="print timings (JSON) to stderr")
    _sandbox_flag(s)
    _show_command_flag(s)
    s.set_defaults(func=cmd_run)

    s = sub.add_parser(
        "shell",
        help="a line-by-line shell in a fresh guest with DIR's modules",
        description="Build DIR's modules, start a guest with them, and read commands line by "
        "line (output and the kernel log they caused are printed). Not a terminal: no job "
        "control or full-screen programs. Ctrl-D or `exit` leaves.",
    )
    s.add_argument("dir", metavar="DIR")
    s.set_defaults(func=cmd_shell)

    s = sub.add_parser(
        "grade",
        help="grade one submission folder (report as text, JSON or Gradescope)",
        description="Grade a submission: build, load, unload, cycle, kernel health, leaks, "
        "registrations and fault injection at every fallible call of init, plus the "
        "exercise's own checks with --exercise. Exit status 0 whenever a report was made.",
    )
    s.add_argument("submission", metavar="SUBMISSION", help="folder with the module sources")
    s.add_argument("--exercise", metavar="NAME", help="also run this exercise's checks")
    s.add_argument("--format", choices=("text", "json", "gradescope"), default="text")
    s.add_argument(
        "--output",
        metavar="FILE",
        help="write the report here (atomically), and its evidence document beside it "
        "(FILE's name with .evidence.json.xz)",
    )
    s.add_argument(
        "--evidence",
        metavar="FILE",
        help="write the evidence document (kmodlab-evidence/1) here, for `kmodlab rejudge`",
    )
    _grade_flags(s)
    _show_command_flag(s)
    s.set_defaults(func=cmd_grade)

    s = sub.add_parser(
        "rejudge",
        help="re-score evidence documents with today's expectations: no build, no guest",
        description="Judge evidence documents (NAME.evidence.json.xz, written by grade --output, "
        "grade --evidence and grade-batch) again with the current judges and expectations, "
        "and print the reports. Nothing is built or run. A document of a newer schema, or "
        "one changed or cut after it was written, is refused with a one-line error "
        "(exit status 2).",
    )
    s.add_argument("evidence", nargs="+", metavar="EVIDENCE", help="kmodlab-evidence/1 files")
    s.add_argument(
        "--exercise",
        metavar="NAME",
        help="judge with this exercise's expectations (default: the one graded)",
    )
    s.add_argument("--format", choices=("text", "json", "gradescope"), default="text")
    s.set_defaults(func=cmd_rejudge)

    s = sub.add_parser(
        "grade-batch",
        help="grade one submission per subfolder, resumable, with a CSV summary",
        description="Grade every subfolder of SUBMISSIONS_DIR. Reports (NAME.json, NAME.txt; "
        "a short name with a hash when a folder's name is not a plain file name), "
        "summary.csv (a column per check) and gradebook.csv (student, total, max, percent: "
        "for an LMS) go to --output-dir, with NAME.evidence.json.xz, the evidence each report "
        "was judged from; a rerun skips submissions already graded. With "
        "--shard K/N, only a stable 1/N of them (then `kmodlab merge` the shards' folders). "
        "--rejudge OUT re-scores an earlier output folder from its evidence documents with "
        "the current expectations (no build, no guest): it rewrites the reports, "
        "summary.csv and gradebook.csv. "
        "Exit status: 0 when every submission was graded, 1 when some could not be "
        "(each is listed on stderr), 2 on a usage error.",
    )
    s.add_argument("submissions", metavar="SUBMISSIONS_DIR", nargs="?")
    s.add_argument("--output-dir", metavar="DIR")
    s.add_argument(
        "--rejudge",
        metavar="OUT",
        help="re-score the grade-batch output folder OUT from its evidence documents "
        "(with --exercise: that exercise's expectations)",
    )
    s.add_argument("--exercise", metavar="NAME")
    s.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="guests at once (as many more submissions build meanwhile)",
    )
    s.add_argument(
        "--shard",
        metavar="K/N",
        help="grade only shard K of N (a stable split by folder name; one machine each, "
        "then `kmodlab merge`)",
    )
    s.add_argument(
        "--retry-errors",
        action="store_true",
        help="grade again the submissions whose report is a grader error",
    )
    _grade_flags(s)
    s.set_defaults(func=cmd_grade_batch)

    s = sub.add_parser(
        "merge",
        help="join grade-batch outputs (shards) into one folder with one summary.csv",
        description="Copy the reports of grade-batch output folders (e.g. one per --shard) "
        "into --output-dir and write one summary.csv and gradebook.csv over all of them. "
        "Idempotent; keeps reports already there; refuses outputs of different exercises. "
        "Exit status 1 when a shard or a shard's submission is not graded yet.",
    )
    s.add_argument("outputs", nargs="+", metavar="OUT", help="grade-batch --output-dir folders")
    s.add_argument("-o", "--output-dir", required=True, metavar="DIR", help="the merged folder")
    s.set_defaults(func=cmd_merge)

    s = sub.add_parser(
        "gradescope",
        help="write a Gradescope autograder zip for an exercise",
        description="Write the zip Gradescope builds its autograder from: setup.sh (installs "
        "kmodlab from the bundled wheels and the guest kernel from the bundled .debs; only "
        "the distribution's package archive is needed), run_autograder (grades "
        "/autograder/submission and always writes /autograder/results/results.json), and "
        "the exercise's expectations.",
    )
    s.add_argument("exercise", metavar="EXERCISE")
    s.add_argument(
        "-o",
        "--output",
        default="autograder.zip",
        metavar="ZIP",
        help="the zip to write (default autograder.zip)",
    )
    s.add_argument(
        "--debs",
        type=Path,
        metavar="DIR",
        help="the four kernel .debs (as for `setup --debs`); default: download the packages "
        "of the kernel set up here",
    )
    s.add_argument(
        "--wheels",
        type=Path,
        metavar="DIR",
        help="kmodlab's wheel and its dependencies' (default: build and fetch them)",
    )
    s.add_argument(
        "--hide",
        action="append",
        metavar="CHECK",
        help="show this check to students only after grades are published (repeatable)",
    )
    s.add_argument(
        "--hide-exercise-checks",
        action="store_true",
        help="hide every check of the exercise's expectations.toml that way",
    )
    s.add_argument(
        "--visibility",
        choices=("visible", "after_published", "after_due_date", "hidden"),
        default="visible",
        help="the whole result's visibility, score included (default visible); each check's "
        "own comes from `visibility` in expectations.toml",
    )
    s.set_defaults(func=cmd_gradescope)

    s = sub.add_parser(
        "lab",
        help="the main job: set up, then JupyterLab on the course notebooks",
        description="Set up (packages, Python, guest kernel), then start JupyterLab on "
        "the course notebooks (the checkout's notebooks/, else ./notebooks as `kmodlab course "
        "init` makes it, or --notebooks). Open 01-setup.ipynb first. --demo instead builds "
        "and runs hello once. SIGTERM and SIGHUP are passed on to JupyterLab. "
        "Needs kmodlab[lab].",
    )
    s.add_argument("--skip-setup", action="store_true", help=argparse.SUPPRESS)
    s.add_argument("--debs", type=Path, metavar="DIR", help="as for `setup`")
    s.add_argument("--port", type=int, default=8888, help="JupyterLab's port (default 8888)")
    s.add_argument("--ip", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    s.add_argument("--browser", action="store_true", help="open a web browser")
    s.add_argument("--demo", action="store_true", help="run hello in the lab VM and exit")
    s.add_argument(
        "--notebooks",
        type=Path,
        metavar="DIR",
        help="serve this folder (default: the checkout's notebooks/, else ./notebooks)",
    )
    s.set_defaults(func=cmd_lab)

    s = sub.add_parser(
        "course",
        help="the course: copy it out of the installed package, extract submitted modules",
        description="The course's content (notebooks, exercises, solutions, autograder "
        "specs, the nbgrader course) ships inside kmodlab; `course init` copies it out.",
    )
    csub = s.add_subparsers(dest="course_cmd", required=True, metavar="ACTION")
    c = csub.add_parser(
        "init",
        help="copy the course into DIR",
        description="Copy notebooks/, exercises/, solutions/, autograder/ and course/ (the "
        "nbgrader course) into DIR. --student copies notebooks/ and exercises/ only.",
    )
    c.add_argument("dir", metavar="DIR")
    c.add_argument("--student", action="store_true", help="only what students need")
    c.add_argument("--force", action="store_true", help="overwrite the course's folders")
    c.set_defaults(func=cmd_course_init)
    c = csub.add_parser(
        "extract",
        help="the %%%%kmodule cells of notebooks as module files (needs kmodlab[course])",
        description="Same as `python -m kmodlab.course extract`: NOTEBOOK OUT, or "
        "SUBMITTED OUT --assignment A [--exercise E].",
        add_help=False,
    )
    c.add_argument("rest", nargs=argparse.REMAINDER)
    c.set_defaults(func=cmd_course_extract)
    c = csub.add_parser(
        "render",
        help="the rendered edition: the lessons executed in the lab, as HTML with outputs",
        description="Execute each lesson in the real lab (as a student would) and write "
        "OUT/NAME.html with its outputs kept, and OUT/index.html. Exit status 1 when a "
        "cell raised that is not meant to.",
    )
    c.add_argument("out", type=Path, metavar="OUT")
    c.add_argument("notebooks", type=Path, nargs="*", metavar="NOTEBOOK")
    c.set_defaults(func=cmd_course_render)

    s = sub.add_parser(
        "test",
        help="set up, then run the whole test suite (pytest)",
        description="Set up, run `ruff check`, then pytest. Other arguments go to pytest. "
        "The container tier (images built by hand first) runs only when asked for: "
        "`-m container` (any -m of yours replaces the default -m 'not container').",
    )
    s.add_argument("--skip-setup", action="store_true", help="do not run `setup` first")
    s.set_defaults(func=cmd_test)
    for command in _subparsers(p):
        if command.prog.endswith((" test", " extract")):
            continue  # their -q and -v belong to pytest and to the extractor
        # After the command too (`kmodlab grade-batch -q ...`); SUPPRESS keeps a flag
        # given before the command from being reset by the command's default.
        _verbosity_flags(command, default=argparse.SUPPRESS)
    return p


def _subparsers(p: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                yield child
                yield from _subparsers(child)


def _verbosity_flags(p: argparse.ArgumentParser, default: object) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default,
        help="only results and errors: no status lines or progress bars",
    )
    g.add_argument("-v", "--verbose", action="store_true", default=default,
                   help="more: an internal error's traceback")  # fmt: skip


def _grade_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cycles",
        type=int,
        default=20,
        metavar="N",
        help="load/unload cycles for the cycle check (default 20)",
    )
    p.add_argument(
        "--no-fault-injection", action="store_true", help="skip the fault-injection sweep"
    )


def _show_command_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--show-command",
        action="store_true",
        help="print the sandbox and QEMU command lines (shell-quoted) instead of running them",
    )


def _sandbox_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--no-sandbox",
        action="store_true",
        help="build without isolation when no sandbox is available (unsafe)",
    )


def parse(argv: list[str]) -> argparse.Namespace:
    """Parse options; what follows `--` is a command for `run`, or pytest's for `test`."""
    rest: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, rest = argv[:cut], argv[cut + 1 :]
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    passthrough = args.cmd == "test" or getattr(args, "course_cmd", None) == "extract"
    if unknown and not passthrough:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    args.argv = rest
    args.unknown = unknown
    args.pytest_args = unknown + rest
    return args


def main(argv: list[str] | None = None) -> int:
    global VERBOSITY
    args = parse(sys.argv[1:] if argv is None else argv)
    VERBOSITY = 0 if args.quiet else 2 if args.verbose else 1
    try:
        return args.func(args)
    except KmodlabError as e:
        _print_err(f"error: {e.line()}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        _print_err("interrupted")
        return 130
    except BrokenPipeError:
        return 1
    except Exception as e:  # a bug of ours: one line, the traceback on request
        if os.environ.get("KMODLAB_DEBUG"):
            raise
        if VERBOSITY >= 2:
            traceback.print_exc()
        _print_err(f"internal error: {type(e).__name__}: {e} (rerun with -v for the traceback)")
        return 70
