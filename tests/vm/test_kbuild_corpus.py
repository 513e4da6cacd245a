"""The kbuild exercise's KBUILD_EXTRA_SYMBOLS step, graded for real (issue 12).

Real kbuild (the provider, then the consumer with the symbols files its own
Makefile names, read as data) and a real guest, in one batch of two jobs.
The reference solution, the starter and the Makefile mistakes of part 1
(broken Makefile, missing object, wrong module name) are graded with the
other exercises in tests/vm/test_exercises.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kmodlab.grader.batch import grade_batch
from kmodlab.grader.pipeline import Limits, grade
from kmodlab.grader.report.formats import to_text
from kmodlab.grader.report.model import Report

pytestmark = [pytest.mark.vm, pytest.mark.timeout(900)]
DATA = Path(__file__).parent.parent / "data" / "kbuild"
FIX = "KBUILD_EXTRA_SYMBOLS := $(PWD)/../provider/Module.symvers"
UNDEFINED = '`ERROR: modpost: "sums_add" [sums_user.ko] undefined!`'
CASES = ("no_extra_symbols", "wrong_path")


@pytest.fixture(scope="module")
def reports(machine, tmp_path_factory) -> dict[str, Report]:
    out = tmp_path_factory.mktemp("reports")
    summary = grade_batch(
        DATA,
        out,
        grade=lambda s: grade(s, exercise="kbuild", machine=machine, limits=Limits(cycles=4)),
        jobs=2,
        progress=False,
    )
    assert summary.errors == []
    return {c: Report.from_dict(json.loads((out / f"{c}.json").read_text())) for c in CASES}


@pytest.mark.parametrize("case", CASES)
def test_only_the_extra_symbols_step_fails(reports, case):
    """Does a consumer Makefile without the provider's Module.symvers fail extra-symbols
    alone, at 2 of 4 (both Makefiles build their modules; no build, no load), every other
    check passing?"""
    report = reports[case]
    bad = {c.id: c.status for c in report.checks if c.status != "pass"}
    assert bad == {"extra-symbols": "fail"}, to_text(report)
    assert report.check("extra-symbols").score == 2


def test_no_extra_symbols_says_what_modpost_does_and_the_line_to_add(reports):
    """Does the finding quote 6.1's modpost error with the symbol the real modpost found
    undefined, say it is an error (a warning only with KBUILD_MODPOST_WARN=1), and name
    the line to add?"""
    text = " ".join(f.message for f in reports["no_extra_symbols"].check("extra-symbols").findings)
    assert UNDEFINED in text and "KBUILD_MODPOST_WARN=1" in text
    assert f"add to consumer/Makefile: {FIX}" in text


def test_a_wrong_path_is_placed_at_its_line(reports):
    """Is the wrong KBUILD_EXTRA_SYMBOLS a finding at its line of consumer/Makefile,
    quoting it, with modpost's error and the right line?"""
    lines = (DATA / "wrong_path" / "consumer" / "Makefile").read_text().splitlines()
    (n,) = [i for i, t in enumerate(lines, 1) if t.startswith("KBUILD_EXTRA_SYMBOLS")]
    first = reports["wrong_path"].check("extra-symbols").findings[0]
    assert (first.file, first.line) == ("consumer/Makefile", n)
    assert lines[n - 1] in first.message and UNDEFINED in first.message and FIX in first.message
