"""Grade a whole class: one submission per subfolder, one report per submission.

Built to be killed and rerun: each report is written atomically, the JSON last,
so a <name>.json that parses is a finished submission and a rerun skips it.
summary.csv is rewritten atomically after every finished submission, so it is
a valid table at every moment. A grader failure on one submission becomes an
"error" report for it; it never stops the batch.

Folder names come from students (an LMS download, a zip): one must never stop
or corrupt the class. A name that is not a plain file name (over 200 bytes,
control characters, a leading dash or dot, bytes that are not UTF-8) gets a
short readable file name with a hash of the real one (report_stem()); the
real name stays in the report and the CSV, where a cell that a spreadsheet
would run as a formula (= + - @, tab, CR) is neutralised. Every write for
one student has its own error handling; what could not be graded or written
is listed in BatchSummary.ungraded (and `grade-batch` exits 1).

The grade function is passed in (grade(submission_dir) -> Report), so this
module does not import the pipeline and is tested with a fake.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import io
import json
import os
import re
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kmodlab.errors import InputError, KmodlabError
from kmodlab.grader.rejudge import EVIDENCE_SUFFIX, write_evidence
from kmodlab.grader.report.formats import quotable, to_json, to_text
from kmodlab.grader.report.model import FLAGGED, CheckResult, Finding, Report
from kmodlab.grader.shard import select as select_shard
from kmodlab.grader.shard import write_manifest
from kmodlab.grader.verdicts.judges import GENERIC_CHECKS
from kmodlab.paths import atomic_write

if TYPE_CHECKING:  # rich is imported only when a bar is shown
    from rich.progress import Progress, TaskID

GradeFn = Callable[[Path], Report]
GRADER_CHECK = "grader"  # the check id of a report for a submission the grader failed on
SUMMARY_CSV = "summary.csv"
GRADEBOOK_CSV = "gradebook.csv"  # for an LMS: student, total, max, percent
FIXED_COLUMNS = ("name", "score", "max_score", "status", "flagged")
TRACEBACK_LINES = 30  # enough to find the failing frame, short enough to read
# File systems allow 255 bytes per name; ".json"/".txt" and a temporary
# suffix for the atomic write must fit too.
MAX_STEM_BYTES = 200
# A spreadsheet runs a cell starting with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class BatchSummary:
    """What a batch run did; the reports themselves are in output_dir."""

    output_dir: Path
    graded: list[str] = field(default_factory=list)  # graded in this run
    resumed: list[str] = field(default_factory=list)  # had a valid report already
    errors: list[str] = field(default_factory=list)  # the grader failed on these (this run)
    # Not graded, with why: a grader error (this run or an earlier one) or a
    # report that could not be written. Non-empty: `grade-batch` exits 1.
    ungraded: dict[str, str] = field(default_factory=dict)

    @property
    def csv_path(self) -> Path:
        return self.output_dir / SUMMARY_CSV

    @property
    def total(self) -> int:
        return len(self.graded) + len(self.resumed)


def grade_batch(
    submissions_dir: Path,
    output_dir: Path,
    *,
    grade: GradeFn,
    jobs: int = 1,
    progress: bool = True,
    retry_errors: bool = False,
    shard: tuple[int, int] | None = None,
) -> BatchSummary:
    """Grade every subfolder of submissions_dir into output_dir/<name>.json and .txt
    (and <name>.evidence.json.xz, the evidence document it was judged from).

    Submissions with a valid <name>.json are not graded again (resume); with
    retry_errors, those whose report is a grader error are. jobs > 1 grades
    that many at once in threads (grade() spends its time in QEMU processes).
    With shard=(K, N), only the submissions in shard K of N are (kmodlab.grader.shard).
    """
    if jobs < 1:
        raise InputError(f"--jobs must be at least 1, not {jobs}", "pass --jobs 1 or more")
    subs = list_submissions(submissions_dir, output_dir)
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        if not os.access(output_dir, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, "permission denied")
    except OSError as e:  # e.g. an ordinary user pointing at a folder of root's
        raise InputError(
            f"--output-dir {output_dir}: cannot write there ({e.strerror})",
            "choose a folder you can write to",
        ) from None
    if shard is not None:
        subs = select_shard(subs, shard)
        write_manifest(output_dir, shard, [s.name for s in subs])
    batch = _Batch(output_dir, grade, BatchSummary(output_dir))
    todo = [sub for sub in subs if not batch.resume(sub, retry_errors=retry_errors)]
    batch.write_csv()
    with _progress_bar(progress, total=len(subs), done=len(subs) - len(todo)) as bar:
        batch.bar = bar
        if jobs == 1:
            for sub in todo:
                batch.run_one(sub)
        else:
            _run_parallel(batch, todo, jobs)
    for name, report in batch.reports.items():
        if (check := report.check(GRADER_CHECK)) is not None:
            batch.summary.ungraded.setdefault(name, check.summary)
    return batch.summary


def report_stem(name: str) -> str:
    """The file name (without .json/.txt) of a submission's reports. Deterministic.

    The folder's own name when it is a plain file name; else up to 40 of its
    letters and digits and a hash of the whole name, so that a 245-byte name,
    a newline, a leading dash or undecodable bytes never reach a file name.
    """
    raw = name.encode("utf-8", "surrogateescape")
    plain = (
        name.isprintable()
        and len(raw) <= MAX_STEM_BYTES
        and not name.startswith(("-", "."))
        and raw.decode("utf-8", "replace") == name
    )
    if plain:
        return name
    readable = re.sub(r"[^A-Za-z0-9_+-]+", "_", name)[:40].strip("_-") or "submission"
    return f"{readable}-{hashlib.sha256(raw).hexdigest()[:12]}"


def shown_name(name: str) -> str:
    """A folder name as text: undecodable bytes become U+FFFD (the JSON and CSV are UTF-8)."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def csv_cell(text: str) -> str:
    """A text cell a spreadsheet shows as text: a leading ' before = + - @, tab or CR."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _run_parallel(batch: _Batch, todo: Sequence[Path], jobs: int) -> None:
    # Twice as many grades as jobs are under way: `jobs` of them in their
    # guests, the others building (pipeline.staged): a guest's waits leave
    # the cores to the next builds.
    from kmodlab.grader.pipeline import staged  # not at import: rejudging needs no guest

    with staged(jobs):
        _run_pool(batch, largest_first(todo), 2 * jobs)


def largest_first(subs: Sequence[Path]) -> list[Path]:
    """The submissions, those with the most source bytes first (then by name).

    The longest jobs first leaves the short ones to fill the cores at the
    end of a batch, instead of one long grade running alone. Links are
    never followed (run_one refuses them).
    """

    def size(sub: Path) -> int:
        total = 0
        with contextlib.suppress(OSError):
            if not sub.is_symlink():
                for f in sub.rglob("*"):
                    if f.suffix in (".c", ".h") and f.is_file() and not f.is_symlink():
                        total += f.stat().st_size
        return total

    return sorted(subs, key=lambda sub: (-size(sub), sub.name))


def _run_pool(batch: _Batch, todo: Sequence[Path], jobs: int) -> None:
    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="kmodlab-grade")
    try:
        futures = [pool.submit(batch.run_one, sub) for sub in todo]
        for f in as_completed(futures):
            f.result()  # run_one catches grader failures; what reaches here is ours (disk full)
    except BaseException:
        # Ctrl-C or a write failure: start nothing new; running grades finish
        # and still write their reports.
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def list_submissions(submissions_dir: Path, output_dir: Path | None = None) -> list[Path]:
    """The submission folders, sorted by name: visible subfolders, not the output folder."""
    if not submissions_dir.is_dir():
        raise InputError(
            f"{submissions_dir}: not a folder", "pass the folder that holds one folder per student"
        )
    skip = output_dir.resolve() if output_dir is not None else None
    subs = sorted(
        # A link to a folder is listed (and refused when graded, see run_one), not skipped.
        (p for p in submissions_dir.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.name,
    )
    subs = [p for p in subs if p.resolve() != skip]
    if not subs:
        if any(submissions_dir.glob("*.c")):
            raise InputError(
                f"{submissions_dir} looks like one submission, not a folder of submissions",
                "grade it alone, or pass the folder that holds it",
            )
        raise InputError(
            f"{submissions_dir}: no submission folders in it",
            "put each student's files in their own subfolder",
        )
    return subs


def load_report(path: Path) -> Report | None:
    """The report in path if it is a whole, valid report; else None (grade again)."""
    try:
        return Report.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        # Missing, torn by a kill before os.replace existed, or another schema.
        return None


def error_report(name: str, exc: BaseException, duration_s: float = 0.0) -> Report:
    """The report for a submission the grader failed on: one check "grader", status error."""
    message = exc.line() if isinstance(exc, KmodlabError) else str(exc)
    tb = "".join(traceback.format_exception(exc)).rstrip().splitlines()[-TRACEBACK_LINES:]
    finding = Finding(
        kind="grader-error",
        message=f"{type(exc).__name__}: {message}",
        data={"detail": "\n".join(tb)},
    )
    check = CheckResult(
        id=GRADER_CHECK,
        status="error",
        score=0.0,
        max_score=0.0,
        summary=f"the grader failed on this submission: {type(exc).__name__}: {message}",
        findings=[finding],
    )
    return Report(submission=name, kernel="unknown", checks=[check], duration_s=duration_s)


class _Batch:
    """Shared state of one run; the lock serialises CSV writes and bookkeeping."""

    def __init__(self, output_dir: Path, grade: GradeFn, summary: BatchSummary) -> None:
        self.output_dir = output_dir
        self.grade = grade
        self.summary = summary
        self.reports: dict[str, Report] = {}
        self.lock = threading.Lock()
        self.bar: _Bar = _Bar(None, None)

    def path(self, sub: Path, suffix: str) -> Path:
        return self.output_dir / f"{report_stem(sub.name)}{suffix}"

    def resume(self, sub: Path, *, retry_errors: bool) -> bool:
        """Take over a finished report; False when the submission needs grading."""
        old = load_report(self.path(sub, ".json"))
        if old is None or (retry_errors and old.check(GRADER_CHECK)):
            return False
        self.reports[sub.name] = old
        self.summary.resumed.append(sub.name)
        if not self.path(sub, ".txt").exists():  # cheap to redraw from the JSON
            try:
                atomic_write(self.path(sub, ".txt"), self._text(sub, old).encode())
            except OSError as e:  # the JSON verdict stands; the text is a courtesy
                self.summary.ungraded[sub.name] = f"its text report could not be written: {e}"
        return True

    def run_one(self, sub: Path) -> None:
        self.bar.start(sub.name)
        t0 = time.monotonic()
        try:
            if sub.is_symlink():
                # A student's upload (an unpacked LMS zip) may hold a link to anywhere
                # on this machine: grading it would build, and quote, those files.
                raise InputError(
                    f"{sub.name} is a symbolic link (to {os.readlink(sub)}), not a folder:"
                    " not graded",
                    "put the student's files in a folder of its own",
                )
            report = self.grade(sub)
            if not isinstance(report, Report):
                raise TypeError(f"grade() returned {type(report).__name__}, not a Report")
            report.submission = shown_name(report.submission)  # the JSON is UTF-8
            body = to_json(report)  # before writing anything: a NaN must not tear the pair
        except Exception as e:  # any failure of the grader is this submission's error report
            report = error_report(shown_name(sub.name), e, time.monotonic() - t0)
            body = to_json(report)
        try:
            self._write(sub, report, body)
        except (OSError, ValueError) as e:  # this student's files only: the class goes on
            with self.lock:
                self.summary.ungraded[sub.name] = f"its report could not be written: {e}"
        with self.lock:
            self.reports[sub.name] = report
            self.summary.graded.append(sub.name)
            if report.check(GRADER_CHECK):
                self.summary.errors.append(sub.name)
            self.write_csv()
        self.bar.done(sub.name)

    @staticmethod
    def _text(sub: Path, report: Report) -> str:
        try:
            return to_text(report, sources=quotable(report, sub))
        except Exception as e:  # a renderer bug must not cost the JSON verdict
            return f"could not render this report as text ({type(e).__name__}: {e}); see the JSON\n"

    def _write(self, sub: Path, report: Report, body: str) -> None:
        text = self._text(sub, report)
        atomic_write(self.path(sub, ".txt"), text.encode("utf-8", "replace"))
        # The evidence the report was judged from: `grade-batch --rejudge` re-scores it.
        evidence = self.path(sub, EVIDENCE_SUFFIX)
        if report.evidence is not None:
            write_evidence(evidence, report.evidence)
        else:
            evidence.unlink(missing_ok=True)  # an older grade's must not outlive its report
        # The JSON goes last: its presence is what marks the submission finished.
        atomic_write(self.path(sub, ".json"), (body + "\n").encode("utf-8"))

    def write_csv(self) -> None:
        """Rewrite summary.csv from every report so far (caller holds the lock or is alone)."""
        atomic_write(self.output_dir / SUMMARY_CSV, summary_csv(self.reports).encode("utf-8"))
        atomic_write(self.output_dir / GRADEBOOK_CSV, gradebook_csv(self.reports).encode("utf-8"))


def summary_csv(reports: dict[str, Report]) -> str:
    """name, score, max_score, one column per check id (its score), status, flagged; rows by name.

    flagged reads "flagged for review" when the integrity check failed, else is empty.
    """
    names = sorted(reports)
    ids = [c for c in GENERIC_CHECKS if any(reports[n].check(c) for n in names)]
    for n in names:  # then exercise checks, in the order the first report lists them
        for c in reports[n].checks:
            if c.id not in ids:
                ids.append(c.id)
    # A check named like a fixed column would make the header ambiguous.
    header = ["name", "score", "max_score"]
    header += [csv_cell(f"check:{i}" if i in FIXED_COLUMNS else i) for i in ids]
    header += ["status", "flagged"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for n in names:
        r = reports[n]
        cells = [_cell(c.score) if (c := r.check(i)) else "" for i in ids]
        name = csv_cell(shown_name(n))
        flag = FLAGGED if r.flagged else ""
        writer.writerow([name, _cell(r.score), _cell(r.max_score), *cells, overall_status(r), flag])
    return out.getvalue()


def gradebook_csv(reports: dict[str, Report]) -> str:
    """The grades an LMS imports: student, total, max, percent; one row per student by name.

    A submission the grader failed on has empty cells (not 0): it has no grade yet, and an
    LMS import leaves an empty cell ungraded instead of recording a zero.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["student", "total", "max", "percent"])
    for name in sorted(reports):
        writer.writerow([csv_cell(shown_name(name)), *gradebook_row(reports[name])])
    return out.getvalue()


def gradebook_row(report: Report) -> list[str]:
    """total, max and percent (two decimals) of one report; empty for a grader error."""
    if report.check(GRADER_CHECK) or report.max_score <= 0:
        return ["", "", ""]
    percent = f"{100 * report.score / report.max_score:.2f}"
    return [_cell(report.score), _cell(report.max_score), percent]


def overall_status(report: Report) -> str:
    """error if the grader could not decide something, else fail if any check failed, else pass."""
    statuses = {c.status for c in report.checks}
    return "error" if "error" in statuses else "fail" if "fail" in statuses else "pass"


def _cell(x: float) -> str:
    return f"{round(x, 3):g}"


# -- progress -------------------------------------------------------------------
class _Bar:
    """n/total, the submissions being graded now and an ETA, on stderr; or nothing."""

    def __init__(self, progress: Progress | None, task: TaskID | None) -> None:
        self.progress, self.task = progress, task
        self.running: list[str] = []
        self.lock = threading.Lock()

    def _show(self, advance: int) -> None:
        if self.progress is None or self.task is None:
            return
        desc = "grading " + ", ".join(map(_bar_name, self.running)) if self.running else "grading"
        self.progress.update(self.task, description=desc, advance=advance)

    def start(self, name: str) -> None:
        with self.lock:
            self.running.append(name)
            self._show(0)

    def done(self, name: str) -> None:
        with self.lock:
            self.running.remove(name)
            self._show(1)


def _bar_name(name: str) -> str:
    """A folder name fit for the bar: no rich markup, no control characters, short."""
    from rich.markup import escape

    text = "".join(c if c.isprintable() else "?" for c in shown_name(name))
    return escape(text if len(text) <= 40 else text[:39] + "…")


@contextmanager
def _progress_bar(enabled: bool, *, total: int, done: int) -> Iterator[_Bar]:
    if not enabled:
        yield _Bar(None, None)
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as progress:
        # Resumed submissions count as done but are not speed samples, so the
        # ETA reflects real grading time.
        task = progress.add_task("grading", total=total, completed=done)
        yield _Bar(progress, task)
