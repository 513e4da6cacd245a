"""Every "never released" finding of a newly covered API names its release; a thread
the kernel killed after rmmod did not end itself."""

from __future__ import annotations

import pytest

from kmodlab.grader.verdicts import judges, ledger
from kmodlab.grader.verdicts.labels import release_call


@pytest.mark.parametrize(
    ("line", "api", "release"),
    [
        ("\tret = class_register(&my_class);", "class_register", "class_unregister(&my_class)"),
        (
            "\tret = cdev_device_add(&cdev, &dev);",
            "cdev_device_add",
            "cdev_device_del(&cdev, &dev)",
        ),
        (
            '\tworker = kthread_create_on_cpu(fn, NULL, 0, "w/%u");',
            "kthread_create_on_cpu",
            "kthread_stop(worker)",
        ),
        (
            '\tt = kthread_create_on_node(fn, NULL, 0, "w");',
            "kthread_create_on_node",
            "kthread_stop(t)",
        ),
        (
            '\tret = request_irq(irq, handler, IRQF_SHARED, "x", &dev);',
            "request_irq",
            "free_irq(irq, &dev)",
        ),
        (
            '\tret = request_threaded_irq(irq, h, t, IRQF_SHARED, "x", &dev);',
            "request_threaded_irq",
            "free_irq(irq, &dev)",
        ),
        (
            '\tkobj = kobject_create_and_add("x", kernel_kobj);',
            "kobject_create_and_add",
            "kobject_put(kobj)",
        ),
        (
            "\tret = sysfs_create_file(kobj, &attr.attr);",
            "sysfs_create_file",
            "sysfs_remove_file(kobj, &attr.attr)",
        ),
        (
            "\tret = sysfs_create_group(kobj, &grp);",
            "sysfs_create_group",
            "sysfs_remove_group(kobj, &grp)",
        ),
        (
            '\tpdev = platform_device_register_simple("x", -1, NULL, 0);',
            "platform_device_register_simple",
            "platform_device_unregister(pdev)",
        ),
        (
            "\tret = platform_driver_register(&drv);",
            "platform_driver_register",
            "platform_driver_unregister(&drv)",
        ),
        ('\tmajor = register_blkdev(0, "x");', "register_blkdev", 'unregister_blkdev(major, "x")'),
        (
            "\tret = blk_mq_alloc_tag_set(&set);",
            "blk_mq_alloc_tag_set",
            "blk_mq_free_tag_set(&set)",
        ),
        ("\tret = add_disk(disk);", "add_disk", "del_gendisk(disk)"),
        ('\tnd = alloc_netdev(0, "x%d", 0, setup);', "alloc_netdev", "free_netdev(nd)"),
        ("\tret = register_netdev(nd);", "register_netdev", "unregister_netdev(nd)"),
    ],
)
def test_the_release_of_each_newly_covered_call(line, api, release):
    """Is the release of each API fault injection newly covers built from the student's
    own arguments and variable?"""
    assert release_call(line, 1, api) == release


def test_every_api_the_ledger_tracks_has_a_release_to_name():
    """Does every acquiring API the ledger tracks (as the student writes it) have a
    release a finding can name?"""
    from kmodlab.grader.verdicts.labels import RELEASE_CALL

    assert set(ledger.ACQUIRE_KIND) - set(RELEASE_CALL) == set()


def test_the_release_is_read_from_the_call_as_written():
    """When the ledger names the call the student's call became (platform_device_
    register_simple is recorded as platform_device_register_full), does the fix still
    fit the student's line?"""
    src = '\tpdev = platform_device_register_simple("x", -1, NULL, 0);\n'
    assert judges._acquiring_api(src, 1) == "platform_device_register_simple"


OOPS = """BUG: unable to handle page fault for address: ffffffffc022b021
#PF: supervisor instruction fetch in kernel mode
Oops: 0010 [#5] PREEMPT SMP NOPTI
CPU: 0 PID: 104 Comm: devmodel/0 Tainted: G      D    OE      6.1.0-50-amd64 #1  Debian 6.1.176-1
RIP: 0010:0xffffffffc022b021
Call Trace:
 <TASK>
 ? kthread+0xd7/0x100
 ? ret_from_fork+0x1f/0x30
 </TASK>
---[ end trace 0000000000000000 ]---"""


def test_a_thread_killed_after_rmmod_did_not_end_itself():
    """Is a thread gone because the kernel killed it (an oops in its freed code, its
    name in the report's Comm:) still a thread exit never stopped?"""
    event = ledger.LedgerEvent(
        5, "acquire", "kthread_create_on_cpu", "ffff888001000000", "m.c", 52,
        {"name": "devmodel/0"}, 4, "m", "1",
    )  # fmt: skip
    after = {"kthreads": frozenset()}
    assert judges._thread_ended(event, after, [])
    assert not judges._thread_ended(event, after, [], frozenset({"devmodel/0"}))
    assert {m.group(1) for m in judges._COMM.finditer(OOPS)} == {"devmodel/0"}


def _events(*lines: str) -> list:
    nonce = "0123abcd0123abcd"
    text = [f"{nonce} {i} {t} mod=m load=1 at=m.c:{i}" for i, t in enumerate(lines, 1)]
    return ledger.parse_ledger(text, nonce)


PDEV = "ffff888005000000"


def test_a_device_allocated_then_added_is_undone_by_one_unregister():
    """Does platform_device_unregister undo both the allocation and the add?"""
    events = _events(
        f"acquire platform_device_alloc n=1 h={PDEV}",
        f"acquire platform_device_add n=2 h={PDEV} bound=1",
        f"release platform_device_unregister h={PDEV}",
    )
    assert ledger.outstanding(events) == [] and ledger.pair(events).unmatched == []


def test_a_device_whose_add_failed_is_undone_by_put():
    """After a failed platform_device_add, does platform_device_put release the
    allocation (and is del + put no double release)?"""
    failed = _events(
        f"acquire platform_device_alloc n=1 h={PDEV}",
        "inject platform_device_add n=2 via=platform_device_add",
        f"release platform_device_put h={PDEV}",
    )
    assert ledger.outstanding(failed) == []
    both = _events(
        f"acquire platform_device_alloc n=1 h={PDEV}",
        f"acquire platform_device_add n=2 h={PDEV} bound=0",
        f"release platform_device_del h={PDEV}",
        f"release platform_device_put h={PDEV}",
    )
    assert ledger.outstanding(both) == [] and ledger.double_releases(both) == []


def test_an_added_device_only_put_is_still_registered():
    """Is a device added and then only put (never deleted) left over, at the add?"""
    events = _events(
        f"acquire platform_device_alloc n=1 h={PDEV}",
        f"acquire platform_device_add n=2 h={PDEV} bound=0",
        f"release platform_device_put h={PDEV}",
    )
    assert [e.api for e in ledger.outstanding(events)] == ["platform_device_add"]


def test_a_device_never_unregistered_is_one_finding_at_the_add():
    """With both halves left, is only the add reported (one unregister undoes both)?"""
    events = _events(
        f"acquire platform_device_alloc n=1 h={PDEV}",
        f"acquire platform_device_add n=2 h={PDEV} bound=1",
    )
    assert [e.api for e in judges._roots(ledger.outstanding(events))] == ["platform_device_add"]
    src = "\tret = platform_device_add(pdev);\n"
    assert release_call(src, 1, "platform_device_add") == "platform_device_unregister(pdev)"


def test_an_oops_in_a_leftover_thread_is_named_a_thread_and_a_work_item_is_not():
    """Is a fault under kthread() alone a thread exit never stopped, while one under a
    workqueue worker (also a kthread) or in an interrupt stays a timer or work item?"""
    assert judges._in_own_thread(OOPS)
    worker = OOPS.replace(" ? kthread+0xd7/0x100", " process_one_work+0x1c/0x3a0\n"
                          " worker_thread+0x4d/0x3e0\n ? kthread+0xd7/0x100")  # fmt: skip
    assert not judges._in_own_thread(worker)
    assert not judges._in_own_thread(OOPS.replace(" <TASK>", " <IRQ>\n call_timer_fn+0x1/0x2"))
