"""Gathering evidence in fresh guests: the steps of grading, in the order they run.

    fresh guest (restored) -> { build: instrumented + plain (checked only),
                                meanwhile in the guest: taint and state before,
                                kmem trace and timer trace on }
    -> load in dependency order
    -> read what the modules created (/proc, /dev, debugfs, sysfs; /proc
       and sysfs go on being read during the unload: interfaces.py)
    -> unload in reverse
    -> settle (timer and kmem traces read, state after, then the rest of the wait)
    -> load/unload cycles, as many as fit the budget -> taint after
    -> fault injection: one load per fallible call in init, that call failing

The guest only reports; judges.py decides. A step that crashes or hangs the
guest is recorded and ends that guest's steps; the fault-injection sweep
reuses the guest only while it stays clean (after a crash or a leftover the
next point gets a fresh one), so one crashing point never hides the others.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from kmodlab.build import build_submission, load_submission
from kmodlab.build.memcap import capped
from kmodlab.errors import InputError
from kmodlab.grader.collection import guest_state as state
from kmodlab.grader.collection import interfaces, kmemtrace, timers
from kmodlab.grader.collection.decode import ElfDebug
from kmodlab.grader.collection.instrument import arm, import_report, instrumented_build
from kmodlab.grader.collection.modinfo import depends, load_order, module_name, read_modinfo
from kmodlab.grader.evidence import Evidence, PointEvidence, Step
from kmodlab.grader.verdicts import integrity, ledger
from kmodlab.records import unexpected_taint
from kmodlab.vm.guest import COMMAND_TIMEOUT_S, CommandResult, GuestError
from kmodlab.vm.protocol import cycle_argv, load_argv, unload_argv
from kmodlab.vm.session import SCRIPT_SHELL, Session
from kmodlab.vm.snapshot import Preparation


@dataclass(frozen=True)
class Limits:
    """Grading options; each default is the documented one."""

    cycles: int = 20  # load/unload cycles (the `cycle` check), at most
    # Guest time cycling may take: slow modules get fewer cycles (never fewer
    # than min_cycles), planned from how long the first load and unload took.
    cycle_budget_s: float = 8.0
    min_cycles: int = 2  # a second load is what catches a registration left behind
    settle_s: float = 0.5  # wait after the last unload for timers or work firing into freed code
    # An init (or exit) that takes longer is stuck. Generous: an init with
    # seconds of legitimate work took four times as long on a loaded host (TCG
    # calibrates its delay loop once, at boot, so a busy host stretches it).
    load_timeout_s: float = 20.0
    command_timeout_s: float = COMMAND_TIMEOUT_S
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
        # Taken once: both builds and the report's quotes use these very bytes.
        sub = load_submission(ev.submission)
        ev.sources = sub.texts()
        ev.nonce = secrets.token_hex(8)
        # One memory cap for every compiler of this grade (memcap.py).
        with capped() as cap, ThreadPoolExecutor(max_workers=2) as pool:
            plain_job = pool.submit(
                build_submission,
                sub,
                headers=headers,
                out_dir=workdir / "plain",
                link=False,
                memory=cap,
            )
            inst_job = pool.submit(
                instrumented_build,
                sub,
                headers=headers,
                out_dir=workdir / "instrumented",
                nonce=ev.nonce,
                memory=cap,
            )
            plain, (instrumented, _) = plain_job.result(), inst_job.result()
            if plain.ok and not instrumented.ok:
                plain = build_submission(
                    sub, headers=headers, out_dir=workdir / "linked", memory=cap
                )
    except InputError as e:
        if not ev.submission.is_dir():
            raise  # no submission at all: no report can be made
        ev.build_problem = e.line()
        return
    ev.build = plain
    # The plain objects carry only what the student wrote: what they import
    # and hold is the integrity check's second view (after their sources).
    ev.objects = integrity.read_objects(plain.build_dir)
    if plain.ok and instrumented.ok:
        ev.build, ev.instrumented = instrumented, True
        ev.build_diagnostics = plain.diagnostics
    elif plain.ok:
        ev.instrument_problem = "the module builds, but not with kmodlab's instrumentation"
    if ev.build.ok:
        ev.kos = {module_name(m.name): m.ko for m in ev.build.modules}
        ev.order = load_order({n: depends(read_modinfo(ko)) for n, ko in ev.kos.items()})
        # Read and decoded from the .ko while it exists; the evidence keeps the table.
        ev.debug = {n: ElfDebug.of_build(ko, ev.build) for n, ko in ev.kos.items()}
    if ev.build.ok and ev.instrumented:
        ev.imports = {n: import_report(ev.build.build_dir, n) for n in ev.kos}


def _step(session: Session, name: str, argv: list[str], timeout_s: float) -> Step:
    try:
        return Step(name, session.run(argv, timeout_s=timeout_s), limit_s=timeout_s)
    except GuestError as e:
        return Step(name, crash=e, limit_s=timeout_s)


def _taint(session: Session) -> int | None:
    try:
        r = session.run(["cat", "/proc/sys/kernel/tainted"])
    except GuestError:
        return None  # the steps around it record the crash
    return int(r.stdout) if r.ok and r.stdout.strip().isdigit() else None


def _enable_all(instance: str) -> tuple[str, str]:
    """The commands that start the kmem trace and the timer witness in their instances."""
    return (
        kmemtrace.enable_commands(instance=instance),
        timers.enable_commands(instance=_timer_instance_of(instance)),
    )


def _prepare_guest(guest) -> dict[str, object]:
    """Start both traces in a guest about to be saved, then read its state.

    Returns what every restore of it starts with: the instances' name,
    whether each trace is on, and the state before any module (the same
    in every restore: only slab counts and worker names, which are not
    compared, differ between two grades' own reads).
    """
    instance = secrets.token_hex(8)
    kmem, timer = _enable_all(instance)
    facts: dict[str, object] = {
        "trace_instance": instance,
        "tracing": guest.run([*SCRIPT_SHELL, kmem]).ok,
        "timer_tracing": guest.run([*SCRIPT_SHELL, timer]).ok,
    }
    read = guest.run([*SCRIPT_SHELL, state.STATE_SCRIPT])
    if read.ok and not state.unreadable(state.parse_state(read.stdout)):
        facts["state"] = read.stdout
    return facts


def grading_preparation() -> Preparation:
    """The guest every grade restores: both traces already on, in instances of their own.

    Making a trace instance creates its copy of every event's folder, and
    enabling events patches kernel text: 0.5 s of guest time (and as much
    host CPU under emulation) that every grade paid before its first load.
    Done once before the snapshot is saved, a grade only empties the buffers.
    The instance's random name is the snapshot's, not the grade's: a module
    could read either from the kernel (it lists its instances), and reaching
    for them is what `integrity` flags. The snapshot's name follows the
    commands, so a change to them saves a new one.
    """
    commands = "".join(_enable_all("0" * 16))
    made = "\0".join((*SCRIPT_SHELL, commands, state.STATE_SCRIPT))
    key = hashlib.sha256(made.encode()).hexdigest()[:12]
    return Preparation(f"graded-{key}", _prepare_guest)


# Printed between two scripts' outputs in one guest command (_both, _parted).
_SPLIT = "@@@@ kmodlab split"


def _both(first: str, second: str) -> str:
    """Two scripts as one guest command; the first in a subshell, so its `exit`
    (a trace instance that is gone) ends only it."""
    return f"({first})\necho '{_SPLIT}'\n{second}"


def _parted(stdout: str) -> tuple[str, str]:
    """The outputs of the two scripts of a _both() command."""
    first, _, second = stdout.partition(f"{_SPLIT}\n")
    return first, second


def before_load(ev: Evidence, s: Session) -> None:
    """The guest before any module: taint and state; then the kmem trace starts.

    Needs no build, so the pipeline runs it while the modules compile. The
    trace records only allocations made from module code, and judges only
    those from the student's module's sections (the guest's own virtio
    modules allocate too, on every request). In a guest restored from the
    grading snapshot (grading_preparation) the traces are already on and the
    state is known: one request empties both buffers.
    """
    ev.prepared_boot = None
    facts = s.prepared or {}
    instance = facts.get("trace_instance")
    if isinstance(instance, str) and re.fullmatch(r"[0-9a-f]{16}", instance):
        ev.trace_instance = instance
        ev.trace_reads = []
        wanted = {
            "kmem": (instance, facts.get("tracing") is True),
            "timers": (_timer_instance(ev), facts.get("timer_tracing") is True),
        }
        resume = {
            what: kmemtrace.resume_command(instance=name)
            for what, (name, on) in wanted.items()
            if on
        }
        clear = "".join(f"({c}) >/dev/null 2>&1 && echo 'cleared {w}'\n" for w, c in resume.items())
        known = facts.get("state")
        if isinstance(known, str):  # read before the snapshot was saved
            ev.state_before, cleared = known, s.script(clear).stdout
        else:
            ev.state_before, cleared = _parted(s.script(_both(state.STATE_SCRIPT, clear)).stdout)
        ev.taint_before = state.taint(state.parse_state(ev.state_before))
        done = set(cleared.splitlines())
        ev.tracing = "cleared kmem" in done  # no tracing: that witness abstains
        ev.timer_tracing = "cleared timers" in done
        ev.prepared_boot = s.boots
        return
    ev.taint_before = _taint(s)
    ev.state_before = s.script(state.STATE_SCRIPT).stdout
    # A private buffer with a random name: a module that clears the shared
    # trace (or guesses "kmodlab") erases nothing the grader reads.
    ev.trace_instance = secrets.token_hex(8)
    ev.trace_reads = []
    kmem, timer = _enable_all(ev.trace_instance)
    ev.tracing = s.script(kmem).ok  # no tracing: that witness abstains
    ev.timer_tracing = s.script(timer).ok
    ev.prepared_boot = s.boots


def _timer_instance(ev: Evidence) -> str:
    """The timer witness's own buffer, named at random like the kmem trace's."""
    return _timer_instance_of(ev.trace_instance or "kmodlab")


def _timer_instance_of(instance: str) -> str:
    return f"{instance}_timers"


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
    if not _load_all(ev, s, limits):
        return False
    _read_interfaces(ev, s, limits)
    if any(step.crash for step in ev.reads):
        return False  # reading killed the guest: its report is the finding
    if not _unload_all(ev, s, limits):
        return False
    if not _settle(ev, s, limits, ev.tracing, started=time.monotonic()):
        return False
    if limits.naive:
        s.restart()
        s.push_modules(ev.kos.values(), depmod=False)
    if not _cycle(ev, s, limits):
        return False
    ev.taint_after = _taint(s)
    before, after = state.parse_state(ev.state_before), state.parse_state(ev.state_after)
    leftovers = state.diff_state(before, after, module="") or state.unreadable(before, after)
    cycled = all(st.result and st.result.ok for st in ev.cycles)
    # O and E are set by any student module; anything else marks the guest.
    tainted = ev.taint_after is None or bool(unexpected_taint(ev.taint_before or 0, ev.taint_after))
    return cycled and not leftovers and not tainted


def _read_interfaces(ev: Evidence, s: Session, limits: Limits) -> None:
    """Read every interface the modules created, and keep reading during rmmod.

    With freed memory poisoned, a use after free becomes a kernel report (or
    poison in what the read returned) at the student's line; see interfaces.py.
    """
    listed = next((st for st in ev.reads if st.name == "list interfaces"), None)
    if ev.state_before is None or listed is None or not listed.result:
        return
    # The timers recorded until now came along: if rmmod crashes the guest,
    # they are what is known of the timers left armed.
    if ev.timer_tracing:
        ev.timer_trace_loaded = listed.result.stdout
    paths = interfaces.new_interfaces(
        state.parse_state(ev.state_before), state.parse_state(listed.result.stdout)
    )
    if not paths:
        return
    script = interfaces.read_script(paths, ev.order)
    read = _step(s, "read interfaces", ["/bin/sh", "-c", script], limits.command_timeout_s)
    ev.reads.append(read)
    if read.result and (m := re.search(r"^@@ reader (\d+)$", read.result.stdout, re.M)):
        ev.reader_pid = int(m.group(1))


def _settle(ev: Evidence, s: Session, limits: Limits, tracing: bool, *, started: float) -> bool:
    """Read the trace and the state, then wait out the rest of the settle time."""
    results: list[CommandResult] = []
    # The interface reader ends by itself with the module; this makes sure.
    stop = f"kill {ev.reader_pid} 2>/dev/null\n" if ev.reader_pid else ""
    try:
        # Timers first: one left armed may fire into freed code at any moment.
        if ev.timer_tracing:
            command = stop + timers.read_command(instance=_timer_instance(ev))
            results.append(s.script(command, timeout_s=limits.command_timeout_s))
            ev.timer_trace = results[-1].stdout
        elif stop:
            results.append(s.script(stop, timeout_s=limits.command_timeout_s))
        if tracing:  # the trace, then the state, in one request (the state's own
            # processes free thousands of objects: read first, the trace lacks them)
            read = kmemtrace.read_command(instance=ev.trace_instance)
            script = _both(read, state.STATE_SCRIPT)
            results.append(s.script(script, timeout_s=limits.command_timeout_s))
            ev.trace, ev.state_after = _parted(results[-1].stdout)
        else:
            results.append(s.script(state.STATE_SCRIPT, timeout_s=limits.command_timeout_s))
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
        step = _step(s, f"load {name}", load_argv(ev.ko_file(name)), limits.load_timeout_s)
        ev.loads.append(step)
        if step.crash or not step.result.ok:
            return False
        if name != ev.order[-1] or ev.state_before is None:
            ev.sections[name] = s.section_addresses(name)
        else:
            # With the last module in, the same request lists what the modules
            # created (and the timers armed so far): no round trip of its own.
            script = interfaces.LIST_SCRIPT + (
                timers.snapshot_command(instance=_timer_instance(ev)) if ev.timer_tracing else ""
            )
            try:
                ev.sections[name], listed = s.section_addresses_then(name, script)
            except GuestError as e:
                ev.reads.append(Step("list interfaces", crash=e))
                return False
            ev.reads.append(Step("list interfaces", listed))
        if ev.tracing:
            # Out of the guest before the module runs again (its exit could
            # clear the buffer): judges compare this with the final read.
            try:
                peek = s.script(kmemtrace.peek_command(instance=ev.trace_instance))
            except GuestError as e:
                ev.unloads.append(Step(f"unload {name}", crash=e))
                return False
            ev.trace_reads.append(peek.stdout)
            step.result.kmsg.extend(peek.kmsg)  # what the module logged meanwhile is the load's
    return True


def _unload_all(ev: Evidence, s: Session, limits: Limits) -> bool:
    for name in reversed(ev.order):
        step = _step(s, f"unload {name}", unload_argv(name), limits.load_timeout_s)
        ev.unloads.append(step)
        if step.crash or not step.result.ok:
            return False
    return True


def plan_cycles(limits: Limits, steps: list[Step]) -> tuple[int, float, str]:
    """(cycles, timeout_s, why fewer) from the guest time of the first loads and unloads. Pure.

    A fixed count under a fixed limit fails correct modules whose init is slow
    (work that legitimately takes seconds): the count shrinks to fit the
    budget instead, and the limit grows with what one cycle was seen to take,
    so only a cycle far slower than the first one is called stuck.
    """
    one_s = sum(st.result.guest_ms for st in steps if st.result) / 1000
    cycles, why = limits.cycles, ""
    if one_s * cycles > limits.cycle_budget_s:
        fit = int(limits.cycle_budget_s / max(one_s, 1e-3))
        cycles = min(limits.cycles, max(limits.min_cycles, fit))
        why = (
            f"one load and unload took {one_s:.1f} s: {cycles} cycles instead of"
            f" {limits.cycles}, to fit {limits.cycle_budget_s:g} s"
        )
    # Four times the measured cycle (a loaded host slows the guest unevenly),
    # plus one load's own limit for the first cycle that goes wrong.
    timeout = cycles * (4 * one_s + 0.5) + limits.load_timeout_s
    return cycles, round(timeout, 1), why


def _cycle(ev: Evidence, s: Session, limits: Limits) -> bool:
    cycles, timeout, ev.cycles_why = plan_cycles(limits, ev.loads + ev.unloads)
    ev.cycles_planned = cycles
    if len(ev.order) == 1:
        (name,) = ev.order
        argv = cycle_argv(ev.ko_file(name), name, cycles)
        ev.cycles.append(_step(s, f"cycle {name}", argv, timeout))
        return not ev.cycles[-1].crash
    for i in range(1, cycles + 1):
        for argv in [load_argv(ev.ko_file(n)) for n in ev.order] + [
            unload_argv(n) for n in reversed(ev.order)
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
            step.kmsg, ev.nonce or "", build_dir=build_dir, kos=ev.debug, file_map=file_map
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
        known = _restored_state(s)
    traced = _trace_points(ev, s)
    # Which devices stay bound after a point's load is read only where the
    # normal load bound one (a probe ran); judges._callback_failed reads it.
    listed = next((st for st in ev.reads if st.name == "list interfaces"), None)
    loaded = state.parse_state(listed.result.stdout) if listed and listed.result else {}
    binds = bool(state.new_bindings(state.parse_state(ev.state_before or ""), loaded))
    for module, calls in points.items():
        deps = ev.order[: ev.order.index(module)]
        for call in calls[: limits.max_points]:
            index = call.nth  # the shim's own count: what arm() fails
            point = PointEvidence(module, index, call)
            ev.points.append(point)
            ko = ev.kos[module]
            s.push_modules([arm(ko, index, ko.parent / "armed" / ko.name)], depmod=False)
            tracing = traced is not None and traced == s.boots
            clean = _run_point(point, s, ev, limits, None if deps else known, tracing, binds)
            known = point.state_after if clean else None
            if not clean or limits.naive:
                s.restart()
                known = _restored_state(s)
                traced = _trace_points(ev, s)


# The kernel's WARN_ONCE sites warn once per boot: a report one step of a guest
# caused (a refcount underflow) would hide the same report at the next fault
# point in that guest. The flags are cleared before the sweep and after each
# point, in requests made anyway. (A module's own WARN_ONCE is reset by its load.)
CLEAR_WARN_ONCE = "{ echo 1 > /sys/kernel/debug/clear_warn_once; } 2>/dev/null || :\n"


def _restored_state(s: Session) -> str | None:
    """The state of a guest just restored from the grading snapshot, read when it was saved."""
    known = (s.prepared or {}).get("state")
    return known if isinstance(known, str) else None


def _trace_points(ev: Evidence, s: Session) -> int | None:
    """Start the kmem trace for the points in this guest; the guest's boot number, if on.

    The trace is the kernel's witness that what the ledger says was released
    at a point was freed (witness.contradicted_releases); each point's is
    read with the state after it, in the same guest command.
    """
    if not ev.tracing:
        return None
    try:
        if (s.prepared or {}).get("trace_instance") == ev.trace_instance:
            # Its events are on (a fresh prepared guest, or the main guest,
            # whose read only stopped the buffer): empty it and record.
            enable = kmemtrace.resume_command(instance=ev.trace_instance)
        else:  # a guest booted cold: the trace is started in full
            enable = kmemtrace.enable_commands(instance=ev.trace_instance)
        return s.boots if s.script(CLEAR_WARN_ONCE + enable).ok else None
    except GuestError:
        return None


def _run_point(
    point: PointEvidence,
    s: Session,
    ev: Evidence,
    limits: Limits,
    known: str | None,
    tracing: bool = False,
    binds: bool = False,
) -> bool:
    """Run one point; True if the guest is still clean for the next one."""
    deps = ev.order[: ev.order.index(point.module)]
    for dep in deps:
        s.load(ev.ko_file(dep), timeout_s=limits.load_timeout_s)
    point.state_before = known if known is not None else s.script(state.STATE_SCRIPT).stdout
    # The same command as a normal load: the guest's file is now a copy armed to
    # fail call `index` (same name, same arguments: nothing for init to read).
    argv = load_argv(ev.ko_file(point.module))
    point.load = _step(
        s, f"load {point.module} failing call {point.index}", argv, limits.load_timeout_s
    )
    if point.load.crash:
        return False
    if point.load.result.ok:  # init ignored the failure: take the module out again
        if binds:  # read by the grader, before the module's exit runs
            try:
                read = s.script(state.BOUND_SCRIPT, timeout_s=limits.command_timeout_s)
            except GuestError as e:
                point.unload = Step(f"unload {point.module}", crash=e)
                return False
            point.bound = read.stdout
            point.load.result.kmsg.extend(read.kmsg)  # what the module logged meanwhile
        point.unload = _step(
            s, f"unload {point.module}", unload_argv(point.module), limits.load_timeout_s
        )
        if point.unload.crash:
            return False
    if point.load.result.status == "timeout":
        return False
    if tracing:  # the trace rides on the state's command: no extra round trip
        # The trace is read first: frees are traced kernel-wide (a module's
        # object may be freed by kernel code), and the state script's own
        # processes free thousands of objects; read first, the trace holds
        # little more than the load's. The buffer is emptied for the next point.
        trace_cmd = kmemtrace.peek_command(instance=ev.trace_instance, clear=True, vmalloc=True)
        read = s.script(_both(trace_cmd, CLEAR_WARN_ONCE + state.STATE_SCRIPT))
        trace, point.state_after = _parted(read.stdout)
        point.trace = trace or None
    else:
        read = s.script(CLEAR_WARN_ONCE + state.STATE_SCRIPT)
        point.state_after = read.stdout
    # A report while reading (an oops on what the module left, which also cuts the
    # read short) belongs to the point: judges fail it with that report.
    last = point.unload if point.unload is not None and point.unload.result else point.load
    last.result.kmsg.extend(read.kmsg)
    for dep in reversed(deps):
        s.unload(dep, timeout_s=limits.load_timeout_s)
    before, after = state.parse_state(point.state_before), state.parse_state(point.state_after)
    clean = not (
        state.diff_state(before, after, module=point.module) or state.unreadable(before, after)
    )
    return clean and not (point.unload and not point.unload.result.ok)
