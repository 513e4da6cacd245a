"""Verdicts: pure functions from evidence to checks (the check ids are an interface).

Only the host decides, and only from the kernel's own formats (exit statuses,
the kernel's reports, taint, the nonce-checked ledger, trace lines, state
listings): nothing a module prints in its own words can change a verdict.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from kmodlab.grader import integrity, kmemtrace, ledger, state
from kmodlab.grader.decode import SourceLocation, decode_frame
from kmodlab.grader.evidence import Evidence, PointEvidence, Step
from kmodlab.grader.expectations import DEFAULT_GENERIC_POINTS
from kmodlab.grader.labels import find_skipped_label
from kmodlab.grader.model import CheckResult, Finding
from kmodlab.vm.console import KernelReport, find_reports, unexpected_taint
from kmodlab.vm.guest import GuestHung

DEFAULT_WEIGHTS = DEFAULT_GENERIC_POINTS


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


def errno_name(value: int) -> str:
    value = abs(value)
    return f"-{errno.errorcode.get(value, str(value))} ({os.strerror(value)})"


# -- decoding the kernel's reports ------------------------------------------
def report_finding(ctx: Context, report: KernelReport) -> Finding:
    """A kernel report as a finding at the student's line, when the code is theirs.

    The faulting RIP is decoded as is; the other frames are return addresses,
    decoded one byte back so they land on the call. Frames in kmodlab's own
    instrumentation are passed over for the student's caller.
    """
    frames = [(report.rip, False)] if report.rip else []
    frames += [(f"{sym} [{mod}]", True) for sym, mod in report.frames if mod]
    for frame, is_return in frames:
        sym, _, mod = frame.partition(" [")
        ko = ctx.ev.kos.get(mod.rstrip("]"))
        loc = decode_frame(sym, ko, return_address=is_return) if ko else None
        if loc and ctx.ev.build:
            loc = loc.for_student(ctx.ev.build)
            if loc.file in ctx.ev.sources or not ctx.ev.sources:
                message = f"{report.title} in {loc.function}()"
                return Finding(report.kind, message, loc.file, loc.line, {"report": report.text})
    return Finding(report.kind, report.title, data={"report": report.text})


def _step_reports(step: Step) -> list[KernelReport]:
    text = "\n".join(r.text for r in step.kmsg)
    found = find_reports(text)
    return found + (step.crash.reports if step.crash else [])


# -- build, load, unload, cycle ---------------------------------------------
def judge_build(ctx: Context) -> CheckResult:
    ev = ctx.ev
    if ev.build_problem:
        return ctx.result("build", False, ev.build_problem, [Finding("input", ev.build_problem)])
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
    names = ", ".join(f"{m}.ko" for m in ev.order)
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
        return [Finding("timeout", f"{what} did not finish (init or exit never returned)")]
    out = [report_finding(ctx, rep) for rep in _step_reports(step)]
    if r.status == "signaled":
        out.insert(0, Finding("killed", f"{what} was killed: the kernel oopsed"))
    elif r.returncode:
        out.insert(0, Finding("errno", f"{what} failed: {errno_name(r.returncode)}"))
    return out


def judge_load(ctx: Context) -> CheckResult:
    if not ctx.ev.loads:
        return ctx.skip("load", "not run: the build failed")
    findings: list[Finding] = []
    for step in ctx.ev.loads:
        name = step.name.removeprefix("load ")
        ok = not step.crash and step.result.ok
        findings += (
            _failed_step(ctx, step, f"loading {name}")
            if not ok
            else [report_finding(ctx, rep) for rep in _step_reports(step)]
        )
    ok = len(ctx.ev.loads) == len(ctx.ev.order) and not findings
    return ctx.result(
        "load", ok, "every module loads; init returned 0" if ok else findings[0].message, findings
    )


def judge_unload(ctx: Context) -> CheckResult:
    ev = ctx.ev
    if not ev.unloads:
        return ctx.skip("unload", "not run: loading failed")
    findings: list[Finding] = []
    for step in ev.unloads:
        name = step.name.removeprefix("unload ")
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
            findings += [report_finding(ctx, rep) for rep in _step_reports(step)]
    ok = len(ev.unloads) == len(ev.order) and not findings
    return ctx.result(
        "unload", ok, "every module unloads; exit ran" if ok else findings[0].message, findings
    )


def judge_cycle(ctx: Context, cycles: int) -> CheckResult:
    if not ctx.ev.cycles:
        return ctx.skip("cycle", "not run: an earlier step failed or crashed the kernel")
    bad = next((s for s in ctx.ev.cycles if s.crash or not s.result.ok), None)
    if bad is None:
        return ctx.result("cycle", True, f"{cycles} load/unload cycles succeeded")
    detail = (bad.result.stdout.strip() if bad.result else "") or bad.name
    findings = [Finding("cycle", f"{bad.name}: {detail}")]
    if bad.crash or bad.result.status != "exited" or bad.result.argv[0] != "@cycle":
        findings += _failed_step(ctx, bad, bad.name)
    else:
        # @cycle's exit status is not an errno; its output says which errno, when.
        findings += [report_finding(ctx, rep) for rep in _step_reports(bad)]
    return ctx.result("cycle", False, f"load/unload cycling failed ({detail})", findings)


# -- kernel health, leaks, registrations ------------------------------------
def judge_health(ctx: Context) -> CheckResult:
    ev = ctx.ev
    if not ev.loads:
        return ctx.skip("kernel-health", "not run: the build failed")
    reports = [rep for step in ev.steps() for rep in _step_reports(step)]
    findings = [report_finding(ctx, rep) for rep in reports]
    for step in ev.steps():
        if step.result and step.result.status == "timeout":
            # An init or exit stuck for good is a hung task, found before the
            # kernel's own 120 s detector would say so.
            findings.append(Finding("hang", f"{step.name} never finished: the task is stuck"))
    crashed = ev.crash()
    if crashed and not reports:
        # A guest that hangs or dies without a report is unhealthy all the same.
        kind = "hang" if isinstance(crashed.crash, GuestHung) else "crash"
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
    return ledger.parse_ledger([r for s in steps for r in s.kmsg], ev.nonce, build_dir=build_dir)


def _outstanding(ev: Evidence, memory: bool) -> list:
    left = ledger.outstanding(_events(ev, ev.loads + ev.unloads))
    return [e for e in left if (e.api in MEMORY_APIS) == memory]


def judge_leaks(ctx: Context) -> CheckResult:
    ev = ctx.ev
    if not ev.unloads or not all(s.result and s.result.ok for s in ev.unloads):
        return ctx.skip("leaks", "not run: the module did not unload")
    findings: list[Finding] = []
    by_handle: dict[int, Finding] = {}
    for e in _outstanding(ev, memory=True):
        f = Finding("leak", f"memory from {e.api}() is never freed", e.file, e.line,
                    {"witness": "ledger", "api": e.api})  # fmt: skip
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
        findings.append(Finding("leak", f"{what} are never freed", file, line,
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
    events = kmemtrace.parse_trace(ev.trace)
    out = []
    for name, ko in ev.kos.items():
        ranges = kmemtrace.module_ranges(ko, ev.sections.get(name, {}))
        for alloc in kmemtrace.unfreed(events, ranges, module=name):
            where = kmemtrace.explain(alloc, ranges, ko)
            file = line = None
            if where and ev.build:
                loc = SourceLocation(*where).for_student(ev.build)
                file, line = loc.file, loc.line
            out.append((alloc, file, line))
    return out


def judge_registrations(ctx: Context) -> CheckResult:
    ev = ctx.ev
    if ev.state_before is None or ev.state_after is None:
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
    findings += [
        Finding("leftover", f"{e.api}() is never undone", e.file, e.line,
                {"witness": "ledger", "api": e.api})
        for e in _outstanding(ev, memory=False)
    ]  # fmt: skip
    if findings:
        return ctx.result("registrations", False, findings[0].message, findings)
    return ctx.result("registrations", True, "nothing registered survives rmmod")


# -- fault injection ---------------------------------------------------------
def _resource(e) -> dict[str, object]:
    file, line = _site(e)
    return {"api": e.api, "file": file, "line": line, "handle": getattr(e, "handle", None)}


def judge_point(ctx: Context, p: PointEvidence) -> dict[str, object]:
    """One point's verdict in the shape the report's ladder draws."""
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
    view = ledger.unwind(_events(ctx.ev, [step]))
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
    out["init_returned"] = -r.returncode if r.returncode else 0
    if r.returncode == 0:
        benign = p.call.api.startswith("debugfs_") and not out["leaked"]
        msg = (
            f"init carried on after {p.call.api}() failed (allowed for debugfs)"
            if benign
            else f"init ignored the failure of {p.call.api}() and returned 0"
        )
        return {**out, "verdict": "pass" if benign else "fail", "message": msg}
    leftovers = state.diff_state(
        state.parse_state(p.state_before or ""),
        state.parse_state(p.state_after or ""),
        module=p.module,
    )
    out["leftovers"] = [lo.message for lo in leftovers]
    hints = []
    for leaked in out["leaked"]:
        if hint := _label_hint(ctx, leaked, p):
            leaked["hint"] = hint
            hints.append(hint)
    if out["leaked"] or leftovers:
        what = [f"{x['api']}() at {x['file']}:{x['line']}" for x in out["leaked"]] + [
            lo.message for lo in leftovers
        ]
        message = "left behind: " + "; ".join(what)
        if hints:
            message += ": " + "; ".join(hints)
        return {**out, "verdict": "fail", "message": message}
    return {
        **out,
        "verdict": "pass",
        "message": f"init returned {errno_name(r.returncode)} and released everything",
    }


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
    if not ev.points:
        return ctx.result("fault-injection", True, "init makes no fallible calls", points=[])
    points = [judge_point(ctx, p) for p in ev.points]
    bad = [p for p in points if p["verdict"] != "pass"]
    w = float(ctx.weights.get("fault-injection", 1))
    findings = [
        Finding(
            "fault-injection",
            str(p["message"]),
            p["file"],
            p["line"],
            {"index": p["index"], "call": p["call"]},
        )
        for p in bad
    ]
    summary = f"{len(points) - len(bad)} of {len(points)} failure points handled"
    return CheckResult(
        "fault-injection",
        "fail" if bad else "pass",
        round(w * (len(points) - len(bad)) / len(points), 3),
        w,
        summary,
        findings,
        {"points": points},
    )


# -- integrity ------------------------------------------------------------------
def judge_integrity(ctx: Context) -> CheckResult:
    """Flag for review what an honest module never needs (integrity.py); no points."""
    ev = ctx.ev
    if not ev.sources and not ev.objects and not ev.tamper and not ev.compromised:
        return ctx.skip("integrity", "not run: there is no source to examine")
    tamper = list(ev.tamper)
    if erased := trace_erased(ev):
        tamper.append(erased)
    found = integrity.findings(ev.sources, ev.objects, tamper, ev.compromised)
    return ctx.result("integrity", not found, integrity.summary(found), found)


GENERIC: tuple[tuple[str, Callable[..., CheckResult]], ...] = (
    ("build", judge_build),
    ("load", judge_load),
    ("unload", judge_unload),
    ("cycle", judge_cycle),
    ("kernel-health", judge_health),
    ("leaks", judge_leaks),
    ("registrations", judge_registrations),
    ("fault-injection", judge_fault_injection),
    ("integrity", judge_integrity),
)
