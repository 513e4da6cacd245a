"""Pulling the ELF out of a bzImage, on synthetic images (and the real one, in the vm tier)."""

from __future__ import annotations

import hashlib
import lzma

import pytest

from kmodlab import paths
from kmodlab.errors import SetupError
from kmodlab.kernel.vmlinux import (
    E_MACHINE_OFFSET,
    EI_CLASS,
    ELF_MAGIC,
    EM_X86_64,
    XZ_MAGIC,
    BadKernelImage,
    check_x86_64_elf,
    decompress_stream,
    extract_vmlinux,
    xz_offsets,
)

EM_AARCH64 = 183
ELFCLASS32 = 1


def fake_elf(machine: int = EM_X86_64, elf_class: int = 2) -> bytes:
    """An ELF64 header good enough for the checks, then some body."""
    ident = ELF_MAGIC + bytes([elf_class, 1, 1]) + bytes(9)
    header = ident + (2).to_bytes(2, "little") + machine.to_bytes(2, "little")
    return header + bytes(range(256)) * 64


def fake_bzimage(payload: bytes, *, before: bytes = b"setup code\x00" * 50) -> bytes:
    """Boot code, the xz stream, then the 4-byte size footer and padding, like a bzImage."""
    stream = lzma.compress(payload, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32)
    return before + stream + len(payload).to_bytes(4, "little") + b"\xff" * 100


def test_extracts_the_elf_and_ignores_trailing_bytes() -> None:
    elf = fake_elf()
    assert extract_vmlinux(fake_bzimage(elf)) == elf


def test_skips_a_false_magic_in_the_boot_code() -> None:
    elf = fake_elf()
    image = fake_bzimage(elf, before=b"junk" + XZ_MAGIC + b"not a stream" * 10)
    assert len(xz_offsets(image)) == 2
    assert extract_vmlinux(image) == elf


def test_no_xz_magic() -> None:
    with pytest.raises(BadKernelImage, match="no xz stream"):
        extract_vmlinux(b"MZ" + b"\x00" * 4096)


def test_truncated_stream() -> None:
    image = fake_bzimage(fake_elf())
    start = image.find(XZ_MAGIC)
    assert decompress_stream(image[start : start + 200]) is None
    with pytest.raises(BadKernelImage, match="truncated or corrupt"):
        extract_vmlinux(image[: start + 200])


def test_payload_not_elf() -> None:
    with pytest.raises(BadKernelImage, match="not an ELF"):
        extract_vmlinux(fake_bzimage(b"PE\x00\x00" + bytes(1000)))


@pytest.mark.parametrize(
    "payload",
    [fake_elf(machine=EM_AARCH64), fake_elf(elf_class=ELFCLASS32)],
    ids=["aarch64", "elf32"],
)
def test_payload_not_x86_64(payload: bytes) -> None:
    with pytest.raises(BadKernelImage, match="not x86-64"):
        extract_vmlinux(fake_bzimage(payload))


def test_short_elf_is_rejected_not_crashing() -> None:
    with pytest.raises(BadKernelImage, match="truncated"):
        check_x86_64_elf(ELF_MAGIC + bytes([2, 1]))


def test_error_is_one_line_setup_error() -> None:
    with pytest.raises(SetupError) as caught:
        extract_vmlinux(b"nothing here")
    assert "\n" not in caught.value.line()
    assert caught.value.fix


@pytest.mark.vm
def test_real_cached_vmlinux() -> None:
    try:
        layout = paths.current_kernel()
    except SetupError:
        pytest.skip("no guest kernel set up (run `kmodlab setup`)")
    vmlinux = layout.vmlinux.read_bytes()
    check_x86_64_elf(vmlinux)
    assert vmlinux[EI_CLASS] == 2
    assert int.from_bytes(vmlinux[E_MACHINE_OFFSET : E_MACHINE_OFFSET + 2], "little") == EM_X86_64
    assert hashlib.sha256(vmlinux).hexdigest() == layout.read_manifest()["vmlinux_sha256"]
    assert extract_vmlinux(layout.vmlinuz.read_bytes()) == vmlinux
