"""Registrations witness: what a module left registered in the kernel after rmmod.

The guest runs STATE_SCRIPT before insmod and again after rmmod; it prints a
sectioned list of names (character majors, classes, /proc and debugfs
entries, kernel threads, ...). Everything else happens here on the host, in
pure functions: parse_state() turns the text into sets of names and
diff_state() names what appeared and did not go away, in plain words.

    before = parse_state(session.sh(STATE_SCRIPT).stdout)
    ... insmod, exercise, rmmod ...
    after = parse_state(session.sh(STATE_SCRIPT).stdout)
    for leftover in diff_state(before, after, module="hello"):
        print(leftover.message)

Safety rule for the script: after a leak, the kernel may hold pointers into
the unloaded module's freed memory. Listing directories is safe (sysfs,
procfs and debugfs keep their own copy of every name), and so is reading
files whose text the kernel copied at registration (/proc/devices, comm).
Files that print the module's own strings on every read oops instead:
/proc/misc, /proc/interrupts, /proc/crypto and /proc/tty/drivers are never
read (/sys/class/misc and /proc/irq/N/NAME/ list the same names safely), and
/proc/filesystems, /proc/ioports and /proc/iomem, which have no safe
substitute, are read last, by one `grep` process: an oops there kills grep,
costs those sections (reported in ERRORS, which is itself the evidence of a
leak) and leaves the rest of the snapshot intact. Listing /proc/sys stops
at its top level for the same reason: a sysctl table is the module's memory.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from kmodlab.grader.collection.modinfo import module_name

# Pseudo-section of parse_state(): "risky 137" when the reader of the risky
# files was killed (an oops), "incomplete" when the script did not reach its end.
ERRORS = "errors"
# Not compared by diff_state: /proc/sys/kernel/tainted when the snapshot was
# taken (see taint()), so a fault-injection point knows the taint around it.
TAINT = "taint"

# Which platform devices a driver has bound, seen from both sides of the link
# the driver core makes (drivers/NAME/DEVICE and devices/DEVICE/driver): the
# kernel's own record of whether a probe succeeded, which a fault point inside
# a probe is judged by (the shim's records are the module's memory). Only
# symlinks in a driver's folder are devices (bind, unbind, uevent are files);
# `module` is the one symlink that is not.
BOUND_SECTION = r"""
echo '@@ bound'
cd /sys/bus/platform && for l in drivers/*/*; do
  [ -L "$l" ] && case ${l##*/} in module) ;; *) p "$l";; esac
done
p devices/*/driver
"""
# The bound devices alone, as one guest command (a fault point's load).
BOUND_SCRIPT = "p() { printf '%s\\n' \"$@\"; }" + BOUND_SECTION + "echo '@@ end'\n"


# POSIX sh for dash with busybox tools. It must stay cheap under software
# emulation, where starting a process costs 5 to 20 ms: every listing is a
# shell glob (no process); only `ls` (device numbers) and one `grep -H` (the
# files, with their names) start one. Each section prints names relative to
# the folder it lists; debugfs goes two levels deep (a leaked tree shows at
# its top), skipping tracing (tracefs, mounted there as well). Slab caches
# come from /proc/slabinfo, not /sys/kernel/slab: there SLUB names a cache
# merged into another by a symlink that kmem_cache_destroy() leaves behind
# (and telling symlinks apart costs a stat per cache).
STATE_SCRIPT = (
    r"""
p() { printf '%s\n' "$@"; }
echo '@@ class'
cd /sys/class && p * */*
echo '@@ bus'
cd /sys/bus && p * */drivers/* */devices/*
"""
    + BOUND_SECTION.lstrip("\n")
    + r"""echo '@@ sysdevices'
cd /sys/devices && p *
echo '@@ sysfs'
cd /sys && p kernel/* fs/*
echo '@@ proc'
cd /proc && for d in [!0-9]*; do
  case $d in self|thread-self) ;; *) p "$d" "$d"/*;; esac
done
p tty/driver/*
echo '@@ irq'
cd /proc/irq && p */*/
echo '@@ debugfs'
cd /sys/kernel/debug 2>/dev/null && for d in *; do
  case $d in tracing) p "$d";; *) p "$d" "$d"/*;; esac
done
echo '@@ modules'
cd /sys/module && p *
echo '@@ dev'
ls -lnR /dev 2>/dev/null
cd /
read -r kids </proc/2/task/2/children
set --
for k in $kids; do set -- "$@" /proc/$k/comm; done
echo '@@ files'
grep -H '' /proc/devices /proc/slabinfo /proc/sys/kernel/tainted "$@" 2>/dev/null
echo '@@ risky'
grep -H '' /proc/filesystems /proc/ioports /proc/iomem
echo "@@ status risky $?"
echo '@@ end'
"""
)

# Sections read as files by `grep -H`, which prints "path:line".
_FILES = ("devices", "slabinfo", "kthreads", "filesystems", "ioports", "iomem")
# Files whose text comes from the registrant's memory. One grep reads them
# all: its output is buffered, so when an oops kills it nothing of the three
# arrives, and all three count as unreadable (the oops names the culprit:
# r_show for ioports/iomem, filesystems_proc_show for filesystems).
RISKY = ("filesystems", "ioports", "iomem")

SECTIONS = (
    "chrdev",
    "blkdev",
    "class",
    "bus",
    "sysdevices",
    "sysfs",
    "proc",
    "irq",
    "debugfs",
    "slab",
    "modules",
    "kthreads",
    "dev",
    "filesystems",
    "ioports",
    "iomem",
)


@dataclass(frozen=True)
class Leftover:
    section: str
    item: str
    message: str


# -- parsing -----------------------------------------------------------------


def _split_sections(text: str) -> tuple[dict[str, list[str]], dict[str, int], bool]:
    """Raw lines per "@@ name" header, exit statuses per "@@ status", and whether it ended.

    When the text stops before "@@ end" (the reader timed out, or its output
    was cut), the section it stopped in is dropped: its last line may be cut
    in the middle of a name, which would read as a new name.
    """
    raw: dict[str, list[str]] = {}
    status: dict[str, int] = {}
    current: list[str] | None = None
    last: str | None = None
    ended = False
    for line in text.splitlines():
        if line.startswith("@@ "):
            words = line[3:].split()
            if words[:1] == ["status"] and len(words) == 3 and words[2].isdigit():
                status[words[1]] = int(words[2])
                current = last = None
            elif words == ["end"]:
                ended, current = True, None
            else:
                last = " ".join(words)
                current = raw.setdefault(last, [])
        elif current is not None:
            current.append(line)
    if not ended and last is not None:
        raw.pop(last, None)
    return raw, status, ended


_COMM = re.compile(r"/proc/\d+/comm")


def _file_section(path: str) -> str | None:
    if _COMM.fullmatch(path):
        return "kthreads"
    if path == "/proc/sys/kernel/tainted":
        return TAINT
    name = path.removeprefix("/proc/")
    return name if name in _FILES else None


def _split_files(lines: list[str]) -> dict[str, list[str]]:
    """`grep -H` output ("path:line") as lines per section."""
    per: dict[str, list[str]] = {}
    for line in lines:
        path, sep, rest = line.partition(":")
        if sep and (name := _file_section(path)):
            per.setdefault(name, []).append(rest)
    return per


def _names(lines: Iterable[str]) -> set[str]:
    # An empty glob stays literal ("dir/*"): it stands for nothing.
    return {ln.rstrip("/") for ln in lines if ln.strip() and "*" not in ln}


def _devices(lines: list[str]) -> dict[str, set[str]]:
    """/proc/devices: "Character devices:" then "240 name" lines, then block."""
    out: dict[str, set[str]] = {"chrdev": set(), "blkdev": set()}
    key = "chrdev"
    for line in lines:
        if line.startswith("Block"):
            key = "blkdev"
        elif m := re.match(r"\s*(\d+)\s+(.+)$", line):
            out[key].add(f"{m[1]} {m[2].strip()}")
    return out


def _kthreads(lines: list[str]) -> set[str]:
    # Names, not PIDs; a second thread of the same name is "name#2".
    seen: Counter[str] = Counter()
    out = set()
    for name in (ln.strip() for ln in lines):
        if name:
            seen[name] += 1
            out.add(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return out


# busybox `ls -ln`: "crw-------  1 0  0  10, 125 Nov 25 21:57 cpu_dma_latency".
_LS_NODE = re.compile(
    r"^([cbl])\S*\s+\d+\s+\d+\s+\d+\s+(?:(\d+),\s*(\d+)|\d+)\s+\S+\s+\d+\s+\S+\s+(.+)$"
)


def _dev(lines: list[str]) -> set[str]:
    """`ls -lnR /dev`: "input/mice c 13:63" per device node, "fd l" per symlink."""
    out = set()
    folder = ""
    for line in lines:
        if line.endswith(":") and line.startswith("/dev"):
            folder = line[len("/dev") : -1].strip("/")
            folder = f"{folder}/" if folder else ""
        elif m := _LS_NODE.match(line):
            kind, major, minor, name = m.groups()
            name = name.split(" -> ")[0]
            out.add(f"{folder}{name} {kind} {major}:{minor}" if major else f"{folder}{name} {kind}")
    return out


def _resources(lines: list[str]) -> set[str]:
    """/proc/ioports, /proc/iomem: "0cf8-0cff : PCI conf1" -> "0cf8-0cff PCI conf1"."""
    out = set()
    for line in lines:
        span, sep, name = line.strip().partition(" : ")
        if sep:
            out.add(f"{span} {name}")
    return out


def _slabinfo(lines: list[str]) -> set[str]:
    """/proc/slabinfo: the cache name starts each line after two header lines."""
    return {ln.split()[0] for ln in lines if ln.strip() and not ln.startswith(("slabinfo", "#"))}


def _filesystems(lines: list[str]) -> set[str]:
    return {line.split()[-1] for line in lines if line.strip()}


def _bound(lines: list[str]) -> set[str]:
    """BOUND_SECTION: "DRIVER/DEVICE" from a driver's folder, "DEVICE" from a device's link."""
    out = set()
    for line in (ln.strip() for ln in lines):
        parts = line.split("/")
        if "*" in line or len(parts) != 3:
            continue
        if parts[0] == "drivers":
            out.add(f"{parts[1]}/{parts[2]}")
        elif parts[0] == "devices" and parts[2] == "driver":
            out.add(parts[1])
    return out


_PARSERS: dict[str, Callable[[list[str]], set[str]]] = {
    "kthreads": _kthreads,
    "dev": _dev,
    "ioports": _resources,
    "iomem": _resources,
    "filesystems": _filesystems,
    "slab": _slabinfo,
    "bound": _bound,
}


def parse_state(text: str) -> dict[str, frozenset[str]]:
    """Sets of names per section from STATE_SCRIPT's output. Pure.

    A section that could not be read is absent from the result (not empty),
    so it is never mistaken for "everything went away"; the reason is an
    item of the ERRORS pseudo-section ("risky 137", "incomplete").
    """
    return dict(_parse_state(text))  # the caller's own dict; the sets are frozen


@functools.lru_cache(maxsize=16)  # several judges read the same snapshots
def _parse_state(text: str) -> dict[str, frozenset[str]]:
    raw, status, ended = _split_sections(text)
    errors = set() if ended else {"incomplete"}
    if "files" in raw:
        files = {"kthreads": [], **_split_files(raw.pop("files"))}
        files["slab"] = files.pop("slabinfo", [])
        raw.update(files)
    if "risky" in raw:
        lines = raw.pop("risky")
        code = status.get("risky")
        if code is not None and code >= 128:  # killed by a signal: an oops
            errors.add(f"risky {code}")
        elif code is not None:
            raw.update({name: [] for name in RISKY} | _split_files(lines))
    state: dict[str, frozenset[str]] = {}
    for name, lines in raw.items():
        if name == "devices":
            for key, items in _devices(lines).items():
                state[key] = frozenset(items)
        else:
            state[name] = frozenset(_PARSERS.get(name, _names)(lines))
    state[ERRORS] = frozenset(errors)
    return state


def unreadable(*snapshots: dict[str, frozenset[str]]) -> str | None:
    """Why a snapshot cannot be compared, if one was cut short; None if all were read. Pure.

    A reader that timed out (a loaded guest) or whose output stopped early
    proves nothing: the names it did not reach are neither left over nor
    gone. Judges make that `error`, never a leftover (false blame, and a
    module could cut the read on purpose) and never a pass.
    """
    if any("incomplete" in s.get(ERRORS, frozenset()) for s in snapshots):
        return "the kernel state could not be read to the end (the reader was cut short)"
    return None


def new_bindings(
    before: dict[str, frozenset[str]], loaded: dict[str, frozenset[str]]
) -> frozenset[tuple[str, str]] | None:
    """(driver, device) pairs the driver core bound after `before`; None if either lacks them."""
    if "bound" not in before or "bound" not in loaded:
        return None
    pairs = {tuple(item.split("/")) for item in loaded["bound"] - before["bound"] if "/" in item}
    return frozenset(pairs)  # type: ignore[arg-type]


def bound_devices(snapshot: dict[str, frozenset[str]]) -> frozenset[str] | None:
    """Devices bound to a driver, by either side of the link; None if not read.

    A device counts as bound when either its driver's folder or its own
    `driver` link says so: a module hiding its binding must remove both.
    """
    if "bound" not in snapshot:
        return None
    return frozenset(item.split("/")[-1] for item in snapshot["bound"])


def taint(state: dict[str, frozenset[str]]) -> int | None:
    """The kernel's taint when the snapshot was taken, if it was read."""
    values = [v for v in state.get(TAINT, ()) if v.strip().isdigit()]
    return int(values[0]) if len(values) == 1 else None


# -- judging -----------------------------------------------------------------

# Items that come and go on their own, whatever the module did.
NOISE: dict[str, re.Pattern[str]] = {
    # Worker threads are started and retired on demand and renamed after the
    # work they run ("kworker/u2:1-events_unbound").
    "kthreads": re.compile(r"kworker/"),
}

_WHERE = {
    "proc": "/proc/",
    "debugfs": "/sys/kernel/debug/",
    "sysfs": "/sys/",
    "sysdevices": "/sys/devices/",
}


def _class_message(item: str) -> str:
    cls, _, dev = item.partition("/")
    if not dev:
        return f"device class '{cls}' is still registered (/sys/class/{cls})"
    if cls == "misc":
        return f"misc device '{dev}' is still registered (/sys/class/misc/{dev})"
    return f"device '{dev}' of class '{cls}' still exists (/sys/class/{item})"


def _bus_message(item: str) -> str:
    parts = item.split("/", 2)
    if len(parts) == 3 and parts[1] == "drivers":
        return f"driver '{parts[2]}' is still registered on the {parts[0]} bus"
    if len(parts) == 3 and parts[1] == "devices":
        return f"device '{parts[2]}' is still on the {parts[0]} bus"
    return f"bus type '{item}' is still registered (/sys/bus/{item})"


def _dev_message(item: str) -> str:
    name, kind, *num = item.split(" ")
    what = {"c": "character device", "b": "block device", "l": "symlink"}[kind]
    return f"/dev/{name} ({what}{' ' + num[0] if num else ''}) still exists"


def _resource_message(section: str, item: str) -> str:
    span, _, name = item.partition(" ")
    what = "I/O port range" if section == "ioports" else "memory range"
    return f"{what} {span} '{name}' is still claimed (/proc/{section})"


def _kthread_message(item: str) -> str:
    name, _, n = item.partition("#")
    extra = f" (instance {n})" if n else ""
    return f"kernel thread '{name}'{extra} is still running"


def _major_message(section: str, item: str) -> str:
    major, _, name = item.partition(" ")
    kind = "character" if section == "chrdev" else "block"
    return f"{kind} device major {major} '{name}' is still registered (/proc/devices)"


def _irq_message(item: str) -> str:
    irq, _, name = item.partition("/")
    return f"interrupt handler '{name}' is still registered on IRQ {irq}"


def _module_message(item: str, module: str) -> str:
    if module_name(item) in {module_name(m) for m in module.split(",")}:
        return f"module '{item}' is still loaded"
    return f"module '{item}' was loaded along the way and is still loaded"


_MESSAGES: dict[str, Callable[[str], str]] = {
    "class": _class_message,
    "bus": _bus_message,
    "dev": _dev_message,
    "kthreads": _kthread_message,
    "irq": _irq_message,
    "slab": lambda item: (
        f"slab cache '{item}' still exists (/proc/slabinfo): kmem_cache_destroy was not called"
    ),
    "filesystems": lambda item: f"filesystem type '{item}' is still registered (/proc/filesystems)",
}


def _message(section: str, item: str, module: str) -> str:
    """One leftover in plain words, naming where a student can see it."""
    if section in ("chrdev", "blkdev"):
        return _major_message(section, item)
    if section in ("ioports", "iomem"):
        return _resource_message(section, item)
    if section == "modules":
        return _module_message(item, module)
    if section in _WHERE:
        return f"{_WHERE[section]}{item} still exists"
    if section in _MESSAGES:
        return _MESSAGES[section](item)
    return f"{section}: '{item}' is still there"


def _error_leftovers(before: frozenset[str], after: frozenset[str]) -> list[Leftover]:
    """The reader of the risky files killed by an oops: itself the evidence of a leak.

    A snapshot cut short ("incomplete") is no leftover: see unreadable().
    """
    out = []
    for err in sorted(after - before):
        section, _, status = err.partition(" ")
        if section == "incomplete":
            continue
        msg = (
            "reading /proc/ioports, /proc/iomem or /proc/filesystems crashed the kernel "
            f"after unloading (the reader was killed, status {status}): a region or "
            "filesystem registered by the module is still registered, and its name "
            "pointed into the module's freed memory (the oops in the kernel log says which)"
        )
        out.append(Leftover(section, "", msg))
    return out


# Sections whose items are paths: a new folder is reported once, with the new
# entries inside it, rather than once per entry.
_PATH_SECTIONS = frozenset({"class", "bus", "sysfs", "proc", "debugfs", "sysdevices"})


def _fold(items: list[str]) -> dict[str, list[str]]:
    """Group new paths under their topmost new ancestor ("a" -> ["a/b", "a/c"])."""
    roots: dict[str, list[str]] = {}
    new = set(items)
    for item in sorted(items):
        parts = item.split("/")
        top = next((a for i in range(1, len(parts)) if (a := "/".join(parts[:i])) in new), None)
        if top is None:
            roots.setdefault(item, [])
        else:
            roots.setdefault(top, []).append(item[len(top) + 1 :])
    return roots


def diff_state(
    before: dict[str, frozenset[str]], after: dict[str, frozenset[str]], *, module: str
) -> list[Leftover]:
    """What is registered after unload that was not before load, in plain words. Pure.

    `module` names the module(s) under test, comma-separated if several.

    Sections missing from either snapshot are not compared (ERRORS says why
    one is missing); things that went away are not leftovers.
    """
    out = _error_leftovers(before.get(ERRORS, frozenset()), after.get(ERRORS, frozenset()))
    for section in SECTIONS:
        if section not in before or section not in after:
            continue
        noise = NOISE.get(section)
        fresh = sorted(after[section] - before[section])
        new = [i for i in fresh if not (noise and noise.match(i))]
        groups = _fold(new) if section in _PATH_SECTIONS else {i: [] for i in new}
        for item, inside in groups.items():
            message = _message(section, item, module)
            if inside:
                message += f", with {', '.join(inside)} inside"
            out.append(Leftover(section, item, message))
    return out
