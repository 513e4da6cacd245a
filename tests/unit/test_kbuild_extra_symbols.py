"""KBUILD_EXTRA_SYMBOLS read as data, and the extra-symbols verdict (fast tier).

The real builds and loads are in tests/vm/test_kbuild_corpus.py (and the
reference solution and starter in tests/vm/test_exercises.py); here the
Makefile reader and the pure judge, on evidence shaped as the collector
(exercise_plan._extra_symbols) writes it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kmodlab.build.builder import make_argv
from kmodlab.build.objm import extra_symbols, module_specs
from kmodlab.grader.exercise_plan import load
from kmodlab.grader.verdicts import expectations as exp

FIX = "KBUILD_EXTRA_SYMBOLS := $(PWD)/../provider/Module.symvers"
UNDEFINED = '`ERROR: modpost: "sums_add" [sums_user.ko] undefined!`'


@pytest.mark.parametrize(
    "text",
    [
        FIX,
        "KBUILD_EXTRA_SYMBOLS += $(M)/../provider/Module.symvers",
        "KBUILD_EXTRA_SYMBOLS = $(src)/../provider//Module.symvers",
        "TOP := $(PWD)/..\nKBUILD_EXTRA_SYMBOLS := $(TOP)/provider/Module.symvers",
        f"ifneq ($(KERNELRELEASE),)\nobj-m := sums_user.o\n{FIX}\nelse\nall:\n\t$(MAKE)\nendif",
    ],
)
def test_paths_from_the_module_folder_name_the_provider(text):
    """Do $(PWD), $(M), $(src) and a variable holding them resolve to
    ../provider/Module.symvers from the consumer's folder?"""
    (named,) = extra_symbols(text)
    assert named.path == "../provider/Module.symvers" and named.problem is None


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("KBUILD_EXTRA_SYMBOLS := $(CURDIR)/../provider/Module.symvers", "kernel's folder"),
        ("KBUILD_EXTRA_SYMBOLS := $(shell pwd)/../provider/Module.symvers", "kernel's folder"),
        ("KBUILD_EXTRA_SYMBOLS := ../provider/Module.symvers", "relative path"),
        ("KBUILD_EXTRA_SYMBOLS := /home/ada/provider/Module.symvers", "absolute path"),
    ],
)
def test_paths_modpost_would_not_find_have_a_problem(text, why):
    """Are $(CURDIR), $(shell pwd) (the kernel's folder in modpost's pass), a relative and
    an absolute path read as naming no file of the submission, with the reason?"""
    (named,) = extra_symbols(text)
    assert named.path is None and why in (named.problem or "")


def test_no_extra_symbols_and_not_an_ignored_setting():
    """Does a Makefile without the variable name nothing, and is KBUILD_EXTRA_SYMBOLS not
    reported as a setting kmodlab ignores (it is used now)?"""
    assert extra_symbols("obj-m += sums_user.o\n") == ()
    spec = module_specs(["sums_user.c"], makefile=f"obj-m += sums_user.o\n{FIX}\n")
    assert not [d for d in spec.findings if "KBUILD_EXTRA_SYMBOLS" in d.message]


def test_make_passes_the_symbols_files_of_the_build_folder():
    """Does the consumer's make get KBUILD_EXTRA_SYMBOLS naming the file in its folder?"""
    argv = make_argv(Path("/k"), Path("/b"), extra_symbols=["kmodlab-provider.symvers"])
    assert "KBUILD_EXTRA_SYMBOLS=/b/kmodlab-provider.symvers" in argv
    with pytest.raises(ValueError):
        make_argv(Path("/k"), Path("/b"), extra_symbols=["../x"])


# -- the verdict ------------------------------------------------------------------
def _check() -> exp.ExtraSymbolsCheck:
    (check,) = [c for c in load("kbuild").expectations.checks if c.kind == "extra-symbols"]
    return check


def _side(module: str, **more) -> dict:
    return {"origin": "Makefile", "modules": {module: [module]}, "problem": None, "notes": [],
            "built": True, "errors": [], "undefined": [], **more}  # fmt: skip


def _evidence(consumer: dict | None = None, provider: dict | None = None) -> dict:
    right = {"written": FIX, "line": 3, "path": "../provider/Module.symvers", "problem": None}
    ok = {"returncode": 0, "stderr": "", "log": []}
    return {
        "extra_symbols": {
            "provider": provider or _side("sums"),
            "consumer": consumer or _side("sums_user", extra_symbols=[right]),
            "load": {"sums": ok, "sums_user": ok | {"log": ["sums_user: 2 + 3 = 5"]}},
        }
    }


def test_the_reference_evidence_passes():
    """Do two building Makefiles, the right KBUILD_EXTRA_SYMBOLS and two loads pass?"""
    r = exp.judge(_check(), _evidence())
    assert (r.status, r.score, r.max_score) == ("pass", 4, 4)


def test_a_consumer_without_extra_symbols_gets_modposts_error_and_the_fix():
    """Does the finding say what 6.1's modpost does (an error, no .ko, a warning only with
    KBUILD_MODPOST_WARN=1) and name the line to add?"""
    consumer = _side("sums_user", built=False, undefined=["sums_add"], extra_symbols=[])
    r = exp.judge(_check(), {"extra_symbols": _evidence(consumer)["extra_symbols"] | {"load": {}}})
    assert r.status == "fail" and r.score == 2  # both Makefiles build their modules
    text = " ".join(f.message for f in r.findings)
    assert UNDEFINED in text and "KBUILD_MODPOST_WARN=1" in text
    assert f"add to consumer/Makefile: {FIX}" in text


def test_a_wrong_path_is_placed_at_its_line():
    """Is a KBUILD_EXTRA_SYMBOLS naming another file a finding at its line, quoting it,
    with modpost's error and the right line?"""
    wrong = "KBUILD_EXTRA_SYMBOLS := $(PWD)/provider/Module.symvers"
    named = [{"written": wrong, "line": 4, "path": "provider/Module.symvers", "problem": None}]
    consumer = _side("sums_user", built=False, undefined=["sums_add"], extra_symbols=named)
    r = exp.judge(_check(), {"extra_symbols": _evidence(consumer)["extra_symbols"] | {"load": {}}})
    (first, _) = r.findings
    assert (first.file, first.line) == ("consumer/Makefile", 4)
    assert wrong in first.message and UNDEFINED in first.message and FIX in first.message
    assert r.score == 2


def test_a_provider_makefile_without_obj_m_builds_nothing():
    """Does a provider/Makefile with no obj-m say kbuild builds nothing there?"""
    provider = {"origin": "Makefile", "modules": {}, "problem": None, "notes": [],
                "built": False}  # fmt: skip
    r = exp.judge(_check(), {"extra_symbols": _evidence(provider=provider)["extra_symbols"]
                             | {"load": {}}})  # fmt: skip
    text = " ".join(f.message for f in r.findings)
    assert "provider/Makefile has no obj-m line" in text and r.status == "fail"


def test_missing_evidence_is_an_error_not_a_fail():
    """Is a grade without the collector's evidence `error` (ours), never `fail`?"""
    assert exp.judge(_check(), {}).status == "error"


def test_a_consumer_makefile_without_obj_m_fails_its_module_item_once():
    """With the right KBUILD_EXTRA_SYMBOLS but no obj-m in consumer/Makefile, is the
    finding the missing module (and the load), not also a failed consumer build?"""
    right = {"written": FIX, "line": 2, "path": "../provider/Module.symvers", "problem": None}
    consumer = {"origin": "Makefile", "modules": {}, "problem": None, "notes": [],
                "built": False, "extra_symbols": [right]}  # fmt: skip
    r = exp.judge(_check(), {"extra_symbols": _evidence(consumer)["extra_symbols"] | {"load": {}}})
    messages = [f.message for f in r.findings]
    assert len(messages) == 2 and "consumer/Makefile has no obj-m line" in messages[0]
    assert r.score == 2
