"""The Debian packages the host needs to build modules and run the guest."""

from __future__ import annotations

import os
import shutil

from kmodlab import kernel
from kmodlab.errors import SetupError

HOST_PACKAGES: tuple[str, ...] = (
    "qemu-system-x86",
    "busybox-static",  # the guest's userland, and no shared libraries to copy into the initramfs
    "bubblewrap",
    "kmod",
    "gcc",
    # Out-of-tree kbuild needs gcc-12 by name: the headers' .kernelvariables set
    # CC=gcc-12, the compiler Debian built this kernel with.
    "gcc-12",
    "make",
    "cpio",
    "binutils",
    "libelf-dev",
    "libc6-dev",
    "xz-utils",
    "bc",
    "flex",
    "bison",
)

# Only the test suite needs these: its browser test drives JupyterLab in
# Debian's Chromium (Playwright's own browser download does not work offline).
TEST_PACKAGES: tuple[str, ...] = ("chromium",)

_APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}


def parse_dpkg_status(text: str) -> dict[str, str]:
    """`${Package} ${db:Status-Status}` lines -> {package: status}.

    dpkg-query prints nothing at all for a package it has never heard of (and says
    so on stderr), so absent means "not installed" to the caller.
    """
    status = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) == 2:
            status[words[0]] = words[1]
    return status


def missing_from(wanted: tuple[str, ...], dpkg_output: str) -> list[str]:
    """The wanted packages not fully installed ("config-files", "unpacked"... count as missing)."""
    status = parse_dpkg_status(dpkg_output)
    return [pkg for pkg in wanted if status.get(pkg) != "installed"]


def check_host_packages(packages: tuple[str, ...] = HOST_PACKAGES) -> list[str]:
    """The packages not installed, in the given order (all of them if no dpkg)."""
    result = kernel.run(["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\\n", *packages])
    # Exit status 1 only means some package is unknown; the output still lists the rest.
    return missing_from(packages, result.stdout)


def install_command(packages: list[str]) -> str:
    return "sudo apt-get install -y " + " ".join(packages)


def ensure_host_packages(
    *,
    install: bool,
    say: kernel.Reporter,
    quiet: bool,
    packages: tuple[str, ...] = HOST_PACKAGES,
) -> None:
    """Install what is missing, or say precisely what to install."""
    missing = check_host_packages(packages)
    if not missing:
        say("host packages: all present")
        return
    names = ", ".join(missing)
    if not install:
        say(f"host packages missing (not installing): {names}; run `{install_command(missing)}`")
        return
    if shutil.which("apt-get") is None:
        raise SetupError(
            f"missing host packages: {names} (and apt-get not found)",
            "kmodlab expects a Debian-like host; install these packages or their equivalents",
        )
    if os.geteuid() != 0:
        raise SetupError(f"missing host packages: {names}", f"run `{install_command(missing)}`")
    say(f"installing host packages: {names}")
    _apt_install(missing, say=say, quiet=quiet)


def _apt_install(packages: list[str], *, say: kernel.Reporter, quiet: bool) -> None:
    argv = ["apt-get", "install", "-y", *packages]
    result = kernel.run(argv, env=_APT_ENV, capture=quiet)
    if result.ok:
        return
    # The usual cause is missing or stale package lists (a fresh container, or a
    # mirror that has moved on): refresh once, then try again.
    say("apt-get install failed; running apt-get update and retrying")
    update = kernel.run(["apt-get", "update"], env=_APT_ENV, capture=quiet)
    result = kernel.run(argv, env=_APT_ENV, capture=quiet) if update.ok else update
    if not result.ok:
        raise SetupError(
            f"cannot install host packages {', '.join(packages)}: {result.last_error()}",
            f"fix apt (see its output above), then run `{install_command(packages)}`",
        )
