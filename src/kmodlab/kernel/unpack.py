"""Unpacking the kernel .debs into a kernel folder of the cache (see paths.KernelLayout).

Everything is built in a hidden staging folder next to kernels/<abi> and renamed
into place at the end, so a killed set-up never leaves a half-made kernel behind.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kmodlab import kernel
from kmodlab.build import probes
from kmodlab.errors import SetupError
from kmodlab.guest.initramfs import BOOT_MODULES
from kmodlab.paths import KernelLayout

MODULES_META = ("modules.builtin", "modules.builtin.modinfo", "modules.order")

# Debian's per-flavour headers Makefile is this one line, by absolute path, because
# the package expects to live in /usr/src. Ours lives in the cache.
_ABSOLUTE_INCLUDE_RE = re.compile(r"^include\s+/usr/src/(?P<common>[^/\s]+)/Makefile\s*$")
_RELOCATABLE_INCLUDE = "include $(dir $(lastword $(MAKEFILE_LIST)))../{common}/Makefile\n"
STAGING_PREFIX = "staging-"  # kernels/.staging-<abi>-XXXX, removed by the next set-up if left
_REDO = "delete or replace that .deb, then run `kmodlab setup` again"


def image_members(abi: str) -> dict[str, str]:
    """Files kept from the image package: member path in its tar -> path in the kernel folder.

    Of the .ko files (390 MB unpacked) only the guest's own virtio drivers are
    kept; depmod in the guest only needs the metadata files.
    """
    members = {
        f"boot/vmlinuz-{abi}": "vmlinuz",
        f"boot/config-{abi}": "config",
        f"boot/System.map-{abi}": "System.map",
    }
    for name in MODULES_META:
        members[f"lib/modules/{abi}/{name}"] = f"modules-meta/{name}"
    for rel in BOOT_MODULES:
        members[f"lib/modules/{abi}/{rel}"] = f"guest-modules/{rel}"
    return members


def extract_image(deb: Path, staging: KernelLayout) -> None:
    """Copy only the wanted files out of the image package's tar stream.

    Streaming `dpkg-deb --fsys-tarfile` instead of `dpkg-deb -x` never writes the
    .ko files to disk at all: about 3 s and 400 MB of writes saved.
    """
    wanted = image_members(staging.abi)
    found = set()
    argv = ["dpkg-deb", "--fsys-tarfile", str(deb)]
    with kernel.stdout_stream(argv) as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            name = member.name.removeprefix("./")
            if name in wanted and member.isfile():
                _copy_member(tar, member, staging.root / wanted[name])
                found.add(name)
    missing = sorted(set(wanted) - found)
    if missing:
        raise SetupError(
            f"{deb.name} lacks {', '.join(missing)}",
            "this is not a Debian kernel image package; use the linux-image-<abi> .deb",
        )


def _copy_member(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path) -> None:
    source = tar.extractfile(member)
    assert source is not None  # a regular file always has data
    dest.parent.mkdir(parents=True, exist_ok=True)
    with source, open(dest, "wb") as out:
        shutil.copyfileobj(source, out, 1 << 20)


def relocatable_makefile(text: str) -> tuple[str, str]:
    """Rewrite Debian's `include /usr/src/<common>/Makefile` to a path relative to the
    Makefile itself; returns (new text, <common> folder name)."""
    m = _ABSOLUTE_INCLUDE_RE.match(text.strip())
    if m is None:
        raise SetupError(
            f"unexpected headers Makefile: {text.strip()[:80]!r}",
            "kmodlab knows Debian's one-line `include /usr/src/...` Makefile; report this",
        )
    return _RELOCATABLE_INCLUDE.format(common=m["common"]), m["common"]


def relative_link_target(link: str, target: str) -> str:
    """For a link at `link` (relative to the unpack root) pointing at absolute `target`
    (meant for the real /), the relative target that stays inside the unpack root."""
    return posixpath.relpath("/" + target.lstrip("/"), posixpath.dirname("/" + link))


def _relink_absolute(tree: Path) -> None:
    """lib/modules/<abi>/build and source point at /usr/src on the host; aim them into the tree."""
    for dirpath, dirnames, filenames in os.walk(tree):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            if path.is_symlink() and os.readlink(path).startswith("/"):
                new = relative_link_target(str(path.relative_to(tree)), os.readlink(path))
                path.unlink()
                path.symlink_to(new)


def unpack_headers(debs: list[Path], staging: KernelLayout) -> str:
    """Unpack headers, -common and kbuild into tree/; returns the -common folder name."""
    staging.tree.mkdir(parents=True, exist_ok=True)
    for deb in debs:
        result = kernel.run(["dpkg-deb", "-x", str(deb), str(staging.tree)])
        if not result.ok:
            raise SetupError(f"cannot unpack {deb.name}: {result.last_error()}", _REDO)
    makefile = staging.headers / "Makefile"
    if not makefile.is_file():
        raise SetupError(f"{debs[0].name} has no {makefile.relative_to(staging.tree)}", _REDO)
    text, common = relocatable_makefile(makefile.read_text())
    makefile.write_text(text)
    _relink_absolute(staging.tree)
    probes.patch_tree(staging.headers.parent / common)
    return common


def missing_files(layout: KernelLayout, common: str) -> list[str]:
    """What a usable kernel folder must hold (read through the tree's symlinks)."""
    required = [
        layout.vmlinuz,
        layout.vmlinux,
        layout.config,
        layout.system_map,
        *(layout.modules_meta / name for name in MODULES_META),
        *(layout.guest_modules / rel for rel in BOOT_MODULES),
        layout.headers / "Makefile",
        layout.headers / ".config",
        layout.headers / "Module.symvers",
        layout.headers / "include" / "generated" / "autoconf.h",
        layout.headers / "scripts" / "mod" / "modpost",  # through the link into kbuild
        layout.headers.parent / common / "Makefile",  # what the rewritten Makefile includes
    ]
    return [str(p.relative_to(layout.root)) for p in required if not p.is_file()]


def package_version(deb: Path) -> str:
    result = kernel.run(["dpkg-deb", "--field", str(deb), "Version"])
    if not result.ok or not result.stdout.strip():
        raise SetupError(f"cannot read the version of {deb.name}: {result.last_error()}", _REDO)
    return result.stdout.strip()


@contextmanager
def staging(layout: KernelLayout) -> Iterator[KernelLayout]:
    """A hidden sibling of layout.root to build in; removed unless `commit` moved it."""
    layout.root.parent.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(dir=layout.root.parent, prefix=f".{STAGING_PREFIX}{layout.abi}-"))
    root.chmod(0o755)  # mkdtemp's 0700 would stay on the kernel folder after the rename
    try:
        yield KernelLayout(abi=layout.abi, root=root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def commit(staged: KernelLayout, layout: KernelLayout) -> None:
    """Move the finished kernel into place in one rename."""
    if layout.root.exists():
        # Only an incomplete leftover can be here: a complete kernel is never rebuilt.
        shutil.rmtree(layout.root)
    os.rename(staged.root, layout.root)
