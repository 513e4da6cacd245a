"""`kmodlab setup`: make the host packages and the guest kernel ready, idempotently.

A second run finds kernels/<abi>/kernel.json and does nothing for the kernel, so it
takes seconds and works offline.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from kmodlab import paths
from kmodlab.build import probes
from kmodlab.errors import SetupError
from kmodlab.kernel import Reporter, fetch, hostpkgs, unpack
from kmodlab.kernel.abi import AbiUnresolved, KernelPackages, resolve_abi, resolve_packages
from kmodlab.kernel.vmlinux import extract_vmlinux
from kmodlab.paths import LAYOUT_VERSION, KernelLayout

__all__ = ["check_host_packages", "setup"]


def check_host_packages() -> list[str]:
    """The Debian host packages kmodlab needs that are not installed."""
    return hostpkgs.check_host_packages()


def setup(
    *,
    debs_dir: Path | None = None,
    install_packages: bool = True,
    quiet: bool = False,
    shared: bool = False,
) -> KernelLayout:
    """Install missing host packages, make the guest kernel ready, and make it current.

    debs_dir: take the four kernel .debs from this folder instead of apt (offline).
    install_packages: run apt-get install for missing host packages (else only warn).
    quiet: no status lines and no progress bar.
    shared: set up into the shared cache every user of the machine reads
    (paths.shared_home()), readable by all.
    A user without a kernel of their own, on a machine whose shared cache has
    one, uses that one: nothing is downloaded, nothing written to the shared cache.
    """
    say = _reporter(quiet)
    started = time.monotonic()
    base = paths.shared_home() if shared else paths.home()
    if not shared and debs_dir is None and paths.kernel_home() != base:
        hostpkgs.ensure_host_packages(install=install_packages, say=say, quiet=quiet)
        layout = paths.current_kernel()
        say(
            f"using the guest kernel {layout.abi} set up for every user in {layout.root} "
            "(an administrator updates it with `sudo kmodlab setup --shared`)"
        )
        return layout
    with _setup_lock(base, say):
        hostpkgs.ensure_host_packages(install=install_packages, say=say, quiet=quiet)
        _remove_stale(base)
        layout = _kernel(debs_dir, base, say=say, quiet=quiet)
        _warm_probes(layout, say)
        paths.set_current_kernel(layout.abi, base)
        if shared:
            paths.open_to_all(base)
    say(f"guest kernel {layout.abi} ready in {layout.root} ({time.monotonic() - started:.1f} s)")
    return layout


def _reporter(quiet: bool) -> Reporter:
    def say(message: str) -> None:
        if not quiet:
            print(f"kmodlab setup: {message}", file=sys.stderr, flush=True)

    return say


@contextmanager
def _setup_lock(base: Path, say: Reporter) -> Iterator[None]:
    """One set-up at a time per cache: two would race apt and unpack the same kernel twice."""
    try:
        base.mkdir(parents=True, exist_ok=True)
        lock = open(base / ".setup.lock", "w")  # noqa: SIM115 (closed by the with below)
    except OSError as e:
        raise SetupError(
            f"cannot write the cache {base} ({e.strerror})",
            "the shared cache is set up by root: `sudo kmodlab setup --shared`"
            if base == paths.shared_home()
            else "set KMODLAB_HOME to a folder you can write",
        ) from None
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("waiting for another kmodlab setup to finish")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _remove_stale(base: Path) -> None:
    """Leftovers of killed set-ups; safe to remove because we hold the lock."""
    stale = [
        *(base / "kernels").glob(f".{unpack.STAGING_PREFIX}*"),
        *(base / "downloads").glob(f".*{fetch.PARTIAL_MARK}*"),
    ]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)


def _warm_probes(layout: KernelLayout, say: Reporter) -> None:
    """Answer kbuild's compiler probes once (build/probes.py), unless done before.

    A kernel folder patched by an older kmodlab gets the current patch here,
    in place, and its probes answered again.
    """
    if not probes.patch_tree(probes.common_dir(layout.headers)) or probes.answered(layout.headers):
        return
    say("asking the compiler about the kernel's flags once (kbuild's probes)")
    count = probes.warm(layout.headers)
    say(f"{count} compiler probes answered for every later build")


def _kernel(debs_dir: Path | None, base: Path, *, say: Reporter, quiet: bool) -> KernelLayout:
    if debs_dir is not None:
        packages, files = fetch.debs_from_dir(debs_dir)
        layout = paths.kernel_layout(packages.abi, base)
        if layout.is_complete():
            say(f"guest kernel {layout.abi} already set up in {layout.root}")
            return layout
        return _build(layout, packages, files, source=f"debs:{debs_dir.resolve()}", say=say)
    try:
        abi = resolve_abi()
    except AbiUnresolved as exc:
        return _earlier_kernel(base, exc, say)
    layout = paths.kernel_layout(abi, base)
    if layout.is_complete():
        say(f"guest kernel {abi} already set up in {layout.root}")
        return layout
    packages = resolve_packages(abi)
    try:
        files = fetch.download(packages, base / "downloads", say=say, quiet=quiet)
    except SetupError as exc:
        return _earlier_kernel(base, exc, say)
    _build(layout, packages, files, source="apt", say=say)
    # The .debs are 85 MB and everything needed is now unpacked.
    shutil.rmtree(base / "downloads" / abi, ignore_errors=True)
    return layout


def _earlier_kernel(base: Path, problem: SetupError, say: Reporter) -> KernelLayout:
    """Offline, a kernel set up earlier beats no kernel; without one, the problem stands."""
    try:
        current = paths.current_kernel(base)
    except SetupError:
        raise problem from None
    say(f"{problem.problem}; using the guest kernel set up earlier, {current.abi}")
    return current


def _build(
    layout: KernelLayout,
    packages: KernelPackages,
    files: dict[str, Path],
    *,
    source: str,
    say: Reporter,
) -> KernelLayout:
    image = files[packages.image]
    with unpack.staging(layout) as staged:
        say(f"unpacking {image.name} (vmlinuz, config, System.map, module lists)")
        unpack.extract_image(image, staged)
        say("extracting vmlinux from vmlinuz")
        digest = _write_vmlinux(staged)
        say("unpacking the headers and kbuild")
        header_debs = [files[packages.headers], files[packages.common], files[packages.kbuild]]
        common = unpack.unpack_headers(header_debs, staged)
        missing = unpack.missing_files(staged, common)
        if missing:
            raise SetupError(
                f"the unpacked kernel {layout.abi} lacks {', '.join(missing)}",
                "the .deb files are not the expected Debian kernel packages",
            )
        manifest = make_manifest(
            abi=layout.abi,
            version=unpack.package_version(image),
            vmlinux_sha256=digest,
            source=source,
            debs=sorted(f.name for f in files.values()),
        )
        # Written last: its presence is what marks a kernel folder complete.
        paths.atomic_write(staged.manifest, json.dumps(manifest, indent=2).encode() + b"\n")
        unpack.commit(staged, layout)
    return layout


def _write_vmlinux(staged: KernelLayout) -> str:
    vmlinux = extract_vmlinux(staged.vmlinuz.read_bytes())
    staged.vmlinux.write_bytes(vmlinux)
    return hashlib.sha256(vmlinux).hexdigest()


def make_manifest(
    *,
    abi: str,
    version: str,
    vmlinux_sha256: str,
    source: str,
    debs: list[str],
    created: datetime | None = None,
) -> dict[str, object]:
    """kernel.json: what this kernel folder was made from."""
    return {
        "layout": LAYOUT_VERSION,
        "abi": abi,
        "version": version,
        "vmlinux_sha256": vmlinux_sha256,
        "source": source,
        "debs": debs,
        "created": (created or datetime.now(UTC)).isoformat(timespec="seconds"),
    }
