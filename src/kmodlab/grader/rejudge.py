"""Re-scoring from evidence documents: no build, no guest.

    kmodlab rejudge alice.evidence.json.xz [--exercise hello]
    kmodlab grade-batch --rejudge OUT [--exercise hello]

Each document (grader/evidence.py) is checked whole, then judged by
verdicts.judge with today's expectations: the report is what `kmodlab grade`
would give with today's judges and rubric on the evidence it collected. A
document of a future schema, a changed or a cut one, is a one-line error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kmodlab.errors import InputError
from kmodlab.grader import evidence, verdicts
from kmodlab.grader.model import Report

EVIDENCE_SUFFIX = ".evidence.json.xz"  # beside NAME.json: NAME.evidence.json.xz


def evidence_path(report_path: Path) -> Path:
    """Where a report's evidence goes: report.json -> report.evidence.json.xz."""
    p = Path(report_path)
    stem = p.name[: -len(p.suffix)] if p.suffix else p.name
    return p.with_name(stem + EVIDENCE_SUFFIX)


def write_evidence(path: Path, doc: dict) -> None:
    """The document as xz-compressed JSON (a grade's is ~2 MB of traces, ~90 kB packed)."""
    from kmodlab.paths import atomic_write

    atomic_write(Path(path), evidence.pack(doc))


def _expectations(name: str | None):  # type: ignore[no-untyped-def]
    if name is None:
        return None
    from kmodlab.grader import exercises

    return exercises.load(name).expectations


def rejudge_document(doc: dict, exercise: str | None = None, where: str = "the evidence") -> Report:
    """The report of a checked document (evidence.check), with today's judges.

    exercise: the exercise whose expectations apply (default: the graded one).
    """
    read = evidence.from_document(doc, where)
    name = exercise if exercise is not None else read.exercise
    report = verdicts.report(read, _expectations(name), name)
    report.evidence = doc
    return report


def rejudge_file(path: Path, exercise: str | None = None) -> Report:
    """The report of one evidence file; InputError (one line) for a bad file."""
    return rejudge_document(evidence.read_document(path), exercise, str(path))


@dataclass
class RejudgeSummary:
    output_dir: Path
    rejudged: list[str] = field(default_factory=list)  # submission names
    kept: list[str] = field(default_factory=list)  # reports without evidence, left as they were
    bad: dict[str, str] = field(default_factory=dict)  # evidence file -> why it was refused
    changed: list[str] = field(default_factory=list)  # whose score differs from before

    @property
    def csv_path(self) -> Path:
        return self.output_dir / "summary.csv"


def rejudge_batch(output_dir: Path, exercise: str | None = None) -> RejudgeSummary:
    """Re-score a grade-batch output folder from its evidence documents.

    Rewrites NAME.json and NAME.txt of every NAME.evidence.json.xz, then
    summary.csv and gradebook.csv over all reports. A report with no evidence
    beside it (a grader error, or graded by an older kmodlab) is kept as it is;
    a refused evidence file leaves its report untouched and is listed.
    """
    from kmodlab.grader.batch import (
        GRADEBOOK_CSV,
        SUMMARY_CSV,
        gradebook_csv,
        load_report,
        shown_name,
        summary_csv,
    )
    from kmodlab.grader.formats import to_json, to_text
    from kmodlab.paths import atomic_write

    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        raise InputError(
            f"{output_dir} is not a folder", "pass a grade-batch --output-dir folder to rejudge"
        )
    summary = RejudgeSummary(output_dir)
    reports: dict[str, Report] = {}
    _check_exercise = _expectations(exercise)  # an unknown --exercise fails before any write
    del _check_exercise
    for report_path in sorted(output_dir.glob("*.json")):
        if report_path.name.endswith(EVIDENCE_SUFFIX):
            continue
        old = load_report(report_path)
        if old is None:
            continue
        ev_path = evidence_path(report_path)
        if not ev_path.is_file():
            reports[old.submission] = old
            summary.kept.append(old.submission)
            continue
        try:
            new = rejudge_file(ev_path, exercise)
        except InputError as e:
            summary.bad[ev_path.name] = e.line()
            reports[old.submission] = old
            continue
        new.submission = shown_name(new.submission)
        text = to_text(new, sources=new.evidence.get("sources", {}) if new.evidence else {})
        atomic_write(report_path.with_suffix(".txt"), text.encode("utf-8", "replace"))
        atomic_write(report_path, (to_json(new) + "\n").encode("utf-8"))
        reports[new.submission] = new
        summary.rejudged.append(new.submission)
        if (old.score, old.max_score) != (new.score, new.max_score):
            summary.changed.append(new.submission)
    if not reports:
        raise InputError(
            f"{output_dir} holds no reports", "pass a grade-batch --output-dir folder to rejudge"
        )
    atomic_write(output_dir / SUMMARY_CSV, summary_csv(reports).encode("utf-8"))
    atomic_write(output_dir / GRADEBOOK_CSV, gradebook_csv(reports).encode("utf-8"))
    return summary
