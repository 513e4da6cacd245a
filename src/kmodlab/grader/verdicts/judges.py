"""Verdicts: pure functions from evidence to checks (the check ids are an interface).

Only the host decides, and only from the kernel's own formats (exit statuses,
the kernel's reports, taint, the nonce-checked ledger, trace lines, state
listings): nothing a module prints in its own words can change a verdict.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kmodlab.grader.collection import guest_state as state
from kmodlab.grader.collection import interfaces, kmemtrace, timers
from kmodlab.grader.collection.modinfo import module_name
from kmodlab.grader.evidence import Evidence, PointEvidence, Step
from kmodlab.grader.report.model import CheckResult, Finding
from kmodlab.grader.verdicts import integrity, labels, ledger, readers, witness
from kmodlab.grader.verdicts.labels import find_skipped_label
from kmodlab.grader.verdicts.symbols import SourceLocation, locate_report
from kmodlab.records import KernelReport, find_reports, init_return, is_cycle, unexpected_taint


@dataclass
class Context:
    ev: Evidence
    weights: Mapping[str, float] = field(default_factory=lambda: DEFAULT_WEIGHTS)

    def result(self, check_id: str, passed: bool, summary: str, findings=(), **data) -> CheckResult:
        w = float(self.weights.get(check_id, 1))
        return CheckResult(
            check_id,
            "pass" if passed else "fail",
            w if passed else 0.0,
            w,
            summary,
            list(findings),
            dict(data),
        )

    def skip(self, check_id: str, why: str) -> CheckResult:
        return CheckResult(check_id, "skip", 0.0, float(self.weights.get(check_id, 1)), why)

    def error(self, check_id: str, why: str) -> CheckResult:
        return CheckResult(check_id, "error", 0.0, float(self.weights.get(check_id, 1)), why)


_WHOLE_ERRNO = re.compile(r"^(?:load|unload) \S+: .*\(errno (\d+)\)$", re.MULTILINE)


def call_errno(r) -> int:  # type: ignore[no-untyped-def]
    """The errno a @load or @unload failed with. Its exit status holds only 8 bits
    (-EPROBE_DEFER, 517, would read as EIO): the agent prints the whole number,
    taken when its low 8 bits are the exit status."""
    found = [int(n) for n in _WHOLE_ERRNO.findall(r.stdout or "")]
    if r.returncode and found and found[-1] & 0xFF == r.returncode:
        return found[-1]
    return r.returncode


# The kernel's own codes (include/linux/errno.h): an init may return them, and
# userspace has no name for them (strerror says "Unknown error 517").
KERNEL_ERRNOS = {
    512: ("ERESTARTSYS", "interrupted, to be restarted"),
    513: ("ERESTARTNOINTR", "to be restarted"),
    514: ("ERESTARTNOHAND", "to be restarted if no handler"),
    515: ("ENOIOCTLCMD", "no ioctl command"),
    516: ("ERESTART_RESTARTBLOCK", "to be restarted by sys_restart_syscall"),
    517: ("EPROBE_DEFER", "the driver asks to probe again later"),
    518: ("EOPENSTALE", "open found a stale dentry"),
    519: ("ENOPARAM", "parameter not supported"),
    521: ("EBADHANDLE", "illegal NFS file handle"),
    522: ("ENOTSYNC", "update synchronization mismatch"),
    523: ("EBADCOOKIE", "cookie is stale"),
    524: ("ENOTSUPP", "operation is not supported"),
    525: ("ETOOSMALL", "buffer or request is too small"),
    526: ("ESERVERFAULT", "an untranslatable error occurred"),
    527: ("EBADTYPE", "type not supported by server"),
    528: ("EJUKEBOX", "request initiated, but will not complete before timeout"),
    529: ("EIOCBQUEUED", "iocb queued, will get completion event"),
    530: ("ERECALLCONFLICT", "conflict with recalled state"),
    531: ("ENOGRACE", "NFS file lock reclaim refused"),
}


def errno_name(value: int) -> str:
    value = abs(value)
    if value in KERNEL_ERRNOS:
        name, meaning = KERNEL_ERRNOS[value]
        return f"-{name} ({meaning})"
    return f"-{errno.errorcode.get(value, str(value))} ({os.strerror(value)})"


# -- decoding the kernel's reports ------------------------------------------
def report_finding(ctx: Context, report: KernelReport, step: Step | None = None) -> Finding:
    """A kernel report as a finding at the student's line, when the code is theirs.

    The faulting RIP is decoded as is; the other frames are return addresses,
    decoded one byte back so they land on the call. Frames in kmodlab's own
    instrumentation are passed over for the student's caller. A report with
    no frame of the student's (kfree is tail-called) is placed at a double
    release the ledger recorded (in `step`, else anywhere in the run).
    """
    if (returned := init_return(report)) is not None:
        return _init_return_finding(ctx, report, *returned)
    ev = ctx.ev

    def debug_for(module: str):  # type: ignore[no-untyped-def]
        return ev.debug.get(module_name(module)) if ev.build else None

    def theirs(loc: SourceLocation) -> bool:
        return loc.file in ev.sources or not ev.sources

    if loc := locate_report(report, debug_for, theirs):
        message = f"{report.title} in {loc.function}()"
        return Finding(report.kind, message, loc.file, loc.line, {"report": report.text})
    slab = report.kind == "slab-corruption" or any(w in report.title for w in ("slub", "slab"))
    if slab and (twice := _double_release(ctx, step)):
        second, first = twice
        message = (
            f"{report.title}: {second.api}() frees memory that {first.api}() at "
            f"{first.where} already freed (a double free)"
        )
        data = {"report": report.text, "first_release": first.where}
        return Finding(report.kind, message, second.file, second.line, data)
    if freed := _freed_module_memory(ctx, report):
        return freed
    if "page fault" in report.title and (d := _section_mismatch(ctx)):
        # The fault is in the kernel's printk or string code (exit tail-called it);
        # the build already named the line that reads init memory after init.
        message = (
            f"{report.title}: code kept after init read init memory the kernel had freed; "
            f"the build warned about it here: {d.message}"
        )
        return Finding(report.kind, message, d.file, d.line, {"report": report.text})
    return Finding(report.kind, report.title, data={"report": report.text})


def _section_mismatch(ctx: Context):
    """The build's first section-mismatch diagnostic, if any (diagnostics.py)."""
    ev = ctx.ev
    found = (
        ev.build_diagnostics
        if ev.build_diagnostics is not None
        else (ev.build.diagnostics if ev.build else [])
    )
    return next((d for d in found if d.kind == "section-mismatch"), None)


def _double_release(ctx: Context, step: Step | None) -> tuple | None:
    """The first (second, first) double release the ledger recorded."""
    ev = ctx.ev
    where = [step] if step is not None else [*ev.steps(), *(p.load for p in ev.points if p.load)]
    for s in where:
        events = _events(ev, [s] if s not in ev.unloads else [*ev.loads, s])
        if found := ledger.double_releases(events):
            return found[0]
    return None


def _module_source(ctx: Context, module: str) -> dict[str, str]:
    """The student's files that make up one module (all of them when unknown)."""
    ev = ctx.ev
    built = ev.build.modules if ev.build else []
    mine = next((m.sources for m in built if module_name(m.name) == module), None)
    files = {str(f) for f in mine or ()}
    picked = {f: t for f, t in ev.sources.items() if f in files or Path(f).name in files}
    return picked or dict(ev.sources)


def _init_return_finding(ctx: Context, report: KernelReport, module: str, value: int) -> Finding:
    """init returned a positive value: the kernel loads the module anyway, and warns."""
    message = (
        f"{module}'s init returned {value}: the kernel expects 0 for success or a negative "
        f"errno (-ENOMEM, -EINVAL, ...) for failure; return 0"
    )
    sources = _module_source(ctx, module_name(module))
    entry = labels.entry_points(sources).get("init")
    file = line = None
    if entry is not None:
        file, line = entry.file, entry.line
        span = labels.function_lines(sources[entry.file], entry.function) or range(0)
        lines = sources[entry.file].splitlines()
        literal = re.compile(rf"\breturn\s+\(?\s*{value}\s*\)?\s*;")
        line = next((i for i in span if literal.search(lines[i - 1])), line)
    return Finding("init-return", message, file, line, {"report": report.text, "returned": value})


def _student_site(ev: Evidence, where) -> tuple[str | None, int | None]:
    """A decoded (function, file, line) as the student's file:line (decoded already so)."""
    if not (where and ev.build):
        return None, None
    return where[1], where[2]


def _freed_accesses(ctx: Context, report: KernelReport):
    """(module, timers.freed_access's hit) for each module whose freed code or data
    the report runs or touches, once that module is no longer linked in."""
    ev = ctx.ev
    for name, ko in ev.debug.items():
        ranges = kmemtrace.module_ranges(ko, ev.sections.get(name, {}))
        hit = timers.freed_access(report.text, ranges, ko, module=name)
        if hit is not None:
            yield name, hit


def _freed_module_memory(ctx: Context, report: KernelReport) -> Finding | None:
    """A report whose faulting address is a module's former code or data (timers.py)."""
    ev = ctx.ev
    for name, (what, symbol, where) in _freed_accesses(ctx, report):
        file, line = _student_site(ev, where)
        if not (where and ev.build) and symbol:
            file, line = timers.declaration(symbol, ev.sources)
        cause = (
            "a kernel thread that exit never stopped (kthread_stop)?"
            if _in_own_thread(report.text)
            else "a timer, hrtimer or work item that exit left armed?"
        )
        if irq := _irq_left(ctx, name):
            cause = (
                f"the interrupt handler {irq.api}() registered at {irq.where} is still on "
                "its line: exit must free_irq() it"
            )
        message = (
            f"{report.title}: the kernel {what} {name}'s `{symbol or 'memory'}` after rmmod"
            f" freed it: {cause}"
        )
        return Finding(report.kind, message, file, line, {"report": report.text})
    return None


def _irq_left(ctx: Context, module: str):
    """The module's request_irq() the ledger never saw undone, if any (its handler stays)."""
    left = ledger.outstanding(_events(ctx.ev, ctx.ev.loads + ctx.ev.unloads))
    irqs = [e for e in left if ledger.ACQUIRE_KIND.get(e.api) == "irq"]
    return next((e for e in irqs if ledger.same_module(e.module, module)), None)


# Frames of the kernel's own runners of deferred work: a timer, a work item, a tasklet.
_DEFERRED = re.compile(
    r"<IRQ>|\b(worker_thread|process_one_work|call_timer_fn|__run_timers|"
    r"__hrtimer_run_queues|tasklet_action\w*|__do_softirq)\+0x"
)


def _in_own_thread(text: str) -> bool:
    """Did the fault happen in a kernel thread of the module's own (kthread() at the
    bottom of the trace, no timer, work item or softirq in between)?"""
    return bool(re.search(r"\bkthread\+0x", text)) and not _DEFERRED.search(text)


def _step_reports(step: Step) -> list[KernelReport]:
    text = "\n".join(r.text for r in step.kmsg)
    found = find_reports(text)
    return found + (step.crash.reports if step.crash else [])


# -- build, load, unload, cycle ---------------------------------------------
def judge_build(ctx: Context) -> CheckResult:
    ev = ctx.ev
    if ev.build_problem:
        return ctx.result("build", False, ev.build_problem, [Finding("input", ev.build_problem)])
    if ev.build is None and ev.internal_error:  # no build at all: e.g. no sandbox to build in
        return ctx.error(
            "build", f"not decided: the grader failed ({ev.internal_error.splitlines()[0]})"
        )
    assert ev.build is not None
    findings = [
        Finding(d.kind if d.severity != "warning" else "warning", d.message, d.file, d.line)
        for d in (
            ev.build_diagnostics if ev.build_diagnostics is not None else ev.build.diagnostics
        )
        if d.severity in ("error", "warning")
    ]
    if ev.instrument_problem:
        findings.append(Finding("note", ev.instrument_problem))
    if not ev.build.ok:
        return ctx.result("build", False, "the module does not build", findings)
    n = sum(f.kind == "warning" for f in findings)
    names = ", ".join(ev.ko_file(m) for m in ev.order)
    summary = f"built {names}" + (f" with {n} warning{'s' * (n != 1)}" if n else "")
    return ctx.result("build", True, summary, findings)


def _failed_step(
    ctx: Context, step: Step, what: str, timeout_s: float | None = None
) -> list[Finding]:
    if step.crash:
        found = [report_finding(ctx, r) for r in step.crash.reports]
        return [Finding("crash", f"the kernel died during {what}: {step.crash.problem}"), *found]
    r = step.result
    assert r is not None
    if r.status == "timeout":
        limit = f" within {step.limit_s:g} s" if step.limit_s else ""
        return [Finding("timeout", f"{what} did not finish{limit} (init or exit never returned)")]
    out = [report_finding(ctx, rep) for rep in _step_reports(step)]
    if r.status == "signaled":
        out.insert(0, Finding("killed", f"{what} was killed: the kernel oopsed"))
    elif r.returncode:
        out.insert(0, Finding("errno", f"{what} failed: {errno_name(call_errno(r))}"))
    return out


def judge_load(ctx: Context) -> CheckResult:
    if not ctx.ev.loads:
        return ctx.skip("load", "not run: the build failed")
    findings: list[Finding] = []
    returned: dict[str, int] = {}  # init's positive returns: the module loads all the same
    for step in ctx.ev.loads:
        name = step.name.removeprefix("load ")
        ok = not step.crash and step.result.ok
        reports = _step_reports(step)
        for m, v in filter(None, map(init_return, reports)):
            returned[module_name(m)] = v
        findings += (
            _failed_step(ctx, step, f"loading {name}")
            if not ok
            else [report_finding(ctx, rep) for rep in reports if init_return(rep) is None]
        )
        findings += _minus_one_hint(ctx, step, name)
    ok = len(ctx.ev.loads) == len(ctx.ev.order) and not findings
    said = "; ".join(f"{m}'s init returned {v}" for m, v in returned.items()) or "init returned 0"
    if returned:
        said += " (the kernel warns: 0 or a negative errno is expected)"
    return ctx.result(
        "load", ok, f"every module loads; {said}" if ok else findings[0].message, findings
    )


def _minus_one_hint(ctx: Context, step: Step, name: str) -> list[Finding]:
    """insmod failed with EPERM and init's source returns -1: say which codes fit."""
    r = step.result
    if r is None or r.status != "exited" or call_errno(r) != errno.EPERM:
        return []
    at = _return_minus_one(ctx, module_name(name))
    if at is None:
        return []
    message = (
        f"{name}'s init returned -1, which is -EPERM (Operation not permitted): "
        "return the negative errno that says what failed (-ENOMEM, -ENODEV, ...)"
    )
    return [Finding("hint", message, *at)]


def judge_unload(ctx: Context) -> CheckResult:
    ev = ctx.ev
    if not ev.unloads:
        return ctx.skip("unload", "not run: loading failed")
    findings: list[Finding] = []
    died_after = False
    for step in ev.unloads:
        name = step.name.removeprefix("unload ")
        if _removed_then_died(ctx, step):
            died_after = True  # rmmod finished: the crash is kernel-health's and registrations'
            continue
        if step.crash or not step.result.ok:
            findings += _failed_step(ctx, step, f"removing {name}")
            if step.result and step.result.returncode == errno.EBUSY:
                findings.append(
                    Finding(
                        "hint",
                        f"{name} is busy: it has no exit function, or something still uses it",
                    )
                )
        else:
            # The grader's own reader of the module's files may touch a leaked
            # entry right after rmmod: kernel-health's to judge, not rmmod's.
            mine = [rep for rep in _step_reports(step) if not interfaces.by_reader(rep.text)]
            findings += [report_finding(ctx, rep) for rep in mine]
    ok = len(ev.unloads) == len(ev.order) and not findings
    said = "every module unloads; exit ran"
    if died_after:
        said += " (then the kernel died: see kernel-health)"
    return ctx.result("unload", ok, said if ok else findings[0].message, findings)


def _removed_then_died(ctx: Context, step: Step) -> bool:
    """Did the kernel die during rmmod only after the module was gone? A crash whose
    report runs or touches the module's freed memory (no longer among the modules
    linked in) proves exit returned and the kernel freed the module: rmmod's work
    was done, and only its answer was lost. A timer left armed fires at a random
    moment, so this is how the same bug reads when it fires a millisecond sooner."""
    if not step.crash:
        return False
    module = module_name(step.name.removeprefix("unload "))
    return any(
        ledger.same_module(name, module)
        for report in step.crash.reports
        for name, _ in _freed_accesses(ctx, report)
    )


def judge_cycle(ctx: Context, cycles: int) -> CheckResult:
    ev = ctx.ev
    if not ev.cycles:
        return ctx.skip("cycle", "not run: an earlier step failed or crashed the kernel")
    cycles = ev.cycles_planned or cycles
    data = {"cycles": cycles, **({"fewer_because": ev.cycles_why} if ev.cycles_why else {})}
    bad = next((s for s in ev.cycles if s.crash or not s.result.ok), None)
    if bad is None:
        why = f" ({ev.cycles_why})" if ev.cycles_why else ""
        return ctx.result("cycle", True, f"{cycles} load/unload cycles succeeded{why}", **data)
    out = bad.result.stdout.strip().splitlines() if bad.result else []
    detail = (out[-1] if out else "") or bad.name
    if bad.result and bad.result.status == "timeout":
        detail = _cycle_timeout(ev, bad, cycles)
    findings = [Finding("cycle", f"{bad.name}: {detail}")]
    if bad.crash or bad.result.status != "exited" or not is_cycle(bad.result.argv):
        findings += _failed_step(ctx, bad, bad.name)
    else:
        # @cycle's exit status is not an errno; its output says which errno, when.
        findings += [report_finding(ctx, rep) for rep in _step_reports(bad)]
    return ctx.result("cycle", False, f"load/unload cycling failed ({detail})", findings, **data)


def _cycle_timeout(ev: Evidence, step: Step, cycles: int) -> str:
    """A cycle that outran its limit, against the pace of the first load and unload.

    @cycle prints a line per finished cycle, so a stuck one is told from a
    slow one: it made no progress for far longer than a whole cycle took.
    """
    done = sum(
        re.fullmatch(r"cycle \d+ ok", line) is not None for line in step.result.stdout.splitlines()
    )
    first = sum(s.result.guest_ms for s in ev.loads + ev.unloads if s.result) / 1000
    limit = f" within {step.limit_s:g} s" if step.limit_s else ""
    total = f" of {cycles}" if is_cycle(step.result.argv) else ""
    return (
        f"did not finish{limit}: {done}{total} cycles done, while the first load and"
        f" unload took {first:.1f} s (init or exit is stuck)"
    )


# -- kernel health, leaks, registrations ------------------------------------
def judge_health(ctx: Context) -> CheckResult:
    ev = ctx.ev
    if not ev.loads:
        return ctx.skip("kernel-health", "not run: the build failed")
    pairs = [(step, rep) for step in ev.steps() for rep in _step_reports(step)]
    reports = [rep for _, rep in pairs]
    # Twenty cycles repeat one warning twenty times: say it once.
    findings = list(
        {
            (f.kind, f.message, f.file, f.line): f
            for f in (report_finding(ctx, rep, step) for step, rep in pairs)
        }.values()
    )
    for second, first in ledger.double_releases(_events(ev, ev.loads + ev.unloads)):
        # Freed twice, whether or not the allocator noticed (it does only sometimes).
        if not any((f.file, f.line) == (second.file, second.line) for f in findings):
            message = (
                f"{second.api}() frees memory that {first.api}() at {first.where} already freed"
            )
            data = {"first_release": first.where}
            findings.append(Finding("double-free", message, second.file, second.line, data))
    for step in ev.steps():
        if step.result and step.result.status == "timeout":
            # An init or exit stuck for good is a hung task, found before the
            # kernel's own 120 s detector would say so. The limits are generous
            # and cycling's grows with the first load's pace (collect.plan_cycles),
            # so a slow init is not taken for a stuck one.
            limit = f" within {step.limit_s:g} s" if step.limit_s else ""
            findings.append(
                Finding("hang", f"{step.name} did not finish{limit}: the task is stuck")
            )
    for step in ev.reads:
        for path in interfaces.poisoned_reads(step.result.stdout if step.result else ""):
            message = (
                f"reading {path} returned freed memory (SLUB's poison, 0x6b bytes):"
                " the module serves a buffer it has already freed"
            )
            findings.append(Finding("use-after-free", message, data={"path": path}))
    crashed = ev.crash()
    if crashed and not reports:
        # A guest that hangs or dies without a report is unhealthy all the same.
        kind = "hang" if crashed.crash.kind == "hung" else "crash"
        findings.append(Finding(kind, f"during {crashed.name}: {crashed.crash.problem}"))
    if ev.taint_before is not None and ev.taint_after is not None:
        for letter, meaning in unexpected_taint(ev.taint_before, ev.taint_after):
            findings.append(Finding("taint", f"the kernel is now tainted {letter}: {meaning}"))
    if not findings and ev.taint_after is None and not ev.crash():
        return ctx.skip("kernel-health", "not run: an earlier step failed")
    if findings:
        return ctx.result("kernel-health", False, findings[0].message, findings)
    return ctx.result("kernel-health", True, "no oops, BUG, WARNING, lockup or new taint")


def _site(event) -> tuple[str | None, int | None]:
    return getattr(event, "file", None), getattr(event, "line", None)


# Allocations are judged by `leaks`; everything else the ledger tracks
# (devices, proc entries, threads, caches) by `registrations`.
MEMORY_APIS = frozenset(
    api for api, kind in ledger.ACQUIRE_KIND.items() if kind in ledger.MEMORY_KINDS
)


def _events(ev: Evidence, steps: list[Step]) -> list:
    if not (ev.instrumented and ev.nonce):
        return []
    build_dir = ev.build.build_dir if ev.build else None
    records = [r for s in steps for r in s.kmsg]
    file_map = ev.build.file_map if ev.build else None
    return ledger.parse_ledger(
        records, ev.nonce, build_dir=build_dir, kos=ev.debug, file_map=file_map
    )


def _not_unloaded(ev: Evidence) -> str:
    """Why a check that reads the guest after rmmod could not run."""
    if any(s.crash for s in ev.unloads):
        return "not run: the kernel died during or right after rmmod"
    return "not run: the module did not unload"


def _outstanding(ev: Evidence, memory: bool) -> list:
    left = ledger.outstanding(_events(ev, ev.loads + ev.unloads))
    return [e for e in left if (e.api in MEMORY_APIS) == memory]


def judge_leaks(ctx: Context) -> CheckResult:
    ev = ctx.ev
    if not ev.unloads or not all(s.result and s.result.ok for s in ev.unloads):
        return ctx.skip("leaks", _not_unloaded(ev))
    findings: list[Finding] = []
    by_handle: dict[int, Finding] = {}
    for e in _outstanding(ev, memory=True):
        f = Finding("leak", _never(ctx, f"memory from {e.api}() is never freed", e), e.file,
                    e.line, {"witness": "ledger", "api": e.api})  # fmt: skip
        findings.append(f)
        if e.handle and len(e.handle) == 16:
            by_handle[int(e.handle, 16)] = f
    for alloc, file, line in _trace_leaks(ev):
        same = by_handle.get(alloc.ptr) if alloc.ptr else None
        if same is not None:
            # Both witnesses saw the very same object left allocated.
            same.data["confirmed_by"] = "kmem-trace"
            continue
        what = (
            "pages from the page allocator"
            if alloc.event == kmemtrace.PAGES
            else f"{alloc.bytes_req} bytes from {alloc.event}"
        )
        message = _never(ctx, f"{what} are never freed", None, file, line)
        findings.append(Finding("leak", message, file, line,
                                {"witness": "kmem-trace", "api": alloc.event}))  # fmt: skip
    if not ev.instrumented and ev.trace is None:
        return ctx.error("leaks", "no leak witness was available")
    if findings:
        return ctx.result("leaks", False, f"{len(findings)} allocation(s) outlive rmmod", findings)
    if why := trace_erased(ev) or trace_misses(ev):
        # An erased or partial trace can not vouch for anything: never a pass.
        return ctx.error("leaks", f"the kmem trace is inconclusive: {why}")
    return ctx.result("leaks", True, "everything allocated is freed by rmmod")


def trace_erased(ev: Evidence) -> str | None:
    """A sentence when the last trace read lacks events an earlier one held (it was cleared)."""
    if ev.trace is None:
        return None
    lost = max((kmemtrace.erased(earlier, ev.trace) for earlier in ev.trace_reads), default=0)
    if not lost:
        return None
    return (
        f"the kmem trace lost {lost} allocation(s) between the read after load and the "
        "one after unload: something cleared it"
    )


def trace_misses(ev: Evidence) -> str | None:
    """A sentence when the trace lacks allocations the ledger recorded at the module's own lines."""
    if ev.trace is None or kmemtrace.lost_events(ev.trace) > 0:
        return None
    seen: set[int] = set()
    for text in (*ev.trace_reads, ev.trace):
        seen |= kmemtrace.allocated_addresses(text)
    missing = [
        e
        for e in _events(ev, ev.loads + ev.unloads)
        if e.op == "acquire"
        and e.api in kmemtrace.TRACED_APIS
        and not e.null_handle
        and e.handle
        and len(e.handle) == 16
        and int(e.handle, 16) not in seen
    ]
    if not missing:
        return None
    first = missing[0]
    return (
        f"it lacks {len(missing)} allocation(s) the module is known to have made "
        f"(e.g. {first.api}() at {first.where})"
    )


def _trace_leaks(ev: Evidence) -> list[tuple[object, str | None, int | None]]:
    """Allocations the kmem tracepoints saw made by the module's code and never freed."""
    if ev.trace is None or kmemtrace.lost_events(ev.trace) > 0:
        return []  # an overflowed trace proves nothing either way
    events = kmemtrace.judged_events(ev.trace)  # as parse_trace's, for unfreed()
    out = []
    for name, ko in ev.debug.items():
        ranges = kmemtrace.module_ranges(ko, ev.sections.get(name, {}))
        for alloc in kmemtrace.unfreed(events, ranges, module=name):
            file, line = _student_site(ev, kmemtrace.explain(alloc, ranges, ko))
            out.append((alloc, file, line))
    return out


def judge_registrations(ctx: Context) -> CheckResult:
    ev = ctx.ev
    if ev.state_before is None or ev.state_after is None:
        # A timer left armed often crashes the guest before the state is read;
        # the timer witness was read first, right after rmmod.
        if timer_findings := _timers_left(ev):
            return ctx.result("registrations", False, timer_findings[0].message, timer_findings)
        # A handler left on a shared line kills the guest at its next interrupt,
        # after rmmod: the ledger saw exit end without free_irq().
        left = _outstanding(ev, memory=False)
        irqs = [e for e in left if ledger.ACQUIRE_KIND.get(e.api) == "irq"]
        if irqs and ev.unloads:
            found = [
                Finding("leftover", _never(ctx, f"{e.api}() is never undone", e), e.file, e.line,
                        {"witness": "ledger", "api": e.api})
                for e in irqs
            ]  # fmt: skip
            return ctx.result("registrations", False, found[0].message, found)
        return ctx.skip(
            "registrations", "not run: the kernel's state after rmmod could not be read"
        )
    leftovers = state.diff_state(
        state.parse_state(ev.state_before),
        state.parse_state(ev.state_after),
        module=",".join(ev.order),
    )
    findings = [
        Finding("leftover", lo.message, data={"section": lo.section, "item": lo.item})
        for lo in leftovers
    ]
    after = state.parse_state(ev.state_after)
    left = _outstanding(ev, memory=False)
    killed = _killed_threads(ev)
    findings += [
        Finding("leftover", _never(ctx, f"{e.api}() is never undone", e), e.file, e.line,
                {"witness": "ledger", "api": e.api})
        for e in _roots(left)
        if not _thread_ended(e, after, leftovers, killed)
    ]  # fmt: skip
    findings += _timers_left(ev)
    if findings:
        return ctx.result("registrations", False, findings[0].message, findings)
    if cut := state.unreadable(state.parse_state(ev.state_before), after):
        return ctx.error("registrations", f"not decided: {cut} around rmmod")
    return ctx.result("registrations", True, "nothing registered survives rmmod")


def _roots(left: list) -> list:
    """Leftovers less the debugfs entries inside a leftover directory (removed with it),
    and less a platform device's allocation when its add is left too (one
    platform_device_unregister undoes both)."""
    kind = ledger.ACQUIRE_KIND.get
    dirs = {e.handle for e in left if kind(e.api) == "debugfs"}
    added = {e.handle for e in left if e.api == "platform_device_add"}
    return [
        e
        for e in left
        if not (kind(e.api) == "debugfs" and e.detail.get("parent") in dirs)
        and not (kind(e.api) == "platform_device_alloc" and e.handle in added)
    ]


def _killed_threads(ev: Evidence) -> frozenset[str]:
    """Names (comm) of tasks the kernel killed with a report from rmmod on.

    A thread left running after rmmod runs freed code and dies in an oops: it
    is gone, but it did not end itself.
    """
    later = [*ev.unloads, *([ev.settle] if ev.settle else []), *ev.cycles]
    texts = [rep.text for s in later for rep in _step_reports(s)]
    return frozenset(m.group(1).strip() for t in texts for m in _COMM.finditer(t))


_COMM = re.compile(r"\bComm: (.{1,15}?)(?= Tainted:| Not tainted|$)", re.M)


def _thread_ended(
    e, after: dict[str, frozenset[str]], leftovers: list, killed: frozenset[str] = frozenset()
) -> bool:
    """A kernel thread that ended itself needs no kthread_stop (calling it would be the bug).

    Judged by whether it still exists: the snapshot after rmmod lists every
    kernel thread by name (the ledger records the name it was given). One
    the kernel killed after rmmod (it ran freed code) did not end itself.
    """
    if ledger.ACQUIRE_KIND.get(e.api) != "kthread" or "kthreads" not in after:
        return False
    if (name := e.detail.get("name")) is not None and name[:15] in killed:
        return False
    alive = [lo.item for lo in leftovers if lo.section == "kthreads"]
    name = e.detail.get("name")
    if name is None:
        return not alive
    return not any(item.partition("#")[0] == name[:15] for item in alive)


def _never(ctx: Context, what: str, e=None, file=None, line=None) -> str:
    """A "never released" message, with the release the exit function lacks."""
    fix = _release_fix(ctx, e, file, line)
    return f"{what}: {fix}" if fix else what


def _release_fix(ctx: Context, e, file: str | None, line: int | None) -> str | None:
    """ "add `proc_remove(ent)` to hello_exit, before `kfree(buf)`", read from the source."""
    ev = ctx.ev
    file, line = (e.file, e.line) if e is not None else (file, line)
    source = ev.sources.get(str(file)) if file else None
    if not (source and isinstance(line, int)):
        return None
    api = e.api if e is not None else _acquiring_api(source, line)
    call = labels.release_call(source, line, api) if api else None
    if call is None and (written := _acquiring_api(source, line)) not in (None, api):
        # The ledger names what the call became (platform_device_register_simple
        # is platform_device_register_full): the release fits the call as written.
        call = labels.release_call(source, line, written)
    module = getattr(e, "module", None)
    exit_fn = labels.entry_points(_module_source(ctx, module) if module else ev.sources).get("exit")
    if call is None or exit_fn is None:
        return None
    fix = f"add `{call}` to {exit_fn.function}"
    if e is not None and (before := _release_before(ctx, e, exit_fn)):
        fix += f", before `{before}`"
    var = labels.assigned(source, line, api)
    if var and labels.declares(source, line, var):
        fix += f" (keep `{var}` where exit can reach it, e.g. in a static variable)"
    return fix


def _acquiring_api(source: str, line: int) -> str | None:
    lines = source.splitlines()
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    calls = re.findall(r"\b([A-Za-z_]\w*)\s*\(", text)
    return next((c for c in calls if c in labels.RELEASE_CALL), None)


def _release_before(ctx: Context, e, exit_fn: labels.EntryPoint) -> str | None:
    """The exit's release of what was acquired just before e: e's goes before it."""
    ev = ctx.ev
    exit_source = ev.sources.get(exit_fn.file, "")
    span = labels.function_lines(exit_source, exit_fn.function) or range(0)
    pairing = ledger.pair(_events(ev, ev.loads + ev.unloads))
    earlier = [
        (a, r)
        for a, r in pairing.released_by.items()
        if (a.module, a.load) == (e.module, e.load) and a.seq < e.seq
        and r.file == exit_fn.file and r.line in span
    ]  # fmt: skip
    if not earlier:
        return None
    _, rel = max(earlier, key=lambda ar: ar[0].seq)
    return labels.release_text(exit_source, rel.line, rel.api) if rel.line else None


def _timers_left(ev: Evidence) -> list[Finding]:
    """Timers, hrtimers and work the module left armed at rmmod (timers.py), at the arming line."""
    trace, after = ev.timer_trace, True
    if trace is None and ev.timer_trace_loaded and _died_after_unload(ev):
        # The guest died before the witness was read; what was armed just
        # before rmmod, with the kernel dying right after, is the evidence.
        trace, after = ev.timer_trace_loaded, False
    if not trace or kmemtrace.lost_events(trace) > 0:
        return []  # no witness, or an overflowed one: it proves nothing either way
    events = timers.parse_trace(trace)
    out = []
    for name, ko in ev.debug.items():
        ranges = kmemtrace.module_ranges(ko, ev.sections.get(name, {}))
        for left in timers.left_armed(events, ranges, module=name):
            file, line = _student_site(ev, timers.explain(left, ranges, ko))
            callback = timers.callback_name(left, ranges, ko)
            runs = f" (it runs {callback}())" if callback else ""
            state = (
                "is still armed after rmmod: it will run freed code"
                if after
                else "was armed when rmmod ran, and the kernel died right after"
            )
            message = (
                f"{left.what}{runs} {state};"
                f" cancel it in {name}'s exit ({timers.CANCEL_HINT[left.family]})"
            )
            out.append(Finding("timer-left", message, file, line,
                               {"witness": "timer-trace", "family": left.family}))  # fmt: skip
    return out


def _died_after_unload(ev: Evidence) -> bool:
    """Did the kernel report trouble (or the guest die) from rmmod on?"""
    later = [*ev.unloads, *([ev.settle] if ev.settle else []), *ev.cycles]
    return any(s.crash or _step_reports(s) for s in later)


# -- fault injection ---------------------------------------------------------
def _resource(e) -> dict[str, object]:
    file, line = _site(e)
    return {"api": e.api, "file": file, "line": line, "handle": getattr(e, "handle", None)}


def _injection(events: list, p: PointEvidence):
    """The record of this point's own injection: its module, its call number."""
    return next(
        (
            e
            for e in events
            if e.op == "inject" and ledger.same_module(e.module, p.module) and e.nth == p.index
        ),
        None,
    )


def _carry_on_allowed(call) -> str | None:  # type: ignore[no-untyped-def]
    """Why init may return 0 after this call failed, or None when it may not."""
    if call.api.startswith("debugfs_"):
        return "allowed for debugfs"
    if call.op == "fail":  # the real call failed in the normal load, uninjected
        err = call.detail.get("err", "")
        code = f" with {errno_name(int(err))}" if err.lstrip("-").isdigit() and err != "0" else ""
        return f"as in the normal load, where it failed by itself{code}"
    return None


def judge_point(ctx: Context, p: PointEvidence) -> dict[str, object]:
    """One point's verdict in the shape the report's ladder draws.

    A point that would pass while the kernel state around it was cut short
    (state.unreadable) is `error`: what was not read proves nothing either
    way. What the read did show, and every other witness, still fails it.
    """
    out = _judge_point(ctx, p)
    if out["verdict"] == "pass" and p.load is not None:
        before = state.parse_state(p.state_before or "")
        if cut := state.unreadable(before, state.parse_state(p.state_after or "")):
            return {**out, "verdict": "error", "message": f"not decided: {cut}"}
    return out


def _judge_point(ctx: Context, p: PointEvidence) -> dict[str, object]:
    """One point's verdict, from the evidence of the point's load.

    A point passes only where the injection happened: the module's own
    record of failing call `index` in that load. Otherwise ("not-injected",
    never a pass) init never reached the call: it took another path than in
    the normal load, as an init that detects the injection and bails out
    would. Points are taken from each module's own records (collect.
    fault_points), so a call another module made during this init is no point.
    """
    file, line = _site(p.call)
    out: dict[str, object] = {
        "index": p.index,
        "module": p.module,
        "call": p.call.api,
        "file": file,
        "line": line,
        "init_returned": None,
        "acquired": [],
        "released": [],
        "leaked": [],
    }
    step = p.load
    if step is None:
        return {**out, "verdict": "fail", "message": "not run"}
    events = [e for e in _events(ctx.ev, [step]) if ledger.same_module(e.module, p.module)]
    injected = _injection(events, p)
    view = ledger.unwind(events) if injected else None
    if view is not None:
        out.update(
            acquired=[_resource(e) for e in view.acquired],
            released=[_resource(e) for e in view.released],
            leaked=[_resource(e) for e in view.left],
        )
    if step.crash or (step.result and step.result.status == "signaled"):
        reps = step.crash.reports if step.crash else _step_reports(step)
        why = report_finding(ctx, reps[0]).message if reps else "the guest died"
        return {
            **out,
            "verdict": "crash",
            "message": f"init crashed after {p.call.api}() failed: {why}",
        }
    r = step.result
    if r.status == "timeout":
        return {**out, "verdict": "fail", "message": "init never returned after the failure"}
    returned = call_errno(r)  # init's errno, whole (0: it returned 0)
    out["init_returned"] = -returned
    if injected is None:
        return {
            **out,
            "verdict": "not-injected",
            "message": (
                f"call {p.index} ({p.call.api}()) was never made in the load meant to fail it: "
                "init took another path than in the normal load, so nothing was tested"
            ),
        }
    before = state.parse_state(p.state_before or "")
    after = state.parse_state(p.state_after or "")
    leftovers = state.diff_state(before, after, module=p.module)
    if r.returncode == 0 and p.unload is not None:
        # It loaded: what it holds is judged after the grader unloaded it (exit released it).
        both = _events(ctx.ev, [step, p.unload])
        view = ledger.unwind([e for e in both if e.module == p.module])
    if view is not None:
        left = [e for e in view.left if not _thread_ended(e, after, leftovers)]
        out["leaked"] = [_resource(e) for e in left]
    kernel = _point_report(ctx, p, before, after)
    if kernel:
        out["report"] = kernel[1]
    if r.returncode == 0 and (inside := getattr(p.call, "detail", {}).get("in")):
        return _callback_point(ctx, p, out, inside, leftovers, kernel)
    # Carrying on after the failure is allowed for debugfs, and for a call that
    # failed by itself in the normal load too: init did the same there, and the
    # normal load's checks judged that (ldd3's short carries on without its IRQ).
    allowed = _carry_on_allowed(p.call)
    # Init ignoring the failure is the cause of whatever the kernel reports next (in exit).
    ignored = r.returncode == 0 and allowed is None
    if kernel and not ignored:
        finding = kernel[0]
        out["at"] = {"file": finding.file, "line": finding.line}
        message = f"the kernel reported {finding.message} after {p.call.api}() failed"
        return {**out, "verdict": "fail", "message": message}
    if r.returncode == 0:
        unloaded = p.unload is not None and p.unload.result is not None and p.unload.result.ok
        benign = allowed is not None and unloaded and not out["leaked"] and not leftovers
        msg = (
            f"init carried on after {p.call.api}() failed ({allowed})"
            if benign
            else f"init ignored the failure of {p.call.api}() and returned 0"
        )
        if not benign and allowed is not None:
            what = [f"{x['api']}() at {x['file']}:{x['line']}" for x in out["leaked"]]
            what += [lo.message for lo in leftovers] or ["the module did not unload"]
            msg = (
                f"init carried on after {p.call.api}() failed ({allowed}), "
                f"but after rmmod: {'; '.join(what)}"
            )
        return {**out, "verdict": "pass" if benign else "fail", "message": msg}
    out["leftovers"] = [lo.message for lo in leftovers]
    contradicted = witness.contradicted_releases(events, p.trace)
    if contradicted:
        out["contradicted"] = [_resource(e) for e in contradicted]
    hints = []
    for leaked in out["leaked"]:
        if hint := _label_hint(ctx, leaked, p):
            leaked["hint"] = hint
            hints.append(hint)
    if out["leaked"] or leftovers or contradicted:
        what = [f"{x['api']}() at {x['file']}:{x['line']}" for x in out["leaked"]] + [
            lo.message for lo in leftovers
        ]
        what += [
            f"{e.api}() at {e.where} ({witness.why_contradicted(e.api)}, "
            "though the ledger records its release)"
            for e in contradicted
        ]
        message = "left behind: " + "; ".join(what)
        if hints:
            message += ": " + "; ".join(hints)
        return {**out, "verdict": "fail", "message": message}
    if returned == errno.EPERM and (wrong := _minus_one(ctx, p)):
        out["at"] = {"file": wrong[0], "line": wrong[1]}
        return {**out, "verdict": "fail", "message": wrong[2]}
    return {
        **out,
        "verdict": "pass",
        "message": f"init returned {errno_name(returned)} and released everything",
    }


# The callback the kernel makes during a registration, as the student knows it.
_CALLBACK = {
    "platform_driver_register": "the probe",
    "platform_device_register": "the probe",
    "platform_device_register_full": "the probe",
    "platform_device_add": "the probe",
}


def _callback_failed(ctx: Context, p: PointEvidence) -> bool | str:
    """Did the callback report the failure to the kernel (it returned an error)?

    Judged from the kernel's own links between drivers and devices (sysfs,
    read by the grader: state.BOUND_SECTION), never from the shim's records
    or the log, which the module can write. A probe that returns an error
    binds nothing: a device the normal load bound that is not bound after
    this load is the failure gone back to the driver core. A string says why
    it cannot be told (the point is then `error`, never a pass).
    """
    ev = ctx.ev
    listed = next((st for st in ev.reads if st.name == "list interfaces"), None)
    loaded = state.parse_state(listed.result.stdout) if listed and listed.result else {}
    new = state.new_bindings(state.parse_state(ev.state_before or ""), loaded)
    if new is None:
        return "the devices the normal load bound were not read"
    if not new:
        return "the normal load bound no platform device, so a failed probe shows nowhere"
    now = state.bound_devices(state.parse_state(getattr(p, "bound", None) or ""))
    if now is None:
        return "the devices bound after this load were not read"
    return any(device not in now for _, device in new)


def _callback_point(
    ctx: Context, p: PointEvidence, out: dict, api: str,
    leftovers: list, kernel: tuple[Finding, str] | None,
) -> dict[str, object]:  # fmt: skip
    """A point inside a callback the kernel made during a registration (a probe).

    The driver core handles a failed probe (it logs it, and the registration
    still succeeds), so init rightly returns 0: the point is judged by whether
    the callback returned an error (the kernel's bindings: _callback_failed)
    and nothing was left after rmmod, not by init's return. devm_* resources
    are the driver core's to release. Without the kernel's bindings the point
    is `error`, unless the kernel reported something (then it fails).
    """
    who = _CALLBACK.get(api, f"the callback {api}() made")
    call = p.call.api
    out["inside"] = {"registration": api, "callback": who}
    failed = _callback_failed(ctx, p)
    if isinstance(failed, str) and not kernel:
        message = f"not decided: {failed}, so whether {who} returned an error is not known"
        return {**out, "verdict": "error", "message": message}
    if failed is False:
        # The cause of whatever the kernel reports next (remove on a half-made device).
        message = (
            f"{who} ignored the failure of {call}() and returned 0: return an error "
            "(e.g. -ENOMEM) so that the driver core knows the device did not come up"
        )
        return {**out, "verdict": "fail", "message": message}
    if kernel:
        finding = kernel[0]
        out["at"] = {"file": finding.file, "line": finding.line}
        message = f"the kernel reported {finding.message} after {call}() failed in {who}"
        return {**out, "verdict": "fail", "message": message}
    # What the clean run also left after rmmod is exit's bug, which `leaks` and
    # `registrations` judge: not the probe's.
    ev = ctx.ev
    clean = ledger.outstanding(_events(ev, ev.loads + ev.unloads))
    exits = {(e.api, e.file, e.line) for e in clean if ledger.same_module(e.module, p.module)}
    out["leaked"] = [x for x in out["leaked"] if (x["api"], x["file"], x["line"]) not in exits]
    if ev.state_before is not None and ev.state_after is not None:
        also = state.diff_state(
            state.parse_state(ev.state_before),
            state.parse_state(ev.state_after),
            module=",".join(ev.order),
        )
        leftovers = [lo for lo in leftovers if lo.message not in {a.message for a in also}]
    out["leftovers"] = [lo.message for lo in leftovers]
    unloaded = p.unload is not None and p.unload.result is not None and p.unload.result.ok
    if out["leaked"] or leftovers or not unloaded:
        what = [f"{x['api']}() at {x['file']}:{x['line']}" for x in out["leaked"]]
        what += [lo.message for lo in leftovers] or ([] if unloaded else ["it did not unload"])
        message = f"{who} failed after {call}() failed, but after rmmod: {'; '.join(what)}"
        return {**out, "verdict": "fail", "message": message}
    return {
        **out,
        "verdict": "pass",
        "message": (
            f"{who} returned an error after {call}() failed (the driver core handles it, "
            "init rightly carried on) and nothing was left after rmmod"
        ),
    }


def _point_report(
    ctx: Context, p: PointEvidence, before: dict[str, frozenset[str]], after: dict
) -> tuple[Finding, str] | None:
    """A kernel report (BUG, Bad page state, WARNING...) or new taint during a point."""
    for s in (p.load, p.unload):
        for rep in _step_reports(s) if s is not None else []:
            return report_finding(ctx, rep, s), rep.text
    t0, t1 = state.taint(before), state.taint(after)
    if t0 is not None and t1 is not None and (new := unexpected_taint(t0, t1)):
        letters = ", ".join(f"{letter} ({meaning})" for letter, meaning in new)
        return Finding("taint", f"a new taint: {letters}"), ""
    return None


# What init should return when a call failed, by the kind of what it acquires.
_FITTING_ERRNO: dict[str, str] = {
    **dict.fromkeys(("kmem", "vmem", "kvmem", "slab", "pages", "cache", "proc"), "-ENOMEM"),
    "workqueue": "-ENOMEM",
    **dict.fromkeys(("class", "device", "kthread", "debugfs"), "PTR_ERR() of what it returned"),
    **dict.fromkeys(("chrdev", "region", "cdev", "misc"), "the error it returned"),
}


def _minus_one(ctx: Context, p: PointEvidence) -> tuple[str | None, int | None, str] | None:
    """init failed with -1 (which is -EPERM), not the -E code that fits the failed call."""
    fits = _FITTING_ERRNO.get(ledger.ACQUIRE_KIND.get(p.call.api, ""), "a negative errno (-E...)")
    file, line = _site(p.call)
    found = _return_minus_one(ctx, p.module, file, line)
    if found is None:
        return None
    message = (
        f"init returned -1 after {p.call.api}() failed: -1 is -EPERM (Operation not "
        f"permitted), which says nothing of the failure; return {fits}"
    )
    return found[0] or file, found[1] or line, message


def _return_minus_one(
    ctx: Context, module: str, file: str | None = None, after: int | None = None
) -> tuple[str | None, int | None] | None:
    """Where init returns -1 (from line `after` of `file` on), or None if -EPERM is meant.

    (None, None) when init's source does not show the -1 itself.
    """
    sources = _module_source(ctx, module)
    code = (re.sub(r"/\*.*?\*/|//[^\n]*", " ", text, flags=re.S) for text in sources.values())
    if any(re.search(r"\bEPERM\b", text) for text in code):
        return None  # -EPERM written out: a deliberate choice
    entry = labels.entry_points(sources).get("init")
    if entry is None:
        return None, None
    span = labels.function_lines(sources[entry.file], entry.function) or range(0)
    lines = sources[entry.file].splitlines()
    minus_one = re.compile(r"(\breturn\s*\(?\s*-\s*1\s*\)?\s*;|=\s*-\s*1\s*;)")
    start = after if file == entry.file and isinstance(after, int) else span.start
    found = next((i for i in span if i >= start and minus_one.search(lines[i - 1])), None)
    return (entry.file, found) if found is not None else (None, None)


def _label_hint(ctx: Context, leaked: dict[str, object], p: PointEvidence) -> str | None:
    """Which label the error path skipped, read from the student's source."""
    file, line = leaked.get("file"), leaked.get("line")
    call_file, call_line = _site(p.call)
    source = ctx.ev.sources.get(str(file))
    if not (source and isinstance(line, int) and call_line and call_file == file):
        return None
    released = [r["line"] for r in _released_lines(ctx, p) if r.get("file") == file]
    found = find_skipped_label(source, line, call_line, released)
    return found.explain(p.call.api, call_line) if found else None


def _released_lines(ctx: Context, p: PointEvidence) -> list[dict[str, object]]:
    view = ledger.unwind(_events(ctx.ev, [p.load])) if p.load else None
    return [_resource(e) for e in view.released] if view else []


def judge_fault_injection(ctx: Context) -> CheckResult:
    ev = ctx.ev
    if not ev.loads or not all(s.result and s.result.ok for s in ev.loads):
        return ctx.skip("fault-injection", "not run: the module does not load cleanly")
    if not ev.instrumented:
        return ctx.error("fault-injection", ev.instrument_problem or "no instrumented build")
    if ev.points_error:
        return ctx.error("fault-injection", ev.points_error)
    untested = untested_calls(ev)
    notes = [
        Finding("note", f"not tested: {', '.join(calls)} ({module}): fault injection cannot fail "
                "these calls", data={"module": module, "calls": list(calls)})
        for module, calls in untested.items()
    ]  # fmt: skip
    evidence = {"untested": untested, "disagreements": fault_injection_disagreements(ctx)}
    # Said in the summary, which every report format shows, pass or fail.
    not_tested = sorted({c for calls in untested.values() for c in calls})
    tail = f"; not tested: {', '.join(not_tested)}" if not_tested else ""
    if not ev.points:
        summary = "init makes no fallible calls" + tail
        return ctx.result("fault-injection", True, summary, notes, points=[], **evidence)
    points = [judge_point(ctx, p) for p in ev.points]
    bad = [p for p in points if p["verdict"] != "pass"]
    w = float(ctx.weights.get("fault-injection", 1))
    findings = [
        Finding(
            "fault-injection",
            str(p["message"]),
            p.get("at", {}).get("file", p["file"]),  # type: ignore[union-attr]
            p.get("at", {}).get("line", p["line"]),  # type: ignore[union-attr]
            {"index": p["index"], "call": p["call"], "module": p["module"]}
            | ({"report": p["report"]} if p.get("report") else {}),
        )
        for p in bad
    ] + notes
    summary = f"{len(points) - len(bad)} of {len(points)} failure points handled"
    ghosts = sum(p["verdict"] == "not-injected" for p in points)
    if ghosts:
        summary += f" ({ghosts} never reached the call meant to fail)"
    # A point whose witness was cut short or missing is ours to look at: the
    # check is `error` unless another point is a verdict on the code (fail).
    undecided = [p for p in bad if p["verdict"] == "error"]
    if undecided:
        why = str(undecided[0]["message"]).removeprefix("not decided: ")
        summary += f" ({len(undecided)} not decided: {why})"
    status = "fail" if len(bad) > len(undecided) else "error" if undecided else "pass"
    return CheckResult(
        "fault-injection",
        status,
        round(w * (len(points) - len(bad)) / len(points), 3) if status != "error" else 0.0,
        w,
        summary + tail,
        findings,
        {"points": points, **evidence},
    )


# -- exit-order -----------------------------------------------------------------
# Words for what an acquisition holds, by its ledger kind, in the finding's sentence.
_HOLDS = {
    "kmem": "the memory",
    "vmem": "the memory",
    "kvmem": "the memory",
    "pages": "the pages",
    "slab": "the object",
    "cache": "the cache",
    "class": "the class",
    "region": "the device numbers",
    "chrdev": "the device numbers",
    "tag_set": "the tag set",
    "netdev_alloc": "the net device",
}


def _written(ev: Evidence, e) -> str:
    """A release as the student wrote it ("kfree(buf)"), else its name ("kfree()")."""
    source = ev.sources.get(str(e.file)) if e.file else None
    text = labels.release_text(source, e.line, e.api) if source and e.line else None
    return text or f"{e.api}()"


def judge_exit_order(ctx: Context) -> CheckResult:
    """exit releases what depends on something before that something (ledger, pure)."""
    ev = ctx.ev
    if not ev.unloads or not all(s.result and s.result.ok for s in ev.unloads):
        return ctx.skip("exit-order", _not_unloaded(ev))
    if not ev.instrumented:
        return ctx.skip("exit-order", "not run: the module was not built with the ledger")
    exiting = _events(ev, ev.unloads)
    findings = []
    entry = {e.function for e in labels.entry_points(ev.sources).values()}
    code = readers.Code.of(ev.sources)

    def reads(interface: ledger.LedgerEvent, release: ledger.LedgerEvent) -> bool:
        kind = ledger.ACQUIRE_KIND.get(interface.api)
        return readers.interface_reads(
            code,
            entry,
            (interface.file, interface.line, interface.api, kind),
            (release.file, release.line, release.api),
        )

    events = _events(ev, ev.loads + ev.unloads)
    for m in ledger.misordered_releases(events, exiting, reads):
        early, late = _written(ev, m.released), _written(ev, m.dependent_released)
        holds = _HOLDS.get(ledger.ACQUIRE_KIND.get(m.dependency.api, ""), "what")
        message = (
            f"`{early}` at {m.released.where} releases {holds} from {m.dependency.api}() "
            f"({m.dependency.where}) while {m.dependent.api}() ({m.dependent.where}) "
            f"{m.how} until `{late}` at {m.dependent_released.where}: release in the "
            f"reverse order of init, `{late}` first"
        )
        data = {
            "released": m.released.api,
            "released_at": m.released.where,
            "dependent": m.dependent.api,
            "dependent_released": m.dependent_released.api,
            "dependent_released_at": m.dependent_released.where,
        }
        findings.append(Finding("exit-order", message, m.released.file, m.released.line, data))
    if findings:
        return ctx.result("exit-order", False, findings[0].message, findings)
    return ctx.result("exit-order", True, "exit releases nothing before what still depends on it")


# -- integrity ------------------------------------------------------------------
def judge_integrity(ctx: Context) -> CheckResult:
    """Flag for review what an honest module never needs (integrity.py); no points."""
    ev = ctx.ev
    if not ev.sources and not ev.objects and not ev.tamper and not ev.compromised:
        return ctx.skip("integrity", "not run: there is no source to examine")
    tamper = list(ev.tamper)
    if erased := trace_erased(ev):
        tamper.append(erased)
    for module, symbols in tampering_imports(ev).items():
        tamper.append(
            f"{module}'s own objects refer to kmodlab's instrumentation: {', '.join(symbols)}"
        )
    for d in fault_injection_disagreements(ctx):
        tamper.append(
            f"the ledger records a release by {d['api']}() at {d['file']}:{d['line']} "
            f"({d['where']}) that the kernel contradicts: "
            f"{witness.why_contradicted(str(d['api']))}"
        )
    found = integrity.findings(ev.sources, ev.objects, tamper, ev.compromised)
    return ctx.result("integrity", not found, integrity.summary(found), found)


def untested_calls(ev: Evidence) -> dict[str, list[str]]:
    """Per module, the imported calls that acquire or register something and that
    fault injection cannot fail (no wrapper for them): the report names them."""
    return {m: list(r.untested) for m, r in ev.imports.items() if getattr(r, "untested", ())}


def tampering_imports(ev: Evidence) -> dict[str, list[str]]:
    """Per module, the symbols of kmodlab's instrumentation the student's own objects
    refer to (ld's __real_/__wrap_ names, the shim's functions): evidence for `integrity`.

    A __real_kmalloc_trace reaches kmalloc_trace around the wrapper; no honest
    module names these.
    """
    return {m: list(r.tampering) for m, r in ev.imports.items() if getattr(r, "tampering", ())}


def fault_injection_disagreements(ctx: Context) -> list[dict[str, object]]:
    """Ledger releases that the kernel's kmem trace contradicts, in the main run and at
    every fault-injection point: evidence for `integrity` (only a forged record explains
    one). Each: {"where": "load"|"point N of MODULE", "api", "file", "line", "handle"}."""
    ev = ctx.ev
    out: list[dict[str, object]] = []
    if ev.trace is not None:
        events = _events(ev, ev.loads + ev.unloads)
        for e in witness.contradicted_releases(events, ev.trace):
            out.append({"where": "load", **_resource(e)})
    for p in ev.points:
        if p.load is None or p.trace is None:
            continue
        events = [e for e in _events(ev, [p.load]) if ledger.same_module(e.module, p.module)]
        for e in witness.contradicted_releases(events, p.trace):
            out.append({"where": f"point {p.index} of {p.module}", **_resource(e)})
    return out


@dataclass(frozen=True)
class GenericCheck:
    """One generic check, listed once: its id (a stable interface of the report), its
    default points, the evidence it is judged from (gathered by collect.py), its verdict."""

    id: str
    points: float
    evidence: str
    judge: Callable[..., CheckResult]

    def verdict(self, ctx: Context, cycles: int) -> CheckResult:
        # Only cycling needs an option: the cycles asked for, when none were planned.
        return self.judge(ctx, cycles) if self.id == "cycle" else self.judge(ctx)


# The generic checks, in the order they run and are reported.
GENERIC: tuple[GenericCheck, ...] = (
    GenericCheck("build", 1, "the plain and instrumented builds' messages", judge_build),
    GenericCheck("load", 1, "each module's load: status and kernel log", judge_load),
    GenericCheck("unload", 1, "each module's unload, then the settle", judge_unload),
    GenericCheck("cycle", 1, "load/unload cycles, as many as fit the budget", judge_cycle),
    GenericCheck("kernel-health", 1, "kernel reports and taint of every step", judge_health),
    GenericCheck("leaks", 1, "the ledger, kmem and page traces", judge_leaks),
    GenericCheck("registrations", 1, "guest state before/after, timer trace", judge_registrations),
    GenericCheck("fault-injection", 2, "one load per fallible call failing", judge_fault_injection),
    # No points: a failing integrity check flags the submission for review
    # instead of taking marks (docs/report-schema.md).
    # No points unless an exercise gives some ([generic]): a release order that
    # can use freed memory is a lesson, judged by the ledger's heuristics.
    GenericCheck("exit-order", 0, "exit's releases, in order", judge_exit_order),
    GenericCheck("integrity", 0, "sources, objects, ledger against traces", judge_integrity),
)
GENERIC_BY_ID: Mapping[str, GenericCheck] = {c.id: c for c in GENERIC}
GENERIC_CHECKS: tuple[str, ...] = tuple(GENERIC_BY_ID)
DEFAULT_GENERIC_POINTS: Mapping[str, float] = {c.id: c.points for c in GENERIC}
DEFAULT_WEIGHTS = DEFAULT_GENERIC_POINTS
