"""The registrations witness, on snapshots captured in the real guest (tests/data/witness)."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import pytest

from kmodlab.grader.collection.guest_state import (
    BOUND_SCRIPT,
    ERRORS,
    STATE_SCRIPT,
    Leftover,
    bound_devices,
    diff_state,
    new_bindings,
    parse_state,
    unreadable,
)

STATES = Path(__file__).parent.parent / "data" / "witness" / "state"


def text(name: str) -> str:
    return gzip.decompress((STATES / f"{name}.txt.gz").read_bytes()).decode()


@pytest.fixture(scope="module")
def before() -> dict[str, frozenset[str]]:
    return parse_state(text("hello.before"))


def leftovers(module: str) -> list[Leftover]:
    """The diff of the module's own captured pair (both taken in the same guest)."""
    pair = (parse_state(text(f"{module}.{when}")) for when in ("before", "after"))
    return diff_state(*pair, module=module)


# -- the captured runs ---------------------------------------------------------

EXPECTED = {
    "hello": [],
    "clean_four": [],
    "leak_kmalloc": [],  # memory only: the memory witness's business
    # Its slab cache was destroyed; SLUB keeps the name as a symlink, not a leftover.
    "leak_mixed": [],
    "leak_proc": [("proc", "leak_proc")],
    "leak_chrdev": [("chrdev", "245 leak_chrdev")],
    "leak_misc": [("class", "misc/leak_misc"), ("dev", "leak_misc c 10:124")],
    "leak_class": [("class", "leak_class")],
    "leak_debugfs": [("debugfs", "leak_debugfs")],
    "leak_kthread": [("kthreads", "leak_kthread")],
    "leak_ioport": [("risky", "")],
}


@pytest.mark.parametrize("module", sorted(EXPECTED))
def test_each_module_leaves_exactly_what_it_leaked(module):
    """Does the diff of before-load and after-unload name that module's leak and nothing else?"""
    assert [(x.section, x.item) for x in leftovers(module)] == EXPECTED[module]


def test_messages_say_what_is_left_in_plain_words():
    """Are the leftovers explained in words a student can act on, with where to look?"""
    messages = {m: [x.message for x in leftovers(m)] for m in EXPECTED}
    assert messages["leak_chrdev"] == [
        "character device major 245 'leak_chrdev' is still registered (/proc/devices)"
    ]
    assert messages["leak_proc"] == ["/proc/leak_proc still exists"]
    assert messages["leak_misc"] == [
        "misc device 'leak_misc' is still registered (/sys/class/misc/leak_misc)",
        "/dev/leak_misc (character device 10:124) still exists",
    ]
    # A leaked folder is reported once, with what is inside it.
    assert messages["leak_class"] == [
        "device class 'leak_class' is still registered (/sys/class/leak_class), "
        "with leak_class0 inside"
    ]
    assert messages["leak_debugfs"] == [
        "/sys/kernel/debug/leak_debugfs still exists, with value inside"
    ]
    assert messages["leak_kthread"] == ["kernel thread 'leak_kthread' is still running"]
    assert "crashed the kernel" in messages["leak_ioport"][0]


@pytest.mark.parametrize(
    ("section", "item", "message"),
    [
        (
            "blkdev",
            "252 leak_blk",
            "block device major 252 'leak_blk' is still registered (/proc/devices)",
        ),
        ("irq", "5/leak_irq", "interrupt handler 'leak_irq' is still registered on IRQ 5"),
        (
            "ioports",
            "0300-0307 leak_ioport",
            "I/O port range 0300-0307 'leak_ioport' is still claimed (/proc/ioports)",
        ),
        (
            "iomem",
            "fe000000-fe000fff leak",
            "memory range fe000000-fe000fff 'leak' is still claimed (/proc/iomem)",
        ),
        (
            "slab",
            "leak_cache",
            "slab cache 'leak_cache' still exists (/proc/slabinfo): "
            "kmem_cache_destroy was not called",
        ),
        (
            "filesystems",
            "leakfs",
            "filesystem type 'leakfs' is still registered (/proc/filesystems)",
        ),
        (
            "bus",
            "platform/drivers/leak_drv",
            "driver 'leak_drv' is still registered on the platform bus",
        ),
        ("bus", "platform/devices/leak.0", "device 'leak.0' is still on the platform bus"),
        ("sysfs", "kernel/leak_kobj", "/sys/kernel/leak_kobj still exists"),
        ("sysdevices", "leak_root", "/sys/devices/leak_root still exists"),
        ("modules", "helper", "module 'helper' was loaded along the way and is still loaded"),
        ("dev", "leak_blk b 252:0", "/dev/leak_blk (block device 252:0) still exists"),
    ],
)
def test_every_section_has_a_plain_message(before, section, item, message):
    after = {**before, section: before[section] | {item}}
    assert diff_state(before, after, module="leak") == [Leftover(section, item, message)]


def test_an_unchanged_kernel_diffs_to_nothing(before):
    """Do two snapshots with nothing in between compare equal (no PIDs, no timestamps)?"""
    again = parse_state(text("hello.before-again"))
    assert diff_state(before, again, module="x") == []
    assert diff_state(again, before, module="x") == []


def test_snapshot_sections_hold_names(before):
    """Does each section hold the names the guest listed, relative to where it looked?"""
    assert "10 misc" in before["chrdev"] and "259 blkext" in before["blkdev"]
    assert {"misc", "misc/hpet", "tty/console"} <= before["class"]
    assert {"platform", "platform/drivers/serial8250"} <= before["bus"]
    assert {"null c 1:3", "input/mice c 13:63"} <= before["dev"]
    assert "4/ttyS0" in before["irq"]  # /proc/irq/4/ttyS0/: the handler's name, read safely
    assert {"ksoftirqd/0", "kdevtmpfs"} <= before["kthreads"]
    assert {"net/tcp", "driver/rtc", "sys/kernel", "devices"} <= before["proc"]
    assert {"0cf8-0cff PCI conf1"} <= before["ioports"] and "sysfs" in before["filesystems"]
    assert "kmalloc-64" in before["slab"] and "virtio_console" in before["modules"]
    assert {"sched", "sched/features", "tracing"} <= before["debugfs"]
    assert before[ERRORS] == frozenset()


def test_no_pids_and_no_tracefs_inside_debugfs(before):
    """Are per-process folders and the tracefs mount (both ever-changing) left out?"""
    assert not any(item.split("/")[0].isdigit() for item in before["proc"])
    assert not any(item.startswith(("self/", "thread-self/")) for item in before["proc"])
    assert not any(item.startswith("tracing/") for item in before["debugfs"])


def test_a_destroyed_merged_cache_is_not_listed():
    """leak_mixed destroyed its cache, which SLUB had merged into another: /sys/kernel/slab
    keeps its name as a symlink; /proc/slabinfo, which the snapshot reads, does not."""
    assert "leak_mixed_cache" not in parse_state(text("leak_mixed.after"))["slab"]


# -- how diffs treat noise and damage --------------------------------------------


def test_worker_threads_coming_and_going_are_not_leftovers(before):
    """Is a new kworker (started on demand, named after its work) ignored?"""
    after = text("hello.after").replace(
        "/proc/60/comm:kworker/u3:0", "/proc/60/comm:kworker/u3:0\n/proc/77/comm:kworker/0:3-events"
    )
    assert "kworker/0:3-events" in parse_state(after)["kthreads"]
    assert diff_state(before, parse_state(after), module="hello") == []


def test_a_second_thread_of_the_same_name_is_a_leftover(before):
    """Are kernel threads counted by name, so a second 'kswapd0' is seen?"""
    after = text("hello.after").replace(
        "/proc/60/comm:kworker/u3:0", "/proc/60/comm:kworker/u3:0\n/proc/99/comm:kswapd0"
    )
    (left,) = diff_state(before, parse_state(after), module="hello")
    assert (left.section, left.item) == ("kthreads", "kswapd0#2")
    assert left.message == "kernel thread 'kswapd0' (instance 2) is still running"


def test_a_module_still_loaded_is_reported(before):
    """If rmmod did not happen, is the module itself named?"""
    after = text("hello.after").replace("@@ modules\n", "@@ modules\nhello\n")
    assert [x.message for x in diff_state(before, parse_state(after), module="hello")] == [
        "module 'hello' is still loaded"
    ]
    several = diff_state(before, parse_state(after), module="helper,hello")
    assert [x.message for x in several] == ["module 'hello' is still loaded"]


def test_a_cut_short_snapshot_is_reported_and_never_read_as_removals(before):
    """Does a snapshot that stops half way report that, not "everything went away"?"""
    full = text("leak_proc.after")
    cut = full[: full.index("@@ dev")]
    state = parse_state(cut)
    assert state[ERRORS] == {"incomplete"}
    assert "dev" not in state and "chrdev" not in state and "proc" in state
    # The cut itself is no leftover (unreadable() says why nothing is decided);
    # what the read did reach is compared.
    assert [(x.section, x.item) for x in diff_state(before, state, module="leak_proc")] == [
        ("proc", "leak_proc"),
    ]
    assert unreadable(before, state) == (
        "the kernel state could not be read to the end (the reader was cut short)"
    )
    assert unreadable(before, parse_state(full)) is None


def test_a_read_cut_in_the_middle_of_a_name_does_not_invent_that_name(before):
    """When the output stops mid-line (a reader that timed out), is the section it
    stopped in dropped, so a half name ("hel" of "hello") is never a new item?"""
    full = text("hello.before")
    start = full.index("@@ proc\n")
    cut = full[: full.index("\n", start + 200) - 3]  # inside a /proc name
    state = parse_state(cut)
    assert "proc" not in state and "class" in state
    assert diff_state(before, state, module="hello") == []
    assert unreadable(state) is not None
    assert unreadable(parse_state("")) is not None  # nothing at all: not "all gone"


def test_a_killed_reader_costs_only_the_risky_files():
    """After the oops in /proc/ioports, are all other sections still there and compared?"""
    state = parse_state(text("leak_ioport.after"))
    assert state[ERRORS] == {"risky 137"}
    assert not {"ioports", "iomem", "filesystems"} & state.keys()
    assert {"chrdev", "kthreads", "class", "dev"} <= state.keys()


def test_dev_listing_parses_nodes_and_symlinks():
    """Does the /dev parser keep type and numbers, and name symlinks without their target?"""
    listing = (
        "@@ dev\n/dev:\ntotal 0\n"
        "crw-------    1 0        0          10, 124 Nov 25 22:12 leak_misc\n"
        "brw-rw----    1 0        0           8,   0 Nov 25 22:12 sda\n"
        "lrwxrwxrwx    1 0        0              13 Nov 25 22:12 fd -> /proc/self/fd\n"
        "drwxr-xr-x    2 0        0              60 Nov 25 22:12 input\n"
        "\n/dev/input:\ntotal 0\n"
        "crw-------    1 0        0          13,  63 Nov 25 22:12 mice\n@@ end\n"
    )
    assert parse_state(listing)["dev"] == {
        "leak_misc c 10:124",
        "sda b 8:0",
        "fd l",
        "input/mice c 13:63",
    }


# -- the script itself ---------------------------------------------------------


def test_script_never_reads_files_that_oops_after_a_leak():
    """Does the script stay away from files that print a freed module's strings?"""
    for path in ("/proc/misc", "/proc/interrupts", "/proc/crypto", "/proc/tty/drivers"):
        assert path not in STATE_SCRIPT
    # The three it must read come last, in a process of their own.
    tail = STATE_SCRIPT[STATE_SCRIPT.index("@@ risky") :]
    assert "/proc/ioports" in tail and "/proc/ioports" not in STATE_SCRIPT.replace(tail, "")


@pytest.mark.skipif(not shutil.which("dash"), reason="dash is not installed")
def test_script_is_posix_sh():
    """Does dash (the guest's /bin/sh) accept the script?"""
    r = subprocess.run(["dash", "-n"], input=STATE_SCRIPT, text=True, capture_output=True)
    assert r.returncode == 0, r.stderr


# -- the devices a driver bound ------------------------------------------------


def test_bound_devices_are_read_from_both_sides_of_the_link():
    """Does the bound section give (driver, device) pairs new since before, and count
    a device bound when either its driver's folder or its own link says so?"""
    before = parse_state("@@ bound\ndrivers/serial8250/serial8250\n"
                         "devices/serial8250/driver\ndevices/*/driver\n@@ end\n")  # fmt: skip
    loaded = parse_state(
        "@@ bound\ndrivers/serial8250/serial8250\ndevices/serial8250/driver\n"
        "drivers/m/m.0\ndevices/m.0/driver\ndrivers/m/m.1\n@@ end\n"
    )
    assert new_bindings(before, loaded) == {("m", "m.0"), ("m", "m.1")}
    assert bound_devices(loaded) == {"serial8250", "m.0", "m.1"}
    assert bound_devices(parse_state("@@ bound\ndevices/m.0/driver\n@@ end\n")) == {"m.0"}
    # Not read, or cut short while reading it: unknown, never "nothing bound".
    assert new_bindings(before, parse_state("@@ end\n")) is None
    assert bound_devices(parse_state("@@ bound\ndrivers/m/m.0\n")) is None


def test_the_bound_reader_is_valid_sh_and_in_the_state_snapshot():
    """Is BOUND_SCRIPT valid POSIX sh, and does every state snapshot carry the section?"""
    dash = shutil.which("dash")
    if dash is None:
        pytest.skip("dash is not installed")
    r = subprocess.run([dash, "-n"], input=BOUND_SCRIPT, text=True, capture_output=True)
    assert r.returncode == 0, r.stderr
    assert "echo '@@ bound'" in STATE_SCRIPT and BOUND_SCRIPT.endswith("echo '@@ end'\n")
