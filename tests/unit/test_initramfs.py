"""The guest's initramfs: a reproducible newc archive."""

import stat

from kmodlab.guest.initramfs import (
    Entry,
    dir_entry,
    file_entry,
    parse_ldd,
    read_newc,
    symlink_entry,
    with_parents,
    write_newc,
)


def test_newc_round_trip_keeps_files_links_and_device_nodes():
    """Does what we write read back the same: data, modes, symlink targets, device numbers?"""
    entries = with_parents(
        [
            file_entry("init", b"#!/bin/sh\n", 0o755),
            symlink_entry("bin/sh", "dash"),
            Entry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1)),
            file_entry("lib/modules/x/extra/.keep", b""),
        ]
    )
    back = read_newc(write_newc(entries))
    assert back["init"].data == b"#!/bin/sh\n" and back["init"].mode == stat.S_IFREG | 0o755
    assert back["bin/sh"].data == b"dash" and stat.S_ISLNK(back["bin/sh"].mode)
    assert back["dev/console"].rdev == (5, 1)
    assert stat.S_ISDIR(back["lib/modules/x"].mode)


def test_parents_come_before_children_and_archive_is_reproducible():
    """Are parent folders added and ordered first, and is the archive byte-identical each time?"""
    a = with_parents([file_entry("a/b/c", b"1"), dir_entry("z")])
    paths = [e.path for e in a]
    assert paths.index("a") < paths.index("a/b") < paths.index("a/b/c")
    assert write_newc(a) == write_newc(with_parents([dir_entry("z"), file_entry("a/b/c", b"1")]))


def test_archive_members_are_four_byte_aligned():
    """Does every header start on a 4-byte boundary, as the kernel's unpacker requires?"""
    data = write_newc([file_entry("odd", b"12345")])
    offsets = [i for i in range(len(data)) if data.startswith(b"070701", i)]
    assert offsets and all(o % 4 == 0 for o in offsets)


def test_parse_ldd_skips_vdso_and_keeps_interpreter():
    """Are library paths taken from ldd output, the vdso skipped and the loader kept?"""
    out = (
        "\tlinux-vdso.so.1 (0x00007ffd)\n"
        "\tlibzstd.so.1 => /lib/x86_64-linux-gnu/libzstd.so.1 (0x00007f3d)\n"
        "\t/lib64/ld-linux-x86-64.so.2 (0x00007f3d)\n"
    )
    assert parse_ldd(out) == ["/lib/x86_64-linux-gnu/libzstd.so.1", "/lib64/ld-linux-x86-64.so.2"]


def test_boot_list_loads_pci_drivers_only_where_there_is_a_pci_bus(tmp_path):
    """Are the virtio PCI drivers marked `pci` (skipped on microvm) and the rest not?"""
    from kmodlab.guest.initramfs import BOOT_MODULES, module_tree_entries
    from kmodlab.paths import KernelLayout

    layout = KernelLayout(abi="6.1.0-test-amd64", root=tmp_path)
    for rel in BOOT_MODULES:
        (layout.guest_modules / rel).parent.mkdir(parents=True, exist_ok=True)
        (layout.guest_modules / rel).write_bytes(b"\x7fELF")
    entries = {e.path: e for e in module_tree_entries(layout)}
    lines = entries["etc/kmodlab/boot-modules"].data.decode().splitlines()
    assert len(lines) == len(BOOT_MODULES)
    pci = [ln for ln in lines if ln.startswith("pci ")]
    assert sorted(ln.rsplit("/", 1)[1] for ln in pci) == [
        "virtio_pci.ko",
        "virtio_pci_legacy_dev.ko",
        "virtio_pci_modern_dev.ko",
    ]
    # Dependency order holds: the transports after virtio, the console last.
    names = [ln.rsplit("/", 1)[1] for ln in lines]
    assert (
        names.index("virtio.ko") < names.index("virtio_mmio.ko") < names.index("virtio_console.ko")
    )
