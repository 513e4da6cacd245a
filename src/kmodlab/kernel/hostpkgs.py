"""The Debian packages the host needs to build modules and run the guest."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

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


def parse_candidates(text: str) -> dict[str, str]:
    """`apt-cache policy PKG...` -> {package: candidate version, or "(none)"}.

    apt-cache prints nothing at all for a name no package list has heard of, so absent
    means "not in this archive" to the caller."""
    found: dict[str, str] = {}
    package = None
    for line in text.splitlines():
        if line and not line[0].isspace() and line.endswith(":"):
            package = line[:-1]
        elif package and line.strip().startswith("Candidate:"):
            found[package] = line.split(":", 1)[1].strip()
    return found


def unavailable_from(wanted: list[str], policy_output: str) -> list[str]:
    """The wanted packages the archive cannot install (unknown, or no candidate)."""
    found = parse_candidates(policy_output)
    return [p for p in wanted if found.get(p, "(none)") == "(none)"]


def os_release(text: str) -> dict[str, str]:
    """/etc/os-release's KEY=value lines (values unquoted)."""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and not key.startswith("#"):
            fields[key.strip()] = value.strip().strip("\"'")
    return fields


def archive_hint(release: dict[str, str]) -> str:
    """What to do when the distribution's archive lacks a package kmodlab needs.

    The names are the same on Debian 12 and Ubuntu 22.04 (checked with apt-cache policy
    in both: tests/data/apt/); on Ubuntu 22.04, gcc-12 is only in jammy-updates and
    jammy-security, not in the release itself."""
    ids = {release.get("ID", ""), *release.get("ID_LIKE", "").split()}
    if "ubuntu" in ids:
        return (
            "the apt sources need the release's -updates and -security suites and the "
            "universe component (as Ubuntu's images have them); add them, then set up again"
        )
    return "use a Debian 12 (bookworm) or Ubuntu 22.04/24.04 archive, or install them by hand"


def _distro() -> tuple[str, dict[str, str]]:
    try:
        release = os_release(Path("/etc/os-release").read_text())
    except OSError:
        release = {}
    return release.get("PRETTY_NAME", "this system"), release


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
    # Without recommends: QEMU's pull in its GTK front-end and icon themes (hundreds of
    # MB, minutes of unpacking in a fresh container), none of which a headless guest uses.
    argv = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    result = kernel.run(argv, env=_APT_ENV, capture=quiet)
    if result.ok:
        return
    # The usual cause is missing or stale package lists (a fresh container, or a
    # mirror that has moved on): refresh once, then try again.
    say("apt-get install failed; running apt-get update and retrying")
    update = kernel.run(["apt-get", "update"], env=_APT_ENV, capture=quiet)
    result = kernel.run(argv, env=_APT_ENV, capture=quiet) if update.ok else update
    if not result.ok:
        policy = kernel.run(["apt-cache", "policy", *packages])
        lacking = unavailable_from(packages, policy.stdout) if policy.ok else []
        if lacking:
            name, release = _distro()
            raise SetupError(
                f"the package archive of {name} has no {', '.join(lacking)}",
                archive_hint(release),
            )
        raise SetupError(
            f"cannot install host packages {', '.join(packages)}: {result.last_error()}",
            f"fix apt (see its output above), then run `{install_command(packages)}`",
        )
