"""The grader's result model: what every check returns and what a report holds.

Serialised as versioned JSON ("kmodlab-report/1", see docs/report-schema.md);
never pickled. Verdicts are decided on the host from evidence, so this module
has no I/O.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

SCHEMA = "kmodlab-report/1"
Status = Literal["pass", "fail", "error", "skip"]
STATUSES: tuple[str, ...] = ("pass", "fail", "error", "skip")

# The generic checks (a stable interface) are listed once, with their points and
# verdicts: judges.GENERIC.
# The one check that flags a submission for an instructor's review when it fails.
INTEGRITY_CHECK = "integrity"
FLAGGED = "flagged for review"


@dataclass
class Finding:
    """One observation behind a verdict: a compiler warning, a leaked object, an oops."""

    kind: str  # e.g. "warning", "leak", "leftover", "oops", "ignored-failure"
    message: str
    file: str | None = None  # the student's file, relative to the submission
    line: int | None = None
    data: dict[str, Any] = field(default_factory=dict)  # kind-specific detail


@dataclass
class CheckResult:
    id: str
    status: Status
    score: float
    max_score: float
    summary: str
    findings: list[Finding] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # e.g. {"points": [...]} for fault-injection

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"bad status {self.status!r}")


@dataclass
class Report:
    submission: str
    kernel: str
    checks: list[CheckResult]
    duration_s: float = 0.0
    exercise: str | None = None
    schema: str = SCHEMA
    # The submission's files as the grade validated them, for the text and
    # Gradescope forms' quotes; not part of the JSON (to_dict lists its keys).
    sources: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def score(self) -> float:
        return round(sum(c.score for c in self.checks), 3)

    @property
    def max_score(self) -> float:
        return round(sum(c.max_score for c in self.checks), 3)

    def check(self, check_id: str) -> CheckResult | None:
        return next((c for c in self.checks if c.id == check_id), None)

    @property
    def flagged(self) -> bool:
        """Whether an instructor must look at the submission before its grade counts."""
        check = self.check(INTEGRITY_CHECK)
        return check is not None and check.status == "fail"

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "submission": self.submission,
            "exercise": self.exercise,
            "kernel": self.kernel,
            "score": self.score,
            "max_score": self.max_score,
            "flagged": self.flagged,
            "duration_s": round(self.duration_s, 3),
            "checks": [asdict(c) for c in self.checks],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Report:
        if d.get("schema") != SCHEMA:
            raise ValueError(f"not a {SCHEMA} report: schema={d.get('schema')!r}")
        # Readers ignore fields added by later versions (docs/report-schema.md).
        checks = [
            CheckResult(
                **{k: v for k, v in c.items() if k in _CHECK_FIELDS},
                findings=[
                    Finding(**{k: v for k, v in f.items() if k in _FINDING_FIELDS})
                    for f in c.get("findings", [])
                ],
            )
            for c in d["checks"]
        ]
        return cls(
            submission=d["submission"],
            kernel=d["kernel"],
            checks=checks,
            duration_s=d.get("duration_s", 0.0),
            exercise=d.get("exercise"),
        )


_CHECK_FIELDS = {f.name for f in fields(CheckResult)} - {"findings"}
_FINDING_FIELDS = {f.name for f in fields(Finding)}
