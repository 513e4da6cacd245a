"""Cross-checks between the module-side ledger and the kernel's own witnesses. Pure.

The ledger is written by the shim linked into the student's module, so in
principle the module can write look-alike records: a "release" of memory it
kept, say. The kmem tracepoints are the kernel's record of the same objects,
emitted by the allocator itself. A release the ledger records and the trace
contradicts (the object was allocated, and never freed afterwards) has no
honest explanation; every verdict that says "released" is checked here.
"""

from __future__ import annotations

from collections.abc import Iterable

from kmodlab.grader.collection import kmemtrace
from kmodlab.grader.verdicts import ledger

# Kinds whose objects the kmem tracepoints see (kmalloc and slab caches);
# vmalloc, pages and registrations have other witnesses or none.
TRACED_KINDS = frozenset({"kmem", "slab"})
FREES = frozenset({*kmemtrace.FREE_EVENTS, "kvfree_rcu"})


def _freed_after_last_alloc(trace: list[kmemtrace.TraceEvent], ptr: int) -> bool | None:
    """None: the trace never saw this object allocated; else whether it was freed since."""
    last = None
    for i, ev in enumerate(trace):
        if ev.ptr == ptr and ev.event in kmemtrace.ALLOC_EVENTS:
            last = i
    if last is None:
        return None
    return any(ev.ptr == ptr and ev.event in FREES for ev in trace[last + 1 :])


def contradicted_releases(events: Iterable[ledger.LedgerEvent], trace: str | None) -> list:
    """Acquisitions the ledger says were released but the kmem trace shows still allocated.

    Abstains (returns []) without a trace or when the trace lost events; an
    object the trace never saw allocated is not judged either way.
    """
    if not trace or kmemtrace.lost_events(trace) > 0:
        return []
    recorded = kmemtrace.judged_events(trace)  # every alloc, and the frees of those
    out = []
    for acquisition in ledger.pair(list(events)).released_by:
        if ledger.ACQUIRE_KIND.get(acquisition.api) not in TRACED_KINDS:
            continue
        if acquisition.null_handle or not acquisition.handle:
            continue
        if _freed_after_last_alloc(recorded, int(acquisition.handle, 16)) is False:
            out.append(acquisition)
    return out
