"""Lessons 1, 2 and 7's self-checks judged on what the guest showed (6.1.0-50): the right
answer passes, typical wrong ones fail saying what is wrong, never what is right."""

from __future__ import annotations

import pytest

from kmodlab.course import selfcheck as sc

GUEST = "6.1.0-50-amd64"
HOST = "6.18.44-fc-v1045"


def release(answer: str, folder: str = f"/lib/modules/{GUEST}/") -> sc.Verdict:
    return sc.judge_release(answer, folder, GUEST, HOST)


def test_the_guests_release_and_modules_folder_pass():
    """Does the guest's `uname -r` with its /lib/modules folder pass (or the shell's
    $(uname -r) spelling of that folder)?"""
    assert release(GUEST).ok
    assert release(GUEST, "/lib/modules/$(uname -r)").ok


@pytest.mark.parametrize(
    ("answer", "folder", "says"),
    [
        (HOST, f"/lib/modules/{HOST}", "is the host's kernel, the one this notebook runs on"),
        (f"{GUEST} SMP preempt mod_unload modversions", "/lib/modules", "a module's vermagic"),
        ("6.1.0", "/lib/modules", "only the start of the guest's release"),
        ("5.10.0-9-amd64", "/lib/modules", "is not the guest kernel's release"),
        (GUEST, "/lib/modules", "one folder per kernel release"),
        (GUEST, f"/lib/modules/{HOST}/", "named after the host's kernel"),
        (GUEST, "/usr/lib/modules/extra", "is not where the guest keeps its modules"),
        ("", "", "answer both"),
    ],
)
def test_wrong_releases_say_what_is_wrong(answer, folder, says):
    """Is the host's release, a vermagic, a truncated release or the bare /lib/modules
    refused with what is wrong about it, without giving the guest's release away?"""
    verdict = release(answer, folder)
    assert not verdict.ok and says in verdict.message
    assert GUEST not in verdict.message.replace(answer, "")


def test_the_level_and_the_taint_letters_pass_in_any_order():
    """Does secret's line at KERN_NOTICE (5) with its taint POE pass, letters in any order?"""
    assert sc.judge_secret(5, "POE", 5, "POE").ok
    assert sc.judge_secret(5, "e o p", 5, "POE").ok


@pytest.mark.parametrize(
    ("level", "taint", "says"),
    [
        (6, "POE", "(KERN_INFO, pr_info's level: secret does not use pr_info)"),
        (4, "POE", "secret's line is not logged at level 4"),
        (9, "POE", "is not a log level"),
        (5, "12289", "a module's own taint is letters"),
        (5, "OE", "the letter its license sets"),
        (5, "PG", "G is not in secret's taint"),
        (5, "P", "out-of-tree and unsigned modules each set one too"),
        (None, "", "answer both"),
    ],
)
def test_wrong_levels_and_taints_say_what_is_wrong(level, taint, says):
    """Is pr_info's level, the kernel's taint number or a missing letter refused with
    where to look, and never the level or the letters themselves?"""
    verdict = sc.judge_secret(level, taint, 5, "POE")
    assert not verdict.ok and says in verdict.message
    assert "level 5" not in verdict.message and "POE" not in verdict.message


HELD = sc.sections("@@refcnt\n2\n@@rmmod\nrmmod: ERROR: Module held is in use\nrc=1\n@@closed\n0\n")


def test_two_open_files_are_two_references():
    """Does the use count read with two files of held's device open pass?"""
    assert sc.judge_held(2, HELD).ok


@pytest.mark.parametrize(
    ("used_by", "says"),
    [
        (0, "an open file of the device holds its module (.owner = THIS_MODULE)"),
        (1, "each open file holds a reference of its own"),
        (3, "held's use count is not 3 with two files open"),
        (None, "answer with a number"),
    ],
)
def test_wrong_use_counts_say_what_is_wrong(used_by, says):
    """Is 0 (opens do not count) or 1 (one for all files) refused, saying why?"""
    verdict = sc.judge_held(used_by, HELD)
    assert not verdict.ok and says in verdict.message


def test_a_module_that_did_not_load_is_not_the_students_fault():
    """When held.ko did not load in the guest, does the check say so instead of blaming?"""
    verdict = sc.judge_held(2, {})
    assert not verdict.ok and "did not load" in verdict.message
