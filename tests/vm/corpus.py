"""Grading a corpus for the VM tier: every case in one batch, two at a time.

    reports = grade_corpus(machine, tmp_path_factory, {case: folder, ...}, limits=LIMITS)

Each corpus test file lists its cases and the checks each case's bug breaks;
this grades them the one way (copied into one submissions folder, graded by
grade_batch with two jobs in fresh guests) and reads the reports back.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

from kmodlab.grader.batch import grade_batch
from kmodlab.grader.pipeline import Limits, grade
from kmodlab.grader.report.model import Report


def grade_corpus(
    machine,  # type: ignore[no-untyped-def]
    tmp_path_factory,
    sources: Mapping[str, Path],
    *,
    limits: Limits | None = None,
    prepare: Callable[[str, Path], None] | None = None,
) -> dict[str, Report]:
    """Each case's report, by case name. prepare(case, folder) may add files to a copy."""
    subs = tmp_path_factory.mktemp("submissions")
    for case, source in sources.items():
        shutil.copytree(source, subs / case)
        if prepare is not None:
            prepare(case, subs / case)
    out = tmp_path_factory.mktemp("reports")
    summary = grade_batch(
        subs, out, grade=lambda s: grade(s, machine=machine, limits=limits), jobs=2, progress=False
    )
    assert summary.errors == [] and len(summary.graded) == len(sources)
    return {
        case: Report.from_dict(json.loads((out / f"{case}.json").read_text())) for case in sources
    }
