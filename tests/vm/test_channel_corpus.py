"""Hostile modules that reach for the grader's machinery, graded for real.

Each attack ends with the honest verdict, or flagged for review by the
`integrity` check, or both; each has a clean control that passes. All
cases are graded in one batch with two jobs, as an instructor would.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from kmodlab.grader.batch import grade_batch
from kmodlab.grader.pipeline import grade
from kmodlab.grader.report.formats import to_gradescope, to_text
from kmodlab.grader.report.model import Report
from kmodlab.grader.verdicts.judges import GENERIC_CHECKS

pytestmark = pytest.mark.vm
DATA = Path(__file__).parent.parent / "data" / "channel"
RUNTIME = [c for c in GENERIC_CHECKS if c not in ("build", "integrity")]

# case -> the statuses asserted (a set: any of them); every other check is not asserted
ATTACKS: dict[str, dict[str, set[str]]] = {
    # Looks for the channel among its own descriptors: there is none now, so
    # its init's -ENODEV stands.
    "forge_frame": {"load": {"fail"}, "integrity": {"fail"}},
    # Takes the channel from the agent (PID 1) and writes a forged answer:
    # the host refuses it; nothing from that guest is graded.
    "forge_from_init": {**{c: {"error"} for c in RUNTIME}, "integrity": {"fail"}},
    # Clears the shared trace buffer in exit, leaking: the private buffer keeps the leak.
    "trace_truncate": {"leaks": {"fail"}, "integrity": {"fail"}},
    # Clears every trace buffer it finds, paths built at run time: the read
    # after load disagrees with the read after unload. Never a pass.
    "trace_erase_hidden": {"leaks": {"fail", "error"}, "integrity": {"fail"}},
    "kallsyms_lookup": {"load": {"pass"}, "integrity": {"fail"}},
    "line_foreign": {"integrity": {"fail"}},
    "abs_include": {"integrity": {"fail"}},
    "incbin": {"integrity": {"fail"}},
    "kmodlab_symbol": {"integrity": {"fail"}},
}
CONTROLS = ("control_clean", "control_own_file")


@pytest.fixture(scope="module")
def graded(machine, tmp_path_factory) -> tuple[dict[str, Report], Path]:
    subs = tmp_path_factory.mktemp("submissions")
    for case in (*ATTACKS, *CONTROLS):
        shutil.copytree(DATA / case, subs / case)
    out = tmp_path_factory.mktemp("reports")
    summary = grade_batch(
        subs, out, grade=lambda s: grade(s, machine=machine), jobs=2, progress=False
    )
    assert summary.errors == []
    reports = {
        case: Report.from_dict(json.loads((out / f"{case}.json").read_text()))
        for case in (*ATTACKS, *CONTROLS)
    }
    return reports, out


@pytest.mark.parametrize("case", list(ATTACKS))
def test_attack_gets_the_honest_verdict_or_the_flag(graded, case):
    """Does each attack end with the honest verdict it asserts and the integrity flag?"""
    report = graded[0][case]
    got = {c.id: c.status for c in report.checks}
    for check, allowed in ATTACKS[case].items():
        assert got[check] in allowed, f"{check}: {got[check]}\n{to_text(report)}"
    assert report.flagged, to_text(report)


@pytest.mark.parametrize("case", CONTROLS)
def test_control_passes_everything(graded, case):
    """Does the honest control of the attacks pass every check, unflagged?"""
    report = graded[0][case]
    assert {c.id: c.status for c in report.checks} == dict.fromkeys(GENERIC_CHECKS, "pass"), (
        to_text(report)
    )
    assert not report.flagged


def test_forged_answer_is_named_and_refused(graded):
    """Is the forged frame reported as such, first, and no runtime check scored?"""
    report = graded[0]["forge_from_init"]
    integrity = report.check("integrity")
    assert integrity.findings[0].kind == "forged-answer"
    assert "id '0'" in integrity.findings[0].message
    assert all(report.check(c).score == 0 for c in RUNTIME)


def test_erased_trace_is_a_tamper_finding(graded):
    """Is a trace cleared between the read after load and after unload named as tampering?"""
    integrity = graded[0]["trace_erase_hidden"].check("integrity")
    assert [f.kind for f in integrity.findings] == ["tamper"]
    assert "cleared" in integrity.findings[0].message


def test_static_findings_name_file_and_line(graded):
    """Do the static findings point at the student's file and the offending line?"""
    reports = graded[0]
    cases = {
        "kallsyms_lookup": ("kallsyms_lookup.c", "register_kprobe"),
        "line_foreign": ("line_foreign.c", "#line"),
        "abs_include": ("abs_include.c", "#include"),
        "incbin": ("incbin.c", "bin"),
        "trace_truncate": ("trace_truncate.c", "/sys/kernel/tracing"),
        "kmodlab_symbol": ("kmodlab_symbol.c", "kmodlab_fail_nth"),
    }
    for case, (file, needle) in cases.items():
        f = reports[case].check("integrity").findings[0]
        source = (DATA / case / file).read_text().splitlines()
        assert f.file == file and needle in source[f.line - 1], (case, f)


def test_flag_reaches_every_output(graded):
    """Do the text report, JSON, summary.csv and Gradescope output all say "flagged for review"?"""
    reports, out = graded
    assert "FLAGGED FOR REVIEW" in (out / "incbin.txt").read_text()
    assert json.loads((out / "incbin.json").read_text())["flagged"] is True
    rows = {r["name"]: r for r in csv.DictReader((out / "summary.csv").open())}
    assert rows["incbin"]["flagged"] == "flagged for review"
    assert rows["control_clean"]["flagged"] == ""
    gs = to_gradescope(reports["incbin"])
    assert "FLAGGED FOR REVIEW" in gs["output"]
    assert (
        "flagged for review" in next(t for t in gs["tests"] if t["name"] == "integrity")["output"]
    )
