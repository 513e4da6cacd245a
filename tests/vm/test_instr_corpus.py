"""Link-level fault injection against hostile modules, and the newly covered APIs.

Every case is graded for real, all in one batch with two jobs. Attacks on the
instrumentation (calls spelled to dodge the header's macros, an init that looks
for signs of injection, a forged ledger release, two modules) must get the
honest verdict; each newly covered API has a module that unwinds it correctly
(all pass) and, where the kernel survives it, one that leaks it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kmodlab.grader.pipeline import Limits
from kmodlab.grader.report.formats import to_text
from kmodlab.grader.report.model import Report
from kmodlab.grader.verdicts.judges import GENERIC_CHECKS
from kmodlab.vm.session import Session
from tests.vm.corpus import grade_corpus

# One batch of 24 graded submissions: on a loaded 2-core machine (TCG) it takes
# minutes, beyond the suite's default per-test timeout.
pytestmark = [pytest.mark.vm, pytest.mark.timeout(1800)]
# Cycling is not what these cases test: a few rounds keep the batch short.
LIMITS = Limits(cycles=4)
DATA = Path(__file__).parent.parent / "data" / "instr"

# case -> the checks that do not pass, and their status
CORPUS: dict[str, dict[str, str]] = {
    # A: calls that bypass the header's macros still end in a wrapped import.
    "bypass_paren": {"fault-injection": "fail"},
    "bypass_undef": {"fault-injection": "fail"},
    "bypass_fnptr": {"fault-injection": "fail"},
    "bypass_kasprintf": {"fault-injection": "fail"},
    "bypass_pages": {"leaks": "fail"},  # the page allocator: only the ledger sees it
    "clean_bypass": {},
    # B: nothing a module can read tells an armed copy from the normal one.
    "args_detect": {"fault-injection": "fail"},
    # C: a forged release record; the kmem trace has the last word.
    # A forged ledger record is also flagged for review: the kmem trace
    # contradicts it, and the module names the instrumentation's own symbols.
    "forge_release": {"leaks": "fail", "integrity": "fail"},
    "forge_point": {"fault-injection": "fail", "integrity": "fail"},
    # D: the provider's call made during the consumer's init is not the consumer's point.
    "provider_points": {},
    # E: newly covered APIs, each unwound correctly and (where safe) leaked.
    "irq_ok": {},
    "irq_leak": {"leaks": "fail", "registrations": "fail"},
    "kobj_ok": {},
    # The next load's duplicate kobject is refused (init fails) with a stack dump
    # but no WARNING: cycling fails, the kernel stays healthy.
    "kobj_leak": {"cycle": "fail", "registrations": "fail"},
    "plat_ok": {},
    "plat_leak": {"registrations": "fail"},
    "blk_ok": {},
    "blk_leak": {"registrations": "fail"},
    "devmodel_ok": {},
    "net_ok": {},
    "net_leak": {"registrations": "fail"},  # only the ledger sees the device never freed
    "blkmq_ok": {},
    "blkmq_leak": {"registrations": "fail"},  # only the ledger sees the tag set never freed
    "untested_fs": {},
}


def _irq_line(machine) -> int:
    """The virtio-mmio interrupt line of this guest (shared, so a module may join it)."""
    with Session(machine) as s:
        text = s.run(["cat", "/proc/interrupts"]).stdout
    m = re.search(r"^\s*(\d+):.*\bvirtio0\b", text, re.M)
    assert m, text
    return int(m.group(1))


@pytest.fixture(scope="module")
def reports(machine, tmp_path_factory) -> dict[str, Report]:
    line = _irq_line(machine)

    def irq_line(case: str, folder: Path) -> None:
        if case.startswith("irq_"):
            (folder / "irqline.h").write_text(f"#define IRQ_LINE {line}\n")

    sources = {case: DATA / case for case in CORPUS}
    return grade_corpus(machine, tmp_path_factory, sources, limits=LIMITS, prepare=irq_line)


@pytest.mark.parametrize("case", list(CORPUS))
def test_case_gets_exactly_its_verdicts(reports, case):
    """Do exactly the checks this module's bug breaks fail, and all others pass?"""
    expected = {c: CORPUS[case].get(c, "pass") for c in GENERIC_CHECKS}
    got = {c.id: c.status for c in reports[case].checks}
    assert got == expected, to_text(reports[case])


def _check(report: Report, check_id: str):
    return next(c for c in report.checks if c.id == check_id)


def _line(case: str, text: str, file: str | None = None) -> int:
    lines = (DATA / case / (file or f"{case}.c")).read_text().splitlines()
    (n,) = [i for i, line in enumerate(lines, 1) if text in line]
    return n


@pytest.mark.parametrize(
    ("case", "bypass", "call"),
    [
        ("bypass_paren", "extra = (kmalloc)(", "kmalloc"),
        ("bypass_undef", "extra = kmalloc(", "kmalloc"),
        ("bypass_fnptr", "grab(128", "kmalloc"),
        ("bypass_kasprintf", "name = (kasprintf)(", "kasprintf"),
    ],
)
def test_a_bypassed_call_is_a_point_at_its_line_and_its_broken_unwind_is_found(
    reports, case, bypass, call
):
    """However the call is spelled, is it point 2, at the student's line, failed for
    real, with the first buffer left behind at its own line?"""
    fi = _check(reports[case], "fault-injection")
    points = fi.data["points"]
    assert [p["verdict"] for p in points] == ["pass", "fail"]
    bad = points[1]
    assert (bad["call"], bad["file"], bad["line"]) == (call, f"{case}.c", _line(case, bypass))
    first = ("kzalloc", _line(case, "buf = kzalloc("))
    assert [(x["api"], x["line"]) for x in bad["leaked"]] == [first]
    assert fi.data["untested"] == {}


def test_bypassed_page_allocation_is_a_leak_at_its_line(reports):
    """Is the page from (__get_free_pages)(...) never freed found by the ledger, at its line?"""
    leaks = _check(reports["bypass_pages"], "leaks")
    (finding,) = leaks.findings
    assert (finding.file, finding.line) == ("bypass_pages.c", _line("bypass_pages", "page = ("))
    assert finding.data["api"] == "__get_free_pages"


def test_every_spelling_with_a_correct_ladder_passes_every_point(reports):
    """Does the control that uses every bypass form, and unwinds, pass all 5 points,
    with its bypassed frees paired (no leak, no double free)?"""
    fi = _check(reports["clean_bypass"], "fault-injection")
    assert fi.status == "pass" and len(fi.data["points"]) == 5
    assert [p["call"] for p in fi.data["points"]] == [
        "kmalloc",
        "kmalloc",
        "kasprintf",
        "__get_free_pages",
        "kmalloc",
    ]


def test_init_looking_for_injection_finds_nothing_and_its_leak_is_found(reports):
    """Does an init that bails out on any load argument or parameter run normally at
    every point (no tell-tale), so its broken ladder fails point 2?"""
    fi = _check(reports["args_detect"], "fault-injection")
    assert [p["verdict"] for p in fi.data["points"]] == ["pass", "fail"]
    assert all(p["verdict"] != "not-injected" for p in fi.data["points"])


def test_forged_release_is_contradicted_by_the_kernels_trace(reports):
    """Does a release record the module wrote itself, for memory it kept, neither hide
    the leak (the kmem trace sees it) nor go unnoticed (a disagreement for integrity)?"""
    report = reports["forge_release"]
    leaks = _check(report, "leaks")
    assert [f.data.get("witness") for f in leaks.findings] == ["kmem-trace"]
    fi = _check(report, "fault-injection")
    (disagreement,) = fi.data["disagreements"]
    assert disagreement["where"] == "load" and disagreement["api"] == "kzalloc"
    assert disagreement["line"] == _line("forge_release", "kept = kzalloc(")
    clean = _check(reports["clean_bypass"], "fault-injection")
    assert clean.data["disagreements"] == []


def test_forged_release_in_an_error_path_fails_its_point(reports):
    """Does an error path that writes a release record instead of freeing fail its point,
    the kmem trace read at that point contradicting the record?"""
    fi = _check(reports["forge_point"], "fault-injection")
    points = fi.data["points"]
    assert [p["verdict"] for p in points] == ["pass", "fail"]
    line = _line("forge_point", "buf = kzalloc(")
    assert [(x["api"], x["line"]) for x in points[1]["contradicted"]] == [("kzalloc", line)]
    assert points[1]["leaked"] == []  # the ledger alone was fooled
    assert [(d["where"], d["line"]) for d in fi.data["disagreements"]] == [
        ("point 2 of forge_point", line)
    ]


def test_points_belong_to_the_module_that_made_the_call(reports):
    """With a provider allocating during its consumer's init, does only the consumer's
    own call become the consumer's point (and it is really injected)?"""
    fi = _check(reports["provider_points"], "fault-injection")
    assert [(p["module"], p["index"], p["call"]) for p in fi.data["points"]] == [
        ("cons", 1, "kzalloc")
    ]
    assert fi.data["points"][0]["verdict"] == "pass"


@pytest.mark.parametrize(
    ("case", "calls"),
    [
        ("irq_ok", ["kstrdup", "request_threaded_irq"]),
        ("kobj_ok", ["kobject_create_and_add", "sysfs_create_file", "sysfs_create_group"]),
        ("plat_ok", ["platform_device_register_full", "platform_driver_register"]),
        ("blk_ok", ["register_blkdev", "kzalloc"]),
        ("net_ok", ["alloc_netdev", "register_netdev"]),
        (
            "blkmq_ok",
            ["register_blkdev", "blk_mq_alloc_tag_set", "blk_mq_alloc_disk", "add_disk"],
        ),
        (
            "devmodel_ok",
            ["class_register", "alloc_chrdev_region", "cdev_device_add", "kthread_create_on_cpu"],
        ),
    ],
)
def test_newly_covered_api_is_failed_at_every_point_and_unwinds(reports, case, calls):
    """Is each call of the new API a fault-injection point, really injected, and does the
    correct module's unwinding pass every one of them?"""
    fi = _check(reports[case], "fault-injection")
    assert [p["call"] for p in fi.data["points"]] == calls
    assert all(p["verdict"] == "pass" for p in fi.data["points"]), to_text(reports[case])
    assert fi.data["untested"] == {}


@pytest.mark.parametrize(
    ("case", "api", "leftover"),
    [
        ("irq_leak", "request_threaded_irq", "interrupt handler 'irq_leak'"),
        ("kobj_leak", "kobject_create_and_add", "/sys/kernel/kobj_leak"),
        ("plat_leak", "platform_device_register_full", "plat_leak"),
        ("blk_leak", "register_blkdev", "block device major"),
        ("net_leak", "alloc_netdev", None),
        ("blkmq_leak", "blk_mq_alloc_tag_set", None),
    ],
)
def test_leaked_registration_is_named_by_the_ledger_and_the_kernel(reports, case, api, leftover):
    """Does `registrations` name the call never undone, at the student's line, and what
    the kernel still holds after rmmod?"""
    reg = _check(reports[case], "registrations")
    ledger = [f for f in reg.findings if f.data.get("witness") == "ledger"]
    assert [f.data["api"] for f in ledger] == [api]
    assert ledger[0].file == f"{case}.c"
    if leftover is not None:  # a device unregistered but never freed shows nowhere else
        assert any(leftover in f.message for f in reg.findings if f.data.get("section"))


def test_calls_fault_injection_cannot_fail_are_named(reports):
    """Does the report say plainly that register_filesystem was not tested?"""
    fi = _check(reports["untested_fs"], "fault-injection")
    assert fi.data["untested"] == {"untested_fs": ["register_filesystem"]}
    assert any(f.message.startswith("not tested: register_filesystem") for f in fi.findings)
    assert "not tested: register_filesystem" in to_text(reports["untested_fs"])
