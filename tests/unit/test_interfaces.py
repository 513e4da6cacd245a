"""Which interfaces a module created, how they are read, and poison in what they returned."""

from __future__ import annotations

from kmodlab.grader.collection import interfaces
from kmodlab.grader.collection.guest_state import parse_state
from kmodlab.vm.qemu import BASE_CMDLINE

BEFORE = """\
@@ class
misc
misc/cpu_dma_latency
@@ proc
devices
tty
tty/drivers
@@ debugfs
tracing
@@ dev
/dev:
crw-------    1 0        0          10, 125 Nov 25 21:57 cpu_dma_latency
@@ end
"""
LOADED = BEFORE.replace("tty/drivers\n", "tty/drivers\ncounter\nmydir\nmydir/stats\n").replace(
    "misc/cpu_dma_latency\n", "misc/cpu_dma_latency\nmisc/greeter\n"
).replace("tracing\n", "tracing\nmydbg\nmydbg/state\n") + (
    "crw-------    1 0        0          10, 124 Nov 25 21:57 greeter\n"
)


def test_new_interfaces_are_what_load_added() -> None:
    """Are the /proc, debugfs, /dev and class entries that load added (and only those) listed?"""
    loaded = parse_state(LOADED.replace("@@ end\n", "") + "@@ end\n")
    paths = interfaces.new_interfaces(parse_state(BEFORE), loaded)
    assert paths == [
        "/proc/counter",
        "/proc/mydir",
        "/proc/mydir/stats",
        "/sys/kernel/debug/mydbg",
        "/sys/kernel/debug/mydbg/state",
        "/dev/greeter",
        "/sys/class/misc/greeter/*",
    ]


def test_read_script_reads_everything_once_and_only_proc_and_sysfs_during_rmmod() -> None:
    """Is every path read after load, but only /proc and sysfs by the reader during rmmod
    (an open /dev node or debugfs file would hold the module and make rmmod fail)?"""
    script = interfaces.read_script(
        ["/proc/counter", "/dev/greeter", "/sys/class/misc/greeter/*"], ["m"]
    )
    once, during = script.split("echo '@@ during'")
    assert "r /proc/counter /dev/greeter /sys/class/misc/greeter/*" in once
    (loop,) = [line for line in during.splitlines() if "while d " in line]
    assert "/proc/counter /sys/class/misc/greeter/*" in loop and "/dev/greeter" not in loop
    # The module is checked for right before each file, not once a round.
    assert "[ -d /sys/module/m ] || return 1" in once


def test_poison_in_a_read_is_found() -> None:
    """Does a read that returned SLUB's free poison ('k', 0x6b) name its path, a normal one not?"""
    out = (
        "@@ read /proc/a\nreads: 1\n\n@@ read /proc/b\n" + "k" * 40 + "\ufffd\n@@ during\n@@ end\n"
    )
    assert interfaces.poisoned_reads(out) == ["/proc/b"]


def test_the_guest_boots_with_freed_memory_poisoned() -> None:
    """Is SLUB poisoning on the guest's command line (and so in the snapshot key)?"""
    assert "slub_debug=P" in BASE_CMDLINE
