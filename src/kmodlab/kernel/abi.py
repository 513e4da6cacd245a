"""Which Debian kernel to use, and the names of its four packages.

The ABI (e.g. "6.1.0-56-amd64", the guest's `uname -r`) is resolved at set-up time
from the `linux-image-amd64` metapackage, never pinned: Debian drops an ABI from the
archive at the next security update. The parsers here are pure; `resolve_abi` and
`resolve_packages` are the only functions that run anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from kmodlab import kernel
from kmodlab.errors import SetupError

FLAVOUR = "amd64"
META_PACKAGE = f"linux-image-{FLAVOUR}"

# A Debian ABI is "<version>[-<abinum>]-<flavour>": 6.1.0-56-amd64 (bookworm),
# 6.12.48+deb13-amd64 (trixie), 6.1.0-0.deb11.21-amd64 (backports). Segments after
# the first dash start with a digit, which keeps out other flavours such as
# 6.1.0-56-cloud-amd64 or -rt-amd64 that would not boot the way we expect.
_ABI = rf"[0-9][0-9A-Za-z.+~]*(?:-[0-9][0-9A-Za-z.+~]*)?-{FLAVOUR}"
_ABI_RE = re.compile(_ABI)
_DEPENDS_RE = re.compile(r"^\s*\|?Depends:\s*(\S+)\s*$")
_DEB_NAME_RE = re.compile(
    r"^(?P<package>[a-z0-9][a-z0-9+.-]+)_(?P<version>[^_]+)_(?P<arch>[^_]+)\.deb$"
)


def is_abi(text: str) -> bool:
    return _ABI_RE.fullmatch(text) is not None


def abi_sort_key(abi: str) -> tuple[int, ...]:
    """Orders ABIs numerically, so 6.1.0-56 beats 6.1.0-9."""
    return tuple(int(n) for n in re.findall(r"\d+", abi))


def abi_base(abi: str) -> str:
    """6.1.0-56-amd64 -> 6.1.0-56, the part the -common headers package is named after."""
    return abi.removesuffix(f"-{FLAVOUR}")


def parse_apt_depends(text: str) -> list[str]:
    """Real packages named on `Depends:` lines of `apt-cache depends` output.

    `<name>` entries are virtual packages (the indented lines under them are their
    providers, not dependencies), so they are skipped. Alternatives (`|Depends:`)
    count; PreDepends/Recommends/... do not.
    """
    names = []
    for line in text.splitlines():
        m = _DEPENDS_RE.match(line)
        if m and not m.group(1).startswith("<"):
            names.append(m.group(1))
    return names


def image_abi_from_depends(text: str) -> str | None:
    """The ABI that `apt-cache depends linux-image-amd64` points at (highest if several)."""
    abis = [
        name.removeprefix("linux-image-")
        for name in parse_apt_depends(text)
        if name.startswith("linux-image-") and is_abi(name.removeprefix("linux-image-"))
    ]
    return max(abis, key=abi_sort_key) if abis else None


def parse_control_depends(text: str) -> list[str]:
    """Package names in a control-file Depends field ("a (= 1), b | c, d")."""
    names = []
    for clause in text.replace("\n", " ").split(","):
        for alternative in clause.split("|"):
            words = alternative.split()
            if words:
                names.append(words[0].split(":")[0])
    return names


@dataclass(frozen=True)
class KernelPackages:
    """The four Debian packages one guest kernel is made from."""

    abi: str
    common: str  # linux-headers-<base>-common: the arch-independent headers
    kbuild: str  # linux-kbuild-<x.y>: scripts/ and tools/ the headers link into

    @property
    def image(self) -> str:
        return f"linux-image-{self.abi}"

    @property
    def headers(self) -> str:
        return f"linux-headers-{self.abi}"

    @property
    def names(self) -> tuple[str, str, str, str]:
        return (self.image, self.headers, self.common, self.kbuild)

    def deb_globs(self) -> str:
        return ", ".join(f"{name}_*.deb" for name in self.names)


def packages_for(abi: str, header_deps: Iterable[str] = ()) -> KernelPackages:
    """The package set for an ABI, preferring the names the headers package depends on.

    The derived fallbacks hold for bookworm; trixie names kbuild after the full
    version (linux-kbuild-6.12.48+deb13), which only the dependency list tells.
    """
    deps = list(header_deps)
    common = next((d for d in deps if re.fullmatch(r"linux-headers-.+-common", d)), None)
    kbuild = next((d for d in deps if d.startswith("linux-kbuild-")), None)
    major_minor = ".".join(abi.split(".")[:2])
    return KernelPackages(
        abi=abi,
        common=common or f"linux-headers-{abi_base(abi)}-common",
        kbuild=kbuild or f"linux-kbuild-{major_minor}",
    )


def parse_deb_filename(name: str) -> tuple[str, str, str] | None:
    """`<package>_<version>_<arch>.deb` -> (package, version, arch), as apt-get names them."""
    m = _DEB_NAME_RE.match(name)
    return (m["package"], m["version"], m["arch"]) if m else None


def abi_from_deb_names(names: Iterable[str]) -> str | None:
    """The highest ABI among linux-image-<abi> / linux-headers-<abi> .deb file names.

    Headers count too, so a folder that lacks only the image still names its ABI
    and the error can say exactly which file is missing.
    """
    abis = set()
    for name in names:
        parsed = parse_deb_filename(name)
        if not parsed:
            continue
        for prefix in ("linux-image-", "linux-headers-"):
            rest = parsed[0].removeprefix(prefix)
            if parsed[0].startswith(prefix) and is_abi(rest):
                abis.add(rest)
    return max(abis, key=abi_sort_key) if abis else None


def match_debs(names: Iterable[str], packages: KernelPackages) -> tuple[dict[str, str], list[str]]:
    """Map each of the four packages to its .deb file name; also return those missing.

    Two files for one package (two Debian revisions of one ABI) is an error rather
    than a guess: comparing Debian versions properly is dpkg's job, not ours.
    """
    found: dict[str, list[str]] = {}
    for name in sorted(names):
        parsed = parse_deb_filename(name)
        if parsed and parsed[0] in packages.names:
            found.setdefault(parsed[0], []).append(name)
    several = {pkg: files for pkg, files in found.items() if len(files) > 1}
    if several:
        pkg, files = next(iter(several.items()))
        raise SetupError(
            f"several .deb files for {pkg}: {', '.join(files)}", "keep only one of them"
        )
    missing = [pkg for pkg in packages.names if pkg not in found]
    return {pkg: files[0] for pkg, files in found.items()}, missing


class AbiUnresolved(SetupError):
    """apt cannot name the current kernel (no package lists, or offline from the start)."""


def resolve_abi() -> str:
    result = kernel.run(["apt-cache", "depends", META_PACKAGE])
    abi = image_abi_from_depends(result.stdout) if result.ok else None
    if abi is None:
        raise AbiUnresolved(
            f"cannot tell which guest kernel to use: `apt-cache depends {META_PACKAGE}` "
            f"names no kernel ({result.last_error() if not result.ok else 'no Depends line'})",
            "run `apt-get update` (needs the network), or pass --debs DIR holding the kernel .debs",
        )
    return abi


def resolve_packages(abi: str) -> KernelPackages:
    headers = f"linux-headers-{abi}"
    result = kernel.run(["apt-cache", "depends", headers])
    if not result.ok:
        raise SetupError(
            f"apt does not know {headers}: {result.last_error()}", "run `apt-get update`"
        )
    return packages_for(abi, parse_apt_depends(result.stdout))
