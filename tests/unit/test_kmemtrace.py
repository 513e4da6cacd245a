"""The memory witness, on kmem traces captured in the real guest (tests/data/witness)."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from kmodlab.grader.collection.kmemtrace import (
    KPROBE,
    MODULE_AREA,
    CallSite,
    SectionRange,
    TraceEvent,
    decode_site,
    enable_commands,
    explain,
    locate,
    lost_events,
    module_ranges,
    parse_site,
    parse_trace,
    read_command,
    symbol_location,
    unattributed,
    unfreed,
)

KMEM = Path(__file__).parent.parent / "data" / "witness" / "kmem"


def trace(module: str) -> str:
    return gzip.decompress((KMEM / f"{module}.trace.txt.gz").read_bytes()).decode()


def ranges(module: str) -> list[SectionRange]:
    d = json.loads((KMEM / f"{module}.sections.json").read_text())
    return [
        SectionRange(name, int(start, 16), int(start, 16) + int(d["sizes"][name], 16))
        for name, start in d["addresses"].items()
    ]


def leaks(module: str) -> list[tuple[str, int, tuple[str, int] | None]]:
    r = ranges(module)
    return [
        (e.event, e.bytes_req or e.bytes_alloc, locate(e.site, r))
        for e in unfreed(parse_trace(trace(module)), r)
    ]


# -- the captured runs ---------------------------------------------------------


def test_the_one_forgotten_kzalloc_is_found():
    """leak_kmalloc frees a scratch buffer in init and another in exit: only kzalloc(200) stays."""
    assert leaks("leak_kmalloc") == [("kmalloc", 200, (".init.text", 0x60))]


def test_mixed_allocations_report_only_the_lost_ones():
    """kstrdup and krealloc results and a vmalloc area are lost; kfree_rcu, kvfree,
    kmem_cache_free and the kfree in krealloc must not be reported."""
    assert leaks("leak_mixed") == [
        ("kmalloc", 11, (".init.text", 0x6A)),  # kstrdup("leak_mixed")
        ("kmalloc", 500, (".init.text", 0xC8)),  # krealloc(small, 500)
        ("vmalloc", 24576, (".init.text", 0xE8)),  # vmalloc(20000): 5 pages + guard
    ]


@pytest.mark.parametrize("module", ["leak_kmalloc", "leak_mixed", "clean_four"])
def test_nothing_unfreed_comes_from_outside_the_recorded_sections(module):
    assert unattributed(parse_trace(trace(module)), ranges(module)) == []


def test_allocations_from_a_section_not_recorded_are_not_silently_dropped():
    """If the ranges miss a section (.text.unlikely, say), do its leaks still surface?"""
    events = parse_trace(trace("leak_mixed"))
    partial = [r for r in ranges("leak_mixed") if r.section != ".init.text"]
    assert unfreed(events, partial) == []
    stray = unattributed(events, partial)
    assert [(e.event, e.bytes_req or e.bytes_alloc) for e in stray] == [
        ("kmalloc", 11),
        ("kmalloc", 500),
        ("vmalloc", 24576),
    ]


def test_kfree_rcu_is_seen_through_the_kprobe():
    """Without the kvfree_call_rcu probe, is the kfree_rcu'd node mistaken for a leak?"""
    events = parse_trace(trace("leak_mixed"))
    rcu = [e for e in events if e.event == "kvfree_rcu"]
    assert rcu and all(e.ptr for e in rcu)
    blind = [e for e in events if e.event != "kvfree_rcu"]
    extra = [
        e
        for e in unfreed(blind, ranges("leak_mixed"))
        if e not in unfreed(events, ranges("leak_mixed"))
    ]
    (node,) = extra
    assert node.bytes_req == 24 and locate(node.site, ranges("leak_mixed")) == (".init.text", 0x1D)


def test_a_module_that_frees_everything_has_nothing_unfreed():
    """clean_four's kzalloc is freed in exit (a tail call: the kfree's site is the kernel's)."""
    assert leaks("clean_four") == []
    assert lost_events(trace("clean_four")) == 0


def test_trace_lines_become_events_with_their_context():
    """Are task, pid, time, sizes and the raw call site kept?"""
    events = parse_trace(trace("leak_kmalloc"))
    first = next(e for e in events if e.site.address and e.site.address >= MODULE_AREA)
    assert (first.event, first.task, first.bytes_req, first.bytes_alloc) == (
        "kmalloc",
        "insmod",
        32,
        32,
    )
    assert first.pid > 0 and first.timestamp > 0 and first.ptr and first.ptr > MODULE_AREA >> 32
    # vmalloc: the virtio device's ioremapped areas, listed with their module caller.
    assert {e.event for e in events} == {
        "kmalloc",
        "kfree",
        "kmem_cache_free",
        "kvfree_rcu",
        "vmalloc",
    }
    stamps = [e.timestamp for e in events if e.event != "vmalloc"]
    assert stamps == sorted(stamps)


def test_symbolised_call_sites_are_attributed_by_module_name():
    """A loaded module's sites print as "func+off/size [mod]": does module= attribute them?"""
    events = parse_trace(trace("leak_kmalloc"))
    site = next(e.site for e in events if e.is_alloc and e.site.module == "virtio_console")
    assert site.symbol == "alloc_buf.constprop.0" and site.address is None
    live = unfreed(events, module="virtio_console")  # the console's buffers in flight
    assert live and {e.site.module for e in live} == {"virtio_console"}
    assert unfreed(events, module="leak_kmalloc") == []  # its sites were raw by then


def test_hashed_pointers_cannot_be_matched():
    """With hash-ptr on and no RNG seed, pointers are "(____ptrval____)": refuse, don't guess."""
    events = parse_trace((KMEM / "hashed-pointers.trace.txt").read_text())
    allocs = [e for e in events if e.event == "kmalloc"]
    assert allocs and all(e.ptr is None for e in allocs)
    with pytest.raises(ValueError, match="no pointers"):
        unfreed(events, [SectionRange(".init.text", 0xFFFFFFFFC0236000, 0xFFFFFFFFC0236100)])


# -- pure pieces -----------------------------------------------------------------


def test_call_sites_parse_raw_and_symbolised():
    assert parse_site("0xffffffffc023601b") == CallSite(
        "0xffffffffc023601b", address=0xFFFFFFFFC023601B
    )
    assert parse_site("leak_init+0x1c/0x60 [leak]") == CallSite(
        "leak_init+0x1c/0x60 [leak]", symbol="leak_init", offset=0x1C, module="leak"
    )
    kernel = parse_site("kobject_uevent_env+0x10a/0x660")
    assert kernel.symbol == "kobject_uevent_env" and kernel.module is None
    assert parse_site("kvfree_call_rcu").symbol is None


def test_an_address_reused_without_a_seen_free_ends_the_old_object():
    """A free we could not see (kfree_bulk) is proven by a new allocation at the same address."""
    mine = SectionRange(".text", 0xFFFFFFFFC0001000, 0xFFFFFFFFC0002000)
    site, other = (
        CallSite("a", address=0xFFFFFFFFC0001010),
        CallSite("b", address=0xFFFFFFFFC0300000),
    )
    events = [
        TraceEvent("kmalloc", 0xFFFF888000001000, site, 8, 8),
        TraceEvent("kmalloc", 0xFFFF888000001000, other, 8, 8),  # another module's
        TraceEvent("kmalloc", 0xFFFF888000002000, site, 8, 8),
        TraceEvent("kmem_cache_free", 0xFFFF888000002000, CallSite("rcu_do_batch+0x1/0x2")),
        TraceEvent("kmalloc", 0x10, site, 0, 0),  # ZERO_SIZE_PTR: nothing to free
        TraceEvent("kmalloc", 0, site, 8, 0),  # failed
    ]
    assert unfreed(events, [mine]) == []


def test_lost_events_add_drops_and_overruns():
    stats = (
        "@@ stats\nentries: 5\noverrun: 2\ncommit overrun: 0\ndropped events: 5\n@@ trace\n@@ end\n"
    )
    assert lost_events(stats) == 7
    assert lost_events(trace("leak_mixed")) == 0


def test_allocations_are_filtered_to_modules_and_frees_are_not():
    """Is the alloc filter the module area, with no call-site filter on any free?"""
    script = enable_commands()
    assert f"echo 'call_site >= {MODULE_AREA:#x}' > events/kmem/kmalloc/filter" in script
    assert f"echo 'call_site >= {MODULE_AREA:#x}' > events/kmem/kmem_cache_alloc/filter" in script
    assert "echo 'ptr > 16' > events/kmem/kfree/filter" in script  # kfree(NULL) only
    assert "echo 0 > events/kmem/kmem_cache_free/filter" in script
    assert "echo 0 > options/hash-ptr" in script and f"p:{KPROBE} kvfree_call_rcu" in script
    assert "echo 4096 > buffer_size_kb" in script and "echo 64 > buffer_size_kb" in enable_commands(
        64
    )


@pytest.mark.skipif(not shutil.which("dash"), reason="dash is not installed")
@pytest.mark.parametrize("script", [enable_commands(), read_command()])
def test_snippets_are_posix_sh(script):
    r = subprocess.run(["dash", "-n"], input=script, text=True, capture_output=True)
    assert r.returncode == 0, r.stderr


# -- decoding against an object built here ---------------------------------------

STUDENT = """#include "alloc.h"
void *keep;
int student_init(void)
{
\tkeep = zalloc(64);
\treturn keep ? 0 : -12;
}
"""
HEADER = """void *backend_alloc(unsigned long n);
static inline void *zalloc(unsigned long n)
{
\treturn backend_alloc(n);
}
"""


@pytest.fixture(scope="module")
def student_object(tmp_path_factory) -> Path:
    """A -g -O2 object whose call into an inline helper from a "kernel header" is at .text+0x9."""
    if not (shutil.which("gcc") and shutil.which("addr2line")):
        pytest.skip("gcc and addr2line are needed")
    d = tmp_path_factory.mktemp("obj")
    (d / "linux-headers-x" / "include").mkdir(parents=True)
    (d / "linux-headers-x" / "include" / "alloc.h").write_text(HEADER)
    (d / "student.c").write_text(STUDENT)
    subprocess.run(
        ["gcc", "-g", "-O2", "-I", "linux-headers-x/include", "-c", "student.c", "-o", "student.o"],
        cwd=d,
        check=True,
    )
    return d / "student.o"


def _return_address(obj: Path) -> int:
    """Where backend_alloc() returns to: the relocated call's operand + 4."""
    from elftools.elf.elffile import ELFFile

    with open(obj, "rb") as f:
        elf = ELFFile(f)
        rela = elf.get_section_by_name(".rela.text")
        symtab = elf.get_section(rela["sh_link"])
        (reloc,) = [
            r
            for r in rela.iter_relocations()
            if symtab.get_symbol(r["r_info_sym"]).name == "backend_alloc"
        ]
        return reloc["r_offset"] + 4


def test_decode_site_names_the_students_line_not_the_header(student_object):
    """With inlining, is the innermost frame in the student's own file chosen?"""
    ret = _return_address(student_object)
    func, path, line = decode_site(student_object, ".text", ret - 1)
    assert (func, Path(path).name, line) == ("student_init", "student.c", 5)


def test_explain_uses_the_recorded_section_addresses(student_object):
    """A raw call site inside the recorded .text decodes to the student's line."""
    r = module_ranges(
        student_object, {".text": 0xFFFFFFFFC0010000, ".init.text": 0xFFFFFFFFC0020000}
    )
    assert [x.section for x in r] == [".text"]  # no .init.text in this object
    site = CallSite("raw", address=0xFFFFFFFFC0010000 + _return_address(student_object))
    where = explain(TraceEvent("kmalloc", 1 << 40, site, 64, 64), r, student_object)
    assert where and where[0] == "student_init" and where[2] == 5
    assert (
        explain(TraceEvent("kmalloc", 1 << 40, CallSite("x", address=1), 1, 1), r, student_object)
        is None
    )


def test_symbolised_sites_are_located_through_the_symbol_table(student_object):
    site = parse_site(f"student_init+{_return_address(student_object):#x}/0x23 [student]")
    assert symbol_location(student_object, site) == (".text", _return_address(student_object))
    where = explain(TraceEvent("kmalloc", 1 << 40, site, 64, 64), [], student_object)
    assert where and where[2] == 5


def test_decode_site_without_a_usable_file_is_none(tmp_path):
    assert decode_site(tmp_path / "missing.ko", ".text", 0) is None


# -- tampering, private buffers, pages ---------------------------------------------

from kmodlab.grader.collection import kmemtrace  # noqa: E402

_ALLOC = (
    "          insmod-201     [000] .....    12.500000: kmalloc: "
    "call_site=evil_init+0x1c/0x60 [evil] ptr=ffff888004a3c000 bytes_req=200 "
    "bytes_alloc=256 gfp_flags=GFP_KERNEL node=-1 accounted=false\n"
)


def _read(*lines: str) -> str:
    return "@@ stats\noverrun: 0\ndropped events: 0\n@@ trace\n" + "".join(lines) + "@@ end\n"


def test_a_cleared_buffer_is_told_from_a_grown_one():
    """Does a later read lacking an event of an earlier one count as erased, growth not?"""
    earlier = _read(_ALLOC)
    assert kmemtrace.erased(earlier, _read(_ALLOC, _ALLOC.replace("12.5", "13.5"))) == 0
    assert kmemtrace.erased(earlier, _read()) == 1


def test_private_instance_is_used_everywhere_and_names_are_checked():
    """Do all three snippets work in instances/<name>, made by enable, and refuse odd names?"""
    on = enable_commands(instance="3f2a")
    assert "mkdir -p /sys/kernel/tracing/instances/3f2a" in on
    assert "cd /sys/kernel/tracing/instances/3f2a" in kmemtrace.peek_command(instance="3f2a")
    assert "cd /sys/kernel/tracing/instances/3f2a" in read_command(instance="3f2a")
    # kprobe events are defined at the top, before entering the instance
    assert on.index("kprobe_events") < on.index("instances/3f2a")
    with pytest.raises(ValueError):
        enable_commands(instance="../x")


def test_page_allocations_are_probed_at_the_modules_return_address():
    """Are the page allocators' return probes filtered to the module area, frees not?"""
    on = enable_commands()
    for name, (kind, spec) in kmemtrace.PAGE_PROBES.items():
        assert f"echo '{spec}' >> kprobe_events" in on
        filtered = f"echo '__probe_ret_ip >= {MODULE_AREA:#x}' > events/kprobes/{name}/filter"
        assert (filtered in on) == (kind == "alloc")


def test_page_leak_and_its_free_are_matched():
    """Is a page allocation the module never freed found, and one it freed not?"""
    gfp = (
        "          insmod-201     [000] .....    12.600000: kmodlab_gfp: "
        "(evil_init+0x30/0x60 [evil] <- __get_free_pages) ret=0xffff888005000000\n"
    )
    kept = gfp.replace("5000000", "6000000").replace("12.6", "12.7")
    free = (
        "           rmmod-230     [000] .....    14.000000: kmodlab_fp: "
        "(free_pages+0x0/0x40) addr=0xffff888005000000\n"
    )
    events = parse_trace(_read(gfp, kept, free))
    assert [(e.event, e.ptr) for e in events] == [
        ("pages", 0xFFFF888005000000),
        ("pages", 0xFFFF888006000000),
        ("free_pages", 0xFFFF888005000000),
    ]
    (leak,) = unfreed(events, module="evil")
    assert leak.ptr == 0xFFFF888006000000 and leak.site.symbol == "evil_init"


def test_allocated_addresses_are_what_the_ledger_is_checked_against():
    """Are the addresses the trace saw allocated collected (to find what it lacks)?"""
    assert kmemtrace.allocated_addresses(_read(_ALLOC)) == {0xFFFF888004A3C000}
    assert "kzalloc" in kmemtrace.TRACED_APIS and "kasprintf" not in kmemtrace.TRACED_APIS


def test_only_lost_allocations_count_as_erasure():
    """Does a free event raced out of a later read (kernel traffic) not count as clearing?"""
    free = (
        "              sh-240     [000] .....    12.700000: kmodlab_fp: "
        "(free_pages+0x0/0x40) addr=0xffff888007000000\n"
    )
    unloaded = _ALLOC.replace("evil_init+0x1c/0x60 [evil]", "0xffffffffc023601c")
    assert kmemtrace.erased(_read(_ALLOC, free), _read(unloaded)) == 0  # site text may change
    assert kmemtrace.erased(_read(_ALLOC, free), _read(free)) == 1
