"""The ledger of an instrumented module: its fallible calls, in order, and what is left.

Pure: parses the kernel log records the fault-injection shim writes (see
kmodlab.grader.collection.instrument and grader/fi/kmodlab_fi_shim.c) and pairs
acquisitions with releases. One record is one line:

    <nonce> <seq> <op> <api> [n=<call>] [key=value ...] mod=<module> load=<id> at=<file>:<line>
    ... mod=<module> load=<id> ret=<func+0x1c/0x60 [module]>

A call the forced header named carries `at=`; a call that bypassed it (the
shim intercepts at link level) carries its caller's return address, as the
kernel symbolised it, last (it holds a space); parse_ledger(kos=...) decodes
it to the student's file:line with the .ko's debug info.

op is "acquire" (the call succeeded and holds something), "call" (it
succeeded holding nothing: kmalloc(0), cdev_alloc), "fail" (the real API
failed), "inject" (the shim failed it on purpose, without calling it) or
"release". n numbers a module's fallible calls from 1 in each load; it is
what instrument.arm() selects. Lines that do not start with
the build's nonce are not ours (a student's printk) and are ignored.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from kmodlab.grader.collection.modinfo import module_name
from kmodlab.grader.verdicts.symbols import DebugInfo, decode_frame
from kmodlab.records import KmsgRecord

Op = Literal["call", "acquire", "release", "inject", "fail"]
OPS: tuple[str, ...] = ("call", "acquire", "release", "inject", "fail")
# Ops of the calls the shim counted: the ones instrument.arm() can select.
COUNTED_OPS = frozenset({"call", "acquire", "inject", "fail"})

# What an acquisition holds, by the API that made it.
ACQUIRE_KIND: dict[str, str] = {
    **dict.fromkeys(
        (
            *("kmalloc", "kzalloc", "kcalloc", "kmalloc_array", "krealloc", "kstrdup"),
            *("kmemdup", "kstrndup", "kmemdup_nul", "kmalloc_node", "kzalloc_node"),
        ),
        "kmem",
    ),
    "kasprintf": "kmem",
    **dict.fromkeys(("__get_free_pages", "get_zeroed_page", "alloc_pages"), "pages"),
    "vmalloc": "vmem",
    "vzalloc": "vmem",
    **dict.fromkeys(("kvmalloc", "kvzalloc", "kvcalloc", "kvmalloc_array"), "kvmem"),
    "kmem_cache_create": "cache",
    "kmem_cache_alloc": "slab",
    "kmem_cache_zalloc": "slab",
    "register_chrdev": "chrdev",
    "alloc_chrdev_region": "region",
    "register_chrdev_region": "region",
    "cdev_add": "cdev",
    "class_create": "class",
    "device_create": "device",
    "misc_register": "misc",
    **dict.fromkeys(
        (
            "proc_create",
            "proc_create_data",
            "proc_create_single",
            "proc_create_single_data",
            "proc_create_seq",
            "proc_create_seq_data",
            "proc_create_seq_private",
            "proc_mkdir",
            "proc_mkdir_mode",
            "proc_mkdir_data",
            "proc_symlink",
        ),
        "proc",
    ),
    "debugfs_create_dir": "debugfs",
    "debugfs_create_file": "debugfs",
    "kthread_create": "kthread",
    "kthread_run": "kthread",
    "kthread_create_on_node": "kthread",
    "kthread_create_on_cpu": "kthread",
    "alloc_workqueue": "workqueue",
    "kvasprintf": "kmem",
    "request_irq": "irq",
    "request_threaded_irq": "irq",
    "cdev_device_add": "cdev_device",
    "class_register": "class",
    "kobject_create_and_add": "kobject",
    "sysfs_create_file": "sysfs_file",
    "sysfs_create_group": "sysfs_group",
    "platform_device_register": "platform_device",
    "platform_device_register_full": "platform_device",
    "platform_driver_register": "platform_driver",
    "platform_device_alloc": "platform_device_alloc",
    "platform_device_add": "platform_device",
    "register_blkdev": "blkdev",
    "blk_mq_alloc_tag_set": "tag_set",
    "blk_mq_init_queue": "queue",
    "blk_mq_alloc_disk": "gendisk",
    "add_disk": "disk",
    "alloc_netdev": "netdev_alloc",
    "register_netdev": "netdev",
}
# Kinds that are memory (the `leaks` check); the others are registrations.
MEMORY_KINDS = frozenset({"kmem", "vmem", "kvmem", "slab", "pages"})
# What a release can free, by the API that releases. kvmalloc memory may come
# from either allocator, so any of the three frees is taken as its release.
RELEASE_KINDS: dict[str, tuple[str, ...]] = {
    "kfree": ("kmem", "kvmem"),
    "kfree_sensitive": ("kmem", "kvmem"),
    "kvfree": ("kmem", "vmem", "kvmem"),
    "vfree": ("vmem", "kvmem"),
    "free_pages": ("pages",),
    "__free_pages": ("pages",),
    "kmem_cache_free": ("slab",),
    "kmem_cache_destroy": ("cache",),
    "unregister_chrdev": ("chrdev",),
    "unregister_chrdev_region": ("region",),
    "cdev_del": ("cdev",),
    "class_destroy": ("class",),
    "device_destroy": ("device",),
    "device_unregister": ("device",),
    "misc_deregister": ("misc",),
    "proc_remove": ("proc",),
    "remove_proc_entry": ("proc",),
    "remove_proc_subtree": ("proc",),
    "debugfs_remove": ("debugfs",),
    "kthread_stop": ("kthread",),
    "destroy_workqueue": ("workqueue",),
    "free_irq": ("irq",),
    "cdev_device_del": ("cdev_device",),
    "class_unregister": ("class",),
    # The last reference to a kobject_create_and_add() object removes it, and its files.
    "kobject_put": ("kobject",),
    "sysfs_remove_file": ("sysfs_file",),
    "sysfs_remove_group": ("sysfs_group",),
    # platform_device_del + platform_device_put: the device added and the one allocated.
    "platform_device_unregister": ("platform_device", "platform_device_alloc"),
    "platform_device_del": ("platform_device",),
    "platform_device_put": ("platform_device_alloc",),
    "platform_driver_unregister": ("platform_driver",),
    "unregister_blkdev": ("blkdev",),
    "blk_mq_free_tag_set": ("tag_set",),
    "blk_mq_destroy_queue": ("queue",),
    "put_disk": ("gendisk",),
    "del_gendisk": ("disk",),
    "free_netdev": ("netdev_alloc",),
    "unregister_netdev": ("netdev",),
}
# Releases that drop a reference to something the ledger may not track (a
# kobject_put on a cdev's kobject, put_disk on a disk still referenced): one
# that matches nothing is no double free.
REFERENCE_DROPS = frozenset({"kobject_put", "put_disk"})
# Released with another acquisition (sysfs files go with their kobject).
RELEASED_WITH: dict[str, tuple[str, ...]] = {"kobject": ("sysfs_file", "sysfs_group")}
# Pairs released by (handle, key): the kernel frees only an exact match.
KEYED_RELEASES: dict[str, str] = {
    "unregister_chrdev_region": "count",
    "free_irq": "dev",
    "sysfs_remove_file": "attr",
    "sysfs_remove_group": "group",
}

_NULL = "0" * 16
_API = re.compile(r"^[A-Za-z_]\w*$")
_POINTER = re.compile(r"^[0-9a-f]{16}$")  # as %px prints on 64-bit
_NUMBER = re.compile(r"^[0-9]+$")
_AT = re.compile(r"^(?P<file>.+):(?P<line>[0-9]+)$")
_ESCAPE = re.compile(r"%([0-9a-fA-F]{2})")
_KERNEL_HEADER = re.compile(r"^.*/linux-headers-[^/]+/")


@dataclass(frozen=True)
class LedgerEvent:
    """One record of the shim: a counted call's outcome, an injection or a release."""

    seq: int  # the record's number in its load (from 1, every record counts)
    op: Op
    api: str  # as the student wrote it: "kzalloc", "misc_register", "proc_create_single"
    handle: str | None  # what a release names: a %px pointer, a major, a dev_t
    file: str | None  # the student's file, relative to the submission; a kernel header
    line: int | None
    detail: dict[str, str] = field(default_factory=dict, compare=False)
    nth: int | None = None  # the counted call's number: what instrument.arm() selects
    module: str | None = None
    load: str | None = None  # a random id per load of the module

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.file else "?"

    @property
    def null_handle(self) -> bool:
        """NULL, ZERO_SIZE_PTR or an ERR_PTR: releasing it frees nothing."""
        if self.handle is None:
            return True
        if not _POINTER.match(self.handle):  # a major or a dev_t, in decimal
            return False
        value = int(self.handle, 16)
        return value <= 16 or value >= (1 << 64) - 4095

    def __str__(self) -> str:
        n = f" #{self.nth}" if self.nth else ""
        h = f" {self.handle}" if self.handle else ""
        return f"{self.op} {self.api}{n}{h} at {self.where}"


def same_module(a: str | None, b: str | None) -> bool:
    """Do two module names name the same module? kbuild and kmod treat - and _ alike
    (hello-1.o builds a module the shim's KBUILD_MODNAME calls hello_1)."""
    return a is not None and b is not None and module_name(a) == module_name(b)


def _unescape(value: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value)


def map_path(path: str, build_dir: str | Path | None) -> str:
    """A path the compiler put in __FILE__, as the student names it.

    Files of the build folder become relative to it (that is the
    submission's layout); kernel headers keep their path inside the headers tree.
    """
    if build_dir is not None:
        prefix = str(build_dir).rstrip("/") + "/"
        if path.startswith(prefix):
            return path[len(prefix) :]
    return _KERNEL_HEADER.sub("", path)


def parse_record(text: str, nonce: str, build_dir: str | Path | None = None) -> LedgerEvent | None:
    """One log line as a LedgerEvent, or None when it is not a record of this build."""
    words = text.rstrip("\n").split(" ")
    if len(words) < 5 or words[0] != nonce or not _NUMBER.match(words[1]):
        return None
    op, api = words[2], words[3]
    if op not in OPS or not _API.match(api):
        return None
    detail: dict[str, str] = {}
    rest = words[4:]
    ret = next((i for i, w in enumerate(rest) if w.startswith("ret=")), None)
    if ret is not None:  # "ret=func+0x1c/0x60 [module]": last, with a space
        detail["ret"] = " ".join(rest[ret:])[4:]
        rest = rest[:ret]
    for word in rest:
        key, sep, value = word.partition("=")
        if not sep or not key:
            return None
        detail[key] = _unescape(value) if key == "name" else value
    at = _AT.match(detail.pop("at", ""))
    nth = detail.pop("n", "")
    handle = detail.pop("h", None)
    module, load = detail.pop("mod", None), detail.pop("load", None)
    module = module_name(module) if module else None
    return LedgerEvent(
        seq=int(words[1]),
        op=op,  # type: ignore[arg-type]  # checked against OPS above
        api=api,
        handle=handle,
        file=map_path(at["file"], build_dir) if at else None,
        line=int(at["line"]) if at else None,
        detail=detail,
        nth=int(nth) if _NUMBER.match(nth) else None,
        module=module,
        load=load,
    )


def parse_ledger(
    records: Iterable[KmsgRecord | str],
    nonce: str,
    *,
    build_dir: str | Path | None = None,
    kos: Mapping[str, DebugInfo] | None = None,
    file_map: Mapping[str, str] | None = None,
) -> list[LedgerEvent]:
    """The records of the build with this nonce, each load's in its own order.

    Records of one load are sorted by their number (two CPUs may log out of
    order); loads keep the order in which they first appear. build_dir (the
    BuildResult's) maps __FILE__ paths back to the student's file names; kos
    (module name -> the instrumented .ko's symbols.DebugInfo) decodes the call sites of calls that
    bypassed the header (`ret=`) to the student's file:line, and file_map
    (the BuildResult's) names a generated build file as the student's file.
    """
    if not nonce:
        raise ValueError("an empty nonce would accept any line")
    found: dict[tuple[str | None, str | None], list[LedgerEvent]] = {}
    for record in records:
        text = record if isinstance(record, str) else record.text
        event = parse_record(text, nonce, build_dir)
        if event is not None:
            if kos and event.file is None and "ret" in event.detail:
                event = _located(event, kos, build_dir, file_map or {})
            found.setdefault((event.module, event.load), []).append(event)
    return [e for group in found.values() for e in sorted(group, key=lambda e: e.seq)]


def _decode_ret(ret: str, debug) -> tuple[str, int] | None:  # type: ignore[no-untyped-def]
    loc = decode_frame(ret.split(" ")[0], debug, return_address=True)
    return (loc.file, loc.line) if loc else None


def _located(
    e: LedgerEvent, kos: Mapping[str, DebugInfo], build_dir, file_map: Mapping[str, str]
) -> LedgerEvent:
    """e with the file:line of its return address, decoded with its module's debug info."""
    debug = next((k for name, k in kos.items() if same_module(name, e.module)), None)
    found = _decode_ret(e.detail["ret"], debug) if debug is not None else None
    if found is None:
        return e
    rel = map_path(found[0], build_dir)
    return dataclasses.replace(e, file=file_map.get(rel, rel), line=found[1])


def loads(events: Iterable[LedgerEvent]) -> list[list[LedgerEvent]]:
    """The events split by load of a module, in order of appearance."""
    groups: dict[tuple[str | None, str | None], list[LedgerEvent]] = {}
    for e in events:
        groups.setdefault((e.module, e.load), []).append(e)
    return list(groups.values())


def fallible_calls(events: Iterable[LedgerEvent]) -> list[LedgerEvent]:
    """The calls the shim counted, in order: the i-th (from 1) is what arm(ko, i) fails.

    Give it one load's events (see loads()); over several loads the numbers repeat.
    """
    return [e for e in events if e.op in COUNTED_OPS and e.nth is not None]


# ---- pairing ------------------------------------------------------------


@dataclass
class Pairing:
    """Acquisitions matched with the releases that undid them."""

    released_by: dict[LedgerEvent, LedgerEvent]  # acquisition -> its release
    outstanding: list[LedgerEvent]  # acquisitions never released, in order
    unmatched: list[LedgerEvent]  # releases of nothing recorded (double free, foreign handle)


def _proc_path(e: LedgerEvent, live: list[LedgerEvent]) -> str:
    """A proc entry's path from its name and its parent: entries are also removed by name."""
    parent = e.detail.get("parent", _NULL)
    name = e.detail.get("name", "?")
    if parent == _NULL:
        return f"/{name}"
    owner = next((a for a in reversed(live) if a.handle == parent and _kind(a) == "proc"), None)
    return f"{_proc_path(owner, live) if owner else parent}/{name}"


def _kind(e: LedgerEvent) -> str | None:
    return ACQUIRE_KIND.get(e.api)


def _descendants(root: LedgerEvent, live: list[LedgerEvent]) -> list[LedgerEvent]:
    """root and the live debugfs entries under it (debugfs_remove is recursive in 6.1)."""
    found = [root]
    handles = {root.handle}
    for a in live:  # live is in acquisition order: parents come before children
        if a is not root and _kind(a) == "debugfs" and a.detail.get("parent") in handles:
            found.append(a)
            handles.add(a.handle)
    return found


def _released(rel: LedgerEvent, live: list[LedgerEvent]) -> list[LedgerEvent]:
    """The live acquisitions a release frees (empty if it frees none of them)."""
    kinds = RELEASE_KINDS.get(rel.api, ())
    cands = [a for a in reversed(live) if _kind(a) in kinds]
    if rel.api in ("remove_proc_entry", "remove_proc_subtree", "proc_remove"):
        if rel.api == "proc_remove":
            target = next((a for a in cands if a.handle == rel.handle), None)
            path = _proc_path(target, live) if target else None
        else:
            path = _proc_path(rel, live)
        if path is None:
            return []
        if rel.api == "remove_proc_entry":  # that entry only: its children leak
            return [a for a in cands if _proc_path(a, live) == path][:1]
        return [a for a in cands if (p := _proc_path(a, live)) == path or p.startswith(path + "/")]
    if rel.api == "device_destroy":
        key = (rel.detail.get("class"), rel.detail.get("devt"))
        return [a for a in cands if (a.detail.get("class"), a.detail.get("devt")) == key][:1]
    if rel.null_handle:
        return []
    if rel.api in KEYED_RELEASES:  # the kernel frees only an exact (handle, key)
        name = KEYED_RELEASES[rel.api]
        key = (rel.handle, rel.detail.get(name))
        return [a for a in cands if (a.handle, a.detail.get(name)) == key][:1]
    if rel.api == "platform_device_unregister":  # both halves, by the one pointer
        return [a for a in cands if a.handle == rel.handle][:2]
    match = [a for a in cands if a.handle == rel.handle][:1]
    if rel.api == "debugfs_remove" and match:
        return _descendants(match[0], live)
    for a in match[:1]:
        kinds = RELEASED_WITH.get(_kind(a) or "", ())
        match += [b for b in live if _kind(b) in kinds and b.handle == a.handle]
    return match


def _krealloc_old(e: LedgerEvent, live: list[LedgerEvent]) -> LedgerEvent | None:
    """A successful krealloc frees its old block (also krealloc(p, 0))."""
    old = e.detail.get("old", _NULL)
    if e.api != "krealloc" or e.op not in ("acquire", "call") or old == _NULL:
        return None
    return next((a for a in reversed(live) if a.handle == old and _kind(a) == "kmem"), None)


def pair(events: Iterable[LedgerEvent]) -> Pairing:
    """Match releases to acquisitions, load by load, in record order."""
    result = Pairing({}, [], [])
    for group in loads(events):
        live: list[LedgerEvent] = []
        for e in group:
            if e.op == "release":
                freed = _released(e, live)
                if not freed and not e.null_handle and e.api not in REFERENCE_DROPS:
                    result.unmatched.append(e)
                for a in freed:
                    result.released_by[a] = e
                    live.remove(a)
                continue
            if (old := _krealloc_old(e, live)) is not None:
                result.released_by[old] = e
                live.remove(old)
            if e.op == "acquire" and _kind(e) is not None:
                live.append(e)
        result.outstanding.extend(live)
    return result


def double_releases(events: Iterable[LedgerEvent]) -> list[tuple[LedgerEvent, LedgerEvent]]:
    """(second, first): releases of a handle an earlier release of the same load freed.

    A handle acquired again in between (the allocator reused the address) is
    a new object, not a double free.
    """
    out = []
    for group in loads(events):
        freed: dict[str, LedgerEvent] = {}
        for e in group:
            if e.handle is None or e.null_handle or not _POINTER.match(e.handle):
                continue
            if e.op == "release":
                first = freed.get(e.handle)
                if first is not None and set(RELEASE_KINDS.get(e.api, ())) & set(
                    RELEASE_KINDS.get(first.api, ())
                ):
                    out.append((e, first))
                else:
                    freed[e.handle] = e
            elif e.op in ("acquire", "call"):
                freed.pop(e.handle, None)
    return out


def outstanding(events: Iterable[LedgerEvent]) -> list[LedgerEvent]:
    """Acquisitions with no matching release: leaks, once the module is unloaded or failed init."""
    return pair(events).outstanding


def release_of(acquisition: LedgerEvent, events: Iterable[LedgerEvent]) -> LedgerEvent | None:
    """The release (or moving krealloc) that undid this acquisition, if any."""
    return pair(events).released_by.get(acquisition)


@dataclass
class Unwind:
    """What a module's error path did after one failed call: the "unwind ladder"."""

    point: LedgerEvent  # the failed call (injected or real)
    acquired: list[LedgerEvent]  # acquisitions made before it
    released: list[LedgerEvent]  # releases made after it
    left: list[LedgerEvent]  # acquisitions still held at the end of the records

    @property
    def clean(self) -> bool:
        return not self.left


def unwind(events: Iterable[LedgerEvent], nth: int | None = None) -> Unwind | None:
    """The unwind after failed call `nth` (default: the injected one) in one load's events.

    None if the events hold no such failed call.
    """
    events = list(events)
    failed = [e for e in events if e.op in ("inject", "fail")]
    if nth is None:
        point = next((e for e in failed if e.op == "inject"), None)
    else:
        point = next((e for e in failed if e.nth == nth), None)
    if point is None:
        return None
    same = [e for e in events if (e.module, e.load) == (point.module, point.load)]
    return Unwind(
        point=point,
        acquired=[e for e in same if e.seq < point.seq and e.op == "acquire" and _kind(e)],
        released=[e for e in same if e.seq > point.seq and e.op == "release"],
        left=outstanding(same),
    )


# ---- the order of exit's releases -------------------------------------------

# What a module registers that the kernel or a user can still reach (a reader
# of /proc, an interrupt, the thread itself): it may use memory that init
# allocated before it, so that memory may be freed only once it is gone.
REACHABLE_KINDS = frozenset(
    {
        "proc",
        "debugfs",
        "misc",
        "device",
        "cdev",
        "cdev_device",
        "chrdev",
        "irq",
        "kthread",
        "workqueue",
        "kobject",
        "sysfs_file",
        "sysfs_group",
        "platform_device",
        "platform_driver",
        "disk",
        "netdev",
    }
)


_ALL_MINORS = 1 << 20  # MINORBITS: register_chrdev() takes every minor of its major


def _numbers(e: LedgerEvent) -> tuple[str, int, int] | None:
    """(major, first minor, count) of the device numbers a record names: a region or a
    cdev (dev=MAJ:MIN count=N), or register_chrdev's whole major (h=MAJ)."""
    dev, count = e.detail.get("dev"), e.detail.get("count", "")
    if dev and ":" in dev:
        major, _, minor = dev.partition(":")
        if minor.isdigit():
            return major, int(minor), int(count) if count.isdigit() else 1
    if e.handle and e.handle.isdigit():
        return e.handle, 0, _ALL_MINORS
    return None


def _overlap(a: tuple[str, int, int] | None, b: tuple[str, int, int] | None) -> bool:
    """Do two ranges of device numbers share one (ranges on one major: ldd3's scull
    gives its three device kinds minors 0-3, 4-7 and 8-11 of the same major)?"""
    if a is None or b is None or a[0] != b[0]:
        return False
    return a[1] < b[1] + b[2] and b[1] < a[1] + a[2]


# Whether an interface (its acquisition) can read what a release frees, from the
# sources (readers.interface_reads): the judge passes it in, the ledger stays pure.
Reads = Callable[[LedgerEvent, LedgerEvent], bool]


def _inside(pointer: str | None, block: LedgerEvent) -> bool:
    """Is `pointer` (a %px) within the memory `block` acquired (its handle and size)?"""
    if not (pointer and block.handle and _POINTER.match(pointer) and _POINTER.match(block.handle)):
        return False
    start, size = int(block.handle, 16), block.detail.get("size", "")
    end = start + int(size) if size.isdigit() else start + 1
    return start <= int(pointer, 16) < end


def _depends(
    dependent: LedgerEvent,
    dependency: LedgerEvent,
    released: LedgerEvent | None = None,
    reads: Reads | None = None,
) -> str | None:
    """How `dependent` (acquired after `dependency`) uses it, or None when they are independent.

    A phrase that completes "X (acquired later) still ... until": the finding's words.
    Memory and an interface depend when init handed the memory to it (its data
    pointer, or the interface's own struct, lies in the block), or when `reads`
    (the sources) says a function the interface runs reads the freed variable.
    Without `reads`, any memory acquired before an interface is taken as read.
    """
    d, r = _kind(dependent), _kind(dependency)
    if r in MEMORY_KINDS and d in REACHABLE_KINDS:
        pointers = [dependent.handle, *(dependent.detail.get(k) for k in ("data", "dev"))]
        if any(_inside(p, dependency) for p in pointers):
            return "uses it"
        if reads is None or (released is not None and reads(dependent, released)):
            return "may read it"
        return None
    if (d, r) == ("device", "class"):
        return "belongs to it" if dependent.detail.get("class") == dependency.handle else None
    if d in ("cdev", "cdev_device") and r in ("region", "chrdev"):
        return "uses its numbers" if _overlap(_numbers(dependent), _numbers(dependency)) else None
    if (d, r) == ("slab", "cache"):
        return "was allocated from it"
    if r == "tag_set" and d in ("queue", "gendisk", "disk"):
        return "was made from it"
    if (d, r) == ("netdev", "netdev_alloc") and dependent.handle == dependency.handle:
        return "registers it"
    return None


@dataclass(frozen=True)
class Misordered:
    """exit released `dependency` while `dependent`, acquired after it and using it, was live."""

    dependency: LedgerEvent  # its acquisition
    released: LedgerEvent  # its release: too early
    dependent: LedgerEvent  # its acquisition
    dependent_released: LedgerEvent  # its release: after `released`
    how: str  # "may read it", "belongs to it", ...


def misordered_releases(
    events: Iterable[LedgerEvent], exit_events: Iterable[LedgerEvent], reads: Reads | None = None
) -> list[Misordered]:
    """Releases in exit that come before the release of something that depends on them.

    Independent resources (two buffers, a proc entry and a misc device) may go
    in any order; only a dependency released while its dependent is still
    registered (the memory a /proc file reads freed before proc_remove, a class
    destroyed before its device, a region unregistered before its cdev) counts.
    Only releases in `exit_events` (the unload's records) are judged: init may
    free a temporary buffer while its interfaces live. One per early release,
    naming the dependent released last after it (what it must follow).
    """
    exiting = {(e.module, e.load, e.seq) for e in exit_events}
    pairing = pair(events)
    out: list[Misordered] = []
    pairs = sorted(pairing.released_by.items(), key=lambda ar: ar[1].seq)
    for dep, rel in pairs:
        if (rel.module, rel.load, rel.seq) not in exiting or rel.api == "krealloc":
            continue
        later = [
            Misordered(dep, rel, a, r, how)
            for a, r in pairs
            if (a.module, a.load) == (dep.module, dep.load)
            and a.seq > dep.seq
            and r.seq > rel.seq
            and r is not rel
            and (how := _depends(a, dep, rel, reads)) is not None
        ]
        if later:  # the last of them: the early release moves after it
            out.append(max(later, key=lambda m: m.dependent_released.seq))
    return out
