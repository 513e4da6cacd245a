"""Reading what a module created, so that a use after free becomes a kernel report.

The guest boots with SLUB poisoning (qemu.py: `slub_debug`): a freed object
is filled with 0x6b. A module that frees its buffer and still serves reads
from it then either hands out the poison ("kkkk...") or, when the freed
object held a pointer, dereferences 0x6b6b6b6b6b6b6b6b: a general
protection fault whose trace names the student's read handler. Either
happens only if something reads. So, with the modules loaded:

    listed = session.sh(LIST_SCRIPT).stdout           # what exists now
    paths = new_interfaces(before, parse_state(listed))
    session.sh(read_script(paths, modules))           # read each once, then keep
    ... @unload ...                                   # reading /proc and sysfs meanwhile

The reads after load find a buffer freed too early (in init, or by a
callback); the reader that runs on during rmmod finds exit freeing what an
interface still serves before removing the interface, whenever exit lets
it run (it sleeps: msleep, kthread_stop, flush_work, synchronize_rcu).
During rmmod only /proc entries and sysfs attributes are read: an open
/dev node or debugfs file holds a reference on the module, and rmmod would
then fail with EBUSY because of the grader, not the student.

Which paths: the entries the state listing (state.py's sections proc,
debugfs, dev, class) shows after load and not before. Reads are bounded
to 4 KiB, and a device's to one second, so a read that blocks costs a
second, not a hang.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping

from kmodlab.grader.collection import guest_state as state

# The sections of state.STATE_SCRIPT that hold interfaces, listed the same
# way, so parse_state() reads both and the diff is like for like.
LIST_SCRIPT = (
    r"""
p() { printf '%s\n' "$@"; }
echo '@@ class'
cd /sys/class && p * */*
echo '@@ proc'
cd /proc && for d in [!0-9]*; do
  case $d in self|thread-self) ;; *) p "$d" "$d"/*;; esac
done
echo '@@ debugfs'
cd /sys/kernel/debug 2>/dev/null && for d in *; do
  case $d in tracing) p "$d";; *) p "$d" "$d"/*;; esac
done
echo '@@ dev'
ls -lnR /dev 2>/dev/null
"""
    + state.BOUND_SECTION.lstrip("\n")
    + "echo '@@ end'\n"
)
# (With the devices the driver core bound: a fault point inside a probe
# compares the point's with these; see judges._callback_failed.)
READ_BYTES = 4096
READ_SECONDS = 1
POISON = re.compile("k{16,}")  # SLUB's POISON_FREE, 0x6b, is "k"


def new_interfaces(
    before: Mapping[str, frozenset[str]], loaded: Mapping[str, frozenset[str]]
) -> list[str]:
    """Guest paths of the interfaces present with the modules loaded and not before. Pure.

    Class devices become a glob of their attribute files (expanded in the
    guest); proc and debugfs directories are globs of their files too.
    """

    def new(section: str) -> list[str]:
        return sorted(loaded.get(section, frozenset()) - before.get(section, frozenset()))

    paths = [f"/proc/{item}" for item in new("proc")]
    paths += [f"/sys/kernel/debug/{item}" for item in new("debugfs")]
    for item in new("dev"):
        name, kind, *_ = item.split(" ")
        if kind == "c":
            paths.append(f"/dev/{name}")
    for item in new("class"):
        if "/" in item:
            paths.append(f"/sys/class/{item}/*")
    return paths


def read_script(paths: Iterable[str], modules: Iterable[str]) -> str:
    """Read each path once (regular files and character devices), then start the
    reader that keeps reading /proc and sysfs while the modules exist.

    Prints "@@ read PATH" before each file's bytes (od-free: the host looks
    for the poison pattern in them) and "@@ reader PID" for the background
    loop, which ends by itself when the last module is gone. That loop reads
    with the shell's own `read` (64 lines at most), and checks that a module
    is still there right before each file: a file the module left behind
    runs freed code once rmmod has freed it, and starting a process between
    the check and the read would leave that window open for milliseconds.
    """
    quoted = " ".join(_glob_quote(p) for p in paths)
    during = " ".join(_glob_quote(p) for p in paths if p.startswith(("/proc/", "/sys/class/")))
    alive = " || ".join(f"[ -d /sys/module/{shlex.quote(m)} ]" for m in modules) or "false"
    # Only a character device gets `timeout` (a process more, under TCG
    # 5 to 20 ms): it is what may block until data comes; /proc, debugfs and
    # sysfs files answer at once.
    return f"""
r() {{ for f in "$@"; do
  case $f in */uevent) continue;; esac
  if [ -c "$f" ]; then
    echo "@@ read $f"; timeout {READ_SECONDS} head -c {READ_BYTES} "$f" 2>&1; echo
  elif [ -f "$f" ]; then
    echo "@@ read $f"; head -c {READ_BYTES} "$f" 2>&1; echo
  fi
done; }}
r {quoted}
d() {{ for f in "$@"; do
  {alive} || return 1
  [ -f "$f" ] || continue
  n=0; while [ $n -lt 64 ] && IFS= read -r l; do n=$((n+1)); done < "$f"
done; }}
echo '@@ during'
if [ -n "{during and "y"}" ]; then
  ( while d {during}; do :; done ) >/dev/null 2>&1 </dev/null &
  echo "@@ reader $!"
fi
echo '@@ end'
"""


# The processes that read the module's files: the shell's own `read` in the loop
# beside rmmod, `head` for the reads after load. A kernel report in one of them
# during rmmod is the reader's (it touched an entry the module left behind),
# not rmmod's: exit runs in the agent's process.
READER_COMMS = frozenset({"sh", "head"})
_COMM = re.compile(r"\bComm: (\S+)")


def by_reader(report_text: str) -> bool:
    """Was this kernel report raised in one of the grader's interface readers? Pure."""
    found = _COMM.search(report_text)
    return bool(found) and found.group(1) in READER_COMMS


def _glob_quote(path: str) -> str:
    """Quote a path for sh, leaving a trailing `*` to expand."""
    if path.endswith("/*"):
        return shlex.quote(path[:-1]) + "*"
    return shlex.quote(path)


def poisoned_reads(output: str) -> list[str]:
    """Paths whose read returned SLUB's free poison: the module served freed memory. Pure."""
    out = []
    path = None
    chunks: dict[str, list[str]] = {}
    for line in output.splitlines():
        if line.startswith("@@ "):
            words = line[3:].split(" ", 1)
            path = words[1] if words[0] == "read" and len(words) == 2 else None
            if path:
                chunks.setdefault(path, [])
        elif path is not None:
            chunks[path].append(line)
    for p, lines in chunks.items():
        if POISON.search("\n".join(lines)):
            out.append(p)
    return out


def listed_state(text: str) -> dict[str, frozenset[str]]:
    """LIST_SCRIPT's output as state.parse_state() sets (the same sections)."""
    return state.parse_state(text)
