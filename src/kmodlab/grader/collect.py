"""Gathering evidence in fresh guests: the steps of grading, in the order they run.

    fresh guest (restored) -> { build: instrumented + plain (checked only),
                                meanwhile in the guest: taint and state before,
                                kmem trace on }
    -> load in dependency order -> unload in reverse
    -> settle (trace read and state after, then the rest of the wait)
    -> load/unload cycles -> taint after
    -> fault injection: one load per fallible call in init, that call failing

The guest only reports; judges.py decides. A step that crashes or hangs the
guest is recorded and ends that guest's steps; the fault-injection sweep
reuses the guest only while it stays clean (after a crash or a leftover the
next point gets a fresh one), so one crashing point never hides the others.
"""

from __future__ import annotations

import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from kmodlab.build import build_submission, load_submission
from kmodlab.errors import InputError
from kmodlab.grader import kmemtrace, ledger, state
from kmodlab.grader.evidence import Evidence, PointEvidence, Step
from kmodlab.grader.formats import read_sources
from kmodlab.grader.instrument import arm, import_report, instrumented_build
from kmodlab.grader.modinfo import depends, load_order, read_modinfo
from kmodlab.vm.console import unexpected_taint
from kmodlab.vm.guest import CommandResult, GuestError
from kmodlab.vm.session import Session


@dataclass(frozen=True)
class Limits:
    """Grading options; each default is the documented one."""

    cycles: int = 20  # load/unload cycles (the `cycle` check)
    settle_s: float = 0.5  # wait after the last unload for timers or work firing into freed code
    load_timeout_s: float = 10.0  # an init that takes longer is stuck
    command_timeout_s: float = 30.0
    fault_injection: bool = True
    max_points: int = 64  # fallible calls tried per module
    # For the benchmark's baseline only: no snapshots, no overlap, a cold-booted
    # guest for the load run, another for cycling and one per fault point.
    naive: bool = False


def build(ev: Evidence, workdir: Path, headers: Path) -> None:
    """Build the submission twice at once: plain (checked only) and instrumented.

    The plain build is what the student's compiler says (our forced header
    adds a warning of its own, and its #includes could hide a missing one);
    it stops after modpost, since only its messages are used. The
    instrumented one is what runs, so the ledger sees every fallible call.
    If only the instrumentation breaks the build, the plain modules are
    linked after all and run, and the checks that need the ledger say so.
    """
    try:
        load_submission(ev.submission)
        ev.sources = read_sources(ev.submission)
        ev.nonce = secrets.token_hex(8)
        with ThreadPoolExecutor(max_workers=2) as pool:
            plain_job = pool.submit(
                build_submission,
                ev.submission,
                headers=headers,
                out_dir=workdir / "plain",
                link=False,
            )
            inst_job = pool.submit(
                instrumented_build,
                ev.submission,
                headers=headers,
                out_dir=workdir / "instrumented",
                nonce=ev.nonce,
            )
            plain, (instrumented, _) = plain_job.result(), inst_job.result()
        if plain.ok and not instrumented.ok:
            plain = build_submission(ev.submission, headers=headers, out_dir=workdir / "linked")
    except InputError as e:
        if not ev.submission.is_dir():
            raise  # no submission at all: no report can be made
        ev.build_problem = e.line()
        return
    ev.build = plain
    if plain.ok and instrumented.ok:
        ev.build, ev.instrumented = instrumented, True
        ev.build_diagnostics = plain.diagnostics
    elif plain.ok:
        ev.instrument_problem = "the module builds, but not with kmodlab's instrumentation"
    if ev.build.ok:
        ev.kos = {m.name: m.ko for m in ev.build.modules}
        ev.order = load_order({n: depends(read_modinfo(ko)) for n, ko in ev.kos.items()})
    if ev.build.ok and ev.instrumented:
        ev.imports = {n: import_report(ev.build.build_dir, n) for n in ev.kos}


def _step(session: Session, name: str, argv: list[str], timeout_s: float) -> Step:
    try:
        return Step(name, session.run(argv, timeout_s=timeout_s))
    except GuestError as e:
        return Step(name, crash=e)


def _taint(session: Session) -> int | None:
    try:
        r = session.run(["cat", "/proc/sys/kernel/tainted"])
    except GuestError:
        return None  # the steps around it record the crash
    return int(r.stdout) if r.ok and r.stdout.strip().isdigit() else None


def before_load(ev: Evidence, s: Session) -> None:
    """The guest before any module: taint and state; then the kmem trace starts.

    Needs no build, so the pipeline runs it while the modules compile. The
    trace records only allocations made from module code, and judges only
    those from the student's module's sections (the guest's own virtio
    modules allocate too, on every request).
    """
    ev.prepared_boot = None
    ev.taint_before = _taint(s)
    ev.state_before = s.sh(state.STATE_SCRIPT).stdout
    ev.tracing = s.sh(kmemtrace.enable_commands()).ok  # no tracing: that witness abstains
    ev.prepared_boot = s.boots


def main_guest(ev: Evidence, s: Session, limits: Limits) -> bool:
    """Load, unload, settle, inspect, then cycle, in a fresh guest.

    The settle comes right after the first unload: a timer or work item left
    behind fires into freed code within it, so a crash there is attributed to
    what the module left running, not to whatever the grader did next. The
    trace and the state are read within the settle (they only read), and
    what the kernel logs meanwhile belongs to the settle.
    Returns whether the guest is still clean enough to reuse.
    """
    s.push_modules(ev.kos.values(), depmod=False)
    if ev.prepared_boot != s.boots:  # not prepared, or that guest is gone
        before_load(ev, s)
    if not _load_all(ev, s, limits) or not _unload_all(ev, s, limits):
        return False
    if not _settle(ev, s, limits, ev.tracing, started=time.monotonic()):
        return False
    if limits.naive:
        s.restart()
        s.push_modules(ev.kos.values(), depmod=False)
    if not _cycle(ev, s, limits):
        return False
    ev.taint_after = _taint(s)
    leftovers = state.diff_state(
        state.parse_state(ev.state_before), state.parse_state(ev.state_after), module=""
    )
    cycled = all(st.result and st.result.ok for st in ev.cycles)
    # O and E are set by any student module; anything else marks the guest.
    tainted = ev.taint_after is None or bool(unexpected_taint(ev.taint_before or 0, ev.taint_after))
    return cycled and not leftovers and not tainted


def _settle(ev: Evidence, s: Session, limits: Limits, tracing: bool, *, started: float) -> bool:
    """Read the trace and the state, then wait out the rest of the settle time."""
    results: list[CommandResult] = []
    try:
        if tracing:
            results.append(s.sh(kmemtrace.read_command(), timeout_s=limits.command_timeout_s))
            ev.trace = results[-1].stdout
        results.append(s.sh(state.STATE_SCRIPT, timeout_s=limits.command_timeout_s))
        ev.state_after = results[-1].stdout
        left = limits.settle_s - (time.monotonic() - started)
        if left > 0.01:
            results.append(s.run(["sleep", f"{left:.2f}"], timeout_s=limits.command_timeout_s))
    except GuestError as e:
        ev.settle = Step("settle", crash=e)
        return False
    waited = CommandResult(["settle", f"{limits.settle_s:g}"], "exited", 0, "", "")
    waited.kmsg = [rec for r in results for rec in r.kmsg]
    ev.settle = Step("settle", waited)
    return True


def _load_all(ev: Evidence, s: Session, limits: Limits) -> bool:
    for name in ev.order:
        step = _step(s, f"load {name}", ["@load", f"{name}.ko"], limits.load_timeout_s)
        ev.loads.append(step)
        if step.crash or not step.result.ok:
            return False
        ev.sections[name] = s.section_addresses(name)
    return True


def _unload_all(ev: Evidence, s: Session, limits: Limits) -> bool:
    for name in reversed(ev.order):
        step = _step(s, f"unload {name}", ["@unload", name], limits.load_timeout_s)
        ev.unloads.append(step)
        if step.crash or not step.result.ok:
            return False
    return True


def _cycle(ev: Evidence, s: Session, limits: Limits) -> bool:
    if len(ev.order) == 1:
        (name,) = ev.order
        argv = ["@cycle", f"{name}.ko", name, str(limits.cycles)]
        timeout = limits.load_timeout_s * 2 + limits.cycles
        ev.cycles.append(_step(s, f"cycle {name}", argv, timeout))
        return not ev.cycles[-1].crash
    for i in range(1, limits.cycles + 1):
        for argv in [["@load", f"{n}.ko"] for n in ev.order] + [
            ["@unload", n] for n in reversed(ev.order)
        ]:
            step = _step(s, f"cycle {i}: {' '.join(argv)}", argv, limits.load_timeout_s)
            ev.cycles.append(step)
            if step.crash or not step.result.ok:
                return not step.crash
    return True


def fault_points(ev: Evidence) -> dict[str, list[object]]:
    """The fallible calls each module's init made during the clean load, in order.

    Only the module's own records count: while a consumer loads, a provider
    it calls may record calls of its own, which failing the consumer's
    call N would never reach.
    """
    out: dict[str, list[object]] = {}
    build_dir = ev.build.build_dir if ev.build else None
    file_map = ev.build.file_map if ev.build else None
    for step in ev.loads:
        name = step.name.removeprefix("load ")
        events = ledger.parse_ledger(
            step.kmsg, ev.nonce or "", build_dir=build_dir, kos=ev.kos, file_map=file_map
        )
        own = [e for e in events if ledger.same_module(e.module, name)]
        out[name] = list(ledger.fallible_calls(ledger.loads(own)[0] if own else []))
    return out


def sweep(ev: Evidence, s: Session, limits: Limits, *, reuse: bool) -> None:
    """One load per fallible call of init, with exactly that call failing.

    The main guest is reused when the generic run left it clean. A guest is
    then reused while points leave it clean; after a crash, a leftover or a
    module that stayed loaded, the next point gets a fresh guest.
    """
    if not (ev.instrumented and limits.fault_injection and ev.loads):
        return
    points = fault_points(ev)
    if not any(points.values()):
        return  # init makes no fallible call: no guest needed
    # The state of a clean guest is known: what the last step left, unchanged.
    known = ev.state_after if reuse and not limits.naive else None
    if known is None:
        s.restart()
    traced = _trace_points(ev, s)
    for module, calls in points.items():
        deps = ev.order[: ev.order.index(module)]
        for call in calls[: limits.max_points]:
            index = call.nth  # the shim's own count: what arm() fails
            point = PointEvidence(module, index, call)
            ev.points.append(point)
            ko = ev.kos[module]
            s.push_modules([arm(ko, index, ko.parent / "armed" / ko.name)], depmod=False)
            tracing = traced is not None and traced == s.boots
            clean = _run_point(point, s, deps, limits, None if deps else known, tracing)
            known = point.state_after if clean else None
            if not clean or limits.naive:
                s.restart()
                known = None
                traced = _trace_points(ev, s)


# Print the kmem trace of the point just run and empty it, leaving it on for the
# next. It runs before the state script in the same command: frees are traced
# kernel-wide (a module's object may be freed by kernel code), and the state
# script's own processes free thousands of objects; read first, the trace holds
# little more than the load's.
_POINT_TRACE = f"""
cd {kmemtrace.TRACING} || exit 1
echo '@@ stats'; cat per_cpu/cpu*/stats
echo '@@ trace'; cat trace
echo > trace
echo '@@ end'
cd /
"""


def _trace_points(ev: Evidence, s: Session) -> int | None:
    """Start the kmem trace for the points in this guest; the guest's boot number, if on.

    The trace is the kernel's witness that what the ledger says was released
    at a point was freed (witness.contradicted_releases); each point's is
    read with the state after it, in the same guest command.
    """
    if not ev.tracing:
        return None
    try:
        return s.boots if s.sh(kmemtrace.enable_commands()).ok else None
    except GuestError:
        return None


# Printed between the state and the trace of a point, in one guest command.
_TRACE_SPLIT = "@@@@ kmodlab point trace"


def _run_point(
    point: PointEvidence,
    s: Session,
    deps: list[str],
    limits: Limits,
    known: str | None,
    tracing: bool = False,
) -> bool:
    """Run one point; True if the guest is still clean for the next one."""
    for dep in deps:
        s.run(["@load", f"{dep}.ko"], timeout_s=limits.load_timeout_s)
    point.state_before = known if known is not None else s.sh(state.STATE_SCRIPT).stdout
    # The same command as a normal load: the guest's file is now a copy armed to
    # fail call `index` (same name, same arguments: nothing for init to read).
    argv = ["@load", f"{point.module}.ko"]
    point.load = _step(
        s, f"load {point.module} failing call {point.index}", argv, limits.load_timeout_s
    )
    if point.load.crash:
        return False
    if point.load.result.ok:  # init ignored the failure: take the module out again
        point.unload = _step(
            s, f"unload {point.module}", ["@unload", point.module], limits.load_timeout_s
        )
        if point.unload.crash:
            return False
    if point.load.result.status == "timeout":
        return False
    if tracing:  # the trace rides on the state's command: no extra round trip
        script = f"({_POINT_TRACE})\necho '{_TRACE_SPLIT}'\n{state.STATE_SCRIPT}"
        trace, _, point.state_after = s.sh(script).stdout.partition(f"{_TRACE_SPLIT}\n")
        point.trace = trace or None
    else:
        point.state_after = s.sh(state.STATE_SCRIPT).stdout
    for dep in reversed(deps):
        s.run(["@unload", dep], timeout_s=limits.load_timeout_s)
    clean = not state.diff_state(
        state.parse_state(point.state_before),
        state.parse_state(point.state_after),
        module=point.module,
    )
    return clean and not (point.unload and not point.unload.result.ok)
