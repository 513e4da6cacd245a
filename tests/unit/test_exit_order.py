"""The `exit-order` check: exit releases nothing before what still depends on it (pure).

The ledger records init's acquisitions and exit's releases in order; these
tests feed it records as the shim writes them and judge them with no VM (the
real guest: tests/vm/test_exsteps_corpus.py).
"""

from __future__ import annotations

from pathlib import Path

from kmodlab.build.builder import BuildResult, BuiltModule
from kmodlab.grader.evidence import Evidence, Step
from kmodlab.grader.verdicts import judges, ledger
from kmodlab.grader.verdicts.expectations import DEFAULT_GENERIC_POINTS
from kmodlab.grader.verdicts.judges import GENERIC_CHECKS
from kmodlab.vm.guest import CommandResult
from kmodlab.vm.protocol import KmsgRecord

NONCE = "5eed5eed00c0ffee"
BUF, BUF2, ENT, CLS, DEV, CDEV = (f"ffff8880000001{i}0" for i in range(6))
SOURCE = """\
#include <linux/module.h>
static char *buf;
static struct proc_dir_entry *ent;
static int __init m_init(void)
{
	buf = kzalloc(64, GFP_KERNEL);
	ent = proc_create("m", 0444, NULL, &m_ops);
	return 0;
}
static void __exit m_exit(void)
{
	kfree(buf);
	proc_remove(ent);
}
module_init(m_init);
module_exit(m_exit);
"""


def rec(seq: int, op: str, api: str, rest: str, line: int) -> str:
    return f"{NONCE} {seq} {op} {api} {rest} mod=m load=0000000a at=/b/m.c:{line}"


def events(*lines: str) -> list:
    return ledger.parse_ledger(lines, NONCE, build_dir="/b")


PROC_INIT = (
    rec(1, "acquire", "kzalloc", f"n=1 h={BUF} size=64", 6),
    rec(2, "acquire", "proc_create", f"n=2 h={ENT} parent=0000000000000000 name=m", 7),
)
FREE_FIRST = (
    rec(3, "release", "kfree", f"h={BUF}", 12),
    rec(4, "release", "proc_remove", f"h={ENT}", 13),
)
REMOVE_FIRST = (
    rec(3, "release", "proc_remove", f"h={ENT}", 12),
    rec(4, "release", "kfree", f"h={BUF}", 13),
)


def evidence(init: tuple[str, ...], exit_: tuple[str, ...]) -> Evidence:
    ev = Evidence(submission=Path("/s"))
    ev.sources = {"m.c": SOURCE}
    ev.build = BuildResult(True, [BuiltModule("m", Path("/gone/m.ko"), ["m.c"])], [], "", 0.0,
                           Path("/b"), True)  # fmt: skip
    ev.instrumented, ev.nonce, ev.order = True, NONCE, ["m"]

    def step(name: str, lines: tuple[str, ...]) -> Step:
        kmsg = [KmsgRecord(6, i, i, t) for i, t in enumerate(lines)]
        return Step(name, CommandResult(["x"], "exited", 0, "", "", kmsg))

    ev.loads, ev.unloads = [step("load m", init)], [step("unload m", exit_)]
    return ev


def judge(init, exit_):
    return judges.judge_exit_order(judges.Context(evidence(init, exit_)))


def test_memory_freed_before_its_proc_entry_is_a_finding_at_the_free():
    """Is kfree(buf) before proc_remove(ent) (the entry made after buf) a finding at the
    kfree line, naming both calls and the fix?"""
    result = judge(PROC_INIT, FREE_FIRST)
    assert result.status == "fail"
    (f,) = result.findings
    assert (f.kind, f.file, f.line) == ("exit-order", "m.c", 12)
    assert "`kfree(buf)` at m.c:12" in f.message
    assert "proc_create() (m.c:7) may read it until `proc_remove(ent)` at m.c:13" in f.message
    assert f.message.endswith("release in the reverse order of init, `proc_remove(ent)` first")


def test_reverse_order_passes():
    """Does proc_remove before kfree (the reverse of init) pass?"""
    assert judge(PROC_INIT, REMOVE_FIRST).status == "pass"


def test_two_independent_buffers_freed_in_init_order_pass():
    """Are two buffers freed in the order they were allocated no finding (no false blame)?"""
    init = (
        rec(1, "acquire", "kzalloc", f"n=1 h={BUF} size=64", 6),
        rec(2, "acquire", "kstrdup", f"n=2 h={BUF2}", 7),
    )
    exit_ = (
        rec(3, "release", "kfree", f"h={BUF}", 12),
        rec(4, "release", "kfree", f"h={BUF2}", 13),
    )
    assert judge(init, exit_).status == "pass"


def test_memory_allocated_after_the_interface_is_independent_of_it():
    """Is memory allocated after a proc entry, freed before it, no finding (that is the
    reverse of init: the entry never relied on it existing)?"""
    init = (PROC_INIT[1].replace(" 2 ", " 1 ", 1), PROC_INIT[0].replace(" 1 ", " 2 ", 1))
    assert judge(init, FREE_FIRST).status == "pass"


def test_a_temporary_freed_in_init_is_not_judged():
    """Is a buffer init frees itself while its proc entry lives not blamed (only exit's
    releases are judged)?"""
    init = (*PROC_INIT, rec(3, "release", "kfree", f"h={BUF}", 8))
    exit_ = (rec(4, "release", "proc_remove", f"h={ENT}", 12),)
    assert judge(init, exit_).status == "pass"


def test_class_destroyed_before_its_device_and_region_before_its_cdev():
    """Are class_destroy before device_destroy, and unregister_chrdev_region before
    cdev_del, both findings, at the early release?"""
    init = (
        rec(1, "acquire", "alloc_chrdev_region", "n=1 h=250609664 count=1 dev=239:0", 20),
        rec(2, "acquire", "cdev_add", f"n=2 h={CDEV} dev=239:0 count=1", 21),
        rec(3, "acquire", "class_create", f"n=3 h={CLS}", 22),
        rec(4, "acquire", "device_create", f"n=4 h={DEV} class={CLS} devt=250609664", 23),
    )
    exit_ = (
        rec(5, "release", "class_destroy", f"h={CLS}", 30),
        rec(6, "release", "device_destroy", f"class={CLS} devt=250609664", 31),
        rec(7, "release", "unregister_chrdev_region", "h=250609664 count=1", 32),
        rec(8, "release", "cdev_del", f"h={CDEV}", 33),
    )
    found = ledger.misordered_releases(events(*init, *exit_), events(*exit_))
    assert [(m.released.api, m.dependent_released.api, m.how) for m in found] == [
        ("class_destroy", "device_destroy", "belongs to it"),
        ("unregister_chrdev_region", "cdev_del", "uses its numbers"),
    ]
    assert [m.released.line for m in found] == [30, 32]


def test_an_irq_handler_freed_after_its_dev_id_memory_is_linked():
    """Is free_irq after kfree of the dev_id it was given named as using it (not "may")?"""
    init = (
        rec(1, "acquire", "kzalloc", f"n=1 h={BUF} size=64", 6),
        rec(2, "acquire", "request_irq", f"n=2 h=5 dev={BUF}", 7),
    )
    exit_ = (
        rec(3, "release", "kfree", f"h={BUF}", 12),
        rec(4, "release", "free_irq", f"h=5 dev={BUF}", 13),
    )
    (m,) = ledger.misordered_releases(events(*init, *exit_), events(*exit_))
    assert (m.dependent.api, m.how) == ("request_irq", "uses it")


def test_exit_order_is_a_generic_check_worth_no_points_by_default():
    """Is exit-order run for every submission, after fault-injection, at 0 points unless an
    exercise gives it some?"""
    assert GENERIC_CHECKS.index("exit-order") == GENERIC_CHECKS.index("fault-injection") + 1
    assert DEFAULT_GENERIC_POINTS["exit-order"] == 0
    assert judges.GENERIC_BY_ID["exit-order"].judge is judges.judge_exit_order


def test_not_run_without_an_unload():
    """Is exit-order skipped (not passed) when the module never unloaded?"""
    ev = evidence(PROC_INIT, FREE_FIRST)
    ev.unloads = []
    assert judges.judge_exit_order(judges.Context(ev)).status == "skip"


def test_the_finding_names_the_last_release_that_depends_on_it():
    """With a misc device and a /proc file both made after the buffer and removed after
    its kfree, is the fix to move the kfree after the last of them (proc_remove)?"""
    init = (*PROC_INIT, rec(3, "acquire", "misc_register", f"n=3 h={DEV}", 8))
    exit_ = (
        rec(4, "release", "kfree", f"h={BUF}", 12),
        rec(5, "release", "misc_deregister", f"h={DEV}", 13),
        rec(6, "release", "proc_remove", f"h={ENT}", 14),
    )
    (m,) = ledger.misordered_releases(events(*init, *exit_), events(*exit_))
    assert (m.released.api, m.dependent.api, m.dependent_released.api) == (
        "kfree",
        "proc_create",
        "proc_remove",
    )
