"""Getting the four kernel .debs: `apt-get download`, or a folder the user brings."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from kmodlab import kernel
from kmodlab.errors import SetupError
from kmodlab.kernel.abi import (
    FLAVOUR,
    KernelPackages,
    abi_from_deb_names,
    match_debs,
    packages_for,
    parse_control_depends,
)

# As root, apt drops privileges to the _apt user to download, and warns that _apt
# cannot write into a folder under root's home; downloading as root is what we want.
_APT_AS_ROOT = ("-o", "APT::Sandbox::User=root")
PARTIAL_MARK = ".partial-"  # downloads/.<abi>.partial-XXXX, removed by the next set-up if left


@dataclass(frozen=True)
class DownloadStatus:
    percent: float
    message: str


def parse_apt_status(line: str) -> DownloadStatus | None:
    """One `APT::Status-Fd` line, `dlstatus:<item>:<percent>:<message>`; None for others.

    The percent is apt's own estimate over all files, by bytes.
    """
    parts = line.split(":", 3)
    if len(parts) != 4 or parts[0] != "dlstatus":
        return None
    try:
        percent = float(parts[2])
    except ValueError:
        return None
    return DownloadStatus(min(max(percent, 0.0), 100.0), parts[3].strip())


def download_failure(output: str, packages: KernelPackages) -> SetupError:
    """Turn apt-get download's complaint into the one line the user needs."""
    if "Unable to locate package" in output or "Couldn't find any package" in output:
        return SetupError(
            f"apt does not know the packages of kernel {packages.abi}",
            "run `apt-get update`, then `kmodlab setup` again",
        )
    if " 404 " in output:
        # Lists older than the archive: the mirror has already replaced these files.
        return SetupError(
            f"the package lists are out of date (kernel {packages.abi} is gone from the mirror)",
            "run `apt-get update`, then `kmodlab setup` again",
        )
    return SetupError(
        "cannot download the guest kernel packages (no network?)",
        f"connect, or pass --debs DIR holding {packages.deb_globs()}",
    )


def _debs_in(folder: Path, packages: KernelPackages) -> dict[str, Path] | None:
    if not folder.is_dir():
        return None
    found, missing = match_debs((p.name for p in folder.iterdir()), packages)
    return None if missing else {pkg: folder / name for pkg, name in found.items()}


def download(
    packages: KernelPackages, downloads: Path, *, say: kernel.Reporter, quiet: bool
) -> dict[str, Path]:
    """The four .debs in downloads/<abi>/, fetched unless a finished earlier download is there.

    apt-get writes into a fresh hidden folder that is renamed into place only when
    complete, so a killed download is never mistaken for a finished one.
    """
    final = downloads / packages.abi
    earlier = _debs_in(final, packages)
    if earlier:
        say(f"reusing the packages downloaded earlier in {final}")
        return earlier
    downloads.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(dir=downloads, prefix=f".{packages.abi}{PARTIAL_MARK}"))
    try:
        say(f"downloading {', '.join(packages.names)}")
        result = _apt_download(packages, partial, quiet=quiet)
        if not result.ok:
            say(f"apt-get download failed: {result.last_error()}")
            raise download_failure(result.stdout + result.stderr, packages)
        if _debs_in(partial, packages) is None:
            raise SetupError(
                f"apt-get download did not produce all of {packages.deb_globs()}",
                "run `kmodlab setup` again",
            )
        shutil.rmtree(final, ignore_errors=True)
        os.replace(partial, final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return _debs_in(final, packages) or {}


def _apt_download(packages: KernelPackages, dest: Path, *, quiet: bool) -> kernel.Result:
    argv = ["apt-get", *(_APT_AS_ROOT if os.geteuid() == 0 else ()), "download", *packages.names]
    columns = (
        TextColumn("kmodlab setup: download"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    )
    with Progress(*columns, console=Console(stderr=True), disable=quiet) as progress:
        task = progress.add_task("", total=100.0)

        def on_status(line: str) -> None:
            status = parse_apt_status(line)
            if status:
                progress.update(task, completed=status.percent, description=status.message)

        result = kernel.run_with_status(argv, cwd=dest, on_status=on_status)
        if result.ok:
            progress.update(task, completed=100.0, description="done")
    return result


def debs_from_dir(debs_dir: Path) -> tuple[KernelPackages, dict[str, Path]]:
    """The kernel packages in a folder the user filled on a connected machine."""
    if not debs_dir.is_dir():
        raise SetupError(f"--debs {debs_dir}: no such folder", "pass the folder holding the .debs")
    names = [p.name for p in debs_dir.iterdir() if p.name.endswith(".deb")]
    abi = abi_from_deb_names(names)
    if abi is None:
        raise SetupError(
            f"no linux-image-<abi>_*.deb or linux-headers-<abi>_*.deb ({FLAVOUR}) in {debs_dir}",
            "on a connected machine, find the ABI with `apt-cache depends linux-image-amd64`, run "
            "`apt-get download linux-image-<abi> linux-headers-<abi> linux-headers-<base>-common "
            f"linux-kbuild-<x.y>` and copy the four files into {debs_dir}",
        )
    packages = packages_for(abi, _header_deps(debs_dir, names, abi))
    found, missing = match_debs(names, packages)
    if missing:
        raise SetupError(
            f"{debs_dir} lacks {', '.join(f'{pkg}_*.deb' for pkg in missing)}",
            f"on a connected machine run `apt-get download {' '.join(missing)}` "
            f"and copy the files into {debs_dir}",
        )
    return packages, {pkg: debs_dir / name for pkg, name in found.items()}


def _header_deps(debs_dir: Path, names: list[str], abi: str) -> list[str]:
    """What the headers .deb depends on: the authoritative -common and kbuild names."""
    headers = next((n for n in names if n.startswith(f"linux-headers-{abi}_")), None)
    if headers is None:
        return []
    result = kernel.run(["dpkg-deb", "--field", str(debs_dir / headers), "Depends"])
    return parse_control_depends(result.stdout) if result.ok else []
