"""The course's seven exercises, graded for real as students' work would be.

For every stage: the reference solution (solutions/<stage>) earns full marks,
the starter (exercises/<stage>) builds and earns exactly the score its README
and docs/exercises.md promise, and typical wrong answers
(tests/data/exercises/<stage>/<name>) earn partial marks, fail exactly the
checks their mistake breaks, and get the feedback a student needs to fix it.

Everything is graded once, in one module-scoped fixture, two submissions at
a time, each in fresh guests of the shared lab machine.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kmodlab.grader.exercise_plan import autograder_dir, known_exercises
from kmodlab.grader.pipeline import grade
from kmodlab.grader.report.formats import to_text
from kmodlab.grader.report.model import Report
from kmodlab.grader.verdicts.expectations import GATE_FLOOR, load_expectations
from kmodlab.grader.verdicts.judges import GENERIC_CHECKS
from tests.expected import RMMOD_KILLED

pytestmark = [pytest.mark.vm, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
WRONG_ANSWERS = ROOT / "tests" / "data" / "exercises"
STAGES = ("setup", "hello", "kbuild", "params", "symbols", "rules", "unwinding", "capstone")

# (score, max score) of each starter, as docs/exercises.md and its README say:
# at most 30 % of the points (the scoring policy, docs/expectations.md).
STARTER = {
    "setup": (3, 12),
    "hello": (4, 14),
    "kbuild": (0, 19),
    "params": (3.33, 16),
    "symbols": (0, 16),  # consumer.c is written whole
    "rules": (1.67, 15),
    "unwinding": (4.33, 15),
    "capstone": (0, 16),  # an empty file: written from the specification
}
# integrity reads the sources, so it runs (and passes) when the build fails.
SKIPPED_AFTER_BUILD = {c: "skip" for c in GENERIC_CHECKS[1:] if c != "integrity"}
# kbuild: the Makefile is judged from the files even when the build fails.
KBUILD_UNBUILT = {
    "build": "fail",
    **SKIPPED_AFTER_BUILD,
    "makefile": "fail",
    "pair-log": "skip",
    "extra-symbols": "skip",
}
# The checks a starter does not pass (all others pass).
STARTER_FAILS = {
    "setup": {"ready": "fail"},
    "hello": {"greetings": "fail", "modinfo": "fail"},
    "kbuild": KBUILD_UNBUILT,
    "params": {"count-param": "fail", "name-param": "fail"},
    "symbols": {
        "build": "fail",
        **SKIPPED_AFTER_BUILD,
        "exports": "skip",
        "conversation": "skip",
        "in-use": "skip",
        "needs-provider": "skip",
    },
    # exit prints __initdata: rmmod oopses, so what needs an unload does not run.
    "rules": {
        "unload": "fail",
        "cycle": "skip",
        "kernel-health": "fail",
        "leaks": "skip",
        "registrations": "skip",
        "fault-injection": "fail",
        "exit-order": "skip",
        "shout": "fail",
        "irq-line": "fail",
        "init-sections": "fail",
    },
    "unwinding": {"fault-injection": "fail"},
    "capstone": {
        "build": "fail",
        **SKIPPED_AFTER_BUILD,
        "interfaces": "skip",
        "lifecycle": "skip",
        "modinfo": "skip",
    },
}


@dataclass(frozen=True)
class Wrong:
    """A typical wrong answer: its score, the checks it does not pass, the feedback it gets."""

    score: float
    not_passing: dict[str, str]
    # (check id, text the finding's message contains, file, source line holding `needle`)
    feedback: list[tuple[str, str, str | None, str | None]] = field(default_factory=list)


def finding(check: str, text: str, file: str | None = None, needle: str | None = None):
    return (check, text, file, needle)


WRONG: dict[str, dict[str, Wrong]] = {
    "setup": {
        "wrong_text": Wrong(
            3, {"ready": "fail"}, [finding("ready", "expected on load: 'kmodlab: ready'")]
        ),
        "on_unload": Wrong(
            3, {"ready": "fail"}, [finding("ready", "expected on load: 'kmodlab: ready'")]
        ),
    },
    "hello": {
        "capital_world": Wrong(
            11.2, {"greetings": "fail"}, [finding("greetings", "expected on load: 'Hello, world!'")]
        ),
        "mit_license": Wrong(
            10.4,
            {"kernel-health": "fail", "modinfo": "fail"},
            [
                finding("kernel-health", "tainted P: proprietary module loaded"),
                finding("modinfo", "license is 'MIT', expected"),
            ],
        ),
        "no_exit": Wrong(
            7.2,
            {
                "unload": "fail",
                "cycle": "skip",
                "kernel-health": "skip",
                "leaks": "skip",
                "registrations": "skip",
                "exit-order": "skip",
                "greetings": "fail",
            },
            [
                finding(
                    "build", "'hello_exit' defined but not used", "hello.c", "hello_exit(void)"
                ),
                finding("unload", "removing hello failed: -EBUSY"),
                finding("unload", "it has no exit function"),
                finding("greetings", "expected on unload: 'Goodbye, world!'"),
            ],
        ),
        # Not a partial score: modpost refuses a module without a license.
        "no_license": Wrong(
            0,
            {"build": "fail", **SKIPPED_AFTER_BUILD, "greetings": "skip", "modinfo": "skip"},
            [finding("build", 'has no MODULE_LICENSE(): add MODULE_LICENSE("GPL")', "hello.c")],
        ),
    },
    "kbuild": {
        # obj-y: nothing for kbuild to build as a module, and no guessing here.
        "broken_makefile": Wrong(
            0,
            KBUILD_UNBUILT,
            [
                finding("makefile", "Makefile has no obj-m line: kbuild would build no module"),
                finding("makefile", "obj-y builds code into the kernel itself"),
            ],
        ),
        # pair_util.o not linked: modpost finds pair_sum undefined; the Makefile says why.
        "missing_object": Wrong(
            2.667,
            KBUILD_UNBUILT,
            [
                finding("build", "pair_sum"),
                finding(
                    "makefile",
                    "kbuild would link kmodlab_pair.ko from pair_main.o only: "
                    "pair_util.o is missing",
                ),
            ],
        ),
        # pair.ko builds and loads, logging under its name: the name comes from obj-m.
        # (provider/ and consumer/ are right: extra-symbols passes.)
        "wrong_name": Wrong(
            7.6,
            {"makefile": "fail", "pair-log": "fail"},
            [
                finding(
                    "makefile", "kbuild would build pair.ko from Makefile, and no kmodlab_pair.ko"
                ),
                finding("pair-log", "expected on load: 'kmodlab_pair: 2 + 3 = 5'"),
            ],
        ),
    },
    "params": {
        "zero_default": Wrong(
            11.62,
            {"greeting": "fail", "count-param": "fail", "name-param": "fail"},
            [
                finding("count-param", "count defaults to '0', expected '1'"),
                finding("greeting", "expected on load: 'greeter: Hello, world! (count=1)'"),
            ],
        ),
        "no_permission": Wrong(
            12,
            {"count-param": "fail"},
            [
                finding(
                    "count-param",
                    "count is not readable in /sys/module/greeter/parameters: "
                    "give it a permission such as 0444",
                ),
                finding(
                    "count-param",
                    "/sys/module/greeter/parameters/count does not exist: "
                    "module_param(count, ..., 0) has no sysfs file; "
                    "the task asks for permission 0444",
                ),
            ],
        ),
        # Readable, so only the mode the task asks for (0444) tells it apart.
        "writable": Wrong(
            14,
            {"count-param": "fail"},
            [finding("count-param", "count has permission 0644 in sysfs, expected 0444")],
        ),
        "name_not_param": Wrong(
            8,
            {"name-param": "fail"},
            [finding("name-param", "greeter has no parameter name (module_param is missing)")],
        ),
    },
    "symbols": {
        "plain_export": Wrong(
            13.71,
            {"exports": "fail"},
            [
                finding(
                    "exports",
                    "provider_greet is exported with EXPORT_SYMBOL, expected EXPORT_SYMBOL_GPL",
                )
            ],
        ),
        "own_counter": Wrong(
            13.71,
            {"needs-provider": "fail"},
            [
                finding(
                    "needs-provider",
                    "expected Unknown symbol provider_greetings; the kernel named provider_greet",
                )
            ],
        ),
        "no_exports": Wrong(
            3,
            {"exports": "fail", "conversation": "fail", "in-use": "fail", "needs-provider": "fail"},
            [
                finding("in-use", "rmmod provider succeeded while consumer was loaded"),
                finding("needs-provider", "consumer.ko loaded without its provider"),
            ],
        ),
        # Not a partial score: a non-GPL module cannot link to a GPL-only symbol.
        "proprietary_consumer": Wrong(
            0,
            {
                "build": "fail",
                **SKIPPED_AFTER_BUILD,
                **dict.fromkeys(("exports", "conversation", "in-use", "needs-provider"), "skip"),
            },
            [
                finding(
                    "build",
                    "consumer.ko uses provider_greet, which the kernel exports to "
                    "GPL-compatible modules only",
                    "consumer.c",
                    'provider_greet("consumer")',
                )
            ],
        ),
    },
    "rules": {
        "unchecked": Wrong(
            13.33,
            {"fault-injection": "fail"},
            [
                finding(
                    "fault-injection",
                    "init crashed after kzalloc() failed: BUG: kernel NULL pointer dereference",
                    "rules.c",
                    "= kzalloc(",
                ),
                finding("fault-injection", "in rules_init()", "rules.c", "= kzalloc("),
            ],
        ),
        "ignored_failure": Wrong(
            13.33,
            {"fault-injection": "fail"},
            [
                finding(
                    "fault-injection",
                    "init ignored the failure of kzalloc() and returned 0",
                    "rules.c",
                    "= kzalloc(",
                )
            ],
        ),
        "no_free": Wrong(
            11.67,
            {"leaks": "fail"},
            [finding("leaks", "memory from kzalloc() is never freed", "rules.c", "= kzalloc(")],
        ),
        "no_level": Wrong(
            14.17,
            {"buffer-used": "fail"},
            [finding("buffer-used", "expected on unload at KERN_INFO: 'rules: freeing")],
        ),
        # No libc: the build fails, and says which kernel helper to use.
        "libc_port": Wrong(
            0,
            {
                "build": "fail",
                **SKIPPED_AFTER_BUILD,
                **dict.fromkeys(("buffer-used", "shout", "irq-line", "init-sections"), "skip"),
            },
            [
                finding(
                    "build",
                    "implicit declaration of function 'strdup': there is no C library in the "
                    "kernel; use kstrdup(s, GFP_KERNEL)",
                    "rules.c",
                    "strdup(s); /* as in user space */",
                ),
                finding(
                    "build", "use pr_info() instead", "rules.c", "copy); /* as in user space */"
                ),
            ],
        ),
        # The handler stays on the shared line: the next interrupt (rmmod's own answer
        # on the virtio console) runs the freed handler. rmmod's work was done (the
        # module is gone), so unload passes; nothing can be read after the panic.
        "irq_not_freed": Wrong(
            8.67,
            {
                "cycle": "skip",
                "kernel-health": "fail",
                "leaks": "skip",
                "registrations": "fail",
                "exit-order": "skip",
                "buffer-used": "fail",
            },
            [
                finding(
                    "registrations",
                    "request_threaded_irq() is never undone: add `free_irq(irq, &cookie)` "
                    "to rules_exit",
                    "rules.c",
                    "request_irq(",
                ),
                finding("kernel-health", "is still on its line: exit must free_irq() it"),
            ],
        ),
        # modpost's section mismatch, and the oops it predicts, at exit's line.
        "initdata_kept": Wrong(
            7.33,
            {
                **RMMOD_KILLED,
                "init-sections": "fail",
            },
            [
                finding(
                    "init-sections",
                    "section mismatch: rules's exit function (.exit.text) uses farewell "
                    "(.init.data), which is marked __initdata",
                    "rules.c",
                    'pr_info("rules: %s\\n", farewell);',
                ),
                finding(
                    "kernel-health",
                    "read init memory the kernel had freed",
                    "rules.c",
                    'pr_info("rules: %s\\n", farewell);',
                ),
            ],
        ),
    },
    "unwinding": {
        "skips_label": Wrong(
            12,
            {"fault-injection": "fail"},
            [
                finding(
                    "fault-injection",
                    "/proc/unwinding still exists: after misc_register() failed",
                    "unwinding.c",
                    "ret = misc_register(",
                ),
                finding(
                    "fault-injection",
                    "init jumped to `free_owner` and never reaches the label `remove_proc:`",
                    "unwinding.c",
                    "ret = misc_register(",
                ),
                finding(
                    "build",
                    "label 'remove_proc' defined but not used",
                    "unwinding.c",
                    "remove_proc:",
                ),
            ],
        ),
        "early_returns": Wrong(
            6,
            {"fault-injection": "fail"},
            [
                finding("fault-injection", "left behind: kzalloc()", "unwinding.c", "= kstrdup("),
                finding(
                    "fault-injection", "kstrdup() at unwinding.c:", "unwinding.c", "= proc_create("
                ),
                finding(
                    "fault-injection",
                    "/proc/unwinding still exists",
                    "unwinding.c",
                    "ret = misc_register(",
                ),
            ],
        ),
        "lost_errno": Wrong(
            9,
            {"fault-injection": "fail"},
            [
                finding(
                    "fault-injection",
                    "init ignored the failure of kstrdup() and returned 0",
                    "unwinding.c",
                    "= kstrdup(",
                ),
                finding(
                    "fault-injection",
                    "init ignored the failure of proc_create() and returned 0",
                    "unwinding.c",
                    "= proc_create(",
                ),
            ],
        ),
        # exit frees what /proc/unwinding reads before proc_remove(): found at the kfree.
        "wrong_order": Wrong(
            12,
            {"exit-order": "fail"},
            [
                finding(
                    "exit-order",
                    "`kfree(state)` at unwinding.c:",
                    "unwinding.c",
                    "kfree(state); /* too early",
                ),
                finding(
                    "exit-order",
                    "release in the reverse order of init, `proc_remove(proc_entry)` first",
                    "unwinding.c",
                    "kfree(state->owner); /* too early",
                ),
            ],
        ),
    },
    "capstone": {
        # No vacuous full marks: an init that registers nothing has no failure to handle.
        "registers_nothing": Wrong(
            4.33,
            {"fault-injection": "fail", "interfaces": "fail"},
            [
                finding("fault-injection", "init never calls proc_create(): the task asks for it"),
                finding("fault-injection", "init never calls misc_register()"),
                # interfaces is hidden (after_published): its findings name no file.
                finding("interfaces", "a file it expects does not exist while loaded (a hidden"),
            ],
        ),
        "leaks_proc": Wrong(
            13,
            {"cycle": "fail", "kernel-health": "fail", "registrations": "fail"},
            [
                finding("registrations", "/proc/kmodlab_counter still exists"),
                finding(
                    "registrations", "proc_create() is never undone", "capstone.c", "= proc_create("
                ),
                finding("cycle", "Cannot allocate memory"),
            ],
        ),
        "no_eof": Wrong(
            12.44,
            {"interfaces": "fail"},
            [
                # A hidden check (visibility): its finding shows no expected content.
                finding("interfaces", "a file's content is not as expected (a hidden check")
            ],
        ),
        "counts_from_zero": Wrong(
            12.44,
            {"interfaces": "fail"},
            [finding("interfaces", "a file's content is not as expected (a hidden check")],
        ),
    },
}

SUBMISSIONS: dict[tuple[str, str], Path] = {
    **{(s, "solution"): ROOT / "solutions" / s for s in STAGES},
    **{(s, "starter"): ROOT / "exercises" / s for s in STAGES},
    **{(s, w): WRONG_ANSWERS / s / w for s in STAGES for w in WRONG[s]},
}


@pytest.fixture(scope="module")
def reports(machine) -> dict[tuple[str, str], Report]:
    """Every submission graded against its stage, two at a time, as `kmodlab grade` does."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("KMODLAB_AUTOGRADER", raising=False)  # the checkout's autograder/
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = {
                key: pool.submit(grade, path, exercise=key[0], machine=machine)
                for key, path in SUBMISSIONS.items()
            }
            return {key: f.result() for key, f in futures.items()}


def statuses(report: Report) -> dict[str, str]:
    return {c.id: c.status for c in report.checks}


def line_of(path: Path, needle: str) -> int:
    """The 1-based line of the only line of `path` containing `needle`."""
    lines = [i for i, text in enumerate(path.read_text().splitlines(), 1) if needle in text]
    assert len(lines) == 1, f"{needle!r} is on lines {lines} of {path}"
    return lines[0]


# -- the exercises are complete and consistent ----------------------------------
def test_every_stage_is_an_exercise(monkeypatch):
    """Do `--exercise <stage>` names resolve to this checkout's expectations files?"""
    monkeypatch.delenv("KMODLAB_AUTOGRADER", raising=False)
    assert autograder_dir() == ROOT / "autograder"
    assert set(STAGES) <= set(known_exercises())
    for stage in STAGES:
        assert load_expectations(autograder_dir() / stage / "expectations.toml").name == stage
        for folder in (ROOT / "exercises" / stage, ROOT / "solutions" / stage):
            assert (folder / "Makefile").is_file() and list(folder.glob("*.c")), folder


@pytest.mark.parametrize("stage", STAGES)
def test_starter_score_is_documented(stage):
    """Do the stage's README and docs/exercises.md state the starter's score the test measures?"""
    score, max_score = STARTER[stage]
    readme = (ROOT / "exercises" / stage / "README.md").read_text()
    command = f"Check your work: `kmodlab grade exercises/{stage} --exercise {stage}`"
    assert command in readme
    assert readme.rstrip().endswith(f"The starter as given scores {score} / {max_score}.")
    table = (ROOT / "docs" / "exercises.md").read_text()
    row = next(line for line in table.splitlines() if line.startswith(f"| {stage} |"))
    assert f"| {score} / {max_score} |" in row
    expectations = load_expectations(ROOT / "autograder" / stage / "expectations.toml")
    assert expectations.max_score == max_score


def test_wrong_answers_are_documented():
    """Does docs/exercises.md list every wrong answer with the score the test measures?"""
    rows = (ROOT / "docs" / "exercises.md").read_text().splitlines()
    for stage, wrong in WRONG_CASES:
        score = f"{WRONG[stage][wrong].score:g} / {STARTER[stage][1]}"
        row = [r for r in rows if r.startswith(f"| {stage} | `{wrong}`:")]
        assert len(row) == 1 and f"| {score} |" in row[0], (stage, wrong, score)


# -- reference solutions ------------------------------------------------------------
@pytest.mark.parametrize("stage", STAGES)
def test_solution_scores_full_marks(reports, stage):
    """Does the reference solution pass every check, for every point?"""
    report = reports[stage, "solution"]
    assert report.exercise == stage
    assert set(statuses(report).values()) == {"pass"}, to_text(report)
    assert report.score == report.max_score == STARTER[stage][1]
    assert not [f for c in report.checks for f in c.findings if f.kind == "warning"]


# -- starters -----------------------------------------------------------------------
def test_starters_score_at_most_30_percent():
    """Does every documented starter score at most 30 % of its exercise's points?"""
    for stage, (score, max_score) in STARTER.items():
        assert score <= 0.3 * max_score, stage


@pytest.mark.parametrize("stage", STAGES)
def test_starter_builds_and_scores_as_documented(reports, stage):
    """Does the starter build and earn exactly its documented score, failing only the TODOs?"""
    report = reports[stage, "starter"]
    expected = {c.id: STARTER_FAILS[stage].get(c.id, "pass") for c in report.checks}
    assert statuses(report) == expected, to_text(report)
    assert (report.score, report.max_score) == STARTER[stage], to_text(report)


def test_starters_point_at_their_todos(reports):
    """Does the feedback on the starters name the line the student must fix?"""
    rules = reports["rules", "starter"]
    kzalloc = line_of(ROOT / "exercises" / "rules" / "rules.c", "= kzalloc(")
    fi = rules.check("fault-injection")
    assert [(p["call"], p["line"], p["verdict"]) for p in fi.data["points"]] == [
        ("kzalloc", kzalloc, "crash")
    ]
    assert [f.data["call"] for f in fi.findings if f.kind == "missing-call"] == [
        "kstrdup",
        "request_threaded_irq",
    ]
    farewell = line_of(ROOT / "exercises" / "rules" / "rules.c", "farewell);")
    (mismatch,) = rules.check("init-sections").findings
    assert (mismatch.kind, mismatch.line) == ("section-mismatch", farewell)
    oops = rules.check("kernel-health").findings[0]
    assert (oops.file, oops.line) == ("rules.c", farewell)

    source = ROOT / "exercises" / "unwinding" / "unwinding.c"
    fi = reports["unwinding", "starter"].check("fault-injection")
    calls = ["kzalloc", "kstrdup", "proc_create", "misc_register"]
    assert [(p["call"], p["line"]) for p in fi.data["points"]] == [
        (call, line_of(source, f" = {call}(")) for call in calls
    ]
    assert [p["verdict"] for p in fi.data["points"]] == ["crash", "fail", "fail", "fail"]
    assert "init ignored the failure of misc_register() and returned 0" in [
        f.message for f in fi.findings
    ]

    # The capstone starts from an empty file: the build says what is missing first.
    build = reports["capstone", "starter"].check("build")
    assert [f.message for f in build.findings if f.kind == "missing-license"] == [
        'capstone.ko has no MODULE_LICENSE(): add MODULE_LICENSE("GPL") to capstone.c'
    ]


# -- wrong answers --------------------------------------------------------------------
WRONG_CASES = [(s, w) for s in STAGES for w in WRONG[s]]


def _cases() -> list:
    return [pytest.param(stage, wrong, id=f"{stage}-{wrong}") for stage, wrong in WRONG_CASES]


def test_every_stage_has_two_partial_wrong_answers():
    """Does every stage have at least two wrong answers worth some, not all, of the points?"""
    for stage in STAGES:
        partial = [w for w, case in WRONG[stage].items() if 0 < case.score < STARTER[stage][1]]
        assert len(partial) >= 2, stage


def gate_factor(stage: str, report: Report) -> float:
    """What the scoring policy lets a passing check outside the taught ones earn."""
    taught = set(load_expectations(autograder_dir() / stage / "expectations.toml").taught)
    earned = sum(c.score for c in report.checks if c.id in taught)
    available = sum(c.max_score for c in report.checks if c.id in taught)
    return 1.0 if earned >= available else max(GATE_FLOOR, earned / available)


@pytest.mark.parametrize(("stage", "wrong"), _cases())
def test_wrong_answer_score(reports, stage, wrong):
    """Does the wrong answer earn exactly its (partial) score?"""
    report = reports[stage, wrong]
    case = WRONG[stage][wrong]
    assert report.max_score == STARTER[stage][1]
    assert report.score == case.score, to_text(report)
    # Points are lost exactly on the checks that do not pass, and, by the
    # scoring policy, on passing checks that are not what the stage teaches
    # while the taught ones do not pass: those earn the gate's share, and say so.
    factor = gate_factor(stage, report)
    taught = set(load_expectations(autograder_dir() / stage / "expectations.toml").taught)
    for check in report.checks:
        if check.max_score == 0:
            continue  # worth no points (integrity): nothing to lose or to gate
        if check.id in case.not_passing:
            assert check.score < check.max_score, to_text(report)
        elif check.id in taught or factor == 1:
            assert check.score == check.max_score, to_text(report)
        else:
            assert abs(check.score - check.max_score * factor) <= 0.01, to_text(report)
            assert f"counts {factor:.0%}" in check.summary, to_text(report)


@pytest.mark.parametrize(("stage", "wrong"), _cases())
def test_wrong_answer_fails_exactly_its_checks(reports, stage, wrong):
    """Do exactly the checks the mistake breaks fail (or not run), and all others pass?"""
    report = reports[stage, wrong]
    case = WRONG[stage][wrong]
    expected = {c.id: case.not_passing.get(c.id, "pass") for c in report.checks}
    assert statuses(report) == expected, to_text(report)


@pytest.mark.parametrize(("stage", "wrong"), _cases())
def test_wrong_answer_feedback(reports, stage, wrong):
    """Does the report tell the student what is wrong, at their line when there is one?"""
    report = reports[stage, wrong]
    source_dir = WRONG_ANSWERS / stage / wrong
    for check_id, text, file, needle in WRONG[stage][wrong].feedback:
        findings = report.check(check_id).findings
        matching = [f for f in findings if text in f.message]
        assert matching, f"{check_id}: no finding with {text!r}\n{to_text(report)}"
        if file is not None:
            assert file in {f.file for f in matching}, to_text(report)
        if needle is not None:
            line = line_of(source_dir / file, needle)
            assert (file, line) in {(f.file, f.line) for f in matching}, to_text(report)


def test_broken_ladder_is_drawn_with_the_skipped_label(reports):
    """Does the text report of a ladder skipping a label name it, and what it leaves behind?"""
    source = WRONG_ANSWERS / "unwinding" / "skips_label" / "unwinding.c"
    report = reports["unwinding", "skips_label"]
    text = to_text(report)
    label = line_of(source, "remove_proc:")
    assert f"never reaches the label `remove_proc:` (line {label})" in text
    assert "LEFT BEHIND: /proc/unwinding still exists" in text
    fi = report.check("fault-injection")
    bad = [p for p in fi.data["points"] if p["verdict"] != "pass"]
    assert [(p["call"], p["line"]) for p in bad] == [
        ("misc_register", line_of(source, "ret = misc_register("))
    ]
    assert [(x["api"], x["line"]) for x in bad[0]["leaked"]] == [
        ("proc_create", line_of(source, "= proc_create("))
    ]
    assert bad[0]["leftovers"] == ["/proc/unwinding still exists"]


def test_fault_injection_points_are_weighted(reports):
    """Does each of unwinding's four calls weigh one of its four fault-injection points?"""
    scores = {w: reports["unwinding", w].check("fault-injection").score for w in WRONG["unwinding"]}
    assert scores == {"skips_label": 3, "early_returns": 1, "lost_errno": 2, "wrong_order": 4}
    assert reports["unwinding", "solution"].check("fault-injection").max_score == 4
