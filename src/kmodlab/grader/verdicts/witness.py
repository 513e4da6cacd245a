"""Cross-checks between the module-side ledger and the kernel's own witnesses. Pure.

The ledger is written by the shim linked into the student's module, so in
principle the module can write look-alike records: a "release" of memory it
kept, say. The kmem tracepoints are the kernel's record of the same objects,
emitted by the allocator itself. A release the ledger records and the trace
contradicts (the object was allocated, and never freed afterwards) has no
honest explanation; every verdict that says "released" is checked here.
Pages are checked against the page probes' allocations and frees, vmalloc
areas against /proc/vmallocinfo read with the trace (an area the ledger says
was vfree'd, still mapped with the module's caller, was not).
"""

from __future__ import annotations

from collections.abc import Iterable

from kmodlab.grader.collection import kmemtrace
from kmodlab.grader.verdicts import ledger

# Kinds whose objects the trace sees, with its allocation and free events:
# kmalloc and slab caches (kmem tracepoints), pages (the page probes:
# __get_free_pages' address freed by free_pages, alloc_pages' struct page by
# __free_pages). vmalloc areas are judged from /proc/vmallocinfo instead
# (VMALLOC_KINDS); registrations have other witnesses or none.
FREES = frozenset({*kmemtrace.FREE_EVENTS, "kvfree_rcu"})
TRACED: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "kmem": (frozenset(kmemtrace.ALLOC_EVENTS), FREES),
    "slab": (frozenset(kmemtrace.ALLOC_EVENTS), FREES),
    "pages": (frozenset({kmemtrace.PAGES}), frozenset({"free_pages"})),
}
TRACED_KINDS = frozenset(TRACED)
# Kinds that may be a vmalloc area: one still mapped after its release is a lie.
VMALLOC_KINDS = frozenset({"vmem", "kvmem"})


def _freed_after_last_alloc(
    trace: list[kmemtrace.TraceEvent], ptr: int, kind: str = "kmem"
) -> bool | None:
    """None: the trace never saw this object allocated; else whether it was freed since."""
    allocs, frees = TRACED[kind]
    last = None
    for i, ev in enumerate(trace):
        if ev.ptr == ptr and ev.event in allocs:
            last = i
    if last is None:
        return None
    return any(ev.ptr == ptr and ev.event in frees for ev in trace[last + 1 :])


def contradicted_releases(events: Iterable[ledger.LedgerEvent], trace: str | None) -> list:
    """Acquisitions the ledger says were released but the kmem trace shows still allocated.

    Abstains (returns []) without a trace or when the trace lost events; an
    object the trace never saw allocated is not judged either way.
    """
    if not trace or kmemtrace.lost_events(trace) > 0:
        return []
    recorded = kmemtrace.judged_events(trace)  # every alloc, and the frees of those
    areas = kmemtrace.vmalloc_areas(trace) or frozenset()
    events = list(events)
    out = []
    for acquisition in ledger.pair(events).released_by:
        kind = ledger.ACQUIRE_KIND.get(acquisition.api)
        if acquisition.null_handle or not acquisition.handle:
            continue
        handle = int(acquisition.handle, 16)
        if kind in TRACED_KINDS and _freed_after_last_alloc(recorded, handle, kind) is False:
            out.append(acquisition)
        elif kind in VMALLOC_KINDS and handle in areas and not _acquired_again(events, acquisition):
            # Still mapped when read, its caller the module's: never vfree'd.
            out.append(acquisition)
    return out


def _acquired_again(events: list[ledger.LedgerEvent], acquisition) -> bool:
    """Did a later acquisition in the same load get the same address (then it is that one's)?"""
    return any(
        e is not acquisition
        and e.op == "acquire"
        and e.handle == acquisition.handle
        and (e.module, e.load) == (acquisition.module, acquisition.load)
        and e.seq > acquisition.seq
        for e in events
    )


def why_contradicted(api: str) -> str:
    """Which kernel witness contradicts a recorded release of what `api` acquired."""
    kind = ledger.ACQUIRE_KIND.get(api)
    if kind in VMALLOC_KINDS:
        return "the kernel still lists its vmalloc area (/proc/vmallocinfo)"
    if kind == "pages":
        return "the kernel's page trace saw no free of it"
    return "the kernel's kmem trace saw no free of it"
