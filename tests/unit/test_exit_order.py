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
# 4 KiB apart: no handle lies inside another block (the ledger links those).
BUF, BUF2, ENT, CLS, DEV, CDEV = (f"ffff88800001{i}000" for i in range(6))
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
static ssize_t m_read(struct file *f, char __user *to, size_t n, loff_t *pos)
{
	return simple_read_from_buffer(to, n, pos, buf, 64);
}
static const struct proc_ops m_ops = {
	.proc_read = m_read,
};
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


def evidence(init: tuple[str, ...], exit_: tuple[str, ...], source: str = SOURCE) -> Evidence:
    ev = Evidence(submission=Path("/s"))
    ev.sources = {"m.c": source}
    ev.build = BuildResult(True, [BuiltModule("m", Path("/gone/m.ko"), ["m.c"])], [], "", 0.0,
                           Path("/b"), True)  # fmt: skip
    ev.instrumented, ev.nonce, ev.order = True, NONCE, ["m"]

    def step(name: str, lines: tuple[str, ...]) -> Step:
        kmsg = [KmsgRecord(6, i, i, t) for i, t in enumerate(lines)]
        return Step(name, CommandResult(["x"], "exited", 0, "", "", kmsg))

    ev.loads, ev.unloads = [step("load m", init)], [step("unload m", exit_)]
    return ev


def judge(init, exit_, source: str = SOURCE):
    return judges.judge_exit_order(judges.Context(evidence(init, exit_, source)))


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


def test_an_interface_whose_functions_never_read_the_buffer_is_independent_of_it():
    """Is kfree(buf) before proc_remove no finding when the entry's read function reads
    another variable (as ldd3's scull frees its devices before removing its unrelated
    access devices): no function the entry runs touches buf?"""
    other = SOURCE.replace("pos, buf, 64)", 'pos, "fixed", 5)')
    assert judge(PROC_INIT, FREE_FIRST, other).status == "pass"
    assert judge(PROC_INIT, FREE_FIRST, SOURCE).status == "fail"  # the control


def test_a_read_function_reaching_the_buffer_through_a_helper_still_reads_it():
    """Is a helper the callback calls followed (read -> fill() -> buf)?"""
    via = SOURCE.replace("pos, buf, 64)", "pos, fill(), 64)").replace(
        "static ssize_t m_read",
        "static char *fill(void)\n{\n\treturn buf;\n}\nstatic ssize_t m_read",
    )
    assert judge(PROC_INIT, FREE_FIRST, via).status == "fail"


def test_a_parameter_named_like_the_buffer_is_not_a_read_of_it():
    """Is a read() whose own `char __user *buf` parameter shadows the global buf not taken
    for a reader of the global (the name is the same, the variable is not)?"""
    shadow = SOURCE.replace("char __user *to", "char __user *buf").replace(
        "simple_read_from_buffer(to, n, pos, buf, 64)",
        'simple_read_from_buffer(buf, n, pos, "x", 1)',
    )
    assert judge(PROC_INIT, FREE_FIRST, shadow).status == "pass"


def test_an_interface_inside_the_freed_block_uses_it_whatever_the_sources_say():
    """Is a cdev that lives inside the freed block (cdev_add(&dev->cdev) on kmalloc'd dev)
    a finding from the ledger's pointers alone, even with no source to read?"""
    inside = f"{int(BUF, 16) + 16:016x}"
    init = (
        rec(1, "acquire", "kzalloc", f"n=1 h={BUF} size=64", 6),
        rec(2, "acquire", "cdev_add", f"n=2 h={inside} dev=239:0 count=1", 7),
    )
    exit_ = (
        rec(3, "release", "kfree", f"h={BUF}", 12),
        rec(4, "release", "cdev_del", f"h={inside}", 13),
    )
    result = judge(init, exit_, source="")
    assert result.status == "fail" and "uses it" in result.findings[0].message
    outside = f"{int(BUF, 16) + 64:016x}"  # the control: just past the block's end
    init_out = (init[0], init[1].replace(inside, outside))
    exit_out = (exit_[0], exit_[1].replace(inside, outside))
    assert judge(init_out, exit_out, source="").status == "pass"


def test_a_device_node_reads_nothing_by_itself():
    """Is a device_create()d node removed after the buffer's kfree no finding (a device
    node runs none of the module's functions; its cdev does)?"""
    init = (
        rec(1, "acquire", "kzalloc", f"n=1 h={BUF} size=64", 6),
        rec(2, "acquire", "device_create", f"n=2 h={DEV} class={CLS} devt=250609664", 7),
    )
    exit_ = (
        rec(3, "release", "kfree", f"h={BUF}", 12),
        rec(4, "release", "device_destroy", f"class={CLS} devt=250609664", 13),
    )
    assert judge(init, exit_).status == "pass"


def test_regions_on_one_major_are_told_apart_by_their_minors():
    """With two regions of one major (minors 0-3 and 4-7, as ldd3's scull lays out its
    device kinds), is unregistering the first region before the second region's cdev is
    deleted no finding, while unregistering it before its own cdev is one (the control)?"""
    init = (
        rec(1, "acquire", "alloc_chrdev_region", "n=1 h=256901120 count=4 dev=245:0", 20),
        rec(2, "acquire", "cdev_add", f"n=2 h={CDEV} dev=245:0 count=1", 21),
        rec(3, "acquire", "register_chrdev_region", "n=3 h=256901124 count=4 dev=245:4", 22),
        rec(4, "acquire", "cdev_add", f"n=4 h={DEV} dev=245:4 count=1", 23),
    )
    first_kind_first = (
        rec(5, "release", "cdev_del", f"h={CDEV}", 30),
        rec(6, "release", "unregister_chrdev_region", "h=256901120 count=4", 31),
        rec(7, "release", "cdev_del", f"h={DEV}", 32),
        rec(8, "release", "unregister_chrdev_region", "h=256901124 count=4", 33),
    )
    assert (
        ledger.misordered_releases(events(*init, *first_kind_first), events(*first_kind_first))
        == []
    )
    own_cdev_last = (
        rec(5, "release", "unregister_chrdev_region", "h=256901120 count=4", 30),
        rec(6, "release", "cdev_del", f"h={CDEV}", 31),
        rec(7, "release", "cdev_del", f"h={DEV}", 32),
        rec(8, "release", "unregister_chrdev_region", "h=256901124 count=4", 33),
    )
    (m,) = ledger.misordered_releases(events(*init, *own_cdev_last), events(*own_cdev_last))
    assert (m.released.line, m.dependent_released.line, m.how) == (30, 31, "uses its numbers")


def test_register_chrdev_takes_every_minor_of_its_major():
    """Is a cdev on any minor of a register_chrdev()'d major tied to it?"""
    init = (
        rec(1, "acquire", "register_chrdev", "n=1 h=240", 20),
        rec(2, "acquire", "cdev_add", f"n=2 h={CDEV} dev=240:7 count=1", 21),
    )
    exit_ = (
        rec(3, "release", "unregister_chrdev", "h=240", 30),
        rec(4, "release", "cdev_del", f"h={CDEV}", 31),
    )
    (m,) = ledger.misordered_releases(events(*init, *exit_), events(*exit_))
    assert m.how == "uses its numbers"
