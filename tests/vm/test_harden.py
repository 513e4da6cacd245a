"""Hostile submissions graded for real, in one batch, under hostile folder names.

Issue 10's attacks on the grading machine, each asserting the honest verdict:
- linkquote: symbolic links to a host file (a sub-folder Makefile, a .mod.c,
  a file deeper than the validator looks) plus `#line 1 "sub/Makefile"` and
  `#warning`s: the module is honest otherwise and may pass, but no report
  (text, JSON, Gradescope) may hold a line of the host file;
- incbin: `.incbin "/etc/machine-id"` printed by panic("%s"): it must not
  build, and no report may hold the file;
- nested: a Makefile with 2,000 nested `$(`: a failed build with a one-line
  reason, never a check in `error`;
- control: a clean module, full marks.
The folders carry the names that used to stop or corrupt a batch (245
characters, a newline and a leading dash, a spreadsheet formula, quotes).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kmodlab.grader.batch import grade_batch, report_stem
from kmodlab.grader.pipeline import grade
from kmodlab.grader.report.formats import read_sources, to_gradescope, to_text
from kmodlab.grader.report.model import Report
from kmodlab.grader.verdicts.judges import GENERIC_CHECKS

pytestmark = pytest.mark.vm
DATA = Path(__file__).parent.parent / "data"
SECRET = "KMODLAB-HOST-SECRET-4b1e"
SKIPPED = {c: "skip" for c in GENERIC_CHECKS[1:]}

NAMES = {
    "control": "Doe, Jane_" + "x" * 235,  # 245 characters
    "linkquote": '=HYPERLINK("evil.example","open me")',
    "incbin": "-incbin\nstudent",
    "nested": 'o\'brien "nested"',
}
# Each hostile case is also flagged for review (integrity): a #line naming a
# file it does not have (linkquote's hello.c, reused by nested) or an .incbin.
FLAGGED = {"integrity": "fail"}
EXPECTED = {
    "control": {},
    "linkquote": FLAGGED,
    "incbin": {"build": "fail", **SKIPPED, **FLAGGED},
    "nested": {"build": "fail", **SKIPPED, **FLAGGED},
}


def make_cases(subs: Path, host: Path) -> None:
    shutil.copytree(DATA / "corpus" / "clean_one", subs / NAMES["control"])
    link = subs / NAMES["linkquote"]
    shutil.copytree(DATA / "harden" / "linkquote", link)
    (link / "sub").mkdir()
    (link / "sub" / "Makefile").symlink_to(host)
    (link / "hello.mod.c").symlink_to(host)
    (link / "a" / "b" / "c" / "d").mkdir(parents=True)
    (link / "a" / "b" / "c" / "d" / "deep.c").symlink_to(host)
    shutil.copytree(DATA / "harden" / "incbin", subs / NAMES["incbin"])
    nested = subs / NAMES["nested"]
    nested.mkdir()
    (nested / "hello.c").write_text((DATA / "harden" / "linkquote" / "hello.c").read_text())
    (nested / "Makefile").write_text("obj-m := " + "$(" * 2000 + "hello.o" + ")" * 2000 + "\n")


def listing(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in root.rglob("*") if p.is_file() and not p.is_symlink()}


@pytest.fixture(scope="module")
def graded(machine, tmp_path_factory):
    """One batch, two jobs: every case under its hostile name."""
    host = tmp_path_factory.mktemp("host") / "grader-secret.conf"
    host.write_text("".join(f"{SECRET} line {n}\n" for n in range(1, 6)))
    subs = tmp_path_factory.mktemp("submissions")
    make_cases(subs, host)
    before = listing(subs.parent)
    out = tmp_path_factory.mktemp("reports")
    summary = grade_batch(
        subs, out, grade=lambda s: grade(s, machine=machine), jobs=2, progress=False
    )
    after = {k: v for k, v in listing(subs.parent).items() if not k.startswith(str(out))}
    return summary, subs, out, before, after


def outputs(graded, case: str) -> tuple[Report, list[str]]:
    """The report, and every form of it a person or a tool reads."""
    _, subs, out, _, _ = graded
    stem = report_stem(NAMES[case])
    report = Report.from_dict(json.loads((out / f"{stem}.json").read_text()))
    sources = read_sources(subs / NAMES[case])
    forms = [
        (out / f"{stem}.json").read_text(),
        (out / f"{stem}.txt").read_text(),
        to_text(report, sources=sources),
        json.dumps(to_gradescope(report, sources=sources)),
        (out / "summary.csv").read_text(),
    ]
    return report, forms


def test_every_student_is_graded_and_nothing_is_written_outside(graded):
    """Is every hostile-named folder graded, with nothing written outside the output folder?"""
    summary, _, out, before, after = graded
    assert sorted(summary.graded) == sorted(NAMES.values())
    assert summary.ungraded == {} and summary.errors == []
    assert after == before
    rows = (out / "summary.csv").read_text().splitlines()
    assert not [r for r in rows if r.startswith(("=", "+", "-", "@", '"='))]
    assert any(r.startswith("\"'=HYPERLINK(") for r in rows)


@pytest.mark.parametrize("case", list(NAMES))
def test_case_gets_the_honest_verdict(graded, case):
    report, _ = outputs(graded, case)
    expected = {c: EXPECTED[case].get(c, "pass") for c in GENERIC_CHECKS}
    assert {c.id: c.status for c in report.checks} == expected, to_text(report)


def test_symlinked_host_file_is_never_quoted(graded):
    """Do the #warning findings naming sub/Makefile stay, without a line of the host file?"""
    report, forms = outputs(graded, "linkquote")
    build = next(c for c in report.checks if c.id == "build")
    assert [f.line for f in build.findings if f.file == "sub/Makefile"] == [1, 2, 3]
    assert sum("is a symbolic link" in f.message for f in build.findings) == 2  # a/b/c/d: unseen
    for form in forms:
        assert SECRET not in form


def test_incbin_of_a_host_file_does_not_build_or_leak(graded):
    report, forms = outputs(graded, "incbin")
    machine_id = Path("/etc/machine-id")
    secret = machine_id.read_text().strip() if machine_id.is_file() else None
    build = next(c for c in report.checks if c.id == "build")
    assert any("machine-id" in f.message for f in build.findings)
    for form in forms:
        assert secret is None or secret not in form


def test_nested_makefile_is_a_failed_build_not_a_grader_error(graded):
    report, _ = outputs(graded, "nested")
    build = next(c for c in report.checks if c.id == "build")
    assert "nests $(...) more than 64 levels deep" in build.summary
    assert not [c for c in report.checks if c.status == "error"]
