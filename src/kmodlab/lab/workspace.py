"""The lab behind the magics: a folder of module sources and one warm guest.

A Workspace owns a folder (each %%kmodule cell is NAME.c in it), the builds of
that folder (kept outside it, so a build never becomes a source), and a
Session that boots lazily and stays warm. Every guest operation goes through
_guarded(), which turns a crashed or hung guest, or an oops in the kernel log,
into a Crash decoded to the student's line, and starts a fresh guest at once
so the next cell just works.

No IPython here: the magics, the widgets, the line shell and the benchmark all
drive this class, and unit tests drive it with a fake session.
"""

from __future__ import annotations

import contextlib
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kmodlab.build import BuildResult, build_submission
from kmodlab.errors import InputError, KmodlabError
from kmodlab.grader.collection.decode import ElfDebug
from kmodlab.grader.report.formats import read_sources
from kmodlab.grader.verdicts.symbols import locate_report
from kmodlab.lab import render
from kmodlab.lab.render import Rendered
from kmodlab.vm.console import KernelReport, find_reports, leaves_kernel_untrusted
from kmodlab.vm.guest import (
    COMMAND_TIMEOUT_S,
    CommandResult,
    GuestCrashed,
    GuestError,
    GuestHung,
)
from kmodlab.vm.protocol import KmsgRecord

DEFAULT_FOLDER = "kmodlab-workspace"
# Kernel module names: what insmod, rmmod and /proc/modules agree on (no '-').
_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,54}$")
# Commands that, when they time out, leave a module stuck in its init or exit.
_MODULE_COMMANDS = frozenset({"insmod", "rmmod", "modprobe"})
# Commands that need depmod's index of the module folder to be current.
_NO_DEPMOD_NEEDED = frozenset({"insmod", "rmmod", "lsmod", "cat", "dmesg"})


def cell_header(args_line: str) -> str:
    """Line 1 of a cell's file. It stands for the %%kmodule line, so that line N of the
    file is line N of the cell and compiler positions need no translation."""
    return f"// %%kmodule {args_line.strip()}\n"


def default_folder() -> Path:
    return Path.cwd() / DEFAULT_FOLDER


def check_module_name(name: str) -> str:
    if not _MODULE_NAME.match(name):
        raise InputError(
            f"{name!r} is not a module name",
            "use letters, digits and _ only, starting with a letter (e.g. hello or my_dev)",
        )
    return name


@dataclass
class Crash:
    """A command the kernel did not survive (or survived only with an oops)."""

    argv: list[str]
    kind: str  # "crashed" | "hung" | "oops" | "timeout"
    headline: str
    reports: list[KernelReport]
    location: tuple[str, int, str] | None  # (student's file, line, function)
    restarted: bool = False
    restart_error: str | None = None

    @property
    def report_text(self) -> str:
        fatal = [r for r in self.reports if r.kind != "warning"] or self.reports
        return fatal[0].text if fatal else ""


@dataclass
class LabStep:
    """One guest command: its result (None when the guest died), and any crash."""

    result: CommandResult | None
    crash: Crash | None = None


@dataclass
class CellOutcome:
    """What a %%kmodule cell did: build, push, and (with --load) unload+load."""

    name: str
    build: BuildResult | None
    ok: bool
    problem: str | None = None  # a KmodlabError line: no sandbox, no headers, bad name
    note: str | None = None  # something to know, not a failure
    pushed: list[str] = field(default_factory=list)
    steps: list[LabStep] = field(default_factory=list)
    crash: Crash | None = None  # a crash while pushing
    build_s: float = 0.0
    total_s: float = 0.0


class _Reaper:
    """A watcher process that kills our QEMU guests if this process dies without cleanup.

    atexit covers a normal kernel shutdown; a Jupyter kernel killed with SIGKILL
    runs no Python at all, and its QEMU would live on. The watcher holds the
    read end of a pipe: when we die, it reads EOF and kills the guests it was
    told about, checking each pid still runs our QEMU (by its unique socket path).
    """

    _SCRIPT = (
        "import os,signal,sys\n"
        "w={}\n"
        "for l in sys.stdin:\n"
        " p,_,tag=l.strip().partition(' ')\n"
        " w[int(p)]=tag\n"
        "for p,tag in w.items():\n"
        " try:\n"
        "  c=open(f'/proc/{p}/cmdline','rb').read()\n"
        "  if tag.encode() in c: os.kill(p,signal.SIGKILL)\n"
        " except (OSError,ValueError): pass\n"
    )

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None

    def watch(self, pid: int, tag: str) -> None:
        try:
            if self._proc is None:
                self._proc = subprocess.Popen(
                    [sys.executable, "-c", self._SCRIPT],
                    stdin=subprocess.PIPE,
                    start_new_session=True,  # a notebook interrupt (SIGINT) must not reach it
                )
            assert self._proc.stdin is not None
            self._proc.stdin.write(f"{pid} {tag}\n".encode())
            self._proc.stdin.flush()
        except OSError:
            pass  # best effort: atexit still stops the guest on a normal exit

    def close(self) -> None:
        if self._proc is not None:
            with contextlib.suppress(OSError):
                assert self._proc.stdin is not None
                self._proc.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=5)
            self._proc = None


class Workspace:
    """A folder of modules and its warm guest. Guest methods never raise for a crash."""

    def __init__(
        self,
        folder: Path | str | None = None,
        *,
        machine: Any = None,
        session: Any = None,
        headers: Path | None = None,
    ):
        self.folder = Path(folder) if folder is not None else default_folder()
        self._machine = machine
        self._session = session
        self._headers = headers
        self._builds_root = Path(tempfile.mkdtemp(prefix="kmodlab-lab-"))
        self._starter: threading.Thread | None = None
        self._reaper = _Reaper()
        self._boots_seen = 0
        self._depmod_needed = False
        self.module_builds: dict[str, BuildResult] = {}  # module -> the build its .ko came from
        self.last_build: BuildResult | None = None
        self.last_result: CommandResult | None = None
        self.last_crash: Crash | None = None
        self.log: list[KmsgRecord | str] = []  # kernel log of this lab, with markers
        self.closed = False

    # -- the guest ------------------------------------------------------------
    @property
    def machine(self) -> Any:
        if self._machine is None:
            from kmodlab.vm.session import prepare

            self._machine = prepare()
        return self._machine

    @property
    def session(self) -> Any:
        """The Session (created on first use; the guest itself boots on its first command)."""
        if self._starter is not None:
            self._starter.join()
            self._starter = None
        if self._session is None:
            from kmodlab.vm.session import Session

            self._session = Session(self.machine, progress=self._note_restart)
        return self._session

    def has_session(self) -> bool:
        return self._session is not None

    def warm_up(self) -> None:
        """Start restoring the guest in the background (it overlaps a build)."""
        if self._session is not None and self._guest_alive():
            return
        if self._starter is None:
            self._starter = threading.Thread(target=self._start_quietly, daemon=True)
            self._starter.start()

    def _start_quietly(self) -> None:
        # A failure here is raised again, and shown, by the first real request.
        with contextlib.suppress(Exception):
            if self._session is None:
                from kmodlab.vm.session import Session

                self._session = Session(self.machine, progress=self._note_restart)
            self._session.start()

    def _guest_alive(self) -> bool:
        guest = getattr(self._session, "_guest", None)
        return guest is not None and guest.alive()

    def _note_restart(self, message: str) -> None:
        # Session announces a restart on stderr by default; the lab marks it in
        # its own log instead, once, when it sees the new guest (_after_guest_use).
        pass

    def _after_guest_use(self) -> None:
        """Notice a fresh guest: mark it in the log, have the reaper watch its QEMU."""
        boots = getattr(self._session, "boots", 0)
        if boots == self._boots_seen:
            return
        self._boots_seen = boots
        if boots > 1:
            self.log.append(f"--- fresh guest #{boots} started; your modules were pushed again ---")
        guest = getattr(self._session, "_guest", None)
        if guest is not None and hasattr(guest, "proc"):
            self._reaper.watch(guest.proc.pid, str(guest.agent_path))

    def restart(self) -> LabStep:
        """A clean guest on request (the modules are pushed again)."""
        return self._guarded(["restart"], lambda: self._restart_result())

    def _restart_result(self) -> CommandResult:
        self.session.restart()
        return CommandResult(["restart"], "exited", 0, "a fresh guest is running\n", "")

    def close(self) -> None:
        if self._starter is not None:
            self._starter.join()
            self._starter = None
        if self._session is not None:
            with contextlib.suppress(Exception):
                self._session.close()
        self._reaper.close()
        shutil.rmtree(self._builds_root, ignore_errors=True)
        self.closed = True

    # -- cells and builds -------------------------------------------------------
    def cell_path(self, name: str) -> Path:
        return self.folder / f"{check_module_name(name)}.c"

    def write_cell(self, name: str, source: str, args_line: str | None = None) -> Path:
        path = self.cell_path(name)
        self.folder.mkdir(parents=True, exist_ok=True)
        body = source if source.endswith("\n") or not source else source + "\n"
        path.write_text(cell_header(args_line or name) + body, encoding="utf-8")
        return path

    def cell_names(self) -> list[str]:
        """Modules whose file came from a %%kmodule cell (their lines are cell lines)."""
        if not self.folder.is_dir():
            return []
        names = []
        for path in sorted(self.folder.glob("*.c")):
            with contextlib.suppress(OSError), path.open(encoding="utf-8", errors="replace") as f:
                if f.readline().startswith("// %%kmodule "):
                    names.append(path.stem)
        return names

    def delete(self, name: str) -> Rendered:
        path = self.cell_path(name)
        if not path.is_file():
            return render.note_view(f"there is no {path.name} in {self.folder}", render.ORANGE)
        path.unlink()
        return render.note_view(f"removed {path.name} from the workspace")

    def headers(self) -> Path:
        if self._headers is None:
            if self._machine is not None:
                self._headers = self._machine.kernel.headers
            else:
                from kmodlab.paths import current_kernel

                self._headers = current_kernel().headers
        return self._headers

    def build(self) -> BuildResult:
        """Build every module of the folder together, so modpost resolves the symbols one
        module exports to another. Raises KmodlabError for input/setup problems."""
        result = build_submission(self.folder, headers=self.headers(), out_dir=self._builds_root)
        self.last_build = result
        if not result.ok:
            shutil.rmtree(result.build_dir, ignore_errors=True)
        return result

    def sources(self) -> dict[str, str]:
        return read_sources(self.folder) if self.folder.is_dir() else {}

    def kmodule(
        self,
        name: str,
        source: str | None,
        *,
        args_line: str | None = None,
        warn_as_error: bool = False,
        load: Sequence[str] | None = None,
    ) -> CellOutcome:
        """A %%kmodule cell: write NAME.c, build the workspace, push; with load, reload NAME.

        source None (%kmod build NAME): NAME.c is already there, edited outside a cell.
        """
        t0 = time.monotonic()
        try:
            if source is not None:
                self.write_cell(name, source, args_line)
            elif not self.cell_path(name).is_file():
                raise InputError(
                    f"there is no {name}.c in the workspace {self.folder}",
                    f"write it with a %%kmodule {name} cell",
                )
            self.warm_up()  # the guest restores while the modules build
            result = self.build()
        except KmodlabError as e:
            return CellOutcome(name, None, False, problem=e.line(), total_s=time.monotonic() - t0)
        own = [d for d in result.diagnostics if d.file == f"{name}.c"]
        warned = warn_as_error and any(d.severity == "warning" for d in own)
        outcome = CellOutcome(name, result, result.ok and not warned, build_s=result.duration_s)
        if result.ok and not any(f"{name}.c" in m.sources for m in result.modules):
            # A Makefile or Kbuild in the folder lists its modules (obj-m) and this is not one.
            outcome.note = (
                f"{name}.c is not part of any module the folder's Makefile/Kbuild builds: "
                f"add {name}.o to its obj-m line, or remove that file to build every .c file"
            )
        try:
            if outcome.ok:
                self._push(result, outcome)
                if load is not None and outcome.crash is None:
                    outcome.steps = self.reload(name, load)
        except KmodlabError as e:  # the guest could not start: say so under the build
            outcome.ok, outcome.problem = False, e.line()
        self._prune_builds()
        outcome.total_s = time.monotonic() - t0
        return outcome

    def _push(self, result: BuildResult, outcome: CellOutcome) -> None:
        step = self.push(result)
        outcome.crash = step.crash
        if step.crash is None:
            outcome.pushed = [m.name for m in result.modules]

    def push(self, result: BuildResult) -> LabStep:
        """Copy a build's modules into the guest's module folder (booting it if needed)."""
        kos = [m.ko for m in result.modules]
        # depmod is deferred to the first command that needs it (modprobe, modinfo...):
        # it costs a quarter of a second under emulation on every cell otherwise.
        step = self._guarded(["push"], lambda: self._push_result(kos))
        if step.crash is None:
            # Exactly what the guest now holds (what a fresh guest would be given too).
            self.module_builds = {m.name: result for m in result.modules}
        return step

    def _push_result(self, kos: list[Path]) -> CommandResult:
        session = self.session
        modules = getattr(session, "modules", None)
        if isinstance(modules, dict):
            # Modules whose cell was deleted must not come back with a fresh guest.
            names = {ko.stem for ko in kos}
            for stale in [n for n in modules if n not in names]:
                del modules[stale]
        session.push_modules(kos, depmod=False)
        self._depmod_needed = True
        return CommandResult(["push"], "exited", 0, "", "")

    def _prune_builds(self) -> None:
        """Delete builds no pushed module comes from (a fresh guest re-pushes the rest)."""
        keep = {b.build_dir for b in self.module_builds.values()}
        for d in self._builds_root.iterdir():
            if d not in keep:
                shutil.rmtree(d, ignore_errors=True)

    def reload(self, name: str, params: Sequence[str] = ()) -> list[LabStep]:
        """rmmod the old version if it is loaded, then insmod the new one."""
        old = self.rmmod(name)
        r = old.result
        if old.crash is not None or r is None:
            return [old]
        not_loaded = not r.ok and "not currently loaded" in r.stderr
        if not r.ok and not not_loaded:
            return [old]  # still loaded (in use by another module): loading again would fail
        return ([] if not_loaded else [old]) + [self.insmod(name, params)]

    # -- the student's own Makefile ---------------------------------------------
    def make(
        self, args: Sequence[str], *, in_folder: str | None = None, providers: Sequence[str] = ()
    ) -> LabStep:
        """`make ARGS` in the folder, with its own Makefile, inside the build sandbox.

        Never on the host: a Makefile runs any command its recipes name. KDIR
        is set to the guest kernel's headers (a Makefile's `KDIR ?= /lib/modules/
        $(shell uname -r)/build` would name the host's) and PWD to the folder,
        as a shell would. The .ko files it leaves at the top of the folder are
        pushed into the guest, as a %%kmodule cell's are.

        in_folder (`-C DIR`) is a folder of the workspace to run make in instead
        of the workspace itself. providers (`--with DIR`) are folders of the
        workspace shown read-only inside the sandbox, at their own paths, so
        that a consumer's `KBUILD_EXTRA_SYMBOLS := $(PWD)/../provider/Module.symvers`
        can be read; the sandbox shows nothing else of the workspace.
        """
        from kmodlab.build.builder import BUILD_TIMEOUT_S, DEFAULT_MAX_OUTPUT, run_capped
        from kmodlab.build.sandbox import MINIMAL_ENV, hand_over, sandbox_argv, sandbox_available

        folder = self._in_workspace(in_folder, "-C") if in_folder else self.folder.resolve()
        shown = self._providers(providers, folder)
        if not (folder / "Makefile").is_file():
            raise InputError(
                f"there is no Makefile in {folder}",
                "write one first (e.g. %%writefile with the workspace's path), then %kmod make",
            )
        if not sandbox_available():
            raise InputError(
                "the lab runs your own Makefile only inside the build sandbox, "
                "and bubblewrap is not usable here",
                "install bubblewrap (apt-get install bubblewrap); `kmodlab doctor` says more",
            )
        headers = self.headers().resolve()
        command = ["make", f"KDIR={headers}", *args]
        env = {**MINIMAL_ENV, "PWD": str(folder)}
        hand_over(folder)  # as root the build runs as nobody: it must be able to write here
        argv = sandbox_argv(command, build_dir=folder, headers=headers, read_only=shown, env=env)
        before = {p.name: p.stat().st_mtime_ns for p in folder.glob("*.ko")}
        out = run_capped(argv, cwd=folder, timeout_s=BUILD_TIMEOUT_S, max_output=DEFAULT_MAX_OUTPUT)
        for key in folder.glob(".kmodlab-probe-*"):  # kmodlab's probe cache key, not theirs
            key.unlink(missing_ok=True)
        text = out.output.decode("utf-8", errors="replace")
        text += self._hidden_symvers_hint(text)
        if out.timed_out:
            text += f"\n(make did not finish in {BUILD_TIMEOUT_S:g} s and was stopped)\n"
        status = "timeout" if out.timed_out else "exited"
        code = None if out.timed_out else out.returncode
        result = CommandResult(["make", *args], status, code, text, "")
        self.last_result = result
        made = [
            p for p in sorted(folder.glob("*.ko")) if before.get(p.name) != p.stat().st_mtime_ns
        ]
        if result.ok and made:
            pushed = self._guarded(["push"], lambda: self._push_files(made))
            if pushed.crash is not None:
                return LabStep(result, pushed.crash)
            result.stdout += f"pushed to the guest: {', '.join(p.name for p in made)}\n"
        return LabStep(result)

    def _in_workspace(self, given: str, option: str) -> Path:
        """A folder named relative to the workspace, resolved; refused unless inside it.

        Symlinks are resolved first, so one that leads out of the workspace is refused.
        """
        root = self.folder.resolve()
        path = (root / Path(given).expanduser()).resolve()
        if not path.is_relative_to(root):
            raise InputError(
                f"{option} {given} is outside the workspace {root}",
                "the sandbox shows only folders of the workspace: copy that folder into it",
            )
        if not path.is_dir():
            raise InputError(f"{option} {given}: there is no folder {path}", "make it first")
        return path

    def _providers(self, given: Sequence[str], build_dir: Path) -> list[Path]:
        """The --with folders, inside the workspace, and neither in nor around the build folder."""
        shown: list[Path] = []
        for name in given:
            path = self._in_workspace(name, "--with")
            if path.is_relative_to(build_dir) or build_dir.is_relative_to(path):
                raise InputError(
                    f"--with {name} is the folder make runs in, or holds it, or is inside it",
                    "give a provider folder beside the one make runs in (-C DIR)",
                )
            if path not in shown:
                shown.append(path)
        # Of two nested folders the outer one shows both.
        return [p for p in shown if not any(p != q and p.is_relative_to(q) for q in shown)]

    def _hidden_symvers_hint(self, text: str) -> str:
        """A line for a KBUILD_EXTRA_SYMBOLS file that exists but was not shown to the build."""
        root = self.folder.resolve()
        hints = []
        # modpost (6.1) stops at a KBUILD_EXTRA_SYMBOLS file it cannot open.
        for m in re.finditer(r"^(/\S+/Module\.symvers): No such file or directory$", text, re.M):
            path = Path(m.group(1))
            if path.is_file() and path.resolve().is_relative_to(root):
                folder = path.parent.resolve().relative_to(root)
                hints.append(
                    f"kmodlab: {path} exists, but the sandbox shows only the folder make "
                    f"runs in: add --with {folder} (%kmod make -C DIR --with {folder})\n"
                )
        return "".join(dict.fromkeys(hints))

    def _push_files(self, kos: Sequence[Path]) -> CommandResult:
        self.session.push_modules(kos, depmod=False)
        self._depmod_needed = True
        return CommandResult(["push"], "exited", 0, "", "")

    def install(self, tree: str) -> LabStep:
        """Copy what `make modules_install INSTALL_MOD_PATH=TREE` put under TREE/lib/modules
        into the guest's /lib/modules, at the same places (then: depmod, modprobe)."""
        root = (self.folder / tree).resolve()
        base = root / "lib" / "modules"
        kos = sorted(base.glob("*/**/*.ko")) if base.is_dir() else []
        if not kos:
            raise InputError(
                f"there is no .ko under {base}",
                "run %kmod make with modules_install and INSTALL_MOD_PATH=$(CURDIR)/" + tree,
            )

        def put() -> CommandResult:
            guest = self.session.guest
            lines = []
            for ko in kos:
                dest = "/" + ko.relative_to(root).as_posix()
                guest.put(dest, ko.read_bytes())
                lines.append(f"installed {dest}")
            return CommandResult(["install", tree], "exited", 0, "\n".join(lines) + "\n", "")

        return self._guarded(["install", tree], put)

    # -- guest commands -------------------------------------------------------
    def run(self, argv: Sequence[str] | str, *, timeout_s: float = COMMAND_TIMEOUT_S) -> LabStep:
        argv = shlex.split(argv) if isinstance(argv, str) else list(argv)
        if argv and argv[0] not in _NO_DEPMOD_NEEDED and (died := self._ensure_depmod()):
            return died
        return self._guarded(argv, lambda: self.session.run(argv, timeout_s=timeout_s))

    def sh(self, script: str, *, timeout_s: float = COMMAND_TIMEOUT_S) -> LabStep:
        if died := self._ensure_depmod():
            return died
        argv = ["/bin/sh", "-c", script]
        return self._guarded(argv, lambda: self.session.run(argv, timeout_s=timeout_s))

    def insmod(self, name: str, params: Sequence[str] = ()) -> LabStep:
        ko = name if name.endswith(".ko") or "/" in name else f"{name}.ko"
        return self.run(["insmod", ko, *params])

    def rmmod(self, name: str) -> LabStep:
        return self.run(["rmmod", name.removesuffix(".ko")])

    def _ensure_depmod(self) -> LabStep | None:
        """Run the deferred depmod; the step when the guest died there (news for the user)."""
        if not self._depmod_needed:
            return None
        step = self._guarded(["depmod", "-a"], lambda: self.session.run(["depmod", "-a"]))
        self._depmod_needed = step.result is None or not step.result.ok
        return step if step.crash is not None else None

    def drain(self) -> LabStep:
        """Collect what the kernel logged between commands (timers, workqueues) into self.log."""
        return self._guarded(["dmesg"], self._drain)

    def _drain(self) -> CommandResult:
        records = self.session.dmesg()
        return CommandResult(["dmesg"], "exited", 0, "", "", list(records))

    def check(self, exercise: str | None = None) -> Any:
        """Grade the workspace as the autograder would (in fresh guests of its own)."""
        from kmodlab.grader.pipeline import grade

        return grade(self.folder, exercise=exercise, machine=self.machine)

    # -- crash handling -------------------------------------------------------
    def _guarded(self, argv: list[str], op: Callable[[], CommandResult]) -> LabStep:
        """Run op on the guest; a crash, a hang or an oops becomes a Crash and a fresh guest.

        A guest that cannot start at all raises (a KmodlabError the caller shows).
        """
        try:
            if argv[:1] != ["restart"]:
                # Boot here rather than inside op, so that the reaper watches the new
                # QEMU before a first command that might lock the guest up.
                self.session.start()
                self._after_guest_use()
            result = op()
        except (GuestCrashed, GuestHung) as e:
            kind = "hung" if isinstance(e, GuestHung) else "crashed"
            headline = f"the guest {kind}: {e.problem}"
            self.log.append(f"--- {render.command_line(argv)}: {headline} ---")
            crash = self._crash(argv, kind, headline, e.reports)
            self.last_result, self.last_crash = None, crash
            return LabStep(None, crash)
        self._after_guest_use()
        self.log.extend(result.kmsg)
        if argv and argv[0] in ("push", "restart", "dmesg"):
            return LabStep(result)
        self.last_result, self.last_crash = result, None
        crash = self._oops_in(argv, result)
        if crash is not None:
            self.last_crash = crash
        return LabStep(result, crash)

    def _oops_in(self, argv: list[str], result: CommandResult) -> Crash | None:
        reports = find_reports(result.log)
        fatal = [r for r in reports if leaves_kernel_untrusted(r)]
        if fatal:
            title = fatal[0].title
            return self._crash(argv, "oops", f"the kernel reported: {title}", reports, alive=True)
        if result.status == "timeout" and argv and argv[0] in _MODULE_COMMANDS:
            headline = f"{argv[0]} did not finish in time: the module is stuck in its init or exit"
            return self._crash(argv, "timeout", headline, reports, alive=True)
        return None

    def _crash(
        self,
        argv: list[str],
        kind: str,
        headline: str,
        reports: list[KernelReport],
        *,
        alive: bool = False,
    ) -> Crash:
        crash = Crash(list(argv), kind, headline, list(reports), self.locate(reports))
        try:
            # A kernel that oopsed may hold a module half-loaded: start clean now,
            # so the next cell (and its insmod of the fixed module) just works.
            if alive:
                self.session.restart()
            else:
                self.session.start()
            crash.restarted = True
            self._after_guest_use()
        except (GuestError, KmodlabError) as e:
            crash.restart_error = e.line()
        return crash

    def locate(self, reports: Sequence[KernelReport]) -> tuple[str, int, str] | None:
        """The student's line a report points at: the RIP, else the first frame in their module."""

        def debug_for(module: str) -> ElfDebug | None:
            build = self.module_builds.get(module)
            ko = next((m.ko for m in build.modules if m.name == module), None) if build else None
            return ElfDebug.of_build(ko, build) if ko and build else None

        for report in reports:
            if loc := locate_report(report, debug_for):
                return (loc.file, loc.line, loc.function)
        return None

    # -- views ----------------------------------------------------------------
    def view_step(self, step: LabStep) -> Rendered:
        parts = []
        if step.result is not None and step.result.argv[:1] not in (["push"], ["dmesg"]):
            parts.append(render.command_view(step.result))
        if step.crash is not None:
            parts.append(self.view_crash(step.crash))
        return _join(parts)

    def view_crash(self, crash: Crash) -> Rendered:
        if crash.restarted:
            aftermath = (
                "The lab threw that guest away and started a fresh one; your modules were "
                "pushed to it again. Fix the module and run the cell again."
            )
        else:
            aftermath = f"The lab could not start a fresh guest: {crash.restart_error}"
        return render.crash_view(
            headline=crash.headline,
            location=crash.location,
            cell_file_names=[f"{n}.c" for n in self.cell_names()],
            sources=self.sources(),
            # After an oops the guest lived and the report is in the command's kernel log
            # shown beside it; after a crash or hang it came from the console.
            report_text=crash.report_text if crash.kind in ("crashed", "hung") else "",
            aftermath=aftermath,
        )

    def view_cell(self, outcome: CellOutcome) -> Rendered:
        problem = render.note_view(f"{outcome.name}: {outcome.problem}", render.RED)
        if outcome.build is None:
            return problem
        b = outcome.build
        parts = [
            render.build_view(
                ok=outcome.ok,
                cell_file=f"{outcome.name}.c",
                diagnostics=b.diagnostics,
                sources=self.sources(),
                summary=_cell_summary(outcome, b),
            )
        ]
        if outcome.crash is not None:
            parts.append(self.view_crash(outcome.crash))
        parts += [self.view_step(s) for s in outcome.steps]
        if outcome.note is not None:
            parts.append(render.note_view(outcome.note, render.ORANGE))
        if outcome.problem is not None:
            parts.append(problem)
        return _join(parts)


def _cell_summary(outcome: CellOutcome, b: BuildResult) -> str:
    """`hello: built hello.ko in 1.6 s (1 warning); pushed to the guest`, or what failed."""
    counts = render.count_words(b.diagnostics)
    counted = f" ({counts})" if counts else ""
    if not b.ok:
        return f"{outcome.name}: build failed{counted}"
    built = ", ".join(f"{m.name}.ko" for m in b.modules)
    summary = f"{outcome.name}: built {built} in {b.duration_s:.1f} s{counted}"
    if outcome.problem is None and not outcome.ok:
        return f"{outcome.name}: warnings count as errors (--warn-as-error){counted}"
    if outcome.pushed and outcome.crash is None:
        summary += "; pushed to the guest"
    return summary


def _join(parts: Sequence[Rendered]) -> Rendered:
    if not parts:
        return Rendered("", "")
    out = parts[0]
    for p in parts[1:]:
        out = out + p
    return out
