"""Exercise checks: the evidence an exercise's expectations need, and their verdicts.

An exercise NAME is declared by autograder/NAME/expectations.toml (format:
docs/expectations.md). The evidence comes from the generic run (load and
unload logs, .modinfo, Module.symvers) plus one more fresh guest for what
needs the modules loaded in particular ways (parameters, files, a provider
in use, a consumer alone).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kmodlab.errors import InputError
from kmodlab.grader.collection.modinfo import module_name, read_modinfo
from kmodlab.grader.evidence import Evidence
from kmodlab.grader.verdicts import expectations as exp
from kmodlab.vm.guest import GuestError
from kmodlab.vm.session import Session


def autograder_dir() -> Path:
    """$KMODLAB_AUTOGRADER, else the checkout's autograder/ folder, else the installed
    package's copy (kmodlab.coursefiles)."""
    env = os.environ.get("KMODLAB_AUTOGRADER")
    if env:
        return Path(env)
    from kmodlab.coursefiles import content_root

    return (content_root() or Path(__file__).resolve().parents[3]) / "autograder"


def known_exercises() -> list[str]:
    base = autograder_dir()
    return sorted(p.parent.name for p in base.glob("*/expectations.toml")) if base.is_dir() else []


@dataclass
class Plan:
    expectations: exp.Expectations

    @property
    def weights(self) -> dict[str, float]:
        return dict(self.expectations.generic_points)

    def collect(self, ev: Evidence, session: Session, limits: Any, *, clean: bool) -> bool:
        """The exercise's evidence, in the grade's own session; whether its guest is still
        clean (see collect_evidence)."""
        return collect_evidence(self.expectations, ev, session, limits.load_timeout_s, clean=clean)


def load(name: str) -> Plan:
    path = autograder_dir() / name / "expectations.toml"
    if not path.is_file():
        known = ", ".join(known_exercises()) or "none"
        raise InputError(f"there is no exercise {name!r}", f"use one of: {known}")
    return Plan(exp.load_expectations(path))


# -- evidence -----------------------------------------------------------------
def _texts(steps) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.text for s in steps for r in s.kmsg]


def _levels(steps) -> list[int]:  # type: ignore[no-untyped-def]
    """The printk level of each record _texts(steps) returns, in the same order."""
    return [r.level for s in steps for r in s.kmsg]


def read_symvers(path: Path) -> dict[str, dict[str, str]]:
    """Module.symvers of the student's build: {module: {symbol: export type}}."""
    out: dict[str, dict[str, str]] = {}
    if not path.is_file():
        return out
    for line in path.read_text(errors="replace").splitlines():
        parts = line.split("\t")
        if len(parts) >= 4:
            out.setdefault(module_name(Path(parts[2]).name), {})[parts[1]] = parts[3]
    return out


def kbuild_evidence(files: Mapping[str, str], problem: str | None = None) -> dict[str, Any]:
    """What kbuild makes of the submission's own Makefile (or Kbuild), read as data.

    files: the submission as validated once per grade (Evidence.sources, the
    texts of load_submission()); problem: why it could not be taken, if so.
    {"origin": "Makefile" | "Kbuild" | None, "modules": {name: [objects]}
    (empty: no obj-m), "problem": why kbuild would refuse it or None, "notes":
    warnings about settings kbuild ignores here (obj-y...)}. Never one module
    per .c file: that is kmodlab's convenience, not kbuild's.
    """
    from kmodlab.build.objm import module_specs

    out: dict[str, Any] = {"origin": None, "modules": {}, "problem": None, "notes": []}
    if problem is not None and not files:
        return out | {"problem": problem}
    kbuild, makefile = files.get("Kbuild"), files.get("Makefile")
    if kbuild is None and makefile is None:
        return out
    out["origin"] = "Kbuild" if kbuild is not None else "Makefile"
    try:
        spec = module_specs(list(files), kbuild=kbuild, makefile=makefile)
    except InputError as e:
        return out | {"problem": e.line()}
    fallback = any(d.kind == "no-obj-m" for d in spec.findings)
    if not fallback:
        out["modules"] = {m.name: list(m.objects) for m in spec.modules}
    out["notes"] = [
        f"{d.file} line {d.line}: {d.message}" if d.line else d.message
        for d in spec.findings
        if d.kind == "ignored-setting"
    ]
    return out


def _kbuild_evidence(ev: Evidence) -> dict[str, Any]:
    return kbuild_evidence(ev.sources, ev.build_problem)


def host_evidence(ev: Evidence) -> dict[str, Any]:
    """What the generic run and the .ko files already tell."""
    modinfo = {}
    for name, ko in ev.kos.items():
        # The instrumentation adds no parameter (arm() patches a copy instead).
        modinfo[name] = read_modinfo(ko)
    return {
        "load_log": _texts(ev.loads),
        "unload_log": _texts(ev.unloads),
        # printk levels of those records, in the same order (0 emerg .. 7 debug)
        "load_levels": _levels(ev.loads),
        "unload_levels": _levels(ev.unloads),
        "modinfo": modinfo,
        # A module that exports nothing is still evidence (of exporting nothing).
        "exports": {name: {} for name in ev.kos}
        | (read_symvers(ev.build.build_dir / "Module.symvers") if ev.build else {}),
        "kbuild": _kbuild_evidence(ev),
        "diagnostics": build_diagnostics(ev),
    }


def build_diagnostics(ev: Evidence) -> list[dict[str, Any]]:
    """The build's warnings and errors as data: {kind, message, file, line}."""
    if ev.build is None:
        return []
    found = ev.build_diagnostics if ev.build_diagnostics is not None else ev.build.diagnostics
    return [
        {"kind": d.kind, "message": d.message, "file": d.file, "line": d.line}
        for d in found
        if d.severity in ("error", "warning")
    ]


def collect_evidence(
    expectations: exp.Expectations,
    ev: Evidence,
    s: Session,
    timeout_s: float,
    *,
    clean: bool = False,
) -> bool:
    """The exercise's evidence: from the generic run, then from the grade's session.

    That guest is used as it is when the generic run left it `clean` (no
    module loaded, nothing left over), else it is restarted first. Returns
    whether the guest is still clean afterwards: not once an exercise check
    loaded modules in its own ways (parameters, a provider in use).
    """
    ev.exercise.update(host_evidence(ev))
    needs_guest = [c for c in expectations.checks if exp.KINDS[c.kind].evidence == exp.GUEST]
    if not needs_guest or not ev.kos:
        return clean
    if not clean:
        s.restart()  # a fresh guest receives the pushed modules as it starts
    missing = [ko for name, ko in ev.kos.items() if s.modules.get(Path(ko).stem) != ko]
    if missing:
        s.push_modules(missing, depmod=False)
    for check in needs_guest:
        try:
            GUEST_COLLECTORS[check.kind](check, ev, s, timeout_s)
        except GuestError:
            s.restart()  # the check has no evidence and becomes "error"
        try:
            _unload_everything(ev, s, timeout_s)
        except GuestError:
            # The unload killed the guest (a handler left on a shared line):
            # the generic checks already judged that; the next check gets a new one.
            s.restart()
    return False


def _unload_everything(ev: Evidence, s: Session, timeout_s: float) -> None:
    loaded = s.loaded()
    for name in reversed(ev.order):
        if name in loaded:
            s.unload(name, timeout_s=timeout_s)


def _load_all(ev: Evidence, s: Session, timeout_s: float) -> bool:
    return all(s.load(ev.ko_file(n), timeout_s=timeout_s).ok for n in ev.order)


def _params(check: exp.ParamCheck, ev: Evidence, s: Session, timeout_s: float) -> None:
    m, name = module_name(check.module), check.name
    types = dict(
        v.split(":", 1) for v in ev.exercise["modinfo"].get(m, {}).get("parmtype", []) if ":" in v
    )
    entry: dict[str, Any] = {"type": types.get(name), "default": None, "perm": None}
    deps = ev.order[: ev.order.index(m)] if m in ev.order else []
    for dep in deps:
        s.load(ev.ko_file(dep), timeout_s=timeout_s)
    ko = ev.ko_file(m) if m in ev.kos else f"{check.module}.ko"
    if s.load(ko, timeout_s=timeout_s).ok:
        r = s.run(["cat", f"/sys/module/{m}/parameters/{name}"])
        entry["default"] = r.stdout.rstrip("\n") if r.ok else None
        if check.perm is not None:
            r = s.run(["stat", "-c", "%a", f"/sys/module/{m}/parameters/{name}"])
            entry["perm"] = r.stdout.strip() if r.ok else None
        s.unload(m, timeout_s=timeout_s)
    if check.value is not None:
        r = s.load(ko, f"{name}={check.value}", timeout_s=timeout_s)
        entry["with_value"] = {"returncode": r.returncode, "load_log": [k.text for k in r.kmsg]}
    ev.exercise.setdefault("params", {}).setdefault(check.module, {})[name] = entry


def _files(check: exp.FilesCheck, ev: Evidence, s: Session, timeout_s: float) -> None:
    files = ev.exercise.setdefault("files", {})
    loaded = _load_all(ev, s, timeout_s)
    ev.exercise["files_loaded"] = loaded
    for path, _regex in check.paths:
        r = s.run(["head", "-c", "65536", path]) if loaded else None
        files[path] = r.stdout if r is not None and r.ok else None


def _in_use(check: exp.ProviderInUseCheck, ev: Evidence, s: Session, timeout_s: float) -> None:
    for name in (check.provider, check.consumer):
        s.load(f"{name}.ko", timeout_s=timeout_s)
    r = s.run(["rmmod", check.provider], timeout_s=timeout_s)
    ev.exercise["rmmod_provider_while_used"] = {"returncode": r.returncode, "stderr": r.stderr}


def _alone(check: exp.UnknownSymbolCheck, ev: Evidence, s: Session, timeout_s: float) -> None:
    r = s.run(["insmod", f"{check.consumer}.ko"], timeout_s=timeout_s)
    ev.exercise["consumer_alone"] = {
        "returncode": r.returncode,
        "stderr": r.stderr,
        "log": [k.text for k in r.kmsg],
    }


def _extra_symbols(
    check: exp.ExtraSymbolsCheck, ev: Evidence, s: Session, timeout_s: float
) -> None:
    """Build the provider's folder, then the consumer's with the symbols files its own
    Makefile names in KBUILD_EXTRA_SYMBOLS (read as data: the provider's Module.symvers
    only if the Makefile names it), then load both, provider first, and unload them."""
    from kmodlab.build.builder import build_submission
    from kmodlab.build.objm import extra_symbols
    from kmodlab.build.validate import load_submission

    headers = s.machine.kernel.headers
    # Beside the grade's own build folders: cleaned with them, and their paths scrubbed.
    workdir = Path(ev.build.build_dir).parent.parent
    sides: dict[str, dict[str, Any]] = {}
    built: dict[str, Any] = {}
    want = f"../{check.provider_folder}/Module.symvers"
    for folder, module in (
        (check.provider_folder, check.provider),
        (check.consumer_folder, check.consumer),
    ):
        side: dict[str, Any] = {"origin": None, "modules": {}, "problem": None, "built": False}
        sides[folder] = side
        root = Path(ev.submission) / folder
        try:
            sub = load_submission(root) if root.is_dir() else None
        except InputError as e:
            side["problem"] = e.line()
            continue
        if sub is None:
            continue
        texts = sub.texts()
        side.update(kbuild_evidence(texts))
        if folder == check.consumer_folder:
            text = texts.get("Kbuild", texts.get("Makefile"))
            named = extra_symbols(text, side["origin"]) if text is not None else ()
            lines = (text or "").splitlines()
            side["extra_symbols"] = [
                {
                    # the line as the student wrote it (e.written shows $(PWD) as $(src))
                    "written": lines[e.line - 1].strip() if 0 < e.line <= len(lines) else "",
                    "line": e.line,
                    "path": e.path,
                    "problem": e.problem,
                }
                for e in named
            ]
        if module not in side["modules"]:
            continue
        extra_files, names = {}, []
        provider = built.get(check.provider_folder)
        names_provider = any(e["path"] == want for e in side.get("extra_symbols", ()))
        if folder == check.consumer_folder and provider is not None and names_provider:
            symvers = provider.build_dir / "Module.symvers"
            extra_files = {"kmodlab-provider.symvers": symvers.read_bytes()}
            names = ["kmodlab-provider.symvers"]
        result = build_submission(
            sub,
            headers=headers,
            out_dir=workdir / f"extra-{folder}",
            extra_files=extra_files,
            extra_symbols=names,
        )
        side["built"] = result.ok and any(m.name == module for m in result.modules)
        side["errors"] = [d.message for d in result.diagnostics if d.severity == "error"][:5]
        side["undefined"] = sorted(
            {d.symbol for d in result.diagnostics if d.kind == "undefined-symbol" and d.symbol}
        )
        if side["built"]:
            built[folder] = result
    ev.exercise["extra_symbols"] = {**sides, "load": {}}
    if len(built) < 2:
        return
    pairs = ((check.provider_folder, check.provider), (check.consumer_folder, check.consumer))
    kos = [built[f].build_dir / f"{m}.ko" for f, m in pairs]
    s.push_modules(kos, depmod=False)
    loads = ev.exercise["extra_symbols"]["load"]
    for module in (check.provider, check.consumer):
        r = s.load(f"{module}.ko", timeout_s=timeout_s)
        loads[module] = {
            "returncode": r.returncode,
            "stderr": r.stderr,
            "log": [k.text for k in r.kmsg],
        }
        if r.returncode != 0:
            break
    for module in (check.consumer, check.provider):
        if loads.get(module, {}).get("returncode") == 0:
            s.unload(module_name(module), timeout_s=timeout_s)


# What each kind whose evidence comes from the guest (exp.KINDS, evidence GUEST)
# loads and reads there; keyed by kind, as tests/unit/test_check_registry.py checks.
GUEST_COLLECTORS: dict[str, Callable[[Any, Evidence, Session, float], None]] = {
    "params": _params,
    "files": _files,
    "provider-in-use": _in_use,
    "unknown-symbol": _alone,
    "extra-symbols": _extra_symbols,
}
