"""`kmodlab run`: build a submission, start a fresh guest, run commands, collect the log."""

from __future__ import annotations

import shlex
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from kmodlab.build import BuildResult, build_submission, load_submission
from kmodlab.paths import current_kernel
from kmodlab.vm.console import KernelReport, find_reports
from kmodlab.vm.guest import COMMAND_TIMEOUT_S, CommandResult, GuestError
from kmodlab.vm.session import LabMachine, Session, prepare


@dataclass
class RunReport:
    build: BuildResult
    results: list[CommandResult] = field(default_factory=list)
    crash: GuestError | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.build.ok and self.crash is None and all(r.ok for r in self.results)

    @property
    def reports(self) -> list[KernelReport]:
        """Every oops/BUG/WARNING the kernel printed, from the log and from a crash."""
        found = [rep for r in self.results for rep in find_reports(r.log)]
        return found + (self.crash.reports if self.crash else [])


def default_commands(modules: list[str]) -> list[list[str]]:
    """Load every module, then remove them in reverse order."""
    return [["insmod", f"{m}.ko"] for m in modules] + [["rmmod", m] for m in reversed(modules)]


def run_submission(
    src: Path,
    commands: list[list[str]] | None = None,
    *,
    machine: LabMachine | None = None,
    use_snapshot: bool = True,
    allow_unsandboxed: bool = False,
    timeout_s: float = COMMAND_TIMEOUT_S,
) -> RunReport:
    """Build `src`, boot a fresh guest with its modules, run the commands in order.

    A crash or hang of the guest ends the run and is part of the report.
    """
    t0 = time.monotonic()
    sub = load_submission(src)  # bad input is reported before anything else; read once
    kernel = machine.kernel if machine else current_kernel()
    with tempfile.TemporaryDirectory(prefix="kmodlab-run-") as tmp:
        build = build_submission(
            sub, headers=kernel.headers, out_dir=Path(tmp), allow_unsandboxed=allow_unsandboxed
        )
        report = RunReport(build, timings={"build_s": time.monotonic() - t0})
        if build.ok:
            _run_in_guest(
                report, commands, machine or prepare(kernel=kernel), use_snapshot, timeout_s
            )
    report.timings["total_s"] = time.monotonic() - t0
    return report


def _run_in_guest(
    report: RunReport,
    commands: list[list[str]] | None,
    machine: LabMachine,
    use_snapshot: bool,
    timeout_s: float,
) -> None:
    t1 = time.monotonic()
    with Session(machine, use_snapshot=use_snapshot) as session:
        report.timings["guest_start_s"] = session.last_start_s
        session.push_modules([m.ko for m in report.build.modules])
        names = [m.name for m in report.build.modules]
        for argv in commands or default_commands(names):
            try:
                report.results.append(session.run(argv, timeout_s=timeout_s))
            except GuestError as e:
                report.crash = e
                break
    report.timings["guest_s"] = time.monotonic() - t1


def format_result(r: CommandResult) -> str:
    """A command as a student would see it at a terminal, plus the kernel log it caused."""
    lines = [f"$ {shlex.join(r.argv)}"]
    lines += [ln for ln in (r.stdout + r.stderr).splitlines()]
    if r.status == "timeout":
        lines.append(
            "(timed out: the command did not finish; an init that never returns does this)"
        )
    elif r.status == "signaled":
        lines.append(f"(killed by signal {-(r.returncode or 0)})")
    elif r.returncode:
        lines.append(f"(exit status {r.returncode})")
    lines += [f"  kernel: {rec.text}" for rec in r.kmsg]
    return "\n".join(lines)
