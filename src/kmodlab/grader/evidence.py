"""What the guest showed, kept raw: the judges decide verdicts from this on the host.

Nothing here is a verdict. Every field is either the host's own record
(what it asked, the exit status, the time) or text the guest produced, which
the judges parse with the nonce-checked ledger and the kernel's own formats.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kmodlab.build import BuildResult
from kmodlab.vm.guest import CommandResult, GuestError
from kmodlab.vm.protocol import KmsgRecord


@dataclass
class Step:
    """One request to the guest during grading."""

    name: str  # e.g. "load hello", "unload hello", "cycle hello"
    result: CommandResult | None = None
    crash: GuestError | None = None  # the guest died or hung during this step
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


@dataclass
class Evidence:
    submission: Path
    build: BuildResult | None = None  # the build whose modules run (instrumented if it could be)
    build_diagnostics: list | None = None  # the plain build's messages, when build is instrumented
    build_problem: str | None = None  # unusable input (empty folder, ...), one line
    sources: dict[str, str] = field(default_factory=dict)  # the student's files, for hints
    instrumented: bool = False
    instrument_problem: str | None = None
    nonce: str | None = None
    # Modules by the kernel's name for them (modinfo.module_name: "hello_1"), in load order.
    order: list[str] = field(default_factory=list)
    kos: dict[str, Path] = field(default_factory=dict)  # kernel name -> its .ko ("hello-1.ko")
    taint_before: int | None = None
    taint_after: int | None = None
    state_before: str | None = None
    state_after: str | None = None
    prepared_boot: int | None = None  # which guest (Session.boots) the *_before are of
    tracing: bool = False  # the kmem trace records in that guest
    trace: str | None = None
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
