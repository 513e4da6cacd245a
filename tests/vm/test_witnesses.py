"""The leak witnesses against the real guest kernel, one fixture module per fresh guest.

Every test gets its own Session (the `session` fixture), hence its own guest:
a leftover registration points into freed module memory and can poison
whatever runs next in that guest (a leaked kthread even oopses on its own a
minute later), so no two leaky modules ever share a guest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from kmodlab.grader.collection.guest_state import STATE_SCRIPT, Leftover, diff_state, parse_state
from kmodlab.grader.collection.kmemtrace import (
    TraceEvent,
    decode_site,
    enable_commands,
    explain,
    lost_events,
    module_ranges,
    parse_trace,
    read_command,
    unattributed,
    unfreed,
)
from kmodlab.vm.console import find_reports

pytestmark = pytest.mark.vm


LEAKY = Path(__file__).parent.parent / "data" / "leaky"


@pytest.fixture(scope="session")
def leaky(built):
    """leaky(name) -> the .ko of tests/data/leaky/<name>."""
    return lambda name: built(f"leaky/{name}")


@dataclass
class Observation:
    leftovers: list[Leftover]
    unfreed: list[TraceEvent]
    lines: list[tuple[str, str, int]]  # (function, file name, line) of each unfreed allocation
    lost: int
    after_log: str  # the kernel log while the after-unload snapshot was taken
    state_ms: tuple[int, int]  # guest time of the snapshots, before and after
    read_ms: int


def observe(session, ko: Path) -> Observation:
    """Snapshot, trace, insmod, rmmod, read the trace, snapshot: the grader's sequence."""
    name = ko.stem
    session.push_modules([ko])
    before = session.sh(STATE_SCRIPT)
    assert before.ok, before.stderr
    assert session.sh(enable_commands()).ok
    load = session.run(f"insmod {name}.ko")
    assert load.ok, load.stderr
    addresses = session.section_addresses(name)  # now: after rmmod the sections are gone
    unload = session.run(f"rmmod {name}")
    assert unload.ok, unload.stderr
    read = session.sh(read_command())  # after rmmod: the frees done by exit are in
    assert read.ok, read.stderr
    after = session.sh(STATE_SCRIPT)
    events = parse_trace(read.stdout)
    ranges = module_ranges(ko, addresses)
    left = unfreed(events, ranges)
    assert unattributed(events, ranges) == [], "module code outside the recorded sections"
    lines = []
    for ev in left:
        where = explain(ev, ranges, ko)
        assert where, f"{ev} is not in {name}'s sections"
        lines.append((where[0], Path(where[1]).name, where[2]))
    return Observation(
        leftovers=diff_state(parse_state(before.stdout), parse_state(after.stdout), module=name),
        unfreed=left,
        lines=lines,
        lost=lost_events(read.stdout),
        after_log=after.log,
        state_ms=(before.guest_ms, after.guest_ms),
        read_ms=read.guest_ms,
    )


def marked(name: str, marker: str) -> list[int]:
    """Line numbers of the fixture's source lines that carry a marker comment."""
    text = (LEAKY / name / f"{name}.c").read_text().splitlines()
    return [i for i, line in enumerate(text, 1) if marker in line]


def items(obs: Observation) -> list[tuple[str, str]]:
    return [(x.section, x.item) for x in obs.leftovers]


# -- registrations -------------------------------------------------------------

REGISTRATIONS = {
    "leak_proc": [("proc", r"leak_proc")],
    "leak_chrdev": [("chrdev", r"\d+ leak_chrdev")],
    "leak_misc": [("class", r"misc/leak_misc"), ("dev", r"leak_misc c 10:\d+")],
    "leak_class": [("class", r"leak_class")],
    "leak_debugfs": [("debugfs", r"leak_debugfs")],
}


@pytest.mark.parametrize("name", sorted(REGISTRATIONS))
def test_a_leaked_registration_is_named_and_nothing_else(session, leaky, name):
    """Does the after-unload snapshot show exactly the module's leftover, and no memory leak?"""
    obs = observe(session, leaky(name))
    got = items(obs)
    assert len(got) == len(REGISTRATIONS[name]), obs.leftovers
    for (section, item), (want_section, pattern) in zip(got, REGISTRATIONS[name], strict=True):
        assert section == want_section and re.fullmatch(pattern, item), obs.leftovers
    # Their allocations are the kernel's own (proc_create, cdev, device_create...).
    assert obs.unfreed == [] and obs.lost == 0


def test_a_leaked_kthread_is_named(session, leaky):
    """Is the thread that was never stopped found by name after rmmod?

    The thread's code is gone: it oopses when its sleep ends (within a minute).
    This guest is poisoned from here on; the fixture throws it away.
    """
    obs = observe(session, leaky("leak_kthread"))
    assert items(obs) == [("kthreads", "leak_kthread")]
    assert obs.leftovers[0].message == "kernel thread 'leak_kthread' is still running"
    session.close()


def test_a_leaked_ioport_oopses_its_reader_and_the_snapshot_survives(session, leaky):
    """/proc/ioports prints the region's name from freed module memory: does the snapshot
    report that read crashing, and still compare everything else?"""
    obs = observe(session, leaky("leak_ioport"))
    assert items(obs) == [("risky", "")]
    (oops,) = find_reports(obs.after_log)
    assert oops.kind == "oops" and "r_show" in obs.after_log
    session.close()


# -- memory ----------------------------------------------------------------------


def test_the_forgotten_kzalloc_is_found_by_line(session, leaky):
    """leak_kmalloc frees two of its three allocations: is the third named by file:line?"""
    obs = observe(session, leaky("leak_kmalloc"))
    assert obs.leftovers == [] and obs.lost == 0
    (line,) = marked("leak_kmalloc", "LEAK: never freed")
    assert obs.lines == [("leak_kmalloc_init", "leak_kmalloc.c", line)]
    assert obs.unfreed[0].bytes_req == 200 and obs.unfreed[0].task == "insmod"


def test_mixed_allocations_report_what_the_witness_can_see(session, leaky):
    """kstrdup, krealloc and vmalloc leaks are named; kfree_rcu, kvfree, krealloc's kfree
    and the destroyed cache are not leaks; __get_free_page's page is named too (a return
    probe). kasprintf leaks too, unseen: kernel code allocates for it."""
    obs = observe(session, leaky("leak_mixed"))
    assert obs.leftovers == [] and obs.lost == 0
    seen = [n for n in marked("leak_mixed", "SEEN:") if n not in marked("leak_mixed", "UNSEEN:")]
    # vmalloc areas come last (read from /proc/vmallocinfo), so compare as sets of lines
    assert sorted(obs.lines) == [("leak_mixed_init", "leak_mixed.c", n) for n in sorted(seen)]


def test_a_clean_module_leaves_nothing(session, leaky):
    """clean_four registers four things and releases them all: nothing left, nothing unfreed."""
    obs = observe(session, leaky("clean_four"))
    assert obs.leftovers == [] and obs.unfreed == [] and obs.lost == 0


def test_decode_site_on_a_real_module(leaky):
    """Do the return addresses of leak_kmalloc's three allocation calls decode to their lines?"""
    from elftools.elf.elffile import ELFFile

    ko = leaky("leak_kmalloc")
    with open(ko, "rb") as f:
        elf = ELFFile(f)
        rela = elf.get_section_by_name(".rela.init.text")
        symtab = elf.get_section(rela["sh_link"])
        calls = sorted(
            r["r_offset"] + 4  # the call's 4-byte operand is relocated; it returns after it
            for r in rela.iter_relocations()
            if symtab.get_symbol(r["r_info_sym"]).name in ("kmalloc_trace", "__kmalloc")
        )
    source = (LEAKY / "leak_kmalloc" / "leak_kmalloc.c").read_text().splitlines()
    want = [i for i, text in enumerate(source, 1) if re.search(r"\bk[mz]alloc\(", text)]
    got = [decode_site(ko, ".init.text", ret - 1) for ret in calls]
    assert [(g[0], Path(g[1]).name, g[2]) for g in got if g] == [
        ("leak_kmalloc_init", "leak_kmalloc.c", n) for n in want
    ]


# -- cost and stability ------------------------------------------------------------


def test_snapshots_of_an_idle_guest_agree(session):
    """Do two snapshots with nothing in between compare equal, at a bounded cost?"""
    first = session.sh(STATE_SCRIPT)
    second = session.sh(STATE_SCRIPT)
    assert first.ok and second.ok
    assert diff_state(parse_state(first.stdout), parse_state(second.stdout), module="x") == []
    # Loose: the machines are shared and TCG is slow; this catches a runaway script.
    assert second.guest_ms < 3000
