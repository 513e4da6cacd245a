"""Self-checks: the lessons' short graded questions, answered by doing, judged in the guest.

    from kmodlab.course import selfcheck
    selfcheck.kernel_release(release="...", modules_dir="...")              # lesson 1
    selfcheck.stage_secret()                     # lesson 2: secret.ko in the guest's /tmp
    selfcheck.secret_reading(level=..., taint="...")
    selfcheck.stage_pair()                       # lesson 3: tick.ko, tock.ko in the guest's /tmp
    selfcheck.install_pair(commands)             # ... installed so that `modprobe tock` works
    selfcheck.lsmod_reading(used_by=1, holders=["tock"], count_file="/sys/module/tick/refcnt")
    selfcheck.kallsyms_kinds(exported={"..."}, local="...")          # lesson 4
    selfcheck.plant_unknown_symbol()             # lesson 4: gauge.ko fails with "Unknown symbol"
    selfcheck.unknown_symbol_fix(provider="...", commands="...")
    selfcheck.stage_held()                       # lesson 7: held.ko in the guest's /tmp
    selfcheck.open_holds(used_by=...)

Each check takes the student's answer, collects evidence in a fresh guest of
the lab's machine (the lab's own guest is left alone; the student's commands
run there as written), and judges it with a pure function (the judge_*
functions, tested on captured text). Evidence that depends only on the kernel
and kmodlab's own modules (what secret.ko logs, held's use counts, tick's
holders, /proc/kallsyms, the release) is measured in a fresh guest once and
kept beside those modules (_measured); the student's commands always run.
A check passes with one line, or raises AssertionError with what to look
at: as an nbgrader test cell (grade: true) that is autograded, all its
points or none. The modules it uses are
kmodlab's own (kmodlab/course/modules/), built in the sandbox once per kernel
and kept in $KMODLAB_HOME/selfcheck.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

MODULES = Path(__file__).resolve().parent / "modules"
KALLSYMS_NAMES = ("kmemdup", "module_flags", "resolve_symbol")
_built: dict[str, dict[str, Path]] = {}


@dataclass(frozen=True)
class Verdict:
    ok: bool
    message: str


# -- the checks (collect, then judge) -------------------------------------------
def kernel_release(*, release: str, modules_dir: str) -> None:
    """The guest kernel's release (`uname -r` there, not on the host: modules are built for
    it), and the folder the guest keeps its modules in."""
    __tracebackhide__ = True
    import platform

    if not release.strip() or not modules_dir.strip():
        _conclude(judge_release(release, modules_dir, "", platform.release()))

    def collect() -> tuple[dict[str, str], bool]:
        with _fresh_guest() as s:
            return _kept_if_ok(s.sh(RELEASE_PROBE))

    guest = _probe("release", None, collect).strip()
    _conclude(judge_release(release, modules_dir, guest, platform.release()))


def secret_reading(*, level: int | None, taint: str) -> None:
    """secret.ko loaded in a fresh guest: the level of the line it logs, and its taint letters."""
    __tracebackhide__ = True
    if level is None or not taint.strip():
        _conclude(judge_secret(level, taint, None, ""))

    def collect() -> tuple[dict[str, str], bool]:
        with _fresh_guest() as s:
            _put(s, "lesson", "secret")
            ran = s.sh("insmod /tmp/secret.ko", timeout_s=60)
            probe = s.sh("cat /sys/module/secret/taint")
        # The kernel's own lines about secret (its taints) start with "secret:" too.
        levels = [r.level for r in ran.kmsg if r.text == SECRET_LINE]
        facts = {"level": str(levels[0]) if levels else "", "taint": probe.stdout.strip()}
        return facts, bool(levels) and probe.ok and bool(facts["taint"])

    facts = _measured("secret", "lesson", collect)
    logged = int(facts["level"]) if facts.get("level", "").isdigit() else None
    _conclude(judge_secret(level, taint, logged, facts.get("taint", "")))


def open_holds(*, used_by: int | None) -> None:
    """held's use count while two files of /dev/kmodlab_held are open, read in a fresh guest."""
    __tracebackhide__ = True
    if used_by is None:
        _conclude(judge_held(used_by, {}))

    def collect() -> tuple[dict[str, str], bool]:
        with _fresh_guest() as s:
            _put(s, "lesson", "held")
            return _kept_if_ok(s.sh(HELD_PROBE, timeout_s=60))

    _conclude(judge_held(used_by, sections(_probe("held", "lesson", collect))))


def install_pair(commands: str) -> None:
    """Run the student's install commands in a fresh guest (tick.ko, tock.ko in /tmp), then
    `modprobe tock`: it must load tick first, from the installed files."""
    __tracebackhide__ = True
    if not _written(commands):
        _conclude(judge_install(commands, None, {}))
    with _fresh_guest() as s:
        _put_pair(s)
        ran = s.sh(as_shell(commands), timeout_s=60)
        probe = s.sh(INSTALL_PROBE, timeout_s=60)
    _conclude(judge_install(commands, ran.stdout + ran.stderr, sections(probe.stdout), ran.ok))


def lsmod_reading(*, used_by: int | None, holders: Iterable[str], count_file: str) -> None:
    """Tick's use count and holders with tock loaded, and the file kmod's lsmod reads it from."""
    __tracebackhide__ = True
    if used_by is None or not count_file.strip():
        _conclude(judge_lsmod(used_by, list(holders), count_file, {}))

    def collect() -> tuple[dict[str, str], bool]:
        with _fresh_guest() as s:
            s.push_modules(_pair().values())
            loaded = s.run(["modprobe", "tock"])
            probe = s.sh(LSMOD_PROBE)
        facts, ok = _kept_if_ok(probe)
        return facts, ok and loaded.ok

    probe = _probe("lsmod", "pair", collect)
    _conclude(judge_lsmod(used_by, list(holders), count_file, sections(probe)))


def kallsyms_kinds(*, exported: Iterable[str], local: str) -> None:
    """Which of KALLSYMS_NAMES the kernel exports to modules, and which one is file-local."""
    __tracebackhide__ = True
    if not set(exported) and not local.strip():
        _conclude(judge_kallsyms(set(), local, ""))

    def collect() -> tuple[dict[str, str], bool]:
        with _fresh_guest() as s:
            return _kept_if_ok(s.sh(KALLSYMS_PROBE))

    _conclude(judge_kallsyms(set(exported), local, _probe("kallsyms", None, collect)))


def unknown_symbol_fix(*, provider: str, commands: str) -> None:
    """The module gauge.ko needs, and commands that load gauge, run in a fresh guest."""
    __tracebackhide__ = True
    if not _written(commands) or not provider.strip():
        _conclude(judge_unknown_symbol(provider, commands, "", ""))
    with _fresh_guest() as s:
        s.push_modules(_planted().values())  # both in the module folder, indexed by depmod
        ran = s.sh(as_shell(commands), timeout_s=60)
        probe = s.sh("grep '^gauge ' /proc/modules || true")
    _conclude(judge_unknown_symbol(provider, commands, ran.log, probe.stdout))


# -- staging, in the lab's own guest -----------------------------------------------
def stage_pair() -> None:
    """Put tick.ko and tock.ko in the lab guest's /tmp, built but not installed."""
    from kmodlab.lab import current_workspace

    _put_pair(current_workspace().session)
    print("tick.ko and tock.ko are in the guest's /tmp: built, not installed")


def stage_secret() -> None:
    """Put secret.ko (a non-GPL module, source not shown) in the lab guest's /tmp."""
    from kmodlab.lab import current_workspace

    _put(current_workspace().session, "lesson", "secret")
    print("secret.ko is in the guest's /tmp: load it with insmod")


def stage_held() -> None:
    """Put held.ko (the misc device /dev/kmodlab_held) in the lab guest's /tmp."""
    from kmodlab.lab import current_workspace

    _put(current_workspace().session, "lesson", "held")
    print("held.ko is in the guest's /tmp: load it with insmod")


def plant_unknown_symbol() -> None:
    """Put tuner.ko and gauge.ko (sources not shown) in the lab guest's module folder."""
    from kmodlab.lab import current_workspace

    current_workspace().session.push_modules(_planted().values())
    print("gauge.ko and tuner.ko are in the guest's module folder (depmod has run)")


# -- the judges (pure) --------------------------------------------------------------
SECRET_LINE = "secret: a module with a license the kernel does not trust"  # secret.c's pr_notice
RELEASE_PROBE = "uname -r"
HELD_PROBE = r"""
insmod /tmp/held.ko
exec 3</dev/kmodlab_held 4</dev/kmodlab_held
echo @@refcnt; cat /sys/module/held/refcnt
echo @@rmmod; rmmod held 2>&1; echo "rc=$?"
exec 3<&- 4<&-
echo @@closed; cat /sys/module/held/refcnt
true
"""
INSTALL_PROBE = r"""
echo @@loaded; grep -E '^(tick|tock) ' /proc/modules
echo @@files; find /lib/modules/$(uname -r) -name tick.ko -o -name tock.ko
echo @@dep; grep -E '(^|/)(tick|tock)\.ko:' /lib/modules/$(uname -r)/modules.dep
echo @@modprobe; modprobe tock 2>&1; echo "rc=$?"
echo @@after; grep -E '^(tick|tock) ' /proc/modules
true
"""
LSMOD_PROBE = r"""
echo @@proc; grep '^tick ' /proc/modules
echo @@refcnt; cat /sys/module/tick/refcnt
echo @@holders; ls /sys/module/tick/holders
"""
KALLSYMS_PROBE = "grep -E ' (__ksymtab_)?(" + "|".join(KALLSYMS_NAMES) + r")$' /proc/kallsyms; true"
# Every probe whose output _measured keeps (a change to one measures again).
_PROBES = (SECRET_LINE, RELEASE_PROBE, HELD_PROBE, LSMOD_PROBE, KALLSYMS_PROBE)


def sections(text: str) -> dict[str, list[str]]:
    """`@@name` lines split a probe's output into named lists of lines."""
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("@@"):
            current = out.setdefault(line[2:].strip(), [])
        elif current is not None and line.strip():
            current.append(line.strip())
    return out


def judge_release(release: str, modules_dir: str, guest: str, host: str) -> Verdict:
    answer = release.strip()
    if not answer or not modules_dir.strip():
        return Verdict(False, "answer both: the guest kernel's release, and its modules' folder")
    if answer != guest:
        if answer == host:
            return Verdict(
                False,
                f"{answer} is the host's kernel, the one this notebook runs on: modules are "
                "built for the guest's, so ask the guest (%kmod sh runs a command there)",
            )
        if answer.split()[0] == guest:
            return Verdict(
                False,
                "that is a module's vermagic, more than the release: it adds the kernel's "
                "build options after it; uname -r prints the release alone",
            )
        if guest.startswith(answer):
            return Verdict(
                False,
                f"{answer!r} is only the start of the guest's release: a module must be built "
                "for the exact release uname -r prints, to the last character",
            )
        return Verdict(False, f"{answer} is not the guest kernel's release: run uname -r there")
    path = modules_dir.strip().rstrip("/")
    if path in (f"/lib/modules/{guest}", "/lib/modules/$(uname -r)"):
        return Verdict(True, f"the guest runs {guest}; its modules are in /lib/modules/{guest}/")
    if path == "/lib/modules":
        return Verdict(
            False,
            "/lib/modules holds one folder per kernel release: name the one of the kernel "
            "the guest runs",
        )
    if path == f"/lib/modules/{host}" and host != guest:
        return Verdict(False, f"{path} is named after the host's kernel, not the guest's")
    return Verdict(
        False,
        f"{path} is not where the guest keeps its modules: a folder of /lib/modules named "
        "after the release the guest runs",
    )


def judge_secret(level: int | None, taint: str, logged: int | None, module_taint: str) -> Verdict:
    if level is None or not taint.strip():
        return Verdict(False, "answer both: the level of secret's line, and its taint letters")
    if logged is None:
        return Verdict(False, "secret.ko logged nothing in the guest: report this to your teacher")
    if not 0 <= level <= 7:
        return Verdict(False, f"{level} is not a log level: they go from 0 (KERN_EMERG) to 7")
    if level != logged:
        hint = " (KERN_INFO, pr_info's level: secret does not use pr_info)" if level == 6 else ""
        return Verdict(
            False,
            f"secret's line is not logged at level {level}{hint}: dmesg -r shows each line's "
            "level as <N> before it",
        )
    answer = taint.strip().upper()
    if answer.isdigit():
        return Verdict(
            False,
            "a number is the kernel's whole taint as bits (/proc/sys/kernel/tainted): a module's "
            "own taint is letters, in /sys/module/secret/taint",
        )
    letters, truth = set(answer) - set(" ,"), set(module_taint.strip())
    if letters == truth:
        return Verdict(True, f"level {logged}; taint {module_taint.strip()}: the license's P first")
    extra = "".join(sorted(letters - truth))
    if extra:
        return Verdict(False, f"{extra} is not in secret's taint: read /sys/module/secret/taint")
    if "P" in truth - letters:
        return Verdict(
            False,
            "you left out the letter its license sets: a license the kernel does not consider "
            "GPL-compatible taints it (insmod's kernel log says so)",
        )
    return Verdict(
        False,
        "a letter is missing: out-of-tree and unsigned modules each set one too "
        "(every module of this course has both)",
    )


def judge_held(used_by: int | None, probe: dict[str, list[str]]) -> Verdict:
    if used_by is None:
        return Verdict(False, "answer with a number: held's use count with two files open")
    refcnt = int(probe["refcnt"][0]) if probe.get("refcnt") else None
    if refcnt is None:
        return Verdict(False, "held.ko did not load in the guest: report this to your teacher")
    if used_by == refcnt:
        return Verdict(True, f"{refcnt} files open, {refcnt} references: rmmod waits for none")
    if used_by == 0:
        return Verdict(
            False,
            "an open file of the device holds its module (.owner = THIS_MODULE): the count "
            "is not 0 while files are open, and rmmod refuses",
        )
    if 0 < used_by < refcnt:
        return Verdict(
            False,
            f"not {used_by}: each open file holds a reference of its own, not one for all "
            "of them: open the device twice in the guest and read /sys/module/held/refcnt",
        )
    return Verdict(
        False,
        f"held's use count is not {used_by} with two files open: open them in the guest "
        "(exec 3</dev/kmodlab_held) and read /sys/module/held/refcnt or lsmod",
    )


def judge_install(
    commands: str, output: str | None, probe: dict[str, list[str]], ran_ok: bool = True
) -> Verdict:
    if not _written(commands):
        return Verdict(False, "write the commands that install tick.ko and tock.ko (from /tmp)")
    if not ran_ok:
        last = (output or "").strip().splitlines()[-1:] or ["(no output)"]
        return Verdict(False, f"your commands failed in the guest: {last[0]}")
    if probe.get("loaded"):
        return Verdict(
            False,
            "your commands loaded a module themselves (insmod or modprobe): install only, "
            "and let `modprobe tock` do the loading",
        )
    after = {line.split()[0]: line for line in probe.get("after", [])}
    modprobe = "\n".join(probe.get("modprobe", []))
    if "rc=0" in modprobe and "tick" in after and "tock" in after:
        return Verdict(True, "modprobe tock loaded tick first, from the files you installed")
    files = [Path(f).name for f in probe.get("files", [])]
    dep = "\n".join(probe.get("dep", []))
    if "tock.ko" not in files:
        return Verdict(
            False,
            "modprobe finds no tock: modprobe looks only under /lib/modules/$(uname -r)/ "
            "(e.g. its extra/ folder), and tock.ko is not there",
        )
    if "tock.ko:" not in dep:
        return Verdict(
            False,
            "tock.ko is in place, but modules.dep does not list it, and modprobe looks names "
            "up there: run depmod after copying",
        )
    if "tick.ko" not in files or "Unknown symbol" in modprobe:
        return Verdict(
            False,
            "modprobe found tock but not what it needs: tock uses a symbol of tick, and "
            "tick.ko is not installed (or not indexed): install both, then depmod",
        )
    return Verdict(False, f"modprobe tock failed: {modprobe.strip()}")


def judge_lsmod(
    used_by: int | None, holders: list[str], count_file: str, probe: dict[str, list[str]]
) -> Verdict:
    refcnt = int(probe["refcnt"][0]) if probe.get("refcnt") else None
    truth = sorted(probe.get("holders", []))
    if used_by is None or not count_file.strip():
        return Verdict(False, "answer all three: used_by, holders and count_file")
    if used_by != refcnt:
        hint = " (0 is tick's count before tock loads)" if used_by == 0 else ""
        return Verdict(
            False,
            f"tick's use count is not {used_by}{hint}: read the number after its size "
            "in /proc/modules, or lsmod's 'Used by' column",
        )
    if sorted(h.strip() for h in holders) != truth:
        return Verdict(
            False,
            f"{sorted(holders)} are not tick's holders: they are the modules using its "
            "symbols, listed after the count in /proc/modules (and in /sys/module/tick/holders/)",
        )
    path = count_file.strip().rstrip("/")
    if path != "/sys/module/tick/refcnt":
        if path == "/proc/modules":
            return Verdict(
                False,
                "kmod's lsmod takes the list of modules from /proc/modules, but reads each "
                "one's use count from a file of its own, under /sys/module/tick/",
            )
        return Verdict(False, f"{path} is not where kmod's lsmod reads tick's use count")
    return Verdict(True, "tick: used by 1 (tock), counted in /sys/module/tick/refcnt")


def kallsyms_table(text: str) -> tuple[dict[str, str], set[str]]:
    """{name: kind letter} and the names with a __ksymtab_ entry, from kallsyms lines."""
    letters: dict[str, str] = {}
    exported: set[str] = set()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        letter, name = parts[1], parts[2]
        if name.startswith("__ksymtab_"):
            exported.add(name[len("__ksymtab_") :])
        else:
            letters[name] = letter
    return letters, exported


def judge_kallsyms(exported: set[str], local: str, kallsyms: str) -> Verdict:
    letters, truly = kallsyms_table(kallsyms)
    if not exported and not local.strip():
        return Verdict(
            False,
            f"answer both: which of {', '.join(KALLSYMS_NAMES)} are exported, "
            "and which one is local",
        )
    unknown = sorted(exported - set(KALLSYMS_NAMES))
    if unknown:
        return Verdict(False, f"choose among {', '.join(KALLSYMS_NAMES)}, not {unknown}")
    for name in sorted(exported - truly):
        if letters.get(name, "").isupper():
            return Verdict(
                False,
                f"{name} is global ({letters[name]}), but a capital letter only means global "
                "inside the kernel's own link: an exported symbol also has a __ksymtab_ entry",
            )
        return Verdict(False, f"{name} is not exported: no __ksymtab_{name} in /proc/kallsyms")
    for name in sorted(truly - exported):
        return Verdict(False, f"you left out an exported one: look for {name}'s __ksymtab_ entry")
    name = local.strip()
    if letters.get(name, "").islower():
        return Verdict(True, f"exported: {', '.join(sorted(truly))}; local: {name} (t)")
    if name in letters:
        return Verdict(
            False,
            f"{name} is shown with {letters[name]!r}: a capital is global; "
            "a local (static) function's letter is lowercase",
        )
    return Verdict(False, f"choose the local one among {', '.join(KALLSYMS_NAMES)}")


def judge_unknown_symbol(provider: str, commands: str, log: str, loaded: str) -> Verdict:
    if not provider.strip() or not _written(commands):
        return Verdict(False, "answer both: the module gauge needs, and commands that load gauge")
    if provider.strip().removesuffix(".ko") != "tuner":
        return Verdict(
            False,
            f"{provider.strip()} does not export what gauge misses: the kernel log names "
            "the symbol, and modules.symbols (or modinfo -F depends gauge) names its module",
        )
    if loaded.strip().startswith("gauge "):
        return Verdict(True, "gauge loaded: its provider tuner was there first")
    if "Unknown symbol" in log:
        return Verdict(
            False,
            "gauge still met an unknown symbol when it loaded: its provider must be "
            "loaded first (or let modprobe do it)",
        )
    return Verdict(False, "your commands do not leave gauge loaded")


# -- helpers -----------------------------------------------------------------------------
def as_shell(commands: str) -> str:
    """The commands as a shell script: a line copied from a cell's `%kmod sh ...` works too."""
    lines = []
    for line in commands.splitlines():
        stripped = line.strip()
        for magic in ("%kmod sh ", "!"):
            if stripped.startswith(magic):
                stripped = stripped[len(magic) :]
        lines.append(stripped)
    return "\n".join(lines) + "\n"


def _written(commands: str) -> bool:
    return any(line.strip() and not line.strip().startswith("#") for line in commands.splitlines())


def _conclude(verdict: Verdict) -> None:
    __tracebackhide__ = True
    if not verdict.ok:
        raise AssertionError(verdict.message)
    print(f"passed: {verdict.message}")


def _kept_if_ok(probe) -> tuple[dict[str, str], bool]:  # type: ignore[no-untyped-def]
    """A probe's output as facts, to keep when the probe itself succeeded."""
    return {"stdout": probe.stdout}, probe.ok and bool(probe.stdout.strip())


def _probe(name: str, which: str | None, collect) -> str:  # type: ignore[no-untyped-def]
    return _measured(name, which, collect).get("stdout", "")


def _measured(name: str, which: str | None, collect) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Facts about the kernel and kmodlab's own modules (MODULES/<which>), measured in a
    fresh guest by collect() the first time, then read from $KMODLAB_HOME/selfcheck/facts.

    The key: the kernel's headers, the modules' sources, the name and every probe
    script, so a change to any of them measures again. collect() returns the facts
    and whether to keep them: a failed measurement is judged, never kept.
    """
    import contextlib
    import hashlib
    import json

    from kmodlab.paths import atomic_write, current_kernel

    headers = current_kernel().headers
    h = hashlib.sha256("\0".join([name, *_PROBES, str(headers.resolve())]).encode())
    if which is not None:
        h.update(_cache_dir(which, headers).name.encode())
    kept = _facts_dir() / f"{name}-{h.hexdigest()[:16]}.json"
    try:
        facts = json.loads(kept.read_text())
        if isinstance(facts, dict) and facts and all(isinstance(v, str) for v in facts.values()):
            return facts
    except (OSError, ValueError):
        pass  # not measured yet, or damaged: measure
    facts, keep = collect()
    if keep:
        with contextlib.suppress(OSError):  # a home that cannot be written measures every time
            atomic_write(kept, json.dumps(facts).encode())
    return facts


def _facts_dir() -> Path:
    from kmodlab.paths import home

    return home() / "selfcheck" / "facts"


def _fresh_guest():  # type: ignore[no-untyped-def]
    from kmodlab.vm.session import Session, prepare

    return Session(prepare())


def _put_pair(session) -> None:  # type: ignore[no-untyped-def]
    for name, ko in _pair().items():
        session.guest.put(f"/tmp/{name}.ko", ko.read_bytes())


def _put(session, which: str, name: str) -> None:  # type: ignore[no-untyped-def]
    session.guest.put(f"/tmp/{name}.ko", _build(which)[name].read_bytes())


def _pair() -> dict[str, Path]:
    return _build("pair")


def _planted() -> dict[str, Path]:
    return _build("planted")


def _build(which: str) -> dict[str, Path]:
    """kmodlab's own modules of MODULES/<which>, built together once per kernel and source.

    Kept under $KMODLAB_HOME/selfcheck/<key> (the key: the kernel's headers
    and every source file's name and bytes), so a lesson's check does not
    build them again in every notebook kernel (about 1.5 s each time).
    """
    if which not in _built:
        from kmodlab.paths import current_kernel

        headers = current_kernel().headers
        kept = _cache_dir(which, headers)
        if not (kept / _COMPLETE).is_file():
            _build_into(which, headers, kept)
        _built[which] = {ko.stem: ko for ko in sorted(kept.glob("*.ko"))}
    return _built[which]


_COMPLETE = ".complete"  # written last: a folder without it is not used


def _cache_dir(which: str, headers: Path) -> Path:
    import hashlib

    from kmodlab.paths import home

    h = hashlib.sha256(str(headers.resolve()).encode())
    for f in sorted((MODULES / which).iterdir()):
        h.update(b"\0" + f.name.encode() + b"\0" + f.read_bytes())
    return home() / "selfcheck" / f"{which}-{h.hexdigest()[:16]}"


def _build_into(which: str, headers: Path, kept: Path) -> None:
    import shutil

    from kmodlab.build import build_submission
    from kmodlab.paths import atomic_write

    out = Path(tempfile.mkdtemp(prefix=f"kmodlab-selfcheck-{which}-"))
    try:
        result = build_submission(MODULES / which, headers=headers, out_dir=out)
        if not result.ok:
            raise RuntimeError(f"kmodlab's own {which} modules did not build:\n{result.log}")
        # Each file whole (a process building the same at once writes the same
        # bytes), the marker last: a folder cut short is built into again.
        for m in result.modules:
            atomic_write(kept / m.ko.name, m.ko.read_bytes())
        atomic_write(kept / _COMPLETE, b"")
    finally:
        shutil.rmtree(out, ignore_errors=True)
