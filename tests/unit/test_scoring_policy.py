"""The scoring policy: required calls, checks gated on what the stage teaches, sysfs modes.

Pure: reports are built by hand and rescored by expectations.score_report,
the function the pipeline applies to every exercise report.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kmodlab.errors import InputError
from kmodlab.grader.report.model import CheckResult
from kmodlab.grader.verdicts import expectations as ex
from kmodlab.grader.verdicts.judges import GENERIC_CHECKS

ROOT = Path(__file__).resolve().parents[2]
HEAD = 'version = 1\n[exercise]\nname = "stage"\n'
GREETINGS = (
    '[[checks]]\nid = "greetings"\nkind = "log"\npoints = 2\npartial = true\non_load = ["hi"]\n'
)
MODINFO = (
    '[[checks]]\nid = "modinfo"\nkind = "modinfo"\npoints = 3\npartial = true\n'
    'module = "m"\nfields = { license = true, author = true, description = true }\n'
)


def load(tmp_path: Path, text: str) -> ex.Expectations:
    path = tmp_path / "expectations.toml"
    path.write_text(text)
    return ex.load_expectations(path)


def generic(points: list[str] | None = None, **scores: float) -> list[CheckResult]:
    """Every generic check passing, with full points unless scores says otherwise."""
    out = []
    for cid in GENERIC_CHECKS:
        w = ex.DEFAULT_GENERIC_POINTS[cid]
        calls = points or []
        data = {"points": [{"call": c} for c in calls]} if cid == "fault-injection" else {}
        if points is not None and cid == "fault-injection" and not points:
            summary = "init makes no fallible calls"
        else:
            summary = "fine"
        score = scores.get(cid.replace("-", "_"), w)
        status = "pass" if score == w else "fail"
        out.append(CheckResult(cid, status, score, w, summary, [], data))
    return out


def by_id(checks: list[CheckResult], cid: str) -> CheckResult:
    return next(c for c in checks if c.id == cid)


def own(cid: str, score: float, max_score: float) -> CheckResult:
    return CheckResult(cid, "pass" if score == max_score else "fail", score, max_score, "own")


def total(checks: list[CheckResult]) -> float:
    return round(sum(c.score for c in checks), 3)


# -- gating ------------------------------------------------------------------------
def test_an_untouched_starter_earns_only_what_its_taught_checks_earn(tmp_path) -> None:
    """Does a starter passing every generic check but 1 of 5 taught points score <= 30 %?"""
    exp = load(tmp_path, HEAD + GREETINGS + MODINFO)
    checks = [*generic(), own("greetings", 0, 2), own("modinfo", 1, 3)]
    assert total(checks) == 10  # what it scored before the policy: 10 / 14
    scored = ex.score_report(exp, checks)
    # 1 of 5 taught points is 20 %, below the floor: the generic 9 points count a third.
    assert round(ex.GATE_FLOOR, 6) == round(1 / 3, 6)
    assert total(scored[: len(GENERIC_CHECKS)]) == 3
    assert total(scored) == 4 and total(scored) <= 0.3 * exp.max_score
    build = scored[0]
    assert build.status == "pass" and build.max_score == 1 and build.score == 0.333
    assert "counts 33%: the checks this stage teaches earned 1 of 5 points" in build.summary
    assert [c.score for c in scored[-2:]] == [0, 1]  # taught checks: as judged


def test_above_the_floor_the_generic_checks_follow_the_taught_share(tmp_path) -> None:
    """With 4 of 5 taught points, do the generic checks earn 80 % of their 9 points?"""
    exp = load(tmp_path, HEAD + GREETINGS + MODINFO)
    checks = [*generic(), own("greetings", 1, 2), own("modinfo", 3, 3)]
    scored = ex.score_report(exp, checks)
    assert total(scored[: len(GENERIC_CHECKS)]) == 7.2
    assert total(scored) == 11.2
    assert "counts 80%" in scored[0].summary


def test_a_complete_answer_keeps_every_point(tmp_path) -> None:
    """Is a report whose taught checks earned everything left exactly as judged?"""
    exp = load(tmp_path, HEAD + GREETINGS + MODINFO)
    checks = [*generic(), own("greetings", 2, 2), own("modinfo", 3, 3)]
    assert ex.score_report(exp, checks) == checks
    assert total(checks) == exp.max_score == 14


def test_a_broken_generic_check_still_costs_its_points(tmp_path) -> None:
    """Does a taught-complete answer that fails unload lose unload's point, as before?"""
    exp = load(tmp_path, HEAD + GREETINGS + MODINFO)
    checks = [*generic(unload=0), own("greetings", 2, 2), own("modinfo", 3, 3)]
    assert total(ex.score_report(exp, checks)) == 13


def test_teaches_names_the_checks_that_gate_the_others(tmp_path) -> None:
    """With teaches = [fault-injection], do the own checks count only as far as it does?"""
    head = HEAD + 'teaches = ["fault-injection"]\n'
    exp = load(tmp_path, head + GREETINGS)
    assert exp.taught == ("fault-injection",)
    checks = [*generic(fault_injection=0.5), own("greetings", 2, 2)]
    scored = ex.score_report(exp, checks)
    # 0.5 of 2 is 25 %, below the floor: the 9 other points count a third.
    assert by_id(scored, "fault-injection").score == 0.5  # taught: as judged
    assert scored[-1].status == "pass" and scored[-1].score < 2
    assert total(scored) == 0.5 + 3


def test_an_exercise_without_own_checks_is_not_gated(tmp_path) -> None:
    """Is an exercise of generic checks only (no taught checks) scored as judged?"""
    exp = load(tmp_path, HEAD)
    checks = generic(leaks=0)
    assert ex.score_report(exp, checks) == checks


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ('teaches = ["greeting"]\n', "teaches: 'greeting' is not a check of this exercise"),
        ("teaches = []\n", "`teaches` is empty"),
        ('requires = ["k zalloc"]\n', "requires: 'k zalloc' is not a C identifier"),
        ("requires = 3\n", "`requires` must be a list"),
    ],
)
def test_policy_fields_are_validated(tmp_path, line, words) -> None:
    """Is a teaches or requires mistake one line naming the file and the fix?"""
    with pytest.raises(InputError) as e:
        load(tmp_path, HEAD + line + GREETINGS)
    assert words in e.value.line()


# -- required calls --------------------------------------------------------------------
def test_fault_injection_without_the_required_calls_fails_naming_them(tmp_path) -> None:
    """Does an init that never calls proc_create/misc_register lose fault injection's points?"""
    exp = load(tmp_path, HEAD + 'requires = ["proc_create", "misc_register"]\n')
    scored = ex.score_report(exp, generic(points=[]))
    fi = by_id(scored, "fault-injection")
    assert fi.status == "fail" and fi.score == 0 and fi.max_score == 2
    assert [f.kind for f in fi.findings] == ["missing-call", "missing-call"]
    assert "init never calls proc_create()" in fi.findings[0].message
    assert "init never calls misc_register()" in fi.findings[1].message
    assert "required but never called: proc_create(), misc_register()" in fi.summary


def test_a_missing_required_call_costs_its_share(tmp_path) -> None:
    """With one of two required calls made and handled, is half of fault injection earned?"""
    exp = load(tmp_path, HEAD + 'requires = ["proc_create", "misc_register"]\n')
    fi = by_id(ex.score_report(exp, generic(points=["proc_create"])), "fault-injection")
    assert (fi.status, fi.score) == ("fail", 1)
    assert [f.data["call"] for f in fi.findings] == ["misc_register"]


def test_required_calls_all_made_change_nothing(tmp_path) -> None:
    """Does an init making every required call keep its fault-injection verdict?"""
    exp = load(tmp_path, HEAD + 'requires = ["kzalloc"]\n')
    checks = generic(points=["kzalloc", "kstrdup"])
    assert ex.score_report(exp, checks) == checks


def test_a_skipped_fault_injection_is_left_alone(tmp_path) -> None:
    """Is a fault-injection check that did not run (module does not load) not rewritten?"""
    exp = load(tmp_path, HEAD + 'requires = ["kzalloc"]\n')
    checks = generic()
    at = GENERIC_CHECKS.index("fault-injection")
    checks[at] = CheckResult("fault-injection", "skip", 0, 2, "not run")
    assert ex.score_report(exp, checks)[at] == checks[at]


# -- a parameter's mode ------------------------------------------------------------------
PARAM = ex.ParamCheck(
    id="p",
    kind="params",
    points=3,
    title="p",
    partial=True,
    module="greeter",
    name="count",
    type="int",
    default="1",
    value=None,
    log=None,
    perm=0o444,
)


def param_evidence(perm: str | None, default: str | None = "1") -> dict:
    entry = {"type": "int", "default": default, "perm": perm}
    return {"params": {"greeter": {"count": entry}}}


def test_a_parameter_asked_for_as_0444_passes_with_0444() -> None:
    """Does a parameter whose sysfs file is 0444 pass its mode?"""
    assert ex.judge(PARAM, param_evidence("444")).status == "pass"


@pytest.mark.parametrize(
    ("perm", "words"),
    [
        ("644", "count has permission 0644 in sysfs, expected 0444"),
        ("400", "count has permission 0400 in sysfs, expected 0444"),
    ],
)
def test_a_parameter_with_another_mode_fails_naming_both(perm, words) -> None:
    """Is a readable parameter with the wrong mode a finding, not a pass?"""
    result = ex.judge(PARAM, param_evidence(perm))
    assert result.status == "fail" and result.score == 2  # type and default of 3 items
    assert [f.message for f in result.findings][0].startswith(words)


def test_a_parameter_without_sysfs_file_fails_its_mode() -> None:
    """Does permission 0 (no sysfs file) fail both the default and the mode?"""
    result = ex.judge(PARAM, param_evidence(None, default=None))
    messages = [f.message for f in result.findings]
    assert result.score == 1  # only the type of 3 items
    assert any("does not exist: module_param(count, ..., 0)" in m for m in messages)


def test_perm_must_be_octal(tmp_path) -> None:
    """Is perm = "0999" refused when loading?"""
    entry = '[[checks]]\nid="p"\nkind="params"\npoints=1\nmodule="m"\nname="n"\nperm="0999"\n'
    with pytest.raises(InputError, match="octal permission"):
        load(tmp_path, HEAD + entry)


# -- the course's stages ------------------------------------------------------------------
def test_every_stage_declares_what_it_teaches() -> None:
    """Does every autograder stage with own checks load, each taught id a check it reports?"""
    for path in sorted((ROOT / "autograder").glob("*/expectations.toml")):
        exp = ex.load_expectations(path)
        ids = {*GENERIC_CHECKS, *(c.id for c in exp.checks)}
        assert exp.taught and set(exp.taught) <= ids, path
