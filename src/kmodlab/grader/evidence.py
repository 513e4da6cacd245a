"""What the guest showed, kept raw, and its document form (`kmodlab-evidence/1`).

Nothing here is a verdict. Every field is either the host's own record
(what it asked, the exit status, the time) or text the guest produced, which
the judges parse with the nonce-checked ledger and the kernel's own formats.

Every grade writes its evidence as a JSON document (to_document) and judges
the document read back (from_document), so `kmodlab rejudge` of the same
document gives the same report by construction. The document names no path
of the grading machine: files are relative to the submission, and every
address is already decoded to file:line (grader/verdicts/symbols.py). Pure: this
module imports nothing of the VM layer, the build runners or subprocess.
The keys are documented in docs/evidence-schema.md.
"""

from __future__ import annotations

import hashlib
import json
import lzma
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from kmodlab.errors import InputError
from kmodlab.grader.verdicts.integrity import ObjectFacts
from kmodlab.grader.verdicts.ledger import LedgerEvent
from kmodlab.grader.verdicts.symbols import DebugInfo
from kmodlab.records import CommandResult, KernelReport, KmsgRecord, find_reports

SCHEMA = "kmodlab-evidence/1"
SCHEMA_PREFIX = "kmodlab-evidence/"
VERSION = 1


@dataclass
class StepCrash:
    """The guest died or stopped answering during a step (a GuestError, as data)."""

    kind: str  # "hung" | "crashed" | "boot-failed" | "error"
    problem: str
    console: str = ""  # the kernel's reports from the console, when any

    @property
    def reports(self) -> list[KernelReport]:
        return find_reports(self.console)


@dataclass
class Step:
    """One request to the guest during grading."""

    name: str  # e.g. "load hello", "unload hello", "cycle hello"
    result: CommandResult | None = None
    crash: Any = None  # a StepCrash (a GuestError while collecting): the guest died or hung
    limit_s: float | None = None  # the time it was given (a timeout means it took longer)

    @property
    def kmsg(self) -> list[KmsgRecord]:
        return self.result.kmsg if self.result else []


@dataclass
class PointEvidence:
    """One fault-injection point: init run with exactly the Nth fallible call failing."""

    module: str
    index: int  # 1-based, the call number instrument.arm() fails
    call: object  # the LedgerEvent of that call in the clean load
    load: Step | None = None
    unload: Step | None = None  # only when init ignored the failure and returned 0
    state_before: str | None = None
    state_after: str | None = None
    trace: str | None = None  # the kmem trace of this load (kmemtrace.parse_trace), if recorded
    # The platform devices bound right after this load returned 0, before the
    # unload (guest_state.BOUND_SCRIPT): a probe point is judged by it.
    bound: str | None = None


@dataclass(frozen=True)
class BuildMessage:
    """One compiler, linker or modpost message (build.Diagnostic, as data)."""

    file: str | None
    line: int | None
    column: int | None
    severity: str
    kind: str
    message: str
    function: str | None = None
    symbol: str | None = None
    module: str | None = None


@dataclass(frozen=True)
class BuiltModuleFacts:
    name: str
    ko: Path  # the file's name only
    sources: list[str]


@dataclass(frozen=True)
class BuildFacts:
    """A BuildResult as the judges read it: no build folder (its paths are relative)."""

    ok: bool
    modules: list[BuiltModuleFacts]
    diagnostics: list[BuildMessage]
    log: str
    duration_s: float
    sandboxed: bool
    file_map: dict[str, str] = field(default_factory=dict)
    linked: bool = True
    build_dir: None = None  # the folder is gone; every path is already relative

    def student_path(self, path: str) -> str:
        return self.file_map.get(path, path)


@dataclass(frozen=True)
class Imports:
    """What the link-level wrappers intercept (instrument.ImportReport, as data)."""

    wrapped: tuple[str, ...] = ()
    untested: tuple[str, ...] = ()
    tampering: tuple[str, ...] = ()


@dataclass
class Evidence:
    submission: Path
    build: Any = None  # the build whose modules run (instrumented if it could be)
    build_diagnostics: list | None = None  # the plain build's messages, when build is instrumented
    build_problem: str | None = None  # unusable input (empty folder, ...), one line
    sources: dict[str, str] = field(default_factory=dict)  # the student's files, for hints
    instrumented: bool = False
    instrument_problem: str | None = None
    nonce: str | None = None
    # Modules by the kernel's name for them (modinfo.module_name: "hello_1"), in load order.
    order: list[str] = field(default_factory=list)
    kos: dict[str, Path] = field(default_factory=dict)  # kernel name -> its .ko ("hello-1.ko")
    # kernel name -> its .ko's debug info (decode.ElfDebug while collecting, a table after)
    debug: dict[str, DebugInfo] = field(default_factory=dict)
    taint_before: int | None = None
    taint_after: int | None = None
    state_before: str | None = None
    state_after: str | None = None
    prepared_boot: int | None = None  # which guest (Session.boots) the *_before are of
    tracing: bool = False  # the kmem trace records in that guest
    timer_tracing: bool = False  # the timer witness records in that guest (timers.py)
    timer_trace: str | None = None  # what it recorded, read right after the unload
    timer_trace_loaded: str | None = None  # what it had recorded just before the unload
    trace: str | None = None  # read after the last unload (kmemtrace.read_command)
    trace_instance: str | None = None  # the private trace buffer's random name
    # The trace as read right after each load returned, before the module
    # ran again (kmemtrace.peek_command): what a later clearing cannot erase.
    trace_reads: list[str] = field(default_factory=list)
    sections: dict[str, dict[str, int]] = field(default_factory=dict)
    # module -> instrument.ImportReport: what the link-level wrappers intercept,
    # imports they cannot fail ("untested"), imports of the instrumentation itself
    imports: dict[str, object] = field(default_factory=dict)
    loads: list[Step] = field(default_factory=list)
    # The module's interfaces read after load (interfaces.py), in the main guest.
    reads: list[Step] = field(default_factory=list)
    reader_pid: int | None = None  # the loop reading them on during rmmod
    unloads: list[Step] = field(default_factory=list)
    cycles: list[Step] = field(default_factory=list)
    cycles_planned: int | None = None  # how many load/unload cycles were asked for
    cycles_why: str = ""  # why fewer than the limit (a slow load or unload), or ""
    settle: Step | None = None
    points: list[PointEvidence] = field(default_factory=list)
    points_error: str | None = None
    exercise: dict[str, object] = field(default_factory=dict)  # evidence for exercise checks
    internal_error: str | None = None  # the grader itself failed somewhere
    # The plain build's objects as the integrity check reads them (ObjectFacts).
    objects: list = field(default_factory=list)
    # Witness disagreements only tampering explains, one sentence each; any
    # collector may add one (e.g. "the .ko imports kmalloc_trace, which the
    # instrumentation never saw"). Each flags the submission for review.
    tamper: list[str] = field(default_factory=list)
    # Set when the agent's channel carried a forged answer: nothing from that
    # guest is graded, and collection stopped there.
    compromised: str | None = None

    def ko_file(self, name: str) -> str:
        """The file a module is loaded from in the guest (its name may spell "-" as "_")."""
        return self.kos[name].name

    def steps(self) -> list[Step]:
        """Every step of the main guest, in order."""
        settle = [self.settle] if self.settle else []
        return [*self.loads, *self.reads, *self.unloads, *settle, *self.cycles]

    def crash(self) -> Step | None:
        return next((s for s in self.steps() if s.crash), None)

    def kmsg(self) -> list[KmsgRecord]:
        return [rec for s in self.steps() for rec in s.kmsg]


@dataclass
class Document:
    """An evidence document read back: the evidence and what the grade was asked."""

    evidence: Evidence
    kernel: str
    exercise: str | None  # the exercise the grade ran (its guest evidence is in evidence.exercise)
    cycles: int  # the cycle limit the grade was given
    duration_s: float  # how long collecting took


# -- writing ---------------------------------------------------------------------
_CRASH_KINDS = {"GuestHung": "hung", "GuestCrashed": "crashed", "BootFailed": "boot-failed"}


def to_document(
    ev: Evidence,
    *,
    kernel: str,
    exercise: str | None,
    cycles: int,
    duration_s: float,
    host_paths: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """The evidence as a JSON-ready `kmodlab-evidence/1` document.

    host_paths: (path of the grading machine, what it becomes) pairs, replaced
    in every string (the build folder becomes "", the headers /usr/src...).
    """
    build = ev.build
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "submission": Path(ev.submission).name,
        "kernel": kernel,
        "exercise_name": exercise,
        "cycles_limit": cycles,
        "duration_s": round(duration_s, 3),
        "build": _build(build) if build is not None else None,
        "build_diagnostics": (
            None if ev.build_diagnostics is None else [_message(d) for d in ev.build_diagnostics]
        ),
        "build_problem": ev.build_problem,
        "sources": dict(ev.sources),
        "instrumented": ev.instrumented,
        "instrument_problem": ev.instrument_problem,
        "nonce": ev.nonce,
        "order": list(ev.order),
        "kos": {name: Path(ko).name for name, ko in ev.kos.items()},
        "debug": {name: _debug(d).to_dict() for name, d in ev.debug.items()},
        "taint_before": ev.taint_before,
        "taint_after": ev.taint_after,
        "state_before": ev.state_before,
        "state_after": ev.state_after,
        "prepared_boot": ev.prepared_boot,
        "tracing": ev.tracing,
        "trace": ev.trace,
        "trace_instance": ev.trace_instance,
        "trace_reads": list(ev.trace_reads),
        "timer_tracing": ev.timer_tracing,
        "timer_trace": ev.timer_trace,
        "timer_trace_loaded": ev.timer_trace_loaded,
        "sections": {m: dict(s) for m, s in ev.sections.items()},
        "imports": {
            m: {k: list(getattr(r, k, ())) for k in ("wrapped", "untested", "tampering")}
            for m, r in ev.imports.items()
        },
        "loads": [_step(s) for s in ev.loads],
        "reads": [_step(s) for s in ev.reads],
        "reader_pid": ev.reader_pid,
        "unloads": [_step(s) for s in ev.unloads],
        "settle": _step(ev.settle) if ev.settle else None,
        "cycles": [_step(s) for s in ev.cycles],
        "cycles_planned": ev.cycles_planned,
        "cycles_why": ev.cycles_why,
        "points": [_point(p) for p in ev.points],
        "points_error": ev.points_error,
        "exercise": ev.exercise,
        # The first line only: a traceback names the grading machine's files.
        "internal_error": ev.internal_error.splitlines()[0] if ev.internal_error else None,
        "objects": [
            {"name": o.name, "undefined": o.undefined, "defined": o.defined, "strings": o.strings}
            for o in ev.objects
        ],
        "tamper": list(ev.tamper),
        "compromised": ev.compromised,
    }
    doc = json.loads(json.dumps(doc))  # tuples to lists, Paths refused: plain JSON from here
    doc = _scrub(doc, sorted(host_paths, key=lambda p: -len(p[0])))
    doc["digest"] = digest(doc)
    return doc


def digest(doc: dict[str, Any]) -> str:
    """sha256 of the document without its digest (canonical JSON): a changed or cut file
    is told from a whole one. Not a signature: whoever edits it can recompute it."""
    body = {k: v for k, v in doc.items() if k != "digest"}
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _debug(d: DebugInfo) -> DebugInfo:
    recorded = getattr(d, "recorded", None)
    return recorded() if callable(recorded) else d


def _scrub(value: Any, pairs: Sequence[tuple[str, str]]) -> Any:
    if not pairs:
        return value
    if isinstance(value, str):
        for old, new in pairs:
            if old in value:
                value = value.replace(old, new)
        return value
    if isinstance(value, list):
        return [_scrub(v, pairs) for v in value]
    if isinstance(value, dict):
        return {_scrub(k, pairs): _scrub(v, pairs) for k, v in value.items()}
    return value


def _message(d: Any) -> dict[str, Any]:
    return {f.name: getattr(d, f.name, None) for f in fields(BuildMessage)}


def _build(b: Any) -> dict[str, Any]:
    return {
        "ok": b.ok,
        "modules": [
            {"name": m.name, "ko": Path(m.ko).name, "sources": [str(s) for s in m.sources]}
            for m in b.modules
        ],
        "diagnostics": [_message(d) for d in b.diagnostics],
        "log": b.log,
        "duration_s": round(b.duration_s, 3),
        "sandboxed": b.sandboxed,
        "file_map": dict(b.file_map),
        "linked": b.linked,
    }


def _result(r: CommandResult) -> dict[str, Any]:
    return {
        "argv": list(r.argv),
        "status": r.status,
        "returncode": r.returncode,
        "stdout": r.stdout,
        "stderr": r.stderr,
        "kmsg": [[k.level, k.seq, k.ts_us, k.text] for k in r.kmsg],
        "guest_ms": r.guest_ms,
    }


def _crash(c: Any) -> dict[str, Any]:
    kind = c.kind if isinstance(c, StepCrash) else _CRASH_KINDS.get(type(c).__name__, "error")
    problem = c.problem if isinstance(c, StepCrash) else str(getattr(c, "problem", c))
    reports = c.reports if hasattr(c, "reports") else []
    return {"kind": kind, "problem": problem, "console": "\n".join(r.text for r in reports)}


def _step(s: Step) -> dict[str, Any]:
    return {
        "name": s.name,
        "result": _result(s.result) if s.result is not None else None,
        "crash": _crash(s.crash) if s.crash is not None else None,
        "limit_s": s.limit_s,
    }


def _point(p: PointEvidence) -> dict[str, Any]:
    return {
        "module": p.module,
        "index": p.index,
        "call": asdict(p.call),  # type: ignore[call-overload]
        "load": _step(p.load) if p.load else None,
        "unload": _step(p.unload) if p.unload else None,
        "state_before": p.state_before,
        "state_after": p.state_after,
        "trace": p.trace,
        # Only where it was read, so documents written before it existed read back the same.
        **({"bound": p.bound} if p.bound is not None else {}),
    }


# -- reading -----------------------------------------------------------------------
XZ_MAGIC = b"\xfd7zXZ\x00"
MAX_DOCUMENT_BYTES = 1 << 28  # unpacked: far above any grade's, far below a memory problem


def pack(doc: dict[str, Any]) -> bytes:
    """The document as written to a file: JSON, xz-compressed (preset 1: fast, ~25x)."""
    text = json.dumps(doc, ensure_ascii=False) + "\n"
    return lzma.compress(text.encode("utf-8", "surrogatepass"), preset=1)


def read_document(path: Path) -> dict[str, Any]:
    """A document file (xz-compressed or plain JSON), checked: a one-line InputError for
    anything but a whole document of a version this kmodlab reads."""
    fix = "grade the submission again to write its evidence"
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror or e}", "pass an evidence file") from e
    if data.startswith(XZ_MAGIC):
        unpack = lzma.LZMADecompressor()
        try:
            data = unpack.decompress(data, max_length=MAX_DOCUMENT_BYTES)
        except lzma.LZMAError as e:
            raise InputError(f"{path} is damaged ({e})", fix) from e
        if not unpack.eof:
            what = "too large" if len(data) >= MAX_DOCUMENT_BYTES else "truncated"
            raise InputError(f"{path} is {what}: its compressed data does not end", fix)
    try:
        doc = json.loads(data.decode("utf-8", "surrogatepass"))
    except UnicodeDecodeError as e:
        raise InputError(f"{path} is not an evidence document (not UTF-8 text)", fix) from e
    except ValueError as e:
        raise InputError(f"{path} is not whole JSON (truncated or damaged: {e})", fix) from e
    check(doc, str(path))
    return doc


def check(doc: Any, where: str = "the evidence") -> None:
    """Raise a one-line InputError unless doc is a whole `kmodlab-evidence/1` document."""
    fix = "grade the submission again to write its evidence"
    schema = doc.get("schema") if isinstance(doc, dict) else None
    if not isinstance(schema, str) or not schema.startswith(SCHEMA_PREFIX):
        raise InputError(f"{where} is not a kmodlab evidence document (schema {schema!r})", fix)
    version = schema.removeprefix(SCHEMA_PREFIX)
    if not version.isdigit() or int(version) != VERSION:
        newer = version.isdigit() and int(version) > VERSION
        raise InputError(
            f"{where} is {schema}, "
            + ("written by a newer kmodlab" if newer else "a version this kmodlab does not read"),
            f"rejudge it with a kmodlab that reads {schema}" if newer else fix,
        )
    if doc.get("digest") != digest(doc):
        raise InputError(f"{where} was changed after it was written (its digest differs)", fix)


def from_document(doc: dict[str, Any], where: str = "the evidence") -> Document:
    """The Document of a checked dict (check() first); a malformed one is an InputError."""
    try:
        return _read(doc)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
        what = f"{type(e).__name__}: {e}"
        raise InputError(
            f"{where} is not a valid {SCHEMA} document ({what})",
            "grade the submission again to write its evidence",
        ) from e


def _read(d: dict[str, Any]) -> Document:
    ev = Evidence(submission=Path(d["submission"]))
    b = d["build"]
    if b is not None:
        ev.build = BuildFacts(
            ok=bool(b["ok"]),
            modules=[
                BuiltModuleFacts(m["name"], Path(m["ko"]), list(m["sources"])) for m in b["modules"]
            ],
            diagnostics=[BuildMessage(**m) for m in b["diagnostics"]],
            log=b["log"],
            duration_s=b["duration_s"],
            sandboxed=b["sandboxed"],
            file_map=dict(b["file_map"]),
            linked=b["linked"],
        )
    if d["build_diagnostics"] is not None:
        ev.build_diagnostics = [BuildMessage(**m) for m in d["build_diagnostics"]]
    for key in (
        "build_problem",
        "instrumented",
        "instrument_problem",
        "nonce",
        "taint_before",
        "taint_after",
        "state_before",
        "state_after",
        "prepared_boot",
        "tracing",
        "trace",
        "trace_instance",
        "timer_tracing",
        "timer_trace",
        "timer_trace_loaded",
        "reader_pid",
        "cycles_planned",
        "cycles_why",
        "points_error",
        "internal_error",
        "compromised",
    ):
        setattr(ev, key, d[key])
    ev.sources = dict(d["sources"])
    ev.order = list(d["order"])
    ev.kos = {name: Path(ko) for name, ko in d["kos"].items()}
    ev.debug = {name: DebugInfo.from_dict(x) for name, x in d["debug"].items()}
    ev.trace_reads = list(d["trace_reads"])
    ev.sections = {m: dict(s) for m, s in d["sections"].items()}
    ev.imports = {m: Imports(*(tuple(r[k]) for k in _IMPORT_KEYS)) for m, r in d["imports"].items()}
    ev.loads = [_read_step(s) for s in d["loads"]]
    ev.reads = [_read_step(s) for s in d["reads"]]
    ev.unloads = [_read_step(s) for s in d["unloads"]]
    ev.settle = _read_step(d["settle"]) if d["settle"] is not None else None
    ev.cycles = [_read_step(s) for s in d["cycles"]]
    ev.points = [_read_point(p) for p in d["points"]]
    ev.exercise = dict(d["exercise"])
    ev.objects = [
        ObjectFacts(o["name"], *(tuple(o[k]) for k in ("undefined", "defined", "strings")))
        for o in d["objects"]
    ]
    ev.tamper = list(d["tamper"])
    return Document(
        ev,
        kernel=d["kernel"],
        exercise=d["exercise_name"],
        cycles=int(d["cycles_limit"]),
        duration_s=float(d["duration_s"]),
    )


_IMPORT_KEYS = ("wrapped", "untested", "tampering")


def _read_step(s: dict[str, Any]) -> Step:
    r, c = s["result"], s["crash"]
    result = None
    if r is not None:
        result = CommandResult(
            argv=list(r["argv"]),
            status=r["status"],
            returncode=r["returncode"],
            stdout=r["stdout"],
            stderr=r["stderr"],
            kmsg=[KmsgRecord(*k) for k in r["kmsg"]],
            guest_ms=r["guest_ms"],
        )
    crash = StepCrash(c["kind"], c["problem"], c["console"]) if c is not None else None
    return Step(s["name"], result, crash, s["limit_s"])


def _read_point(p: dict[str, Any]) -> PointEvidence:
    return PointEvidence(
        module=p["module"],
        index=p["index"],
        call=LedgerEvent(**p["call"]),
        load=_read_step(p["load"]) if p["load"] is not None else None,
        unload=_read_step(p["unload"]) if p["unload"] is not None else None,
        state_before=p["state_before"],
        state_after=p["state_after"],
        trace=p["trace"],
        bound=p.get("bound"),  # absent from documents written before it was read
    )
