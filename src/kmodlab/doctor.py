"""`kmodlab doctor`: one line per component, OK or what to do about it."""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from kmodlab.errors import KmodlabError
from kmodlab.paths import KernelLayout, current_kernel


@dataclass(frozen=True)
class ComponentStatus:
    component: str
    ok: bool
    detail: str  # what was found, or the problem and its fix

    def line(self) -> str:
        return f"{'OK  ' if self.ok else 'FAIL'}  {self.component:<16} {self.detail}"


def _qemu() -> ComponentStatus:
    from kmodlab.vm.snapshot import qemu_version

    if not shutil.which("qemu-system-x86_64"):
        return ComponentStatus("qemu", False, "not installed: apt-get install qemu-system-x86")
    return ComponentStatus("qemu", True, qemu_version())


def _kernel() -> ComponentStatus:
    k = current_kernel()
    version = k.read_manifest().get("version", "?")
    return ComponentStatus("kernel", True, f"{k.abi} (Debian {version}) in {k.root}")


def _headers() -> ComponentStatus:
    k = current_kernel()
    missing = [p for p in (k.headers / "Makefile", k.headers / ".config") if not p.is_file()]
    if missing:
        return ComponentStatus(
            "headers", False, f"{missing[0]} is missing: run `kmodlab setup` again"
        )
    return ComponentStatus("headers", True, str(k.headers))


def compiler_versions(config_text: str, gcc_version_output: str) -> tuple[str, str]:
    """The gcc the kernel was built with (from its .config) and the host's gcc-12."""
    m = re.search(r'CONFIG_CC_VERSION_TEXT="([^"]*)"', config_text)
    built = m.group(1) if m else "unknown"
    host = gcc_version_output.splitlines()[0] if gcc_version_output else "not installed"
    return built, host


def _compiler() -> ComponentStatus:
    k: KernelLayout = current_kernel()
    gcc = shutil.which("gcc-12")
    out = subprocess.run([gcc, "--version"], capture_output=True, text=True).stdout if gcc else ""
    built, host = compiler_versions(k.config.read_text(errors="replace"), out)
    if not gcc:
        return ComponentStatus(
            "compiler", False, f"gcc-12 missing (kernel built with {built}): apt-get install gcc-12"
        )
    ok, detail = compiler_verdict(built, host)
    return ComponentStatus("compiler", ok, detail)


def compiler_verdict(built: str, host: str) -> tuple[bool, str]:
    """Whether the host's gcc-12 builds modules this kernel loads, and the line saying so.

    Another release of the same major version does: Ubuntu 22.04's gcc-12 12.3.0 for
    Debian's 12.2.0-built kernel, graded in full (tests/container)."""
    detail = f"host {host}; kernel built with {built}"
    version = [text.split()[-1] if text.split() else "" for text in (built, host)]
    if version[0] == version[1]:
        return True, detail
    if version[0].split(".")[0] == version[1].split(".")[0]:
        return True, detail + " (the same major version: modules load)"
    return False, detail + ": modules may not load"


def _sandbox() -> ComponentStatus:
    from kmodlab.build import memcap
    from kmodlab.build.sandbox import build_uid, sandbox_available

    if sandbox_available():
        who = "as nobody" if build_uid() is not None else "as you"
        view = f"bubblewrap: toolchain and kernel tree only, {who}, no network"
        return ComponentStatus("sandbox", True, f"{view}; memory: {memcap.describe()}")
    if shutil.which("bwrap") is None:
        return ComponentStatus("sandbox", False, "bubblewrap missing: apt-get install bubblewrap")
    return ComponentStatus(
        "sandbox",
        False,
        "bubblewrap may not make its namespaces here (in a container: run it with "
        "--security-opt unmask=/proc/*, see docs/instructors.md, Containers)",
    )


def _python() -> ComponentStatus:
    requires = importlib.metadata.requires("kmodlab") or []
    names = [re.split(r"[<>=!~;\[ ]", r)[0] for r in requires if "extra ==" not in r]
    missing = []
    for name in names:
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
    if missing:
        return ComponentStatus(
            "python", False, f"missing {', '.join(missing)}: run ./kmodlab setup"
        )
    return ComponentStatus("python", True, f"{len(names)} packages present")


def _guest() -> Iterator[ComponentStatus]:
    from kmodlab.vm.session import Session, prepare

    machine = prepare()
    yield ComponentStatus("accelerator", True, machine.accel_note)
    spec = machine.spec
    why = ""
    if spec.machine.name == "q35" and spec.accel.name == "tcg":
        why = " (the host's TSC frequency could not be measured, which microvm needs under TCG)"
    elif spec.accel.name == "tcg" and spec.tsc_khz:
        why = f", told the host's TSC rate: {spec.tsc_khz // 1000} MHz"
    yield ComponentStatus("machine", True, f"{spec.machine.description}{why}")
    t0 = time.monotonic()
    with Session(machine) as s:
        r = s.run(["uname", "-r"])
        took = time.monotonic() - t0
    ok = r.ok and r.stdout.strip() == machine.kernel.abi
    yield ComponentStatus(
        "guest", ok, f"answered `uname -r` = {r.stdout.strip()} after {took:.2f} s"
    )


CHECKS: tuple[Callable[[], ComponentStatus | Iterator[ComponentStatus]], ...] = (
    _qemu,
    _kernel,
    _headers,
    _compiler,
    _sandbox,
    _python,
    _guest,
)


def run_checks() -> Iterator[ComponentStatus]:
    for check in CHECKS:
        name = check.__name__.lstrip("_")
        try:
            result = check()
            yield from ([result] if isinstance(result, ComponentStatus) else result)
        except KmodlabError as e:
            yield ComponentStatus(name, False, e.line())
        except Exception as e:  # doctor must report, never crash
            yield ComponentStatus(name, False, f"{type(e).__name__}: {e}")
