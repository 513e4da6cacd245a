"""The decompressed kernel ELF (vmlinux), pulled out of Debian's bzImage (vmlinuz).

Booting the ELF directly through PVH skips the in-guest decompression, which is
most of a TCG boot. Debian builds with CONFIG_KERNEL_XZ, so the payload is one xz
stream inside the bzImage, followed by a few bytes of its own (the size footer).
"""

from __future__ import annotations

import lzma

from kmodlab.errors import SetupError

XZ_MAGIC = b"\xfd7zXZ\x00"  # FD 37 7A 58 5A 00, the start of an xz stream header
ELF_MAGIC = b"\x7fELF"
EI_CLASS = 4
ELFCLASS64 = 2
EI_DATA = 5
ELFDATA2LSB = 1
E_MACHINE_OFFSET = 18  # e_machine, a little-endian u16 in ELF64
EM_X86_64 = 62

_FIX = "the guest must be Debian's xz-compressed x86-64 kernel; delete the kernel and set up again"


class BadKernelImage(SetupError):
    """vmlinuz does not hold what a Debian amd64 kernel holds."""


def xz_offsets(image: bytes) -> list[int]:
    """Every place the xz magic occurs; a false match in the boot code is possible."""
    offsets, start = [], image.find(XZ_MAGIC)
    while start != -1:
        offsets.append(start)
        start = image.find(XZ_MAGIC, start + 1)
    return offsets


def decompress_stream(data: bytes) -> bytes | None:
    """The payload of the xz stream at the start of data, or None if it is not a whole one.

    Stops at the end of the stream: the bytes after it belong to the bzImage.
    """
    decompressor = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
    try:
        payload = decompressor.decompress(data)
    except lzma.LZMAError:
        return None
    return payload if decompressor.eof else None


def check_x86_64_elf(payload: bytes) -> None:
    """Raise BadKernelImage unless payload is a little-endian 64-bit x86-64 ELF."""
    if payload[:4] != ELF_MAGIC:
        raise BadKernelImage("the kernel's xz payload is not an ELF file", _FIX)
    if len(payload) < E_MACHINE_OFFSET + 2:
        raise BadKernelImage("the kernel ELF is truncated", _FIX)
    machine = int.from_bytes(payload[E_MACHINE_OFFSET : E_MACHINE_OFFSET + 2], "little")
    if payload[EI_CLASS] != ELFCLASS64 or payload[EI_DATA] != ELFDATA2LSB or machine != EM_X86_64:
        raise BadKernelImage(
            f"the kernel ELF is not x86-64 (class {payload[EI_CLASS]}, machine {machine})", _FIX
        )


def extract_vmlinux(image: bytes) -> bytes:
    """The x86-64 ELF inside a bzImage, from its first complete xz stream."""
    offsets = xz_offsets(image)
    if not offsets:
        raise BadKernelImage("no xz stream in the kernel image (not CONFIG_KERNEL_XZ?)", _FIX)
    for offset in offsets:
        payload = decompress_stream(image[offset:])
        if payload is not None:
            check_x86_64_elf(payload)
            return payload
    raise BadKernelImage("the kernel image's xz stream is truncated or corrupt", _FIX)
