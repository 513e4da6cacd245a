"""Memory witness: slab allocations a module made and never freed, from kmem tracepoints.

Works on the stock kernel (no kmemleak, no instrumented build). The guest
records the kmem tracepoints; the host matches allocations to frees:

    session.sh(enable_commands())
    session.run("insmod leaky.ko")
    addresses = session.section_addresses("leaky")   # right after insmod
    session.run("rmmod leaky")
    text = session.sh(read_command()).stdout         # after rmmod: exit's frees are in
    events = parse_trace(text)
    ranges = module_ranges(ko, addresses)
    for ev in unfreed(events, ranges):
        print(ev, explain(ev, ranges, ko))           # ("leaky_init", ".../leaky.c", 23)
    assert not unattributed(events, ranges)          # else ranges miss a module section

What is recorded, and why:
- allocations (kmalloc, kmem_cache_alloc) only from call sites in the module
  area (>= MODULE_AREA): the kernel's own allocations would flood the buffer;
- every free (kfree, kmem_cache_free), unfiltered: a module's object may be
  freed by kernel code (a release callback, krealloc, a kfree_rcu batch);
- kfree_rcu()/kvfree_rcu() through a kprobe on kvfree_call_rcu: the RCU batch
  frees with kfree_bulk(), which fires no tracepoint, seconds later;
- live vmalloc areas (/proc/vmallocinfo) whose caller is in the module area:
  vmalloc has no tracepoint in 6.1, but its areas carry their caller;
- pages from __get_free_pages, get_zeroed_page and alloc_pages through
  return probes filtered on the address they return to (PAGE_PROBES), and
  free_pages/__free_pages through probes, unfiltered.

The recording goes to a private buffer (instances/<random>) and is read out
right after each load (peek_command) and after the unload (read_command): a
module that clears a buffer in its exit leaves a later read lacking what an
earlier one held (erased()), which is tampering, not a clean trace.

Pointers print raw: with the trace option hash-ptr on (the default) and the
guest's RNG not yet seeded, every pointer prints as "(____ptrval____)" and no
allocation could be matched to its free. After rmmod the module's call sites
print as raw addresses (and __init ones do even while it is loaded), so the
module's section addresses, taken right after insmod, attribute them.

What it sees: kmalloc/kzalloc/kcalloc/kmalloc_array, kmem_cache_alloc, and
the helpers that charge their caller (kstrdup, kmemdup, krealloc, kvmalloc),
all at the student's line; vmalloc'd (and ioremap'd) areas still mapped.
What it misses: memory that kernel code allocates for the module (kasprintf,
proc_create, misc_register, device_create, class_create, kthread_run,
debugfs: the call site is the kernel's; the registrations witness sees those
leftovers instead), pages freed by another route than free_pages or
__free_pages (put_page, a mismatched pair), percpu and DMA memory, and an
allocation tail-called from a callback the kernel invokes
(`return kmalloc(...)` makes the kernel the call site).
Frees it cannot see make false leaks: kfree_bulk()/kmem_cache_free_bulk()
called by the module itself, and frees after the trace was read.
lost_events() > 0 (a full buffer) makes the result inconclusive.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from kmodlab.grader.collection.modinfo import module_name
from kmodlab.grader.verdicts.symbols import DebugInfo

TRACING = "/sys/kernel/tracing"
MODULE_AREA = 0xFFFFFFFFC0000000  # x86-64 MODULES_VADDR: every module's code lives above
DEFAULT_BUFFER_KB = 4096  # ~90,000 events: a grading run with dozens of commands
ALLOC_EVENTS = ("kmalloc", "kmem_cache_alloc")
FREE_EVENTS = ("kfree", "kmem_cache_free")
KPROBE = "kmodlab_kvfree_rcu"
# The page allocator has tracepoints (mm_page_alloc/free) but they carry no
# call site, so they cannot be kept to the module's own calls. Return probes
# on the exported allocators can: a kretprobe event records the address it
# returns to (__probe_ret_ip), filtered to the module area like kmalloc's
# call_site. Frees are probed unfiltered: the kernel may free a module's pages.
# event name -> (kind, probe definition)
PAGE_PROBES: dict[str, tuple[str, str]] = {
    "kmodlab_gfp": ("alloc", "r:kmodlab_gfp __get_free_pages ret=$retval:x64"),
    "kmodlab_gzp": ("alloc", "r:kmodlab_gzp get_zeroed_page ret=$retval:x64"),
    "kmodlab_ap": ("alloc", "r:kmodlab_ap alloc_pages ret=$retval:x64"),
    "kmodlab_fp": ("free", "p:kmodlab_fp free_pages addr=%di:x64"),
    "kmodlab_fpp": ("free", "p:kmodlab_fpp __free_pages page=%di:x64"),
}
PAGES = "pages"  # TraceEvent.event of a page allocation the module made
# Pointers up to ZERO_SIZE_PTR (16) are failed or zero-sized allocations.
_NOT_AN_OBJECT = 16


@dataclass(frozen=True)
class CallSite:
    """A call site as the trace printed it: raw, or symbolised while the code was loaded."""

    text: str
    address: int | None = None  # "0xffffffffc023601b"
    symbol: str | None = None  # "leak_init+0x1c/0x60 [leak]" -> leak_init, 0x1c, leak
    offset: int | None = None
    module: str | None = None


@dataclass(frozen=True)
class TraceEvent:
    event: str  # kmalloc | kmem_cache_alloc | kfree | kmem_cache_free | kvfree_rcu | vmalloc
    # | pages (a page allocation) | free_pages
    ptr: int | None  # None: not recorded (hashed before the RNG was ready, or vmalloc)
    site: CallSite
    bytes_req: int = 0
    bytes_alloc: int = 0
    task: str = ""
    pid: int = 0
    timestamp: float = 0.0

    @property
    def is_alloc(self) -> bool:
        return self.event in ALLOC_EVENTS or self.event in ("vmalloc", PAGES)


@dataclass(frozen=True)
class SectionRange:
    section: str
    start: int
    end: int  # exclusive

    def __contains__(self, address: int) -> bool:
        return self.start <= address < self.end


# -- guest side: shell snippets ---------------------------------------------


def instance_dir(instance: str | None) -> str:
    """A trace instance's folder (the top-level buffer for None); names are checked,
    since they go into shell commands."""
    if instance is None:
        return TRACING
    if not re.fullmatch(r"[0-9a-z_]{1,40}", instance):
        raise ValueError(f"bad trace instance name {instance!r}")
    return f"{TRACING}/instances/{instance}"


def enable_commands(buffer_kb: int = DEFAULT_BUFFER_KB, *, instance: str | None = None) -> str:
    """A sh snippet that (re)starts recording; exits non-zero if tracing is unusable.

    With `instance` the events go to a private buffer, instances/<instance>,
    made here; give it a random name per grade, so that a module cannot
    predict it and code that clears the shared buffer (`echo > trace`)
    erases nothing of ours. Without, it clears the shared buffer.
    overwrite=0: when the per-CPU buffer of buffer_kb fills, the newest
    events are dropped rather than the oldest, so the allocations made at
    insmod survive and the loss is counted (lost_events); that also makes
    every read of the buffer a prefix of the next one, which is how an
    erased trace is told (erased()). kfree's filter only drops kfree(NULL),
    frequent and meaningless. The kprobe reads kvfree_call_rcu(head, func)'s
    two arguments from %di and %si (x86-64); kprobe events are defined once,
    at the top, and every instance can enable them.
    """
    events = " ".join(f"kmem/{e}" for e in (*ALLOC_EVENTS, *FREE_EVENTS))
    site = f"call_site >= {MODULE_AREA:#x}"
    probe = f"p:{KPROBE} kvfree_call_rcu head=%di:x64 func=%si:x64"
    where = instance_dir(instance)
    make = f"mkdir -p {where} || exit 1\n" if instance else ""
    define = "".join(
        f"[ -d events/kprobes/{name} ] || echo '{spec}' >> kprobe_events 2>/dev/null\n"
        for name, (_kind, spec) in PAGE_PROBES.items()
    )
    # A page probe is enabled only once its filter holds: unfiltered, the
    # kernel's own page traffic would fill the buffer.
    pages = "".join(
        f"echo '__probe_ret_ip >= {MODULE_AREA:#x}' > events/kprobes/{name}/filter 2>/dev/null"
        f" && echo 1 > events/kprobes/{name}/enable 2>/dev/null\n"
        if kind == "alloc"
        else f"echo 1 > events/kprobes/{name}/enable 2>/dev/null\n"
        for name, (kind, _spec) in PAGE_PROBES.items()
    )
    return f"""
cd {TRACING} || exit 1
[ -d events/kprobes/{KPROBE} ] || echo '{probe}' >> kprobe_events 2>/dev/null
{define}{make}cd {where} || exit 1
echo 0 > tracing_on
echo 0 > options/hash-ptr || exit 1
echo 0 > options/overwrite
echo {int(buffer_kb)} > buffer_size_kb || exit 1
echo '{site}' > events/kmem/kmalloc/filter || exit 1
echo '{site}' > events/kmem/kmem_cache_alloc/filter || exit 1
echo 'ptr > {_NOT_AN_OBJECT}' > events/kmem/kfree/filter
echo 0 > events/kmem/kmem_cache_free/filter
echo > trace
for e in {events}; do echo 1 > events/$e/enable || exit 1; done
echo 1 > events/kprobes/{KPROBE}/enable 2>/dev/null
{pages}echo 1 > tracing_on
"""


# The live vmalloc areas whose caller is a module's: a raw address in the
# module area (unloaded) or "func+off/size [mod]" (loaded). vmalloc has no
# tracepoint in 6.1; /proc/vmallocinfo is the kernel's own list.
VMALLOC_READ = "echo '@@ vmalloc'; grep -e ' 0xffffffff[c-f]' -e '[]]' /proc/vmallocinfo\n"


def resume_command(*, instance: str) -> str:
    """A sh snippet that empties an instance started by enable_commands() and records again."""
    return f"cd {instance_dir(instance)} && echo > trace && echo 1 > tracing_on"


def peek_command(*, instance: str | None = None, clear: bool = False, vmalloc: bool = False) -> str:
    """A sh snippet that prints the stats and the trace so far, recording on.

    Run it right after each insmod returns: what init allocated has then
    left the guest before the module's code runs again (its exit could
    clear the buffer; a later read that lacks these events shows it).
    With clear, the buffer is emptied after it is printed (a fault point's
    trace, read point by point in one guest). With vmalloc, the live vmalloc
    areas of modules follow (VMALLOC_READ), as in read_command().
    """
    empty = "echo > trace\n" if clear else ""
    areas = VMALLOC_READ if vmalloc else ""
    return f"""
cd {instance_dir(instance)} || exit 1
echo '@@ stats'; cat per_cpu/cpu*/stats
echo '@@ trace'; cat trace
{empty}{areas}echo '@@ end'
"""


def read_command(*, instance: str | None = None) -> str:
    """A sh snippet that stops recording and prints stats, the trace and module vmalloc areas.

    Run it after rmmod, so the frees done by the module's exit are in.
    vmallocinfo lines are kept when their caller is a module's: a raw
    address in the module area (unloaded) or "func+off/size [mod]" (loaded).
    The events stay enabled (the buffer just stops taking them): disabling
    them patches kernel text, which costs as much emulated time as the
    cycles that follow save, and a later `echo > trace; echo 1 >
    tracing_on` (resume_command) records again with the same filters.
    """
    return f"""
cd {instance_dir(instance)} || exit 1
echo 0 > tracing_on
echo '@@ stats'; cat per_cpu/cpu*/stats
echo '@@ trace'; cat trace
{VMALLOC_READ}echo '@@ end'
"""


# -- host side: parsing -----------------------------------------------------

_LINE = re.compile(
    r"^\s*(?P<task>.+)-(?P<pid>\d+)\s+\[\d+\]\s+(?:[^\s\d]\S*\s+)?"
    r"(?P<ts>\d+\.\d+):\s+(?P<event>\w+):\s+(?P<body>.*)$"
)
_SITE = re.compile(
    r"^(?:0x(?P<addr>[0-9a-f]+)|(?P<sym>[^\s+]+)\+0x(?P<off>[0-9a-f]+)/0x[0-9a-f]+"
    r"(?: \[(?P<mod>[^\]]+)\])?)$"
)
_ALLOC_BODY = re.compile(
    r"call_site=(?P<site>.+?) ptr=(?P<ptr>\S+) bytes_req=(?P<req>\d+) bytes_alloc=(?P<alloc>\d+)"
)
_FREE_BODY = re.compile(r"call_site=(?P<site>.+?) ptr=(?P<ptr>\S+)")
_KPROBE_BODY = re.compile(r"head=0x(?P<head>[0-9a-f]+) func=0x(?P<func>[0-9a-f]+)")
# "(leak_init+0x1c/0x60 [leak] <- __get_free_pages) ret=0xffff888004a3c000"
_RETPROBE_BODY = re.compile(r"^\((?P<site>.+?) <- (?P<func>\S+)\) ret=0x(?P<ret>[0-9a-f]+)")
_FREEPROBE_BODY = re.compile(r"(?:addr|page)=0x(?P<ptr>[0-9a-f]+)")
_VMALLOC = re.compile(r"^0x\S+-0x\S+\s+(?P<size>\d+)\s+(?P<site>\S+(?: \[[^\]]+\])?)")


@functools.lru_cache(maxsize=4096)  # a trace repeats its call sites; CallSite is frozen
def parse_site(text: str) -> CallSite:
    """ "0xffffffffc023601b" or "leak_init+0x1c/0x60 [leak]" -> CallSite. Pure."""
    m = _SITE.match(text.strip())
    if not m:
        return CallSite(text)
    if m["addr"]:
        return CallSite(text, address=int(m["addr"], 16))
    return CallSite(text, symbol=m["sym"], offset=int(m["off"], 16), module=m["mod"])


def _pointer(text: str) -> int | None:
    try:
        return int(text, 16)
    except ValueError:
        return None  # "(____ptrval____)"


def _event(name: str, body: str) -> TraceEvent | None:
    """The event-specific part of one trace line, or None for events not ours."""
    if name in ALLOC_EVENTS and (m := _ALLOC_BODY.match(body)):
        site = parse_site(m["site"])
        return TraceEvent(name, _pointer(m["ptr"]), site, int(m["req"]), int(m["alloc"]))
    if name in FREE_EVENTS and (m := _FREE_BODY.match(body)):
        return TraceEvent(name, _pointer(m["ptr"]), parse_site(m["site"]))
    if name in PAGE_PROBES:
        kind, spec = PAGE_PROBES[name]
        if kind == "alloc" and (m := _RETPROBE_BODY.match(body)):
            return TraceEvent(PAGES, int(m["ret"], 16), parse_site(m["site"]))
        if kind == "free" and (m := _FREEPROBE_BODY.search(body)):
            return TraceEvent("free_pages", int(m["ptr"], 16), CallSite(spec.split()[1]))
        return None
    if name == KPROBE and (m := _KPROBE_BODY.search(body)):
        # kfree_rcu(obj, field) passes &obj->field and offsetof(field);
        # kvfree_rcu(obj) passes NULL and the object itself.
        head, func = int(m["head"], 16), int(m["func"], 16)
        ptr = head - func if head else func
        return TraceEvent("kvfree_rcu", ptr, CallSite("kvfree_call_rcu"))
    return None


@functools.lru_cache(maxsize=32)  # lost_events() and the parser ask it of the same texts
def _sections(text: str) -> dict[str, tuple[str, ...]]:
    if "@@ trace" not in text:
        return {"trace": tuple(text.splitlines())}  # a bare copy of the trace file
    out: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        if line.startswith("@@ "):
            current = out.setdefault(line[3:].strip(), [])
        else:
            current.append(line)
    return {name: tuple(lines) for name, lines in out.items()}


def parse_trace(text: str) -> list[TraceEvent]:
    """Events from read_command()'s output (or a bare trace file), in trace order. Pure.

    Live vmalloc areas come last, as "vmalloc" events without a pointer.
    """
    return list(_parse_trace(text))


@functools.lru_cache(maxsize=32)
def _parse_trace(text: str) -> tuple[TraceEvent, ...]:
    # Judging reads the same few traces many times (leaks, integrity, each point):
    # parsed once each. The events are frozen, the tuple is copied to the caller.
    parts = _sections(text)
    events = [ev for line in parts.get("trace", ()) if (ev := _line_event(line))]
    return tuple(events + _vmalloc_events(parts))


def _line_event(line: str) -> TraceEvent | None:
    """The event of one line of the trace file, or None (a comment, an event not ours)."""
    m = _LINE.match(line)
    if m is None:
        return None
    name, body = m.group("event", "body")
    head = (m["task"].strip(), int(m["pid"]), float(m["ts"]))
    # The two events of nearly every line, built at once (one object, not two: a
    # trace holds 10^4 of them); the others through _event(). Same events either way
    # (tests/unit/test_kmemtrace.py compares them on captured traces).
    if name in ALLOC_EVENTS:
        if b := _ALLOC_BODY.match(body):
            site, ptr, req, alloc = b.group("site", "ptr", "req", "alloc")
            return TraceEvent(name, _pointer(ptr), parse_site(site), int(req), int(alloc), *head)
        return None
    if name in FREE_EVENTS:
        if b := _FREE_BODY.match(body):
            site, ptr = b.group("site", "ptr")
            return TraceEvent(name, _pointer(ptr), parse_site(site), 0, 0, *head)
        return None
    if ev := _event(name, body):
        return TraceEvent(ev.event, ev.ptr, ev.site, ev.bytes_req, ev.bytes_alloc, *head)
    return None


def _vmalloc_events(parts: Mapping[str, Sequence[str]]) -> list[TraceEvent]:
    events = []
    for line in parts.get("vmalloc", ()):
        if m := _VMALLOC.match(line.strip()):
            site = parse_site(m["site"])
            events.append(TraceEvent("vmalloc", None, site, bytes_alloc=int(m["size"])))
    return events


_AREA_START = re.compile(r"^0x(?P<start>[0-9a-f]+)-0x[0-9a-f]+\s+\d+\s+\S")


def vmalloc_areas(text: str) -> frozenset[int] | None:
    """Start addresses of the modules' vmalloc areas still mapped when the trace was read
    (what vmalloc returned); None when the read had no such section. Pure.

    Addresses printed as 0 (kptr_restrict) are no evidence and are left out.
    """
    parts = _sections(text)
    if "vmalloc" not in parts or "end" not in parts:
        return None
    starts = (m["start"] for line in parts["vmalloc"] if (m := _AREA_START.match(line.strip())))
    return frozenset(a for a in (int(x, 16) for x in starts) if a)


def _allocation(ev: TraceEvent) -> bool:
    return ev.event in ALLOC_EVENTS or ev.event == PAGES


_PTR_WORD = re.compile(r"ptr=(\S+)")  # what _FREE_BODY frees
# Every address _FREEPROBE_BODY frees follows "=0x" ("addr=0x", "page=0x"): a pattern
# that starts with a literal is found ten times faster, others are only more words.
_PAGE_WORD = re.compile(r"=0x([0-9a-f]+)")


def _freeing_any(text: str, addresses: set[int]) -> re.Pattern[str] | None:
    """A pattern found in every line of the text whose kfree, kmem_cache_free or page
    free can free one of the addresses, or None when no line's can.

    Such a line's address is the word after one of its "ptr=" (kfree,
    kmem_cache_free), or the hex digits after one of its "addr=0x" or "page=0x"
    (the page probes): findall() lists them all, and more (a word never spans
    two lines).
    """
    words = {w for w in set(_PTR_WORD.findall(text)) if _pointer(w) in addresses}
    pages = {w for w in set(_PAGE_WORD.findall(text)) if int(w, 16) in addresses}
    either = []
    if words:
        either.append("ptr=(?:" + "|".join(map(re.escape, sorted(words))) + r")(?!\S)")
    if pages:
        either.append("(?:addr|page)=0x(?:" + "|".join(sorted(pages)) + ")(?![0-9a-f])")
    return re.compile("|".join(either)) if either else None


def judged_events(text: str) -> list[TraceEvent]:
    """The events any verdict reads: parse_trace(text) without the frees of addresses
    the trace never saw allocated (nor those of no address). Pure.

    Nine lines in ten of a trace are the kernel freeing its own objects (frees
    are recorded unfiltered); none of them can end an allocation the trace
    holds, so unfreed(), unattributed(), erased(), allocated_addresses() and
    the ledger cross-check (verdicts/witness.py) give the same answers on
    these events as on parse_trace's, parsing a few lines in a hundred.
    tests/unit/test_judged_events.py checks both on every captured document.
    """
    return list(_judged_events(text))


@functools.lru_cache(maxsize=32)
def _judged_events(text: str) -> tuple[TraceEvent, ...]:
    # Cheap string tests decide which lines can matter; only those are parsed (by
    # _line_event, as parse_trace does). A line can give an allocation only with
    # "bytes_req=" (kmalloc, kmem_cache_alloc) or "ret=0x" (the page probes'
    # returns); kvfree_rcu's address is computed, so its lines are all parsed;
    # any other free is of an address written in the line (_freeing_any).
    lines = _sections(text).get("trace", ())
    found: dict[int, TraceEvent] = {}
    frees: list[int] = []
    for i, line in enumerate(lines):
        if "bytes_req=" in line or "ret=0x" in line or KPROBE in line:
            if ev := _line_event(line):
                found[i] = ev
        elif "ptr=" in line or "=0x" in line:
            frees.append(i)
    allocated = {ev.ptr for ev in found.values() if _allocation(ev) and ev.ptr is not None}
    if freeing := _freeing_any(text, allocated):
        for i in frees:
            if freeing.search(lines[i]) and (ev := _line_event(lines[i])):
                found[i] = ev
    kept = [found[i] for i in sorted(found)]
    kept = [ev for ev in kept if _allocation(ev) or ev.ptr in allocated]
    return tuple(kept + _vmalloc_events(_sections(text)))


@functools.lru_cache(maxsize=32)  # every judge of the trace asks it first
def lost_events(text: str) -> int:
    """Events the ring buffer dropped or overwrote (per_cpu stats). Pure.

    Non-zero means unfreed() is not conclusive: a lost free looks like a leak.
    """
    lost = 0
    for line in _sections(text).get("stats", []):
        key, _, value = line.partition(":")
        if key.strip() in ("overrun", "dropped events") and value.strip().isdigit():
            lost += int(value)
    return lost


def erased(earlier: str, later: str) -> int:
    """Allocations an earlier read of the buffer held that a later read lacks. Pure.

    With overwrite off nothing leaves the buffer by itself (a full buffer
    drops the newest), so what one read holds the next holds too; anything
    else means the buffer was cleared or reset in between. Only allocations
    count, by (event, address): they are all from module code (filtered), so
    a clearing that hides a leak always loses one, while the unfiltered free
    probes see the kernel's own traffic, raced by the very read (measured:
    one such event of ~500 missing from a clean module's later read).
    Not a verdict on the module's memory: the trace is then inconclusive,
    and the clearing is tampering with a witness.
    """

    def keys(text: str) -> Counter[tuple[str, int | None]]:
        return Counter((e.event, e.ptr) for e in _judged_events(text) if _allocation(e))

    return sum((keys(earlier) - keys(later)).values())


# Ledger APIs whose allocation the kmem tracepoints see at the module's own
# call site (kmalloc, kmalloc_track_caller, kmem_cache_alloc), so the trace
# must hold an allocation at the very address the ledger recorded. Not
# krealloc (a block that still fits is returned as is, no event), nor
# kasprintf (the call site is vsprintf's), vmalloc or pages.
TRACED_APIS = frozenset(
    {
        *("kmalloc", "kzalloc", "kcalloc", "kmalloc_array", "kmalloc_node", "kzalloc_node"),
        *("kstrdup", "kstrndup", "kmemdup", "kmemdup_nul"),
        *("kmem_cache_alloc", "kmem_cache_zalloc"),
    }
)


def allocated_addresses(text: str) -> set[int]:
    """Every address the trace saw allocated (from any call site it kept). Pure."""
    return {e.ptr for e in _judged_events(text) if e.event in ALLOC_EVENTS and e.ptr is not None}


# -- host side: judging -------------------------------------------------------


def module_ranges(ko: DebugInfo, addresses: Mapping[str, int]) -> list[SectionRange]:
    """Where the module's sections were loaded (Session.section_addresses), sized from
    its debug info (ko: the .ko's symbols.DebugInfo). Pure."""
    sizes = ko.section_sizes()
    return [
        SectionRange(name, start, start + sizes[name])
        for name, start in sorted(addresses.items())
        if sizes.get(name)
    ]


def locate(site: CallSite, ranges: Sequence[SectionRange]) -> tuple[str, int] | None:
    """(section, offset) of a raw call site inside the module's recorded sections. Pure."""
    if site.address is None:
        return None
    for r in ranges:
        if site.address in r:
            return r.section, site.address - r.start
    return None


def symbol_location(ko: DebugInfo, site: CallSite) -> tuple[str, int] | None:
    """(section, offset) of a symbolised call site ("init_x+0x1c/0x60 [x]") in the .ko. Pure."""
    if site.symbol is None or site.offset is None:
        return None
    found = ko.symbol(site.symbol, function=True)
    return (found[0], found[1] + site.offset) if found else None


def _ours(site: CallSite, ranges: Sequence[SectionRange], module: str | None) -> bool:
    if site.address is not None:
        return any(site.address in r for r in ranges)
    # "-" and "_" are one in module names (the trace prints the kernel's spelling).
    return (
        module is not None
        and site.module is not None
        and (module_name(site.module) == module_name(module))
    )


def _stray(site: CallSite, ranges: Sequence[SectionRange]) -> bool:
    # Raw (so no longer loaded, or __init) module-area code outside the ranges.
    address = site.address
    return address is not None and address >= MODULE_AREA and not any(address in r for r in ranges)


def _live(events: Iterable[TraceEvent], mine: Callable[[CallSite], bool]) -> list[TraceEvent]:
    """Allocations whose call site is `mine` and that no later event freed, in order."""
    live: dict[int, TraceEvent] = {}
    areas: list[TraceEvent] = []
    for ev in events:
        if ev.event == "vmalloc":
            if mine(ev.site):
                areas.append(ev)  # still mapped when the trace was read
        elif ev.event in ALLOC_EVENTS or ev.event == PAGES:
            if ev.ptr is None:
                raise ValueError("the trace has no pointers: record it with enable_commands()")
            if ev.ptr <= _NOT_AN_OBJECT:
                continue
            # Another allocation at the same address proves the old object was freed.
            live.pop(ev.ptr, None)
            if mine(ev.site):
                live[ev.ptr] = ev
        elif ev.ptr is not None:
            live.pop(ev.ptr, None)
    return [*live.values(), *areas]


def unfreed(
    events: Iterable[TraceEvent],
    module_ranges: Sequence[SectionRange] = (),
    *,
    module: str | None = None,
) -> list[TraceEvent]:
    """Allocations made at the module's call sites and never freed, in order. Pure.

    A call site is the module's when its raw address falls in module_ranges,
    or (read while still loaded) when it is symbolised as "[module]".
    """
    return _live(events, lambda site: _ours(site, module_ranges, module))


def unattributed(
    events: Iterable[TraceEvent], module_ranges: Sequence[SectionRange]
) -> list[TraceEvent]:
    """Unfreed allocations from unloaded module code outside module_ranges. Pure.

    Normally empty. Not empty means the ranges miss a section of the module
    (gcc puts __cold functions in .text.unlikely) or another module was
    unloaded during the recording: report them rather than drop them.
    """
    return _live(events, lambda site: _stray(site, module_ranges))


def decode_site(ko: DebugInfo, section: str, offset: int) -> tuple[str, str, int] | None:
    """(function, file, line) of an offset in a section of the .ko, from its debug info.

    With inlining, the innermost frame in the student's own files wins (not
    kmalloc() in slab.h, but the line in hello.c that called kzalloc()). For a
    return address (a call site), pass offset - 1 to land on the call itself.
    """
    return ko.line(section, offset)


def explain(
    event: TraceEvent, ranges: Sequence[SectionRange], ko: DebugInfo
) -> tuple[str, str, int] | None:
    """(function, file, line) of the call that made an allocation, if it is the module's."""
    where = locate(event.site, ranges) or symbol_location(ko, event.site)
    if where is None:
        return None
    section, offset = where
    return decode_site(ko, section, max(offset - 1, 0))
