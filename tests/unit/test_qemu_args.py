"""QEMU command lines, built as lists by pure functions."""

from pathlib import Path

from kmodlab.vm.qemu import ACCELERATORS, MachineSpec, fitted, qemu_argv, snapshot_key


def _spec(accel="tcg", **kw):
    return MachineSpec(Path("/c/vmlinux"), Path("/c/initrd.cpio"), ACCELERATORS[accel], **kw)


def _value(argv, flag):
    return argv[argv.index(flag) + 1]


def test_guest_has_no_network_no_disk_and_boots_the_elf_kernel():
    """Does the guest get no NIC, no default devices, and the vmlinux + initramfs we name?"""
    argv = qemu_argv(_spec(), agent_socket=Path("/run/a.sock"))
    assert argv[0] == "qemu-system-x86_64"
    assert _value(argv, "-nic") == "none" and "-nodefaults" in argv
    assert _value(argv, "-kernel") == "/c/vmlinux" and _value(argv, "-initrd") == "/c/initrd.cpio"
    assert not any(a.startswith(("-drive", "-hda", "-virtfs", "-fsdev")) for a in argv)
    assert "-no-reboot" in argv  # a panic ends QEMU instead of rebooting


def test_kernel_command_line_makes_panics_fatal_and_console_serial():
    """Is the console on ttyS0 and does a panic stop the machine at once?"""
    cmdline = _value(qemu_argv(_spec(), agent_socket=Path("/a")), "-append").split()
    assert "console=ttyS0" in cmdline and "panic=-1" in cmdline


def test_agent_channel_waits_for_the_host():
    """Does QEMU hold the guest until the host connects, so no byte is lost?"""
    argv = qemu_argv(_spec(), agent_socket=Path("/run/a.sock"))
    chardevs = [argv[i + 1] for i, a in enumerate(argv) if a == "-chardev"]
    assert "socket,id=agent,path=/run/a.sock,server=on,wait=on" in chardevs
    assert "virtserialport,chardev=agent,name=kmodlab.agent" in argv


def test_restore_uses_incoming_with_a_quoted_path():
    """Is a snapshot path with spaces quoted for QEMU's exec: migration?"""
    argv = qemu_argv(_spec(), agent_socket=Path("/a"), incoming=Path("/my cache/g.state"))
    assert _value(argv, "-incoming") == "exec:cat '/my cache/g.state'"


def test_accelerators_differ_only_in_their_own_arguments():
    """Do KVM and TCG command lines differ only by the accelerator's arguments?"""
    kvm = qemu_argv(_spec("kvm"), agent_socket=Path("/a"))
    tcg = qemu_argv(_spec("tcg"), agent_socket=Path("/a"))
    assert "kvm" in _value(kvm, "-accel") and _value(tcg, "-accel") == "tcg"
    assert [a for a in kvm if a not in ACCELERATORS["kvm"].args] == [
        a for a in tcg if a not in ACCELERATORS["tcg"].args
    ]


def test_snapshot_key_follows_what_the_saved_machine_depends_on():
    """Does the key change with QEMU, kernel, initramfs, accelerator, memory; not with paths?"""
    base = snapshot_key(_spec(), "QEMU 7.2", "k1", "i1")
    moved = MachineSpec(Path("/x/vmlinux"), Path("/x/i.cpio"), ACCELERATORS["tcg"])
    assert snapshot_key(moved, "QEMU 7.2", "k1", "i1") == base
    assert snapshot_key(_spec(), "QEMU 8.0", "k1", "i1") != base
    assert snapshot_key(_spec(), "QEMU 7.2", "k2", "i1") != base
    assert snapshot_key(_spec(), "QEMU 7.2", "k1", "i2") != base
    assert snapshot_key(_spec("kvm"), "QEMU 7.2", "k1", "i1") != base
    assert snapshot_key(_spec(memory_mb=512), "QEMU 7.2", "k1", "i1") != base


def test_microvm_puts_the_agent_port_on_virtio_mmio_and_skips_pci():
    """On microvm is the agent's controller virtio-mmio, with PCI probing off?"""
    spec = fitted(_spec(tsc_khz=2_445_000), ACCELERATORS["tcg"])
    argv = qemu_argv(spec, agent_socket=Path("/a"))
    assert _value(argv, "-machine") == "microvm"
    assert "virtio-serial-device,id=vser" in argv
    assert "pci=off" in _value(argv, "-append").split()


def test_tcg_guest_is_told_the_tsc_frequency_and_kvm_guest_is_not():
    """Does only a TCG guest get tsc_early_khz (microvm has no timer to calibrate against)?"""
    tcg = fitted(_spec(tsc_khz=2_445_000), ACCELERATORS["tcg"])
    kvm = fitted(_spec(tsc_khz=2_445_000), ACCELERATORS["kvm"])
    assert "tsc_early_khz=2445000" in tcg.cmdline().split()
    assert "tsc_early_khz" not in kvm.cmdline()


def test_tcg_without_a_tsc_frequency_falls_back_to_q35():
    """Without the TSC frequency, is a TCG guest put on q35 (PCI, with HPET) instead?"""
    spec = fitted(_spec(tsc_khz=None), ACCELERATORS["tcg"])
    argv = qemu_argv(spec, agent_socket=Path("/a"))
    assert _value(argv, "-machine") == "q35" and "virtio-serial-pci,id=vser" in argv
    assert "pci=off" not in spec.cmdline() and "tsc_early_khz" not in spec.cmdline()
    assert fitted(_spec(tsc_khz=None), ACCELERATORS["kvm"]).machine.name == "microvm"
    assert fitted(_spec(tsc_khz=1), ACCELERATORS["tcg"], "q35").machine.name == "q35"


def test_snapshot_key_differs_between_machines_and_tsc_frequencies():
    """Is a snapshot of a microvm guest never restored into q35, or with another TSC rate?"""
    micro = fitted(_spec(tsc_khz=2_445_000), ACCELERATORS["tcg"])
    key = snapshot_key(micro, "QEMU 7.2", "k", "i")
    assert snapshot_key(fitted(micro, ACCELERATORS["tcg"], "q35"), "QEMU 7.2", "k", "i") != key
    other = fitted(_spec(tsc_khz=3_000_000), ACCELERATORS["tcg"])
    assert snapshot_key(other, "QEMU 7.2", "k", "i") != key
