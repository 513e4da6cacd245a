"""The kbuild stage's check: what kbuild makes of the student's own Makefile, never guessed.

Pure: Makefiles are read as data (kmodlab.build.objm), judged by
expectations.judge_kbuild, and rescored by the scoring policy.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kmodlab.build.validate import load_submission
from kmodlab.errors import InputError
from kmodlab.grader.exercise_plan import kbuild_evidence
from kmodlab.grader.report.model import CheckResult, Finding
from kmodlab.grader.verdicts import expectations as ex
from kmodlab.grader.verdicts.judges import GENERIC_CHECKS

ROOT = Path(__file__).resolve().parents[2]
WRONG = ROOT / "tests" / "data" / "exercises" / "kbuild"
PAIR = ex.KbuildCheck(
    id="makefile",
    kind="kbuild",
    points=4,
    title="makefile",
    partial=True,
    modules=(("kmodlab_pair", ("pair_main", "pair_util")),),
)


def kbuild_of(folder: Path) -> dict:
    """kbuild_evidence of a folder validated as a grade does, once."""
    try:
        return kbuild_evidence(load_submission(folder).texts())
    except InputError as e:
        return kbuild_evidence({}, e.line())


def judged(folder: Path) -> CheckResult:
    return ex.judge(PAIR, {"kbuild": kbuild_of(folder)})


def messages(result: CheckResult) -> list[str]:
    return [f.message for f in result.findings]


def test_the_solution_makefile_passes():
    """Does the reference Makefile name kmodlab_pair and link both objects?"""
    evidence = kbuild_of(ROOT / "solutions" / "kbuild")
    assert evidence["modules"] == {"kmodlab_pair": ["pair_main", "pair_util"]}
    result = judged(ROOT / "solutions" / "kbuild")
    assert (result.status, result.score) == ("pass", 4)


def test_the_starter_builds_nothing_and_says_so():
    """Is the starter's Makefile without obj-m a failure saying kbuild builds no module?"""
    result = judged(ROOT / "exercises" / "kbuild")
    assert (result.status, result.score) == ("fail", 0)
    assert result.data["fallback"] is True
    assert messages(result)[0] == (
        "Makefile has no obj-m line: kbuild would build no module "
        "(this exercise never builds one module per .c file)"
    )


def test_obj_y_is_no_module_and_the_finding_says_why():
    """Does an obj-y Makefile fail, the notes saying obj-y builds into the kernel?"""
    result = judged(WRONG / "broken_makefile")
    assert result.score == 0 and result.data["fallback"] is True
    assert any("obj-y builds code into the kernel itself" in m for m in messages(result))


def test_a_missing_object_is_named():
    """Does a module linked from pair_main.o only lose the pair_util.o item, naming it?"""
    result = judged(WRONG / "missing_object")
    assert (result.status, result.score) == ("fail", round(4 * 2 / 3, 3))
    assert messages(result) == [
        "kbuild would link kmodlab_pair.ko from pair_main.o only: pair_util.o is missing "
        "(list it in kmodlab_pair-y := ...)"
    ]
    assert "fallback" not in result.data


def test_a_wrong_module_name_says_what_kbuild_builds_instead():
    """Does obj-m += pair.o fail every item, saying kbuild builds pair.ko?"""
    result = judged(WRONG / "wrong_name")
    assert (result.status, result.score) == ("fail", 0)
    assert messages(result)[0] == (
        "kbuild would build pair.ko from Makefile, and no kmodlab_pair.ko: obj-m must list "
        "kmodlab_pair.o (the module's name is the name in obj-m)"
    )
    assert "fallback" not in result.data  # it builds a module: the rest counts, gated


def test_no_makefile_at_all_builds_nothing(tmp_path):
    """Is a folder without a Makefile a fallback, not one module per .c file?"""
    (tmp_path / "pair_main.c").write_text("int x;\n")
    result = judged(tmp_path)
    assert result.data["fallback"] is True
    assert "there is no Makefile (or Kbuild)" in messages(result)[0]


def test_a_makefile_kbuild_refuses_is_a_finding(tmp_path):
    """Does obj-m naming a .c file fail with kbuild's reason, never run?"""
    (tmp_path / "pair_main.c").write_text("int x;\n")
    (tmp_path / "Makefile").write_text("obj-m += pair_main.c\n")
    result = judged(tmp_path)
    assert result.data["fallback"] is True
    assert (
        "kbuild refuses Makefile: Makefile line 1: obj-m lists the source pair_main.c"
        in (messages(result)[0])
    )


def test_an_extra_object_and_an_extra_module_are_findings(tmp_path):
    """Do a third object and a second module each cost an item?"""
    for name in ("pair_main", "pair_util", "extra", "solo"):
        (tmp_path / f"{name}.c").write_text("int x;\n")
    (tmp_path / "Makefile").write_text(
        "obj-m += kmodlab_pair.o solo.o\nkmodlab_pair-y := pair_main.o pair_util.o extra.o\n"
    )
    result = judged(tmp_path)
    assert messages(result) == [
        "kbuild would also link extra.o into kmodlab_pair.ko, which the task does not ask",
        "kbuild would also build solo.ko (obj-m lists solo.o)",
    ]
    assert result.score == round(4 * 1 / 3, 3)


def test_a_kbuild_file_wins_over_the_makefile(tmp_path):
    """Is Kbuild read before Makefile, as kbuild itself does?"""
    for name in ("pair_main", "pair_util"):
        (tmp_path / f"{name}.c").write_text("int x;\n")
    (tmp_path / "Makefile").write_text("obj-m += wrong.o\n")
    (tmp_path / "Kbuild").write_text(
        "obj-m := kmodlab_pair.o\nkmodlab_pair-y := pair_main.o pair_util.o\n"
    )
    assert judged(tmp_path).status == "pass"


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ("modules = {}", "`modules` is empty"),
        ("modules = { pair = [] }", "modules.pair must list its objects"),
        ('modules = { pair = ["a.c"] }', "modules.pair: 'a.c' is not an object name"),
    ],
)
def test_kbuild_checks_are_validated(tmp_path, entry, words):
    """Is a mistake in a kbuild check one line naming it?"""
    path = tmp_path / "expectations.toml"
    head = (
        'version = 1\n[exercise]\nname = "k"\n[[checks]]\nid = "m"\nkind = "kbuild"\npoints = 1\n'
    )
    path.write_text(head + entry + "\n")
    with pytest.raises(InputError) as e:
        ex.load_expectations(path)
    assert words in e.value.line()


def test_a_makefile_that_builds_nothing_counts_nothing_else():
    """With the kbuild check in fallback, do passing generic checks score 0, saying why?"""
    exp = ex.load_expectations(ROOT / "autograder" / "kbuild" / "expectations.toml")
    kb = judged(ROOT / "exercises" / "kbuild")
    checks = [CheckResult(c, "pass", 1.0, 1.0, "fine") for c in GENERIC_CHECKS]
    checks += [kb, CheckResult("pair-log", "pass", 2.0, 2.0, "fine")]
    scored = ex.score_report(exp, checks)
    assert sum(c.score for c in scored) == 0
    assert "counts 0%: kbuild builds no module from this Makefile (see makefile)" in (
        scored[1].summary  # load; build itself is rewritten (below)
    )


def test_a_guessed_build_is_not_offered_as_what_happened():
    """With the Makefile in fallback, is the build check a fail without the per-.c note?"""
    exp = ex.load_expectations(ROOT / "autograder" / "kbuild" / "expectations.toml")
    guessed = Finding(
        "no-obj-m", "Makefile has no obj-m line; each .c file is built as a module of its own"
    )
    other = Finding("undefined-symbol", "pair_main.ko uses pair_sum, which no module exports")
    build = CheckResult("build", "pass", 1.0, 1.0, "built 2 modules", [guessed, other])
    checks = [build, judged(ROOT / "exercises" / "kbuild")]
    scored = ex.score_report(exp, checks)[0]
    assert (scored.status, scored.score) == ("fail", 0)
    assert scored.findings == [other]
    assert "does not build one module per .c file" in scored.summary
