"""The lab guest's root filesystem: a newc cpio archive the kernel unpacks at boot.

It carries busybox for the shell tools, Debian's kmod (insmod, rmmod, lsmod,
modinfo, modprobe, depmod: the course teaches the real ones, and busybox's
insmod runs a failing init twice), the agent, and the metadata depmod needs.
The archive is written by Python, not by cpio(1), so it is byte-for-byte
reproducible (zero mtimes, sorted entries) and its hash can key the snapshot
cache. It is left uncompressed: decompressing in the guest under software
emulation costs more than reading a few extra megabytes.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from kmodlab.ctool import compile_program
from kmodlab.errors import SetupError
from kmodlab.paths import KernelLayout, atomic_write, cached

NEWC_MAGIC = b"070701"
TRAILER = "TRAILER!!!"
KMOD_TOOLS = ("insmod", "rmmod", "lsmod", "modinfo", "modprobe", "depmod")
# Debian's busybox prefers its own applets inside its shell, so `sh -c insmod`
# would run busybox's insmod; dash as /bin/sh runs what PATH names.
NOT_FROM_BUSYBOX = (*KMOD_TOOLS, "sh", "ash")
MODULES_META = ("modules.builtin", "modules.builtin.modinfo", "modules.order")
# The agent talks to the host over virtio-serial: the emulated UART moves
# about 20 KB/s into the guest, too slow to push modules. Debian builds virtio
# as modules; the agent (PID 1) loads them in this order (their dependency
# order) before the snapshot is taken, so a restored guest pays nothing for
# them. Both transports are there: virtio-mmio for microvm, PCI for q35; the
# PCI ones are loaded only where there is a PCI bus (PCI_ONLY).
BOOT_MODULES = (
    "kernel/drivers/virtio/virtio_ring.ko",
    "kernel/drivers/virtio/virtio.ko",
    "kernel/drivers/virtio/virtio_mmio.ko",
    "kernel/drivers/virtio/virtio_pci_modern_dev.ko",
    "kernel/drivers/virtio/virtio_pci_legacy_dev.ko",
    "kernel/drivers/virtio/virtio_pci.ko",
    "kernel/drivers/char/virtio_console.ko",
)
PCI_ONLY = frozenset(m for m in BOOT_MODULES if "/virtio_pci" in m)
GUEST_DIRS = ("proc", "sys", "dev", "tmp", "root", "run", "etc", "bin", "sbin", "usr/bin")
WORKDIR = "/work"


@dataclass(frozen=True)
class Entry:
    """One archive member: a directory, a regular file, a symlink or a device node."""

    path: str  # without leading slash
    mode: int
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)


def dir_entry(path: str) -> Entry:
    return Entry(path, stat.S_IFDIR | 0o755)


def file_entry(path: str, data: bytes, perm: int = 0o644) -> Entry:
    return Entry(path, stat.S_IFREG | perm, data)


def symlink_entry(path: str, target: str) -> Entry:
    return Entry(path, stat.S_IFLNK | 0o777, target.encode())


def _pad4(n: int) -> bytes:
    return b"\0" * (-n % 4)


def _header(ino: int, e: Entry, namesize: int) -> bytes:
    fields = (ino, e.mode, 0, 0, 1, 0, len(e.data), 0, 0, e.rdev[0], e.rdev[1], namesize, 0)
    return NEWC_MAGIC + b"".join(b"%08X" % f for f in fields)


def write_newc(entries: list[Entry]) -> bytes:
    """Serialise entries as a newc archive; parents must precede children."""
    out = bytearray()
    for ino, e in enumerate([*entries, Entry(TRAILER, 0)], start=1):
        name = e.path.encode() + b"\0"
        out += _header(ino, e, len(name)) + name
        out += _pad4(len(out))
        out += e.data + _pad4(len(e.data))
    return bytes(out)


def read_newc(data: bytes) -> dict[str, Entry]:
    """Parse a newc archive (used by tests and by `doctor` to inspect the guest)."""
    entries: dict[str, Entry] = {}
    pos = 0
    while True:
        if data[pos : pos + 6] != NEWC_MAGIC:
            raise ValueError(f"bad cpio magic at offset {pos}")
        f = [int(data[pos + 6 + 8 * i : pos + 14 + 8 * i], 16) for i in range(13)]
        pos += 110
        name = data[pos : pos + f[11] - 1].decode()
        pos += f[11]
        pos += -pos % 4
        body = data[pos : pos + f[6]]
        pos += f[6]
        pos += -pos % 4
        if name == TRAILER:
            return entries
        entries[name] = Entry(name, f[1], body, (f[9], f[10]))


def with_parents(entries: list[Entry]) -> list[Entry]:
    """Add missing parent directories and sort so each parent precedes its children."""
    by_path = {e.path: e for e in entries}
    for e in entries:
        parts = e.path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            by_path.setdefault("/".join(parts[:i]), dir_entry("/".join(parts[:i])))
    return sorted(by_path.values(), key=lambda e: e.path.split("/"))


_LDD_PATH = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x[0-9a-f]+\)")


def parse_ldd(text: str) -> list[str]:
    """Library paths from `ldd` output (the vdso has no path and is skipped)."""
    return [m.group(1) for line in text.splitlines() if (m := _LDD_PATH.search(line))]


def _shared_libraries(binary: Path) -> list[Path]:
    proc = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False)
    return [Path(p) for p in parse_ldd(proc.stdout)]


def _host_binary(name: str, fix: str) -> Path:
    found = shutil.which(name, path="/usr/bin:/bin:/usr/sbin:/sbin")
    if not found:
        raise SetupError(f"{name} is not installed on the host", fix)
    return Path(found).resolve()


def busybox_entries(busybox: Path) -> list[Entry]:
    """Static busybox plus one symlink per applet, except the kmod tools."""
    proc = subprocess.run([str(busybox), "--list-full"], capture_output=True, text=True)
    entries = [file_entry("bin/busybox", busybox.read_bytes(), 0o755)]
    for applet in proc.stdout.split():
        if Path(applet).name in NOT_FROM_BUSYBOX or applet == "bin/busybox":
            continue
        entries.append(symlink_entry(applet.lstrip("/"), "/bin/busybox"))
    return entries


def dynamic_binary_entries(binary: Path, dest: str) -> list[Entry]:
    """A host binary with the shared libraries it links, at their host paths."""
    entries = [file_entry(dest, binary.read_bytes(), 0o755)]
    for lib in _shared_libraries(binary):
        entries.append(file_entry(str(lib).lstrip("/"), lib.resolve().read_bytes(), 0o755))
    return entries


def kmod_entries(kmod: Path) -> list[Entry]:
    """Debian's kmod under all the names the course teaches."""
    entries = dynamic_binary_entries(kmod, "usr/bin/kmod")
    entries += [symlink_entry(f"sbin/{tool}", "/usr/bin/kmod") for tool in KMOD_TOOLS]
    entries.append(symlink_entry("bin/kmod", "/usr/bin/kmod"))
    return entries


def module_tree_entries(kernel: KernelLayout) -> list[Entry]:
    """/lib/modules/<abi>/ with depmod's metadata; student modules go to extra/."""
    base = f"lib/modules/{kernel.abi}"
    entries = [dir_entry(f"{base}/extra"), symlink_entry(WORKDIR.lstrip("/"), f"/{base}/extra")]
    for name in MODULES_META:
        src = kernel.modules_meta / name
        if src.is_file():
            entries.append(file_entry(f"{base}/{name}", src.read_bytes()))
    boot_list = []
    for rel in BOOT_MODULES:
        src = kernel.guest_modules / rel
        if not src.is_file():
            raise SetupError(f"{src} is missing from the kernel cache", "run `kmodlab setup` again")
        entries.append(file_entry(f"{base}/{rel}", src.read_bytes()))
        boot_list.append(("pci " if rel in PCI_ONLY else "") + f"/{base}/{rel}")
    entries.append(file_entry("etc/kmodlab/boot-modules", "\n".join(boot_list).encode() + b"\n"))
    return entries


def guest_entries(kernel: KernelLayout, agent: Path) -> list[Entry]:
    busybox = _host_binary("busybox", "apt-get install busybox-static")
    kmod = _host_binary("kmod", "apt-get install kmod")
    dash = _host_binary("dash", "apt-get install dash")
    entries = [dir_entry(d) for d in GUEST_DIRS]
    entries += [
        Entry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1)),
        # The agent is PID 1: it mounts /proc, /sys, ... and loads the boot
        # modules itself (a shell script would cost an exec per line).
        symlink_entry("init", "/sbin/kmodlab-agent"),
        file_entry("sbin/kmodlab-agent", agent.read_bytes(), 0o755),
        file_entry("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"),
        file_entry("etc/group", b"root:x:0:\n"),
    ]
    entries += busybox_entries(busybox) + kmod_entries(kmod) + module_tree_entries(kernel)
    entries += [*dynamic_binary_entries(dash, "bin/dash"), symlink_entry("bin/sh", "dash")]
    return with_parents(entries)


def build_agent(cache: Path | None = None) -> Path:
    """Compile the agent statically (the guest has no libc of its own)."""
    return compile_program(
        "kmodlab.guest", "agent.c", "the guest agent", flags=("-static",), cache=cache
    )


def build_initramfs(kernel: KernelLayout, cache: Path | None = None) -> Path:
    """The guest's initramfs, cached by the hash of its content."""
    agent = build_agent(cache)
    data = write_newc(guest_entries(kernel, agent))
    digest = hashlib.sha256(data).hexdigest()[:16]
    relative = Path("guest") / f"initramfs-{kernel.abi}-{digest}.cpio"
    out = cache / relative if cache else cached(relative)
    if not out.is_file():
        atomic_write(out, data)
    return out
