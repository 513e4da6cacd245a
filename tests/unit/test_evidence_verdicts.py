"""The judges on captured evidence documents, in the fast tier.

Each document under tests/data/evidence was written by a real grade (real
kbuild, real guest) of a module with the bug its name says, or of a correct
control (clean_one, the exercises' reference solutions). Judging it again
here needs no VM: a change to a verdict is caught by the unit tests.
"""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from kmodlab.grader import evidence
from kmodlab.grader import exercise_plan as exercises
from kmodlab.grader.rejudge import rejudge_document
from kmodlab.grader.verdicts import expectations as exp
from kmodlab.grader.verdicts.judges import GENERIC_CHECKS
from tests.expected import RMMOD_KILLED

DATA = Path(__file__).parent.parent / "data" / "evidence"
AFTER_BUILD = {c: "skip" for c in GENERIC_CHECKS[1:] if c != "integrity"}

# document -> the checks that do not pass, and their status; every other check passes.
GENERIC: dict[str, dict[str, str]] = {
    "corpus/clean_one": {},
    "corpus/compile_error": {"build": "fail", **AFTER_BUILD},
    "corpus/garbage": {"build": "fail", **AFTER_BUILD, "integrity": "skip"},
    "corpus/oops_in_init": {**AFTER_BUILD, "load": "fail", "kernel-health": "fail"},
    "corpus/hang_in_init": {**AFTER_BUILD, "load": "fail", "kernel-health": "fail"},
    "corpus/leak_kmalloc": {"leaks": "fail"},
    "corpus/leak_chrdev": {"registrations": "fail"},
    "corpus/leak_misc": {"cycle": "fail", "registrations": "fail"},
    "corpus/ladder_skips_one": {"fault-injection": "fail"},
    "corpus/uninstrumentable": {"fault-injection": "error", "exit-order": "skip"},
    "corpus/timer_left_running": {
        "cycle": "skip",
        "kernel-health": "fail",
        "registrations": "fail",
    },
    "extra/forge_release": {"leaks": "fail", "integrity": "fail"},
    "extra/double_free": dict(RMMOD_KILLED),
    # exit frees the buffer before it removes the /proc entry that reads it.
    "extra/exit_order_wrong": {"exit-order": "fail"},
}
# exercise document -> the exercise's checks that do not pass (every other one passes).
EXERCISE: dict[str, dict[str, str]] = {
    "hello/solution": {},
    "hello/capital_world": {"greetings": "fail"},
    "hello/no_exit": {"greetings": "fail", "unload": "fail"},
    "hello/no_license": {"build": "fail", "greetings": "skip", "modinfo": "skip"},
    # An MIT license taints the kernel (P): modinfo and kernel-health both say so.
    "hello/mit_license": {"modinfo": "fail", "kernel-health": "fail"},
    "kbuild/solution": {},
    "kbuild/wrong_name": {"makefile": "fail", "pair-log": "fail"},
    # consumer/Makefile without KBUILD_EXTRA_SYMBOLS: modpost stops, nothing loads.
    "kbuild/no_extra_symbols": {"extra-symbols": "fail"},
    "params/solution": {},
    "params/zero_default": {"greeting": "fail", "count-param": "fail", "name-param": "fail"},
    "symbols/solution": {},
    "symbols/no_exports": {
        "exports": "fail",
        "conversation": "fail",
        "in-use": "fail",
        "needs-provider": "fail",
    },
    "capstone/solution": {},
    "capstone/no_eof": {"interfaces": "fail"},
    "rules/solution": {},
    # exit prints __initdata: modpost warns (build-clean), and rmmod oopses.
    "rules/initdata_kept": {
        **RMMOD_KILLED,
        "init-sections": "fail",
    },
}


def _doc(name: str) -> dict:
    return evidence.read_document(DATA / f"{name}.evidence.json.xz")


@pytest.fixture(autouse=True)
def no_processes(monkeypatch):
    """Judging runs no process: any attempt fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"judging started a process: {args[:1]}")

    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)


@pytest.mark.parametrize("name", list(GENERIC))
def test_generic_checks_from_captured_evidence(name):
    """Do exactly the checks this module's bug breaks fail (or not run), all others pass,
    judged from its evidence document alone?"""
    report = rejudge_document(_doc(name))
    got = {c.id: c.status for c in report.checks if c.id in GENERIC_CHECKS}
    assert got == {c: GENERIC[name].get(c, "pass") for c in GENERIC_CHECKS}


@pytest.mark.parametrize("name", list(EXERCISE))
def test_exercise_checks_from_captured_evidence(name):
    """Does each exercise check pass for the reference solution and fail (or skip) for the
    wrong answer, judged from the evidence document alone?"""
    report = rejudge_document(_doc(name))
    exercise = name.split("/")[0]
    ids = [c.id for c in exercises.load(exercise).expectations.checks]
    got = {c.id: c.status for c in report.checks if c.id in ids or c.id in EXERCISE[name]}
    want = {c: "pass" for c in ids} | EXERCISE[name]
    assert got == want
    assert report.exercise == exercise


def test_every_check_kind_passes_and_fails_somewhere():
    """Do the captures cover every generic check and every exercise check kind, each with
    a pass and a fail?"""
    seen: dict[str, set[str]] = {}
    for name in (*GENERIC, *EXERCISE):
        report = rejudge_document(_doc(name))
        kinds = {}
        if report.exercise:
            kinds = {c.id: c.kind for c in exercises.load(report.exercise).expectations.checks}
        for c in report.checks:
            seen.setdefault(kinds.get(c.id, c.id), set()).add(c.status)
    for kind in (*GENERIC_CHECKS, *exp.KINDS):
        assert {"pass", "fail"} <= seen.get(kind, set()), kind


def test_a_leak_is_placed_at_the_students_line_without_the_ko():
    """Is the leaked allocation placed at leak_kmalloc.c's kmalloc line, decoded from the
    document's table (no .ko, no addr2line)?"""
    doc = _doc("corpus/leak_kmalloc")
    leaks = rejudge_document(doc).check("leaks")
    lines = doc["sources"]["leak_kmalloc.c"].splitlines()
    for f in leaks.findings:
        assert f.file == "leak_kmalloc.c" and "alloc(" in lines[f.line - 1]


def test_an_oops_is_decoded_to_the_students_line_without_the_ko():
    """Is the oops in init placed at the dereferencing line, from the recorded debug info?"""
    doc = _doc("corpus/oops_in_init")
    load = rejudge_document(doc).check("load")
    placed = [f for f in load.findings if f.file]
    assert placed and placed[0].file in doc["sources"]
    assert "null_deref_init" in placed[0].message


def test_a_rubric_change_shows_in_the_rejudged_report(tmp_path, monkeypatch):
    """With the exercise's expectations changed (another greeting expected), does the same
    evidence now fail that check: the rubric, not the evidence, decided?"""
    import shutil

    src = exercises.autograder_dir() / "hello"
    shutil.copytree(src, tmp_path / "hello")
    toml = tmp_path / "hello" / "expectations.toml"
    text = toml.read_text()
    assert "Hello, world!" in text
    toml.write_text(text.replace("Hello, world!", "Bonjour, le monde !"))
    before = rejudge_document(_doc("hello/solution")).check("greetings")
    monkeypatch.setenv("KMODLAB_AUTOGRADER", str(tmp_path))
    after = rejudge_document(_doc("hello/solution")).check("greetings")
    assert (before.status, after.status) == ("pass", "fail")


def test_the_trace_parser_reads_captured_traces_line_by_line_alike():
    """Does parse_trace (with its fast path for kmalloc/kfree lines) give exactly the events
    that reading each line with _event() gives, on every captured kmem trace?"""
    from kmodlab.grader.collection import kmemtrace as kt

    def by_line(text: str) -> list:
        out = []
        for line in kt._sections(text).get("trace", ()):
            m = kt._LINE.match(line)
            if m and (ev := kt._event(m["event"], m["body"])):
                head = dict(task=m["task"].strip(), pid=int(m["pid"]), timestamp=float(m["ts"]))
                out.append(dataclasses.replace(ev, **head))
        return out

    texts = []
    for path in sorted(DATA.rglob("*.evidence.json.xz")):
        doc = evidence.read_document(path)
        texts += [doc["trace"], *doc["trace_reads"], *(p["trace"] for p in doc["points"])]
    texts = [t for t in texts if t]
    assert len(texts) > 20
    for text in texts:
        parsed = [e for e in kt.parse_trace(text) if e.event != "vmalloc"]
        assert parsed == by_line(text)


def _fired_during_rmmod(doc: dict, after: bool) -> dict:
    """The timer_left document as it reads when the timer fires a moment sooner: inside
    rmmod, after the kernel freed the module (after=True), or while it is still listed
    among the modules linked in (after=False): the guest dies before rmmod answers."""
    import copy
    import re

    doc = copy.deepcopy(doc)
    crash = doc["settle"]["crash"]
    if not after:
        crash["console"] = re.sub(
            r"(Modules linked in:)", r"\1 timer_left(OE)", crash["console"], count=1
        )
    doc["unloads"][0].update(result=None, crash=crash)
    doc["settle"] = None
    doc["digest"] = evidence.digest(doc)
    return doc


def test_a_timer_firing_inside_rmmod_after_the_module_is_freed_reads_as_in_the_settle():
    """When the left-armed timer fires before rmmod's answer reaches the host, but into
    the module's freed memory, did rmmod still do its work: unload passes, and the same
    kernel-health and registrations findings blame the timer (what cannot be read after
    the crash is skipped, not failed)?"""
    settled = rejudge_document(_doc("corpus/timer_left_running"))
    raced = rejudge_document(_fired_during_rmmod(_doc("corpus/timer_left_running"), True))
    got = {c.id: c.status for c in raced.checks if c.id in GENERIC_CHECKS}
    cannot_read = {"leaks": "skip", "exit-order": "skip"}
    assert (
        got
        == {c: GENERIC["corpus/timer_left_running"].get(c, "pass") for c in GENERIC_CHECKS}
        | cannot_read
    )
    assert "died" in raced.check("leaks").summary
    for check in ("kernel-health", "registrations"):
        assert raced.check(check).findings[0].message == settled.check(check).findings[0].message


def test_a_crash_inside_rmmod_while_the_module_is_still_listed_fails_unload():
    """The same crash with the module still among those linked in (exit itself, or code the
    kernel runs before freeing it): the unload did not finish, so unload fails."""
    raced = rejudge_document(_fired_during_rmmod(_doc("corpus/timer_left_running"), False))
    assert raced.check("unload").status == "fail"
    assert "died during removing timer_left" in raced.check("unload").summary
