"""Build a student's submission folder into kernel modules, in the sandbox.

The student's files are copied into a fresh build folder next to a Kbuild we
write ourselves from their obj-m (their Makefile is read as data, never run),
then `make -C <headers> M=<build folder> modules` runs inside bubblewrap with a
minimal environment, a wall-clock timeout and a cap on its output.

A build that fails to compile is an ordinary result (ok=False, with
diagnostics). Only input kmodlab cannot use (InputError), missing headers
(SetupError) or a missing sandbox (SandboxUnavailable) raise.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kmodlab.build.diagnostics import Diagnostic, errors, locate_symbols, parse_build_log
from kmodlab.build.memcap import MemoryCap, capped
from kmodlab.build.objm import KbuildSpec, ModuleSpec, module_specs
from kmodlab.build.sandbox import (
    MINIMAL_ENV,
    ResourceLimits,
    hand_over,
    limits_argv,
    sandbox_argv,
    sandbox_available,
)
from kmodlab.build.validate import KBUILD_FILES, Submission, _shown, load_submission
from kmodlab.errors import InputError, SandboxUnavailable, SetupError
from kmodlab.paths import atomic_write

BUILD_TIMEOUT_S = 120.0
DEFAULT_MAX_OUTPUT = 1 << 20
OOM_POLL_S = 0.25  # how often a build's cgroup is asked whether it killed a compiler
# make cannot handle a path with spaces, colons or quotes in M= or -C.
_MAKE_SAFE_PATH = re.compile(r"^[A-Za-z0-9_./+-]+$")
_SAFE_EXTRA = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")
_OBJECT_TARGET = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*(/[A-Za-z0-9_][A-Za-z0-9_.+-]*)*\.o$")


@dataclass(frozen=True)
class BuiltModule:
    name: str  # as in obj-m (the .ko file's stem)
    ko: Path
    sources: list[str]  # the student's .c files it was built from (relative paths)


@dataclass(frozen=True)
class BuildResult:
    ok: bool
    modules: list[BuiltModule]  # the modules whose .ko was produced
    diagnostics: list[Diagnostic]
    log: str
    duration_s: float
    build_dir: Path  # the caller owns it: the .ko files live here
    sandboxed: bool
    # Generated build-folder files -> the student's file each stands for (debug
    # info may name the generated wrapper that #includes the student's file).
    file_map: dict[str, str] = field(default_factory=dict)
    linked: bool = True  # False: a check-only build (modpost, no final link, no .ko)
    # module -> the objects it links (build-folder paths), the caller's extra objects included
    objects: dict[str, list[str]] = field(default_factory=dict)

    @property
    def errors(self) -> list[Diagnostic]:
        return errors(self.diagnostics)

    def student_path(self, path: str) -> str:
        """A path from debug info or __FILE__, as the student names the file."""
        prefix = str(self.build_dir).rstrip("/") + "/"
        rel = path[len(prefix) :] if path.startswith(prefix) else path
        return self.file_map.get(rel, rel)


@dataclass(frozen=True)
class _Plan:
    files: dict[str, bytes]  # build-folder path -> content, Kbuild included
    modules: tuple[ModuleSpec, ...]  # as the student wrote them
    file_map: dict[str, str]  # generated build-folder file -> student file it stands for
    student: dict[str, bytes]  # the student's own files, as taken
    # Objects (stems) each module links, extra objects included.
    objects: dict[str, list[str]] = field(default_factory=dict)
    extras: frozenset[str] = frozenset()  # the stems of the caller's extra objects


@dataclass(frozen=True)
class _Outcome:
    returncode: int | None
    output: bytes
    timed_out: bool
    truncated: bool
    out_of_memory: int | None = None  # the cap (bytes) when its cgroup killed a process


def _check_line(kind: str, value: str) -> None:
    # Written verbatim into Kbuild: a newline would let it add make rules.
    if re.search(r"[\n\r\x00]", value):
        raise ValueError(f"{kind} must be a single line: {value!r}")


def _object_name(obj: str) -> str:
    stem = obj[:-2] if obj.endswith(".o") else obj
    if not all(_SAFE_EXTRA.match(p) for p in stem.split("/")):
        raise ValueError(f"not a usable object name: {obj!r}")
    return stem


def _free_stem(base: str, taken: set[str]) -> str:
    stem, n = base, 1
    while f"{stem}.c" in taken or f"{stem}.o" in taken:
        n += 1
        stem = f"{base}{n}"
    return stem


def _module_objects(
    spec: KbuildSpec, extra_objs: Mapping[str, Sequence[str]], files: dict[str, bytes]
) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Objects per module once the caller's extra objects are added.

    A one-file module hello (hello.c) cannot also link shim.o: kbuild cannot
    build hello.o from both hello.c and other objects. Then hello.c is compiled
    through a wrapper file that #includes it, so positions, __FILE__ and debug
    info still name hello.c.
    """
    names = {m.name for m in spec.modules}
    unknown = set(extra_objs) - names
    if unknown:
        raise ValueError(f"extra_objs names modules the submission does not build: {unknown}")
    objects: dict[str, list[str]] = {}
    file_map: dict[str, str] = {}
    for module in spec.modules:
        extras = [_object_name(o) for o in extra_objs.get(module.name, ())]
        for extra in extras:
            if not any(f"{extra}{ext}" in files for ext in (".c", ".S", ".o")):
                raise ValueError(f"extra object {extra}.o has no source in extra_files")
        objs = list(module.objects)
        if extras and objs == [module.name]:
            wrapper = _free_stem(f"{module.name}_kmodlab_main", set(files))
            files[f"{wrapper}.c"] = f'#include "{module.name}.c"\n'.encode()
            file_map[f"{wrapper}.c"] = f"{module.name}.c"
            objs = [wrapper]
        objects[module.name] = objs + [e for e in extras if e not in objs]
    return objects, file_map


# The .cmd file of an extra object given as a .o (no source in the folder: kbuild
# has no rule for it and links it as it is). modpost reads every object's .cmd
# for the module's srcversion (the sources it lists) and fails without one.
PREBUILT_CMD = b"# kmodlab: a prebuilt object, linked as it is (no source here)\n"


def _cmd_file(stem: str) -> str:
    folder, _, name = stem.rpartition("/")
    return f"{folder}/.{name}.o.cmd" if folder else f".{name}.o.cmd"


def kbuild_text(
    objects: Mapping[str, Sequence[str]],
    *,
    ccflags: Sequence[str] = (),
    extra_ccflags: Sequence[str] = (),
    ldflags: Sequence[str] = (),
    origin: str | None = None,
) -> str:
    """The Kbuild file for the build folder. Pure."""
    source = f"from the student's {origin} (read as data, never run)" if origin else "by kmodlab"
    lines = [f"# Generated {source}.", f"obj-m := {' '.join(f'{m}.o' for m in objects)}"]
    for module, objs in objects.items():
        if list(objs) != [module]:
            lines.append(f"{module}-y := {' '.join(f'{o}.o' for o in objs)}")
    if ccflags:
        lines.append(f"ccflags-y += {' '.join(ccflags)}")
    for flag in extra_ccflags:
        _check_line("extra_ccflags", flag)
        lines.append(f"ccflags-y += {flag}")
    for flag in ldflags:
        _check_line("ldflags", flag)
        lines.append(f"ldflags-y += {flag}")
    return "\n".join(lines) + "\n"


def plan_build(
    sub: Submission,
    spec: KbuildSpec,
    *,
    extra_files: Mapping[str, bytes] | None = None,
    extra_ccflags: Sequence[str] = (),
    extra_objs: Mapping[str, Sequence[str]] | None = None,
    ldflags: Sequence[str] = (),
) -> _Plan:
    """The files of the build folder: the student's sources, the caller's extras, our Kbuild."""
    files = {rel: data for rel, data in sub.files.items() if rel not in KBUILD_FILES}
    for rel, data in (extra_files or {}).items():
        if not all(_SAFE_EXTRA.match(p) for p in rel.split("/")) or rel in KBUILD_FILES:
            raise ValueError(f"not a usable extra file name: {rel!r}")
        if rel in files:
            raise ValueError(f"extra file {rel!r} would replace the student's own file")
        files[rel] = bytes(data)
    objects, file_map = _module_objects(spec, extra_objs or {}, files)
    kbuild = kbuild_text(
        objects,
        ccflags=spec.ccflags,
        extra_ccflags=extra_ccflags,
        ldflags=ldflags,
        origin=spec.origin,
    )
    files["Kbuild"] = kbuild.encode()
    extras = frozenset(_object_name(o) for objs in (extra_objs or {}).values() for o in objs)
    for stem in sorted(extras):
        if f"{stem}.o" in files and not any(f"{stem}{ext}" in files for ext in (".c", ".S")):
            files[_cmd_file(stem)] = PREBUILT_CMD
    return _Plan(files, spec.modules, file_map, dict(sub.files), objects, extras)


def student_objects(plan: _Plan) -> list[str]:
    """The objects compiled from the student's files (and wrappers of them), not extras."""
    seen: dict[str, None] = {}
    for objs in plan.objects.values():
        seen.update((o, None) for o in objs if o not in plan.extras)
    return [f"{o}.o" for o in seen]


def _kill(proc: subprocess.Popen) -> None:
    # The whole process group: make, gcc, and bwrap (whose sandbox then dies with it).
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def run_capped(
    argv: Sequence[str],
    *,
    cwd: Path,
    timeout_s: float,
    max_output: int,
    memory: MemoryCap | None = None,
) -> _Outcome:
    """Run argv with stdout+stderr captured up to max_output bytes and a wall timeout.

    With memory, the process (and all it starts) runs inside that cgroup.
    """
    with memory.joining() if memory else contextlib.nullcontext(None) as join:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(MINIMAL_ENV),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=join,
        )
    deadline = time.monotonic() + timeout_s
    chunks: list[bytes] = []
    size, timed_out, truncated, starved = 0, False, False, False
    kills = memory.oom_kills() if memory else 0
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    with proc.stdout, selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            # Once the cgroup has killed one compiler the build has failed; without
            # this, make waits for the other compilers to fill the cap in turn.
            if memory and memory.oom_kills() > kills:
                starved = True
                break
            if not sel.select(min(remaining, OOM_POLL_S)):
                continue
            data = os.read(fd, 65536)
            if not data:
                break
            if size + len(data) > max_output:
                chunks.append(data[: max_output - size])
                truncated = True
                break
            chunks.append(data)
            size += len(data)
        if timed_out or truncated or starved:
            _kill(proc)
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill(proc)
            proc.wait()
    if memory and memory.oom_kills() > kills:
        starved = True
    oom = memory.limit if memory and starved else None
    return _Outcome(proc.returncode, b"".join(chunks), timed_out, truncated, oom)


def _fresh_build_dir(out_dir: Path | None) -> Path:
    if out_dir is None:
        path = Path(tempfile.mkdtemp(prefix="kmodlab-build-"))
    else:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix="build-", dir=out_dir))
    path = path.resolve()
    if not _MAKE_SAFE_PATH.match(str(path)):
        raise InputError(
            f"the build folder {path} has characters make cannot handle",
            "choose an output folder whose path has no spaces or special characters",
        )
    return path


def _check_headers(headers: Path) -> Path:
    headers = Path(headers).resolve()
    if not (headers / "Makefile").is_file():
        raise SetupError(f"no kernel headers at {headers}", "run `kmodlab setup` first")
    if not _MAKE_SAFE_PATH.match(str(headers)):
        raise SetupError(
            f"the kernel headers path {headers} has characters make cannot handle",
            "set KMODLAB_HOME to a path without spaces and run `kmodlab setup` again",
        )
    return headers


def _use_sandbox(allow_unsandboxed: bool) -> bool:
    if sandbox_available():
        return True
    if not allow_unsandboxed:
        raise SandboxUnavailable(
            "no sandbox is available to build in (bubblewrap missing or not permitted)",
            "install bubblewrap (apt-get install bubblewrap) or pass --no-sandbox to build "
            "without isolation",
        )
    warnings.warn(
        "building without a sandbox: the compiler can read and write anything you can",
        RuntimeWarning,
        stacklevel=3,
    )
    return False


def make_argv(
    headers: Path,
    build_dir: Path,
    *,
    link: bool = True,
    objects: Sequence[str] = (),
    extra_symbols: Sequence[str] = (),
) -> list[str]:
    """make's command line: the modules, or (objects) only those objects compiled.
    extra_symbols: files of the build folder modpost reads exports from
    (KBUILD_EXTRA_SYMBOLS: another folder's Module.symvers)."""
    jobs = min(4, os.cpu_count() or 1)
    argv = ["make", "-C", str(headers), f"M={build_dir}", f"-j{jobs}"]
    if shutil.which("pahole", path=MINIMAL_ENV["PATH"]) is None:
        # What scripts/pahole-flags.sh prints without pahole; the top Makefile
        # would run it (a shell and a subshell) for every command of the build.
        argv.append("PAHOLE_FLAGS=")
    if objects:
        # Single targets (Documentation/kbuild/modules.rst): kbuild reads the
        # same Kbuild, so each object gets the very command line (and
        # KBUILD_MODNAME) the modules build would give it, and a later
        # modules build in this folder does not compile it again.
        if not all(_OBJECT_TARGET.match(o) for o in objects):
            raise ValueError(f"not a usable object target: {objects!r}")
        # Objects compiled alone are the instrumented build's first pass (the
        # plain build of the same sources runs kbuild's exported-static check,
        # an `nm` and a script per object) or kmodlab's own shim: not run there.
        return [*argv, "cmd_check_local_export=", *objects]
    argv.append("modules")
    if extra_symbols:
        if not all(_SAFE_EXTRA.match(n) for n in extra_symbols):
            raise ValueError(f"not a usable extra symbols file: {extra_symbols!r}")
        argv.append("KBUILD_EXTRA_SYMBOLS=" + " ".join(str(build_dir / n) for n in extra_symbols))
    if not link:
        # Compile and modpost (every diagnostic), but no final link: no .ko.
        argv.append("KBUILD_MODPOST_NOFINAL=1")
    return argv


def build_argv(
    headers: Path,
    build_dir: Path,
    *,
    link: bool = True,
    sandboxed: bool = True,
    objects: Sequence[str] = (),
    extra_symbols: Sequence[str] = (),
) -> list[str]:
    """The whole command line a build runs (what `--show-command` prints): make, inside
    the sandbox (bwrap, setpriv, prlimit) unless `sandboxed` is False."""
    command = make_argv(
        headers, build_dir, link=link and not objects, objects=objects, extra_symbols=extra_symbols
    )
    if sandboxed:
        return sandbox_argv(command, build_dir=build_dir, headers=headers)
    # Outside a user namespace RLIMIT_NPROC counts all the user's processes: leave it.
    prlimit = shutil.which("prlimit")
    limits = limits_argv(ResourceLimits(processes=None), prlimit) if prlimit else []
    return [*limits, *command]


def _outcome_diagnostics(outcome: _Outcome, timeout_s: float, max_output: int) -> list[Diagnostic]:
    found = []
    if outcome.timed_out:
        message = f"the build took longer than {timeout_s:g} s and was stopped"
        found.append(Diagnostic(None, None, None, "error", "timeout", message))
    if outcome.truncated:
        message = f"the build printed more than {max_output} bytes and was stopped"
        found.append(Diagnostic(None, None, None, "error", "output-limit", message))
    if outcome.out_of_memory and outcome.returncode != 0:
        message = (
            f"the build needed more than {outcome.out_of_memory >> 20} MiB of memory (all of "
            "one grade's compilers together) and was stopped: is a macro expanding without end?"
        )
        found.append(Diagnostic(None, None, None, "error", "memory-limit", message))
    return found


def _unexplained_failure(log: str, returncode: int | None) -> Diagnostic:
    """A failure no parser recognised: quote the last line that is not make's chatter."""
    lines = [ln.strip() for ln in log.splitlines() if ln.strip() and not ln.startswith("make")]
    last = f": {lines[-1][:300]}" if lines else ""
    message = f"the build failed (exit status {returncode}){last}"
    return Diagnostic(None, None, None, "error", "build-failed", message)


def _write_tree(build_dir: Path, files: Mapping[str, bytes]) -> None:
    for rel, data in files.items():
        path = build_dir / rel
        # An unchanged file keeps its time stamp: a rebuild in place (reuse_dir)
        # then recompiles only what changed.
        if not path.is_symlink() and path.is_file() and path.read_bytes() == data:
            continue
        # A rebuild in place writes into a folder an earlier build could change:
        # a new file renamed over the name never follows a link left there.
        atomic_write(path, data)


def link_findings(sub: Submission) -> tuple[Diagnostic, ...]:
    """A warning for each symbolic link left out of the build (never followed, never quoted)."""
    return tuple(
        Diagnostic(
            None,
            None,
            None,
            "warning",
            "ignored-link",
            f"{_shown(rel)} is a symbolic link: kmodlab never follows one, so it is left out "
            "(put the file itself in the folder if the module needs it)",
        )
        for rel in sub.links
    )


def build_submission(
    src: Path | Submission,
    *,
    headers: Path,
    out_dir: Path | None = None,
    allow_unsandboxed: bool = False,
    timeout_s: float = BUILD_TIMEOUT_S,
    max_output: int = DEFAULT_MAX_OUTPUT,
    extra_files: Mapping[str, bytes] | None = None,
    extra_ccflags: Sequence[str] = (),
    extra_objs: Mapping[str, Sequence[str]] | None = None,
    ldflags: Sequence[str] = (),
    link: bool = True,
    memory: MemoryCap | None = None,
    reuse_dir: Path | None = None,
    compile_only: bool = False,
    extra_symbols: Sequence[str] = (),
) -> BuildResult:
    """Build the modules of the submission folder `src` against the kbuild tree `headers`.

    src may be a Submission already taken by load_submission(): the build then
    uses exactly those bytes (a grade validates the folder once).

    The build happens in a new folder (under out_dir, or a new temporary folder)
    that the caller owns. extra_files are written into it (paths relative to
    it), extra_ccflags and ldflags are appended to our Kbuild as written (refer
    to files of the build folder as $(src)/name), and extra_objs[module] are
    linked into that module. With link=False the build stops after modpost:
    every compiler and modpost message, no .ko (result.modules is empty).
    memory is the cgroup whose one cap the build shares (a grade's builds
    share one); without it the build gets a cap of its own where it can.
    reuse_dir (an earlier result's build_dir) builds again in that folder:
    only files whose content changed are written, so make redoes only what
    depends on them (the instrumented build relinks this way).
    compile_only compiles the student's objects and nothing else (no extra
    objects, no modpost, no .ko): result.ok says whether they compiled.
    extra_symbols names files of extra_files that modpost reads exports from
    (KBUILD_EXTRA_SYMBOLS), e.g. a provider's Module.symvers.
    """
    started = time.monotonic()
    sub = src if isinstance(src, Submission) else load_submission(Path(src))
    spec = module_specs(sub.files, kbuild=sub.text("Kbuild"), makefile=sub.text("Makefile"))
    spec = dataclasses.replace(spec, findings=(*spec.findings, *link_findings(sub)))
    headers = _check_headers(headers)
    sandboxed = _use_sandbox(allow_unsandboxed)
    plan = plan_build(
        sub,
        spec,
        extra_files=extra_files,
        extra_ccflags=extra_ccflags,
        extra_objs=extra_objs,
        ldflags=ldflags,
    )
    build_dir = Path(reuse_dir) if reuse_dir is not None else _fresh_build_dir(out_dir)
    _write_tree(build_dir, plan.files)
    objects = student_objects(plan) if compile_only else ()
    if sandboxed:
        hand_over(build_dir)
    argv = build_argv(
        headers,
        build_dir,
        link=link,
        sandboxed=sandboxed,
        objects=objects,
        extra_symbols=extra_symbols,
    )
    with contextlib.nullcontext(memory) if memory else capped() as cap:
        outcome = run_capped(
            argv, cwd=build_dir, timeout_s=timeout_s, max_output=max_output, memory=cap
        )
    return _result(
        plan,
        outcome,
        build_dir,
        started,
        sandboxed,
        spec,
        timeout_s,
        max_output,
        link=link and not compile_only,
    )


def _result(
    plan: _Plan,
    outcome: _Outcome,
    build_dir: Path,
    started: float,
    sandboxed: bool,
    spec: KbuildSpec,
    timeout_s: float,
    max_output: int,
    *,
    link: bool = True,
) -> BuildResult:
    log = outcome.output.decode("utf-8", errors="replace")
    sources = {m.name: list(m.sources) for m in plan.modules}
    texts = {rel: data.decode() for rel, data in plan.student.items() if rel.endswith(".c")}
    parsed = parse_build_log(log, str(build_dir), file_map=plan.file_map, modules=sources)
    diagnostics = [
        *spec.findings,
        *locate_symbols(parsed, texts, sources),
        *_outcome_diagnostics(outcome, timeout_s, max_output),
    ]
    modules = [
        BuiltModule(m.name, build_dir / f"{m.name}.ko", list(m.sources))
        for m in plan.modules
        if (build_dir / f"{m.name}.ko").is_file()
    ]
    ok = (
        outcome.returncode == 0
        and not (outcome.timed_out or outcome.truncated)
        and (len(modules) == len(plan.modules) or not link)
    )
    if not ok and not errors(diagnostics):
        diagnostics.append(_unexplained_failure(log, outcome.returncode))
    return BuildResult(
        ok=ok,
        modules=modules,
        diagnostics=diagnostics,
        log=log,
        duration_s=time.monotonic() - started,
        build_dir=build_dir,
        sandboxed=sandboxed,
        file_map=dict(plan.file_map),
        linked=link,
        objects={m: [f"{o}.o" for o in objs] for m, objs in plan.objects.items()},
    )
