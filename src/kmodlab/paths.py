"""Where kmodlab keeps what it downloads and builds.

Everything lives under $KMODLAB_HOME (default ~/.cache/kmodlab), keyed by kernel
ABI or by the hash of the inputs, so two kernels or two QEMU versions never mix.

On a shared machine (a JupyterHub, a lab server) an administrator sets up once,
as root, into the shared cache ($KMODLAB_SHARED_CACHE, default /var/cache/kmodlab:
`kmodlab setup --shared`), and every user only reads it: the guest kernel when
the user's own cache has none, and any file keyed by content (the agent, the
initramfs, a saved guest) that is already there. What a user makes goes to
their own cache, never to the shared one.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from kmodlab.errors import SetupError

# Bumped whenever a kernel folder must hold something new; older folders are
# then made again by `kmodlab setup` instead of failing later.
LAYOUT_VERSION = 4  # 3: virtio_mmio.ko for microvm; 4: memoised kbuild probes
CURRENT = "current-kernel"  # the file naming the ABI `kmodlab setup` last made ready


# Where `kmodlab setup --shared` puts the kernel that every user of the machine reads.
SHARED_DEFAULT = Path("/var/cache/kmodlab")


def home() -> Path:
    """This user's own cache: everything kmodlab writes goes here."""
    env = os.environ.get("KMODLAB_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "kmodlab"


def shared_home() -> Path:
    """The cache an administrator set up for everyone (read-only for users)."""
    env = os.environ.get("KMODLAB_SHARED_CACHE")
    return Path(env).expanduser() if env else SHARED_DEFAULT


def kernel_home() -> Path:
    """The cache whose guest kernel is used: the user's own if it has one, else the shared one.

    A user who never ran `kmodlab setup` (they could not: it needs root for
    the host packages) gets the administrator's kernel.
    """
    own = home()
    if (own / CURRENT).is_file():
        return own
    shared = shared_home()
    return shared if _trusted(shared / CURRENT) else own


def _trusted(path: Path) -> bool:
    """A shared file to read: it exists, and neither another user nor everyone could
    have written it (a snapshot or initramfs there runs as the guest)."""
    try:
        st = path.stat()
    except OSError:
        return False
    return (
        stat.S_ISREG(st.st_mode)
        and st.st_uid in (0, os.geteuid())
        and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


def cached(relative: str | Path) -> Path:
    """A content-keyed cache file: the user's own if present, else the shared cache's if
    present (and written by root or this user only), else the user's own path (to be
    made). Never a path to write in the shared one unless it is already there."""
    own = home() / relative
    if own.is_file():
        return own
    shared = shared_home() / relative
    return shared if _trusted(shared) else own


def atomic_write(path: Path, data: bytes) -> None:
    """Write a file so that readers see either the old or the whole new content."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def open_to_all(base: Path) -> None:
    """Make a shared cache readable (and its folders and programs usable) by every user,
    whatever the administrator's umask; nothing becomes writable by others."""
    for here, _dirs, files in os.walk(base):
        for path in [here, *(os.path.join(here, f) for f in files)]:
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                continue
            add = stat.S_IRGRP | stat.S_IROTH
            if stat.S_ISDIR(st.st_mode) or st.st_mode & stat.S_IXUSR:
                add |= stat.S_IXGRP | stat.S_IXOTH
            if st.st_mode & add != add:
                os.chmod(path, st.st_mode | add)


@dataclass(frozen=True)
class KernelLayout:
    """The files of one guest kernel in the cache (kernels/<abi>/)."""

    abi: str  # e.g. "6.1.0-56-amd64", the `uname -r` of the guest
    root: Path

    @property
    def vmlinuz(self) -> Path:
        return self.root / "vmlinuz"

    @property
    def vmlinux(self) -> Path:
        """Decompressed ELF: QEMU boots it directly through PVH, skipping decompression."""
        return self.root / "vmlinux"

    @property
    def config(self) -> Path:
        return self.root / "config"

    @property
    def system_map(self) -> Path:
        return self.root / "System.map"

    @property
    def headers(self) -> Path:
        """The kbuild tree to pass as `make -C`."""
        return self.root / "tree" / "usr" / "src" / f"linux-headers-{self.abi}"

    @property
    def tree(self) -> Path:
        """Everything unpacked from the headers packages (headers/common/kbuild)."""
        return self.root / "tree"

    @property
    def modules_meta(self) -> Path:
        """modules.builtin, modules.builtin.modinfo, modules.order for depmod in the guest."""
        return self.root / "modules-meta"

    @property
    def guest_modules(self) -> Path:
        """The few .ko files of the image the guest itself needs (virtio), by path
        relative to /lib/modules/<abi>/."""
        return self.root / "guest-modules"

    @property
    def manifest(self) -> Path:
        return self.root / "kernel.json"

    def is_complete(self) -> bool:
        """Made entirely, by a kmodlab whose cache layout is the current one."""
        try:
            return self.read_manifest().get("layout") == LAYOUT_VERSION
        except (OSError, ValueError):
            return False

    def read_manifest(self) -> dict:
        return json.loads(self.manifest.read_text())


def kernel_layout(abi: str, base: Path | None = None) -> KernelLayout:
    return KernelLayout(abi=abi, root=(base or home()) / "kernels" / abi)


def current_kernel(base: Path | None = None) -> KernelLayout:
    """The kernel `kmodlab setup` last made ready, or a SetupError saying to run it."""
    base = base or kernel_home()
    pointer = base / CURRENT
    if not pointer.is_file():
        raise SetupError(
            "no guest kernel is set up",
            "run `kmodlab setup` first (on a shared machine, an administrator runs "
            f"`sudo kmodlab setup --shared` once, into {shared_home()})",
        )
    layout = kernel_layout(pointer.read_text().strip(), base)
    if not layout.is_complete():
        raise SetupError(
            f"the guest kernel {layout.abi} in {layout.root} is incomplete",
            "run `kmodlab setup` again",
        )
    return layout


def set_current_kernel(abi: str, base: Path | None = None) -> None:
    atomic_write((base or home()) / CURRENT, abi.encode() + b"\n")
