"""Releases of pages and vmalloc memory checked against the kernel, not the ledger alone.

The ledger is the module's to write: a forged "free_pages" or "vfree" record
used to pass a fault point that kept the memory. Pages are checked against
the page probes (their allocation and free, as the kernel made them), vmalloc
areas against /proc/vmallocinfo read with the point's trace (an area still
listed with the module's caller was never vfree'd). tests/vm/test_trust_corpus.py
grades a module that forges both, and its honest control.
"""

from __future__ import annotations

from kmodlab.grader.collection import kmemtrace
from kmodlab.grader.verdicts import witness
from kmodlab.grader.verdicts.ledger import parse_ledger

NONCE = "0123abcd0123abcd"
PAGE = "ffff888007443000"
AREA = "ffffc90000049000"


def _rec(seq: int, op: str, api: str, rest: str, *, nth: int | None = None) -> str:
    n = f" n={nth}" if nth else ""
    return f"{NONCE} {seq} {op} {api}{n} {rest} mod=m load=0000000a at=m.c:{seq}"


def _trace(lines: str = "", areas: str = "") -> str:
    return (
        "@@ stats\noverrun: 0\ndropped events: 0\n@@ trace\n"
        " insmod-50 [000] ..... 10.000001: kmodlab_gfp: (m_init+0x10/0x40 [m] <- "
        f"__get_free_pages) ret=0x{PAGE}\n{lines}@@ vmalloc\n{areas}@@ end\n"
    )


FREED = f" insmod-50 [000] ..... 10.2: kmodlab_fp: (free_pages+0x0/0x50) addr=0x{PAGE}\n"
MAPPED = f"0x{AREA}-0xffffc9000004c000   12288 0xffffffffc022b7c0 pages=2 vmalloc N0=2\n"


def _events(*released: str) -> list:
    records = [
        _rec(1, "acquire", "vmalloc", f"h={AREA} size=8192", nth=1),
        _rec(2, "acquire", "__get_free_pages", f"h={PAGE} size=4096", nth=2),
        _rec(3, "inject", "kmalloc", "via=kmalloc", nth=3),
    ]
    if "free_pages" in released:
        records.append(_rec(4, "release", "free_pages", f"h={PAGE}"))
    if "vfree" in released:
        records.append(_rec(5, "release", "vfree", f"h={AREA}"))
    return parse_ledger(records, NONCE)


def test_a_page_release_the_page_probes_never_saw_is_contradicted():
    """Is a recorded free_pages of a page the probes saw allocated and never freed a
    disagreement, and one the probes saw freed not?"""
    events = _events("free_pages")
    assert [e.api for e in witness.contradicted_releases(events, _trace())] == ["__get_free_pages"]
    assert witness.contradicted_releases(events, _trace(FREED)) == []
    assert witness.why_contradicted("__get_free_pages") == (
        "the kernel's page trace saw no free of it"
    )


def test_a_vfree_whose_area_is_still_mapped_is_contradicted():
    """Is a recorded vfree of an area /proc/vmallocinfo still lists (with the module's
    caller) a disagreement, and one no longer listed not?"""
    events = _events("vfree")
    assert [e.api for e in witness.contradicted_releases(events, _trace(areas=MAPPED))] == [
        "vmalloc"
    ]
    assert witness.contradicted_releases(events, _trace()) == []
    assert "/proc/vmallocinfo" in witness.why_contradicted("vmalloc")


def test_an_area_mapped_again_at_the_same_address_is_not_the_freed_ones():
    """When the module vfree'd an area and a later vmalloc got the same address, is the
    first release left alone (the area listed is the second one's)?"""
    records = [
        _rec(1, "acquire", "vmalloc", f"h={AREA} size=8192", nth=1),
        _rec(2, "release", "vfree", f"h={AREA}"),
        _rec(3, "acquire", "vmalloc", f"h={AREA} size=8192", nth=2),
    ]
    events = parse_ledger(records, NONCE)
    assert witness.contradicted_releases(events, _trace(areas=MAPPED)) == []


def test_vmalloc_areas_are_read_only_from_a_whole_read():
    """Are the areas' start addresses read (zeros from kptr_restrict left out), and is a
    read without the section, or cut before its end, no evidence?"""
    zero = "0x0000000000000000-0x0000000000000000   12288 0xffffffffc022b7c0 vmalloc\n"
    assert kmemtrace.vmalloc_areas(_trace(areas=MAPPED + zero)) == {int(AREA, 16)}
    assert kmemtrace.vmalloc_areas(_trace(areas=MAPPED).replace("@@ end\n", "")) is None
    assert kmemtrace.vmalloc_areas("@@ stats\n@@ trace\n@@ end\n") is None


def test_a_points_trace_read_carries_the_vmalloc_areas():
    """Does the point's trace command read /proc/vmallocinfo too (and the plain peek not)?"""
    assert "/proc/vmallocinfo" in kmemtrace.peek_command(clear=True, vmalloc=True)
    assert "/proc/vmallocinfo" not in kmemtrace.peek_command(clear=True)
    assert kmemtrace.VMALLOC_READ in kmemtrace.read_command()
