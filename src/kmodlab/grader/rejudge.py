"""Re-scoring from evidence documents: no build, no guest.

    kmodlab rejudge alice.evidence.json.xz [--exercise hello]
    kmodlab grade-batch --rejudge OUT [--exercise hello]

Each document (grader/evidence.py) is checked whole, then judged by
verdicts.judge with today's expectations: the report is what `kmodlab grade`
would give with today's judges and rubric on the evidence it collected. A
document of a future schema, a changed or a cut one, is a one-line error.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from kmodlab.errors import InputError
from kmodlab.grader import evidence
from kmodlab.grader.report.model import Report
from kmodlab.grader.verdicts import document as verdicts

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
    from kmodlab.grader import exercise_plan as exercises

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


def _rejudge_one(path: Path, exercise: str | None) -> tuple[str, str, str] | tuple[str]:
    """(report JSON, text report, submission) of one evidence file, or (why refused,).
    Run in a worker process: what it returns is plain text."""
    from kmodlab.grader.batch import shown_name
    from kmodlab.grader.report.formats import to_json, to_text

    try:
        report = rejudge_file(path, exercise)
    except InputError as e:
        return (e.line(),)
    report.submission = shown_name(report.submission)
    text = to_text(report, sources=report.evidence.get("sources", {}) if report.evidence else {})
    return to_json(report), text, report.submission


def rejudge_batch(
    output_dir: Path, exercise: str | None = None, jobs: int | None = None
) -> RejudgeSummary:
    """Re-score a grade-batch output folder from its evidence documents.

    Rewrites NAME.json and NAME.txt of every NAME.evidence.json.xz, then
    summary.csv and gradebook.csv over all reports. A report with no evidence
    beside it (a grader error, or graded by an older kmodlab) is kept as it is;
    a refused evidence file leaves its report untouched and is listed. The
    documents are judged in `jobs` processes (default: one per CPU).
    """
    from concurrent.futures import ProcessPoolExecutor

    from kmodlab.grader.batch import (
        GRADEBOOK_CSV,
        SUMMARY_CSV,
        gradebook_csv,
        load_report,
        summary_csv,
    )
    from kmodlab.grader.report.model import Report
    from kmodlab.paths import atomic_write

    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        raise InputError(
            f"{output_dir} is not a folder", "pass a grade-batch --output-dir folder to rejudge"
        )
    _expectations(exercise)  # an unknown --exercise fails before anything is written
    summary = RejudgeSummary(output_dir)
    reports: dict[str, Report] = {}
    todo: list[tuple[Path, Report]] = []
    for report_path in sorted(output_dir.glob("*.json")):
        old = load_report(report_path)
        if old is None:
            continue
        if evidence_path(report_path).is_file():
            todo.append((report_path, old))
        else:
            reports[old.submission] = old
            summary.kept.append(old.submission)
    if not reports and not todo:
        raise InputError(
            f"{output_dir} holds no reports", "pass a grade-batch --output-dir folder to rejudge"
        )
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(todo)))
    if threading.active_count() > 1:
        jobs = 1  # forking a process with other threads may copy a held lock: no pool
    paths = [evidence_path(p) for p, _ in todo]
    if jobs > 1:
        # What every document needs, imported once before the workers fork, not in each.
        from kmodlab.grader import exercise_plan  # noqa: F401
        from kmodlab.grader.report import formats  # noqa: F401
    if jobs == 1:
        results = [_rejudge_one(p, exercise) for p in paths]
    else:
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
            results = list(pool.map(_rejudge_one, paths, [exercise] * len(paths), chunksize=4))
    for (report_path, old), result in zip(todo, results, strict=True):
        if len(result) == 1:
            summary.bad[evidence_path(report_path).name] = result[0]
            reports[old.submission] = old
            continue
        body, text, name = result
        atomic_write(report_path.with_suffix(".txt"), text.encode("utf-8", "replace"))
        atomic_write(report_path, (body + "\n").encode("utf-8"))
        new = Report.from_dict(json.loads(body))
        reports[name] = new
        summary.rejudged.append(name)
        if (old.score, old.max_score) != (new.score, new.max_score):
            summary.changed.append(name)
    atomic_write(output_dir / SUMMARY_CSV, summary_csv(reports).encode("utf-8"))
    atomic_write(output_dir / GRADEBOOK_CSV, gradebook_csv(reports).encode("utf-8"))
    return summary
