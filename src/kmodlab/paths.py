"""Where kmodlab keeps what it downloads and builds.

Everything lives under $KMODLAB_HOME (default ~/.cache/kmodlab), keyed by kernel
ABI or by the hash of the inputs, so two kernels or two QEMU versions never mix.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from kmodlab.errors import SetupError

# Bumped whenever a kernel folder must hold something new; older folders are
# then made again by `kmodlab setup` instead of failing later.
LAYOUT_VERSION = 4  # 3: virtio_mmio.ko for microvm; 4: memoised kbuild probes


def home() -> Path:
    env = os.environ.get("KMODLAB_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "kmodlab"


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
    base = base or home()
    pointer = base / "current-kernel"
    if not pointer.is_file():
        raise SetupError("no guest kernel is set up", "run `kmodlab setup` first")
    layout = kernel_layout(pointer.read_text().strip(), base)
    if not layout.is_complete():
        raise SetupError(
            f"the guest kernel {layout.abi} in {layout.root} is incomplete",
            "run `kmodlab setup` again",
        )
    return layout


def set_current_kernel(abi: str, base: Path | None = None) -> None:
    atomic_write((base or home()) / "current-kernel", abi.encode() + b"\n")
