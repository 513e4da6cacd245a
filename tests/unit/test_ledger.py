"""The fault-injection ledger: parsing the shim's records and pairing them (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmodlab.grader.collection.instrument import shim_source
from kmodlab.grader.verdicts.ledger import (
    fallible_calls,
    loads,
    map_path,
    outstanding,
    pair,
    parse_ledger,
    parse_record,
    release_of,
    unwind,
)
from kmodlab.vm.protocol import KmsgRecord

LOGS = Path(__file__).resolve().parents[1] / "data" / "grader" / "logs"
CAPTURE_DIR = "/tmp/kmodlab-capture/build"  # as in tests/data/grader/capture.py
NONCE = "5eed5eed00c0ffee"
P1, P2, P3 = "ffff888000000100", "ffff888000000200", "ffff888000000300"
NULL = "0000000000000000"


def captured(name: str) -> list:
    lines = (LOGS / f"{name}.log").read_text().splitlines()
    return parse_ledger(lines, NONCE, build_dir=CAPTURE_DIR)


def rec(seq: int, op: str, api: str, rest: str = "", *, load: str = "0000000a", line: int = 10):
    """A record as the shim writes it, at m.c:<line> of module m."""
    body = f" {rest}" if rest else ""
    return f"{NONCE} {seq} {op} {api}{body} mod=m load={load} at=/b/m.c:{line}"


def parse(*lines: str) -> list:
    return parse_ledger(lines, NONCE, build_dir="/b")


# ---- captured from the real guest -----------------------------------------


def test_captured_cycle_has_four_acquisitions_then_four_releases():
    """Is a real load+unload of four_resources four acquisitions at the student's lines,
    four releases in reverse, nothing outstanding (the kernel's own lines ignored)?"""
    events = captured("four_resources_cycle")
    assert [(e.op, e.api, e.where) for e in events[:4]] == [
        ("acquire", "kzalloc", "four_resources.c:50"),
        ("acquire", "kstrdup", "four_resources.c:53"),
        ("acquire", "proc_create", "four_resources.c:56"),
        ("acquire", "misc_register", "four_resources.c:59"),
    ]
    assert [e.api for e in events[4:]] == ["misc_deregister", "proc_remove", "kfree", "kfree"]
    assert [e.nth for e in fallible_calls(events)] == [1, 2, 3, 4]
    assert events[0].detail == {"size": "64"} and events[0].module == "four_resources"
    assert events[2].detail == {"parent": NULL, "name": "four_resources"}
    assert outstanding(events) == [] and pair(events).unmatched == []
    assert release_of(events[0], events) == events[-1]
    assert release_of(events[3], events) == events[4]


def test_captured_injection_unwinds_cleanly():
    """Is a copy armed for call 3 an inject of call 3, its ladder releasing the two before?"""
    events = captured("four_resources_fail3")
    assert [(e.nth, e.op, e.api) for e in fallible_calls(events)] == [
        (1, "acquire", "kzalloc"),
        (2, "acquire", "kstrdup"),
        (3, "inject", "proc_create"),
    ]
    ladder = unwind(events)
    assert ladder is not None and ladder.clean
    assert [e.api for e in ladder.acquired] == ["kzalloc", "kstrdup"]
    assert [e.where for e in ladder.released] == ["four_resources.c:67", "four_resources.c:69"]


def test_captured_ladder_that_skips_a_free_leaves_the_buffer():
    """Does the misc_register failure of ladder_skips_one leave exactly the kzalloc buffer?"""
    events = captured("ladder_skips_one_fail4")
    (leak,) = outstanding(events)
    assert (leak.api, leak.where, leak.detail["size"]) == ("kzalloc", "ladder_skips_one.c:51", "64")
    ladder = unwind(events, 4)
    assert ladder is not None and ladder.point.api == "misc_register"
    assert ladder.left == [leak] and not ladder.clean


def test_captured_every_api_pairs_including_subtrees_and_reused_addresses():
    """Do all wrapped APIs of a real many_apis cycle pair up: proc and debugfs children by
    their parent's removal, krealloc's old block, an address reused after krealloc?"""
    events = captured("many_apis_cycle")
    assert len(fallible_calls(events)) == 31
    paired = pair(events)
    assert paired.outstanding == [] and paired.unmatched == []
    by_api = {e.api: e for e in events if e.op != "release"}
    assert paired.released_by[by_api["proc_create_seq"]].api == "proc_remove"
    assert paired.released_by[by_api["debugfs_create_file"]].api == "debugfs_remove"
    assert paired.released_by[by_api["kmalloc_array"]].api == "kfree"
    old = next(e for e in events if e.api == "kmalloc" and e.nth == 4)
    assert paired.released_by[old] == by_api["krealloc"]
    assert by_api["kstrdup"].handle == old.handle  # the freed block, handed out again
    assert paired.released_by[by_api["kstrdup"]].where == "many_apis.c:140"
    assert by_api["cdev_alloc"].op == "call"  # counted, not tracked


# ---- forged and foreign lines -----------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "1 acquire kzalloc n=1 h=ffff888000000100 mod=m load=0000000a at=/b/m.c:1",
        "deadbeefdeadbeef 1 acquire kzalloc n=1 h=ffff888000000100 mod=m load=a at=/b/m.c:1",
        f"m: {NONCE} 1 acquire kzalloc n=1 h=ffff888000000100 mod=m load=a at=/b/m.c:1",
        f"{NONCE}0 1 acquire kzalloc n=1 h=ffff888000000100 mod=m load=a at=/b/m.c:1",
        f"{NONCE.upper()} 1 acquire kzalloc n=1 h=ffff888000000100 mod=m load=a at=/b/m.c:1",
        f" {NONCE} 1 acquire kzalloc n=1 h=ffff888000000100 mod=m load=a at=/b/m.c:1",
    ],
)
def test_lines_without_the_exact_nonce_first_are_ignored(line):
    """Is a look-alike line (no nonce, another nonce, nonce not first or altered) ignored?"""
    assert parse(line) == []


def test_a_forged_release_cannot_hide_a_leak():
    """Does a student's printk of a release with a guessed nonce leave the leak in place?"""
    lines = [
        rec(1, "acquire", "kzalloc", f"n=1 h={P1} size=8"),
        f"0123456789abcdef 2 release kfree h={P1} mod=m load=0000000a at=/b/m.c:20",
        f"2 release kfree h={P1} mod=m load=0000000a at=/b/m.c:20",
    ]
    assert [e.api for e in outstanding(parse(*lines))] == ["kzalloc"]


@pytest.mark.parametrize(
    "tail",
    [
        "",  # too short
        "x acquire kzalloc at=/b/m.c:1",  # seq not a number
        "1 grab kzalloc at=/b/m.c:1",  # unknown op
        "1 acquire kz-alloc at=/b/m.c:1",  # not an identifier
        "1 acquire kzalloc junk at=/b/m.c:1",  # a word that is not key=value
    ],
)
def test_malformed_records_with_the_nonce_are_skipped(tail):
    assert parse(f"{NONCE} {tail}".strip()) == []


def test_records_parse_from_kmsg_records_and_need_a_nonce():
    record = KmsgRecord(7, 1, 0, rec(1, "acquire", "kmalloc", f"n=1 h={P1} size=8"))
    (event,) = parse_ledger([record], NONCE, build_dir="/b")
    assert (event.file, event.line, event.handle, event.nth) == ("m.c", 10, P1, 1)
    with pytest.raises(ValueError):
        parse_ledger([record], "")


def test_escaped_names_and_paths_are_decoded():
    """Are %XX-escaped names decoded, build paths made relative, kernel headers shortened?"""
    line = f"{NONCE} 1 acquire proc_create n=1 h={P1} parent={NULL} name=my%20proc%3d mod=m "
    line += "load=1 at=/b/sub/x.c:7"
    (event,) = parse(line)
    assert event.detail["name"] == "my proc=" and event.where == "sub/x.c:7"
    header = "/root/.cache/t/usr/src/linux-headers-6.1.0-56-common/include/linux/slab.h"
    assert map_path(header, "/b") == "include/linux/slab.h"
    assert map_path("/elsewhere/x.c", "/b") == "/elsewhere/x.c"
    assert parse_record(line, NONCE).file == "/b/sub/x.c"  # no build_dir: as given


def test_records_of_a_load_are_ordered_by_their_number():
    lines = [rec(2, "release", "kfree", f"h={P1}"), rec(1, "acquire", "kmalloc", f"n=1 h={P1}")]
    events = parse(*lines)
    assert [e.seq for e in events] == [1, 2] and outstanding(events) == []


# ---- pairing rules (hand-made) ----------------------------------------------


def test_two_loads_pair_separately():
    """Does a release in one load never pair with an acquisition of another load?"""
    events = parse(
        rec(1, "acquire", "kmalloc", f"n=1 h={P1}", load="0000000a"),
        rec(1, "acquire", "kmalloc", f"n=1 h={P2}", load="0000000b"),
        rec(2, "release", "kfree", f"h={P1}", load="0000000b"),
    )
    assert len(loads(events)) == 2
    assert [e.load for e in outstanding(events)] == ["0000000a", "0000000b"]
    assert [e.load for e in pair(events).unmatched] == ["0000000b"]


def test_memory_pairs_by_allocator_family():
    """kfree frees k*alloc, vfree vmalloc, kvfree either; a kfree of vmalloc memory does not."""
    events = parse(
        rec(1, "acquire", "vmalloc", f"n=1 h={P1} size=64"),
        rec(2, "acquire", "kmalloc", f"n=2 h={P2} size=8"),
        rec(3, "acquire", "vzalloc", f"n=3 h={P3} size=8"),
        rec(4, "release", "kfree", f"h={P1}"),
        rec(5, "release", "kvfree", f"h={P2}"),
        rec(6, "release", "kvfree", f"h={P3}"),
    )
    assert [e.api for e in outstanding(events)] == ["vmalloc"]
    assert [e.seq for e in pair(events).unmatched] == [4]


def test_null_and_error_releases_free_nothing_and_double_frees_are_unmatched():
    events = parse(
        rec(1, "acquire", "kmalloc", f"n=1 h={P1}"),
        rec(2, "release", "kfree", f"h={NULL}"),
        rec(3, "release", "debugfs_remove", "h=fffffffffffffff4"),
        rec(4, "release", "kfree", f"h={P1}"),
        rec(5, "release", "kfree", f"h={P1}"),
    )
    assert outstanding(events) == []
    assert [e.seq for e in pair(events).unmatched] == [5]


def test_krealloc_moves_the_handle_and_a_failed_one_keeps_the_old_block():
    events = parse(
        rec(1, "acquire", "kmalloc", f"n=1 h={P1}"),
        rec(2, "acquire", "krealloc", f"n=2 h={P2} old={P1} size=64"),
        rec(3, "inject", "krealloc", "n=3"),
        rec(4, "fail", "krealloc", f"n=4 h={NULL} old={P2} size=1000000"),
    )
    (left,) = outstanding(events)
    assert (left.api, left.handle) == ("krealloc", P2)
    shrink = parse(
        rec(1, "acquire", "kmalloc", f"n=1 h={P1}"),
        rec(2, "call", "krealloc", f"n=2 h=0000000000000010 old={P1} size=0"),
    )
    assert outstanding(shrink) == []  # krealloc(p, 0) frees p and returns ZERO_SIZE_PTR


def test_proc_entries_pair_by_handle_or_by_name_and_parent():
    """proc_remove and remove_proc_subtree take the subtree; remove_proc_entry only the
    entry named (its children leak, as in the kernel); names may hold a path."""
    mkdir = rec(1, "acquire", "proc_mkdir", f"n=1 h={P1} parent={NULL} name=lab")
    child = rec(2, "acquire", "proc_create", f"n=2 h={P2} parent={P1} name=stats")
    top = rec(3, "acquire", "proc_create", f"n=3 h={P3} parent={NULL} name=driver/lab")
    by_path = rec(4, "release", "remove_proc_entry", f"parent={NULL} name=lab/stats")
    assert [e.seq for e in outstanding(parse(mkdir, child, by_path))] == [1]
    dir_only = rec(4, "release", "remove_proc_entry", f"parent={NULL} name=lab")
    assert [e.seq for e in outstanding(parse(mkdir, child, dir_only))] == [2]
    subtree = rec(4, "release", "remove_proc_subtree", f"parent={NULL} name=lab")
    assert outstanding(parse(mkdir, child, subtree)) == []
    by_handle = rec(4, "release", "proc_remove", f"h={P1}")
    assert outstanding(parse(mkdir, child, by_handle)) == []
    named = rec(5, "release", "remove_proc_entry", f"parent={NULL} name=driver/lab")
    assert [e.seq for e in outstanding(parse(mkdir, child, top, by_handle, named))] == []


def test_debugfs_remove_is_recursive():
    events = parse(
        rec(1, "acquire", "debugfs_create_dir", f"n=1 h={P1} parent={NULL} name=d"),
        rec(2, "acquire", "debugfs_create_dir", f"n=2 h={P2} parent={P1} name=e"),
        rec(3, "acquire", "debugfs_create_file", f"n=3 h={P3} parent={P2} name=f"),
        rec(4, "release", "debugfs_remove", f"h={P2}"),
    )
    assert [e.seq for e in outstanding(events)] == [1]


def test_character_device_numbers_pair_by_major_and_by_exact_region():
    """unregister_chrdev pairs by major; a region is freed only by its (first, count)."""
    events = parse(
        rec(1, "acquire", "register_chrdev", "n=1 h=240 name=old"),
        rec(2, "acquire", "alloc_chrdev_region", "n=2 h=251658240 count=2 dev=240:0 name=r"),
        rec(3, "release", "unregister_chrdev_region", "h=251658240 count=1"),
        rec(4, "release", "unregister_chrdev", "h=240 name=old"),
    )
    assert [e.api for e in outstanding(events)] == ["alloc_chrdev_region"]
    assert [e.seq for e in pair(events).unmatched] == [3]


def test_devices_pair_by_class_and_number_or_by_handle():
    dev = rec(1, "acquire", "device_create", f"n=1 h={P2} class={P1} devt=5 name=x0")
    destroy = rec(2, "release", "device_destroy", f"class={P1} devt=5")
    other = rec(2, "release", "device_destroy", f"class={P1} devt=6")
    unregister = rec(2, "release", "device_unregister", f"h={P2}")
    assert outstanding(parse(dev, destroy)) == []
    assert len(outstanding(parse(dev, other))) == 1
    assert outstanding(parse(dev, unregister)) == []


def test_fallible_calls_include_every_counted_outcome_but_not_releases():
    events = parse(
        rec(1, "acquire", "kmalloc", f"n=1 h={P1}"),
        rec(2, "call", "kmalloc", "n=2 h=0000000000000010 size=0"),
        rec(3, "fail", "misc_register", "n=3 err=-16 name=x"),
        rec(4, "inject", "proc_mkdir", "n=4"),
        rec(5, "release", "kfree", f"h={P1}"),
    )
    assert [e.nth for e in fallible_calls(events)] == [1, 2, 3, 4]
    assert outstanding(events) == []
    real = unwind(events, 3)
    assert real is not None and real.point.op == "fail"
    assert unwind(events, 9) is None


def test_shim_gets_the_nonce_and_refuses_one_that_is_not_hex():
    assert b'"5eed5eed00c0ffee"' in shim_source(NONCE)
    for bad in ("", "abc", 'x" "y', NONCE.upper(), "a" * 65):
        with pytest.raises(ValueError):
            shim_source(bad)


# ---- link-level records (calls that bypassed the header) ------------------


def test_a_bypassing_call_keeps_its_return_address_with_its_space():
    """Is `ret=func+0x1c/0x60 [m]` (last, with a space) kept whole, with no file:line,
    while the other fields still parse?"""
    (e,) = parse(f"{NONCE} 1 acquire kmalloc n=1 h={P1} size=8 mod=m load=0000000a "
                 "ret=m_init+0x1c/0x60 [m]")  # fmt: skip
    assert (e.op, e.api, e.nth, e.handle, e.module) == ("acquire", "kmalloc", 1, P1, "m")
    assert e.detail == {"size": "8", "ret": "m_init+0x1c/0x60 [m]"}
    assert (e.file, e.line) == (None, None)


def test_return_addresses_are_decoded_with_the_modules_ko(monkeypatch, tmp_path):
    """With kos given, is a ret= record placed at the file:line its .ko's debug info
    gives (one byte back from the return address), and left alone without a .ko?"""
    from kmodlab.grader.collection import decode
    from kmodlab.grader.verdicts import ledger

    asked = []

    def fake(frame, ko, *, return_address=False):
        asked.append((frame, ko.name, return_address))
        return decode.SourceLocation("m_init", "/b/m.c", 42)

    monkeypatch.setattr(decode, "decode_frame", fake)
    ledger._decode_ret.cache_clear()
    line = f"{NONCE} 1 release kfree h={P1} mod=m load=0000000a ret=m_exit+0x9/0x20 [m]"
    (e,) = parse_ledger([line], NONCE, build_dir="/b", kos={"m": tmp_path / "m.ko"})
    assert (e.file, e.line) == ("m.c", 42)
    assert asked == [("m_exit+0x9/0x20", "m.ko", True)]
    (bare,) = parse_ledger([line], NONCE, build_dir="/b", kos={"other": tmp_path / "o.ko"})
    assert bare.file is None


def test_interrupt_lines_pair_by_line_and_cookie():
    """Does free_irq release only the handler with the same (line, dev_id), since a
    shared line holds several?"""
    events = parse(
        rec(1, "acquire", "request_irq", f"n=1 h=49 dev={P1} name=a"),
        rec(2, "acquire", "request_irq", f"n=2 h=49 dev={P2} name=b"),
        rec(3, "release", "free_irq", f"h=49 dev={P2}"),
    )
    assert [(e.api, e.detail["dev"]) for e in outstanding(events)] == [("request_irq", P1)]


def test_a_kobject_takes_its_sysfs_files_with_it_and_stray_puts_are_no_double_free():
    """Does the last kobject_put of a kobject_create_and_add() object release its sysfs
    files and groups too, and is a kobject_put of something untracked (a cdev's
    kobject) not reported as a release of nothing?"""
    events = parse(
        rec(1, "acquire", "kobject_create_and_add", f"n=1 h={P1} parent={NULL} name=k"),
        rec(2, "acquire", "sysfs_create_file", f"n=2 h={P1} attr={P2} name=f"),
        rec(3, "acquire", "sysfs_create_group", f"n=3 h={P1} group={P3}"),
        rec(4, "release", "kobject_put", f"h={P1}"),
        rec(5, "release", "kobject_put", f"h={P3}"),
    )
    result = pair(events)
    assert result.outstanding == [] and result.unmatched == []


def test_new_registrations_pair_with_their_undoing_call():
    """Are the newly covered registrations (platform, block, net, cdev_device,
    class_register) each undone by their own release, and left when it is missing?"""
    pairs = [
        ("platform_device_register", "platform_device_unregister"),
        ("platform_driver_register", "platform_driver_unregister"),
        ("register_blkdev", "unregister_blkdev"),
        ("blk_mq_alloc_tag_set", "blk_mq_free_tag_set"),
        ("add_disk", "del_gendisk"),
        ("alloc_netdev", "free_netdev"),
        ("register_netdev", "unregister_netdev"),
        ("cdev_device_add", "cdev_device_del"),
        ("class_register", "class_unregister"),
        ("kthread_create_on_cpu", "kthread_stop"),
    ]
    for acquire, release in pairs:
        held = rec(1, "acquire", acquire, f"n=1 h={P1}")
        assert outstanding(parse(held, rec(2, "release", release, f"h={P1}"))) == [], acquire
        assert len(outstanding(parse(held))) == 1, acquire


def test_shim_wraps_only_what_it_is_given():
    """Does the shim define a wrapper guard for each given symbol and nothing else,
    with no module parameter anywhere?"""
    from kmodlab.grader.collection.instrument import wrappable, wraps_for

    text = shim_source(NONCE, "abc123", 0x80000001, ["kfree", "kmalloc_trace"]).decode()
    assert "#define KFI_W_kfree\n#define KFI_W_kmalloc_trace\n" in text
    assert "module_param" not in text and "kfi_arm_abc123" in text and "0x80000001" in text
    assert {"kmalloc_trace", "__get_free_pages", "kasprintf", "request_threaded_irq"} <= wrappable()
    assert wraps_for(["kasprintf", "printk"]) == ["__kmalloc_node_track_caller", "kasprintf"]
    assert wraps_for(["vfree", "printk"]) == ["vfree"]
