"""Timer witness: timers, hrtimers and work a module left armed when rmmod returned.

A timer armed by a module and never deleted in exit fires into freed code
some time after rmmod: a one-second period outlives any settle the grader
could afford, and the oops then lands in another task (`__run_timers`),
long after the step that caused it. So the guest records, from before the
load until right after the unload, the kernel's own timer and workqueue
tracepoints in a trace instance of its own; the host replays them:

    session.sh(enable_commands())                    # before the load
    ... insmod, section_addresses, rmmod ...
    text = session.sh(read_command()).stdout         # right after rmmod
    for left in left_armed(parse_trace(text), ranges, module="m"):
        print(left.what, explain(left, ranges, ko))  # ("m_init", ".../m.c", 17)

What is recorded (filters keep the kernel's own traffic out):
- timer_start whose callback is module code or whose timer is in kmalloc'd
  memory or the module area (a delayed work's timer runs the kernel's
  delayed_work_timer_fn: it is told by where it lives, not by its callback;
  looking the function's address up in /proc/kallsyms costs ~0.2 s under
  TCG, and Debian ships no System.map); hrtimer_start of module callbacks;
  timer_cancel and
  hrtimer_cancel of timers in kmalloc'd memory or the module area (the
  kernel traces a cancel for each expiry and each deletion; those on kernel
  stacks, the bulk of them, are left out);
- workqueue_queue_work / workqueue_execute_start of module work functions;
- kprobes on the common calls that arm (mod_timer, add_timer,
  hrtimer_start_range_ns, queue_delayed_work_on, mod_delayed_work_on) with
  the return address on the stack
  ($stack0), kept when it is module code: the student's line that armed it.

An object whose last event is a start (or a queueing) is still armed when
the trace is read; it is the module's when its callback (or, for delayed
work, the work function) is the module's code, or a module call armed it.
The line: the last arming call seen from module code, else the callback.
A call the compiler made a tail call (`mod_timer(...)` as the last
statement of the callback) leaves the kernel's address on the stack; an
earlier arming from init still names the line.
Which check: `registrations` (something the module registered with the
kernel, here with the timer wheel or a workqueue, survives rmmod).

When the guest dies before the trace is read (an hrtimer left in the
kernel's tree is walked into at once, during rmmod itself), what was
recorded just before rmmod (snapshot_command(), read with the interface
listing) stands in, and the kernel's report of touching the module's freed
code or data (freed_access()) fails `kernel-health` at that symbol.

The module runs with full privilege and could write to the instance's
files; like the kmem trace, this witness is only as strong as the trace
hardening around it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from kmodlab.grader.collection.kmemtrace import (
    MODULE_AREA,
    TRACING,
    CallSite,
    SectionRange,
    decode_site,
    locate,
    lost_events,
    parse_site,
    symbol_location,
)
from kmodlab.grader.collection.kmemtrace import instance_dir as kmemtrace_instance_dir

DEFAULT_INSTANCE = "kmodlab_timers"


def instance_dir(name: str = DEFAULT_INSTANCE) -> str:
    """The instance's folder; a grade names it at random so a module cannot guess it."""
    return kmemtrace_instance_dir(name)


BUFFER_KB = 1024  # per CPU; ~20,000 events: an idle guest's timers for minutes
# struct delayed_work starts with its work_struct (32 bytes on x86-64
# without lockdep), then its timer: the timer's address minus this is the work.
DWORK_TIMER_OFFSET = 32
DWORK_TIMER_FN = "delayed_work_timer_fn"
# kprobe name -> (kernel function, the argument holding the armed object,
# where the work function is read, if the object is a work item)
# Each probe costs tens of ms to set up under TCG (the kernel patches
# code): only the common ways to arm are probed. An object armed otherwise
# (add_timer_on, timer_reduce, a plain queue_work) is still found, by its
# callback, and named at the callback's line.
ARM_PROBES: dict[str, tuple[str, str, str | None]] = {
    "kmodlab_arm_mod_timer": ("mod_timer", "%di", None),
    "kmodlab_arm_add_timer": ("add_timer", "%di", None),
    "kmodlab_arm_hrtimer": ("hrtimer_start_range_ns", "%di", None),
    # work_struct.func is at +24 (after data and entry).
    "kmodlab_arm_dwork": ("queue_delayed_work_on", "%dx", "+24(%dx)"),
    "kmodlab_arm_mod_dwork": ("mod_delayed_work_on", "%dx", "+24(%dx)"),
}
# What exit should call, by family, for the finding.
CANCEL_HINT = {
    "timer": "del_timer_sync()",
    "hrtimer": "hrtimer_cancel()",
    "work": "cancel_delayed_work_sync() or cancel_work_sync()",
}
_EVENTS = (
    "timer/timer_start",
    "timer/timer_cancel",
    "timer/hrtimer_start",
    "timer/hrtimer_cancel",
    "workqueue/workqueue_queue_work",
    "workqueue/workqueue_execute_start",
)


# Cancels cannot be filtered by callback (the event has none). Most are of
# timers on a kernel stack (every poll, nanosleep and schedule_timeout), in
# the vmalloc area, or static in the kernel image: kept are those in the
# direct map (kmalloc'd) and in the module area (a module's statics).
_NOT_ON_STACK = "timer < 0xffffc90000000000 || timer >= 0xffffffffc0000000"


# -- guest side: shell snippets -----------------------------------------------
def enable_commands(buffer_kb: int = BUFFER_KB, *, instance: str = DEFAULT_INSTANCE) -> str:
    """A sh snippet that starts recording in kmodlab's own trace instance.

    An instance of its own: its buffer, options and filters are apart from
    the kmem trace's (kmemtrace.py), so neither witness can crowd out the
    other. Exits non-zero when tracing is unusable (the witness abstains).
    """
    area = f"{MODULE_AREA:#x}"
    probes = []
    for name, (func, obj, work) in ARM_PROBES.items():
        fetch = f"obj={obj}:x64 ret=$stack0:x64" + (f" func={work}:x64" if work else "")
        keep = f"ret >= {area}" + (f" || func >= {area}" if work else "")
        probes.append(
            f"[ -d {TRACING}/events/kprobes/{name} ] || "
            f"echo 'p:{name} {func} {fetch}' >> {TRACING}/kprobe_events 2>/dev/null\n"
            f"echo '{keep}' > events/kprobes/{name}/filter 2>/dev/null\n"
            f"echo 1 > events/kprobes/{name}/enable 2>/dev/null"
        )
    arm = "\n".join(probes)
    where = instance_dir(instance)
    return f"""
mkdir -p {where} 2>/dev/null
cd {where} || exit 1
echo 0 > tracing_on
echo 0 > options/hash-ptr || exit 1
echo 0 > options/overwrite
echo {int(buffer_kb)} > buffer_size_kb || exit 1
echo "function >= {area} || {_NOT_ON_STACK}" > events/timer/timer_start/filter || exit 1
echo 'function >= {area}' > events/timer/hrtimer_start/filter || exit 1
echo '{_NOT_ON_STACK}' > events/timer/timer_cancel/filter || exit 1
echo '{_NOT_ON_STACK.replace("timer", "hrtimer")}' > events/timer/hrtimer_cancel/filter || exit 1
echo 'function >= {area}' > events/workqueue/workqueue_queue_work/filter || exit 1
echo 'function >= {area}' > events/workqueue/workqueue_execute_start/filter || exit 1
echo > trace
for e in {" ".join(_EVENTS)}; do echo 1 > events/$e/enable || exit 1; done
{arm}
echo 1 > tracing_on
"""


def read_command(*, instance: str = DEFAULT_INSTANCE) -> str:
    """A sh snippet that stops recording and prints the instance's stats and trace."""
    return f"""
cd {instance_dir(instance)} || exit 1
echo 0 > tracing_on
echo '@@ stats'; cat per_cpu/cpu*/stats
echo '@@ trace'; cat trace
echo '@@ end'
"""


def snapshot_command(*, instance: str = DEFAULT_INSTANCE) -> str:
    """A sh snippet that prints what was recorded so far, recording on (before rmmod).

    If the guest dies during rmmod (an hrtimer left in the kernel's tree is
    walked into at once), this is what is known of the module's timers.
    """
    return f"""
echo '@@ trace'; cat {instance_dir(instance)}/trace 2>/dev/null
echo '@@ end'
"""


# -- host side: parsing ---------------------------------------------------------
@dataclass(frozen=True)
class TimerEvent:
    """One recorded event about an object that runs code later."""

    kind: str  # start | cancel | queue | execute | arm
    family: str  # timer | hrtimer | work
    obj: int  # the timer_list, hrtimer or work_struct
    function: CallSite | None = None  # its callback (work function), when the event names it
    site: int | None = None  # arm: the return address of the arming call
    timestamp: float = 0.0


_LINE = re.compile(
    r"^\s*.+-\d+\s+\[\d+\]\s+(?:[^\s\d]\S*\s+)?(?P<ts>\d+\.\d+):\s+(?P<event>\w+):\s+(?P<body>.*)$"
)
_TIMER_START = re.compile(r"^(?P<fam>hr)?timer=(?P<obj>[0-9a-f]+) function=(?P<fn>.+?) expires=")
_CANCEL = re.compile(r"^(?P<fam>hr)?timer=(?P<obj>[0-9a-f]+)\s*$")
# workqueue_queue_work: "work struct=%p function=%ps workqueue=..."; execute_start:
# "work struct %p: function %ps".
_WORK = re.compile(r"^work struct[= ](?P<obj>[0-9a-f]+):? function[= ](?P<fn>.+?)(?: workqueue=|$)")
_ARM = re.compile(
    r"obj=0x(?P<obj>[0-9a-f]+) ret=0x(?P<ret>[0-9a-f]+)(?: func=0x(?P<fn>[0-9a-f]+))?"
)
_BARE_SYMBOL = re.compile(r"^(?P<sym>[A-Za-z_][\w.]*)(?: \[(?P<mod>[^\]]+)\])?$")


def _function(text: str) -> CallSite:
    """A callback as %ps prints it: `name [mod]` while loaded, `0xffff...` after. Pure."""
    text = text.strip()
    site = parse_site(text)
    if site.address is not None or site.symbol is not None:
        return site
    if m := _BARE_SYMBOL.match(text):
        return CallSite(text, symbol=m["sym"], offset=0, module=m["mod"])
    return site


def _event(name: str, body: str) -> TimerEvent | None:
    if name in ("timer_start", "hrtimer_start") and (m := _TIMER_START.match(body)):
        fam = "hrtimer" if m["fam"] else "timer"
        return TimerEvent("start", fam, int(m["obj"], 16), _function(m["fn"]))
    if name in ("timer_cancel", "hrtimer_cancel") and (m := _CANCEL.match(body)):
        return TimerEvent("cancel", "hrtimer" if m["fam"] else "timer", int(m["obj"], 16))
    if name in ("workqueue_queue_work", "workqueue_execute_start") and (m := _WORK.match(body)):
        kind = "queue" if name == "workqueue_queue_work" else "execute"
        return TimerEvent(kind, "work", int(m["obj"], 16), _function(m["fn"]))
    if name in ARM_PROBES and (m := _ARM.search(body)):
        family = "hrtimer" if name == "kmodlab_arm_hrtimer" else "timer"
        if ARM_PROBES[name][2] is not None:
            family = "work"
        fn = CallSite(m["fn"], address=int(m["fn"], 16)) if m["fn"] else None
        return TimerEvent("arm", family, int(m["obj"], 16), fn, site=int(m["ret"], 16))
    return None


def parse_trace(text: str) -> list[TimerEvent]:
    """Events from read_command()'s output (or a bare trace file), in trace order. Pure."""
    lines = text.splitlines()
    if "@@ trace" in lines:
        start = lines.index("@@ trace") + 1
        end = lines.index("@@ end", start) if "@@ end" in lines[start:] else len(lines)
        lines = lines[start:end]
    out = []
    for line in lines:
        m = _LINE.match(line)
        if m and (ev := _event(m["event"], m["body"])):
            out.append(TimerEvent(ev.kind, ev.family, ev.obj, ev.function, ev.site, float(m["ts"])))
    return out


# -- host side: judging ---------------------------------------------------------
@dataclass(frozen=True)
class LeftArmed:
    """A timer, hrtimer or work item still pending when the trace was read."""

    family: str  # timer | hrtimer | work
    obj: int
    callback: CallSite | None  # the module's function it will run
    arm_site: int | None  # return address of the last arming call from module code
    delayed: bool = False  # work: waiting on its timer, not yet queued

    @property
    def what(self) -> str:
        if self.family == "work":
            return "delayed work" if self.delayed else "a queued work item"
        return {"timer": "a timer", "hrtimer": "an hrtimer"}[self.family]


def _ours(site: CallSite | None, ranges: Sequence[SectionRange], module: str | None) -> bool:
    if site is None:
        return False
    if site.address is not None:
        return any(site.address in r for r in ranges)
    return module is not None and site.module == module


def left_armed(
    events: Iterable[TimerEvent], ranges: Sequence[SectionRange], *, module: str | None = None
) -> list[LeftArmed]:
    """The module's timers, hrtimers and work still armed after the last event. Pure.

    A delayed work's timer runs the kernel's delayed_work_timer_fn; it is the
    module's when its work function is (seen when armed, or when queued).
    """
    pending: dict[tuple[str, int], TimerEvent] = {}
    callbacks: dict[tuple[str, int], CallSite] = {}
    arms: dict[tuple[str, int], int] = {}
    for ev in events:
        key = (ev.family, ev.obj)
        if ev.kind == "arm":
            if ev.family == "work" and ev.function is not None:
                callbacks[key] = ev.function
                if any(ev.site in r for r in ranges) if ev.site else False:
                    arms[("timer", ev.obj + DWORK_TIMER_OFFSET)] = ev.site
            if ev.site is not None and any(ev.site in r for r in ranges):
                arms[key] = ev.site
        elif ev.kind in ("start", "queue"):
            pending[key] = ev
            if ev.kind == "queue" and ev.function is not None:
                callbacks[key] = ev.function
        else:  # cancel, execute: not pending any more
            pending.pop(key, None)
    out = []
    for (family, obj), ev in pending.items():
        callback = ev.function
        if family == "timer" and callback is not None and callback.symbol == DWORK_TIMER_FN:
            callback = callbacks.get(("work", obj - DWORK_TIMER_OFFSET))
            site = arms.get((family, obj)) or arms.get(("work", obj - DWORK_TIMER_OFFSET))
            if _ours(callback, ranges, module) or site:
                out.append(LeftArmed("work", obj, callback, site, delayed=True))
            continue
        site = arms.get((family, obj))
        if _ours(callback, ranges, module) or site:
            out.append(LeftArmed(family, obj, callback, site))
    return out


def explain(left: LeftArmed, ranges: Sequence[SectionRange], ko) -> tuple[str, str, int] | None:  # type: ignore[no-untyped-def]
    """(function, file, line) of the arming call, else of the callback. None: not the module's."""
    if left.arm_site is not None:
        where = locate(CallSite(hex(left.arm_site), address=left.arm_site), ranges)
        if where:
            return decode_site(ko, where[0], max(where[1] - 1, 0))
    if left.callback is not None:
        where = locate(left.callback, ranges) or symbol_location(ko, left.callback)
        if where:
            return decode_site(ko, *where)
    return None


def callback_name(left: LeftArmed, ranges: Sequence[SectionRange], ko) -> str | None:  # type: ignore[no-untyped-def]
    """The callback's function name, from the .ko when the trace printed an address."""
    if left.callback is None:
        return None
    if left.callback.symbol:
        return left.callback.symbol
    where = locate(left.callback, ranges)
    found = decode_site(ko, *where) if where else None
    return found[0] if found else None


# -- after the fact: the kernel touching a module's memory after rmmod ----------
_RAW_RIP = re.compile(r"RIP: 0010:0x(?P<a>[0-9a-f]+)")
_FAULT = re.compile(r"unable to handle page fault for address: (?P<a>[0-9a-f]+)")
_LINKED = re.compile(r"^Modules linked in:(?P<mods>.*)$", re.M)


def _still_loaded(text: str, module: str) -> bool:
    m = _LINKED.search(text)
    if not m:
        return True  # unknown: claim nothing
    listed = re.sub(r"\[last unloaded:[^\]]*\]", "", m["mods"])
    return any(w.split("(")[0] == module for w in listed.split())


def freed_access(
    report: str, ranges: Sequence[SectionRange], ko, *, module: str
) -> tuple[str, str | None, tuple[str, str, int] | None] | None:  # type: ignore[no-untyped-def]
    """(verb, symbol, (function, file, line) or None) when a report shows the kernel
    running (RIP) or touching (page fault address) a module's memory after rmmod.

    A timer left armed is found this way when it fires, or when the kernel
    walks its timer lists into the module's freed .data or .bss, before the
    witness could be read. Pure but for reading the .ko.
    """
    if _still_loaded(report, module):
        return None
    for pattern, verb in ((_RAW_RIP, "ran"), (_FAULT, "touched")):
        m = pattern.search(report)
        if not m:
            continue
        address = int(m["a"], 16)
        where = locate(CallSite(hex(address), address=address), ranges)
        if where is None:
            continue
        section, offset = where
        if section.startswith((".data", ".bss")):
            return verb, _data_symbol(ko, section, offset), None
        found = decode_site(ko, section, offset)
        return verb, found[0] if found else None, found
    return None


def _data_symbol(ko, section: str, offset: int) -> str | None:  # type: ignore[no-untyped-def]
    """The variable of the .ko's `section` that holds `offset`."""
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    with open(ko, "rb") as f:
        elf = ELFFile(f)
        symtab = elf.get_section_by_name(".symtab")
        if not isinstance(symtab, SymbolTableSection):
            return None
        for sym in symtab.iter_symbols():
            index = sym["st_shndx"]
            if sym["st_info"]["type"] != "STT_OBJECT" or not isinstance(index, int):
                continue
            if elf.get_section(index).name != section:
                continue
            if sym["st_value"] <= offset < sym["st_value"] + max(sym["st_size"], 1):
                return sym.name
    return None


def declaration(symbol: str, sources: dict[str, str]) -> tuple[str | None, int | None]:
    """(file, line) where a file-scope variable is defined in the student's sources. Pure."""
    pattern = re.compile(rf"^(?:static\s+)?[\w\s]*\b{re.escape(symbol)}\b\s*(?:\[[^\]]*\])?\s*[;=]")
    for name, text in sources.items():
        for i, line in enumerate(text.splitlines(), start=1):
            macro = line.removeprefix("static ").startswith(("DECLARE_", "DEFINE_"))
            if pattern.match(line) or (macro and re.search(rf"\({re.escape(symbol)}\b", line)):
                return name, i
    return None, None


__all__ = [
    "LeftArmed",
    "declaration",
    "freed_access",
    "TimerEvent",
    "enable_commands",
    "explain",
    "left_armed",
    "lost_events",
    "parse_trace",
    "read_command",
]
