"""The lab engine against the real guest kernel."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from kmodlab.vm import accel
from kmodlab.vm.console import find_reports
from kmodlab.vm.guest import GuestCrashed, GuestHung
from kmodlab.vm.qemu import Accelerator

pytestmark = pytest.mark.vm


def test_hello_loads_prints_and_unloads(session, built):
    """Does hello load, print its line, appear in lsmod, and say goodbye on rmmod?"""
    session.push_modules([built("hello")])
    load = session.run("insmod hello.ko")
    assert load.ok, load.stderr
    assert "Hello, world!" in [r.text for r in load.kmsg]
    assert "hello" in session.run("lsmod").stdout.split()
    unload = session.run("rmmod hello")
    assert unload.ok and [r.text for r in unload.kmsg] == ["Goodbye, world!"]
    assert "hello" not in session.run("cat /proc/modules").stdout.split()


def test_kmod_tools_are_the_real_ones(session, built):
    """Do modprobe/depmod/modinfo work by module name, as on a Debian system?"""
    session.push_modules([built("hello")])
    assert "license:        GPL" in session.run("modinfo hello").stdout
    assert "extra/hello.ko:" in session.sh("cat /lib/modules/$(uname -r)/modules.dep").stdout
    probe = session.run("modprobe hello")
    assert probe.ok and "Hello, world!" in probe.log
    assert session.run("modprobe -r hello").ok
    assert "kmod" in session.sh("readlink -f $(command -v insmod)").stdout


def test_module_parameters_reach_init_and_sysfs(session, built):
    """Does insmod NAME.ko param=value set the parameter seen by init and /sys/module?"""
    session.push_modules([built("params")])
    r = session.run(["insmod", "params.ko", 'whom="kernel hackers"'])  # the kernel splits on spaces
    assert r.ok and "params: hello, kernel hackers" in r.log
    assert session.run("cat /sys/module/params/parameters/whom").stdout == "kernel hackers\n"
    assert "params: goodbye, kernel hackers" in session.run("rmmod params").log


def test_null_dereference_in_init_gives_the_oops_and_the_guest_goes_on(session, built):
    """Does an oops in init kill insmod, come back as the kernel's report, guest still usable?"""
    session.push_modules([built("null_deref")])
    r = session.run("insmod null_deref.ko")
    assert r.status == "signaled" and r.returncode == -9
    (oops,) = find_reports(r.log)
    assert oops.kind == "oops" and "NULL pointer dereference" in oops.title
    assert oops.rip.startswith("null_deref_init+") and oops.rip.endswith("[null_deref]")
    assert int(session.run("cat /proc/sys/kernel/tainted").stdout) & 128  # taint D
    assert session.run("uname -r").ok and session.boots == 1


def test_init_that_never_returns_is_stopped_by_the_timeout(session, built):
    """Is an insmod stuck in init a timeout near the limit, with the guest still answering?"""
    session.push_modules([built("hang_init")])
    t0 = time.monotonic()
    r = session.run("insmod hang_init.ko", timeout_s=2)
    took = time.monotonic() - t0
    assert r.status == "timeout" and r.returncode is None
    assert 2 <= took < 10
    assert "hang_init: going to sleep forever" in r.log
    assert session.run("true").ok


def test_failed_init_runs_exactly_once(session, built):
    """Does a failing init run once per insmod (not twice, as busybox's insmod would)?"""
    session.push_modules([built("fail_init")])
    r = session.run("insmod fail_init.ko")
    assert r.returncode == 1 and "Cannot allocate memory" in r.stderr
    assert [x.text for x in r.kmsg].count("fail_init: init called") == 1
    again = session.run("insmod fail_init.ko")
    assert [x.text for x in again.kmsg].count("fail_init: init called") == 1


def test_panic_is_reported_with_the_kernels_text_and_a_fresh_guest_follows(session, built):
    """Does a panic raise GuestCrashed with the panic report, and the next call get a new guest?"""
    session.push_modules([built("hello"), built("panic_init")])
    with pytest.raises(GuestCrashed) as info:
        session.run("insmod panic_init.ko")
    assert info.value.reports[-1].kind == "panic"
    assert "student module panicked on purpose" in info.value.problem
    r = session.run("insmod hello.ko")  # modules are pushed again into the new guest
    assert r.ok and session.boots == 2


def test_guest_that_stops_answering_is_detected_as_hung(session, built):
    """Is a guest spinning with interrupts off reported as hung, and replaced?"""
    session.push_modules([built("lockup_init")])
    with pytest.raises(GuestHung):
        session.run("insmod lockup_init.ko", timeout_s=1)
    assert session.run("true").ok and session.boots == 2


def test_dead_accelerator_falls_back_to_emulation(machine):
    """When an accelerator cannot run the guest, is the next one chosen, with the reason said?"""
    # -S holds the CPU forever: a stand-in for KVM that hangs, on any host.
    dead = Accelerator("dead", ("-accel", "tcg", "-S"), "a hanging accelerator")
    choice = accel.probe(
        machine.spec,
        [dead, machine.spec.accel],
        try_boot=lambda s: accel.boots(s, timeout_s=5 if s.accel is dead else 60),
    )
    assert choice.accel == machine.spec.accel
    assert "dead does not work here" in choice.note


def test_real_accelerator_choice_boots(machine):
    """Does the accelerator chosen for this host (KVM is judged by booting) run the guest?"""
    choice = accel.probe(machine.spec, accel.candidates())
    assert accel.boots(replace(machine.spec, accel=choice.accel)) is None
    if accel.KVM_DEVICE.exists() and choice.accel.name == "tcg":
        assert "kvm does not work here" in choice.note


def test_agent_builtins_load_unload_and_cycle_with_one_init_per_load(session, built):
    """Do Session.load/unload/cycle (the agent's @load/@unload/@cycle) load with a single
    finit_module and report errno?"""
    session.push_modules([built("hello"), built("fail_init")])
    r = session.cycle("hello.ko", "hello", 20)
    # A line per finished cycle (progress that survives a timeout), then the total.
    assert r.ok and r.stdout == "".join(f"cycle {i} ok\n" for i in range(1, 21)) + "cycles 20 ok\n"
    texts = [x.text for x in r.kmsg]
    assert texts.count("Hello, world!") == 20 and texts.count("Goodbye, world!") == 20
    failed = session.load("fail_init.ko")
    assert failed.returncode == 12 and "Cannot allocate memory" in failed.stdout  # ENOMEM
    assert [x.text for x in failed.kmsg].count("fail_init: init called") == 1
    assert session.unload("fail_init").returncode == 2  # ENOENT: never loaded


def test_builtin_load_of_an_init_that_never_returns_times_out(session, built):
    """Does @load of a stuck init come back as a timeout, the agent still serving?"""
    session.push_modules([built("hang_init")])
    r = session.load("hang_init.ko", timeout_s=2)
    assert r.status == "timeout" and "hang_init: going to sleep forever" in r.log
    assert session.run("true").ok and session.boots == 1


def test_the_agent_is_init_and_sets_up_what_the_course_inspects(session):
    """Is PID 1 the agent, with /proc, /sys, debugfs, tracefs, console level and /work set up?"""
    assert session.run("readlink /proc/1/exe").stdout.strip() == "/sbin/kmodlab-agent"
    mounts = {
        line.split()[1]: line.split()[2]
        for line in session.run("cat /proc/mounts").stdout.splitlines()
    }
    for where, fstype in {
        "/proc": "proc",
        "/sys": "sysfs",
        "/dev": "devtmpfs",
        "/sys/kernel/debug": "debugfs",
        "/sys/kernel/tracing": "tracefs",
        "/tmp": "tmpfs",
    }.items():
        assert mounts.get(where) == fstype, (where, mounts)
    assert session.run("cat /proc/sys/kernel/printk").stdout.split()[0] == "7"
    # /work links to the module folder, which `pwd` prints resolved.
    assert session.run("pwd").stdout == session.run("readlink -f /work").stdout
    assert session.run("hostname").stdout.strip() == "kmodlab"
    assert "/sbin" in session.run("/bin/sh -c 'echo $PATH'").stdout


def test_scrub_zeroes_free_memory_and_the_guest_goes_on(session):
    """Does @scrub touch (and so zero) nearly all free memory without upsetting the guest?"""
    free_kb = int(session.run("grep MemFree /proc/meminfo").stdout.split()[1])
    r = session.run(["@scrub"])
    assert r.ok, r.stdout
    scrubbed = int(r.stdout.split()[1])
    assert scrubbed > free_kb // 2, (scrubbed, free_kb)
    assert session.run("true").ok and "Out of memory" not in session.run("dmesg").stdout


def test_q35_fallback_machine_boots_and_runs_modules(machine, built):
    """Where microvm cannot be used (TCG without a TSC frequency), does q35 run the lab?"""
    from kmodlab.vm.qemu import fitted
    from kmodlab.vm.session import LabMachine, Session, silent

    q35 = LabMachine(machine.kernel, fitted(machine.spec, machine.spec.accel, "q35"), "")
    with Session(q35, use_snapshot=False, progress=silent) as s:
        s.push_modules([built("hello")])
        r = s.run("insmod hello.ko")
        assert r.ok and "Hello" in r.log
        assert s.run("cat /sys/class/virtio-ports/vport0p1/name").stdout.strip() == "kmodlab.agent"
        assert "virtio_pci " in s.run("cat /proc/modules").stdout


def test_default_machine_is_microvm_where_the_tsc_is_known(machine):
    """On an x86-64 host is the guest the faster microvm, told the host's TSC frequency?"""
    import platform

    from kmodlab.vm.session import Session, silent

    if platform.machine() != "x86_64":
        pytest.skip("the TSC probe is x86-64 only")
    assert machine.spec.machine.name == "microvm"
    with Session(machine, progress=silent) as s:
        loaded = s.run("cat /proc/modules").stdout
    assert "virtio_mmio " in loaded and "virtio_pci" not in loaded  # no PCI bus: not loaded
    if machine.spec.accel.name == "tcg":
        assert f"tsc_early_khz={machine.spec.tsc_khz}" in machine.spec.cmdline()


def test_machine_can_be_chosen_and_a_wrong_name_is_one_line(monkeypatch):
    """Does KMODLAB_MACHINE pick the machine, and does a typo give the choices, not a traceback?"""
    from kmodlab.errors import SetupError
    from kmodlab.vm.session import prepare

    monkeypatch.setenv("KMODLAB_MACHINE", "q35")
    assert prepare().spec.machine.name == "q35"
    monkeypatch.setenv("KMODLAB_MACHINE", "pc-i440")
    with pytest.raises(SetupError, match="use one of microvm, q35"):
        prepare()


def test_command_stuck_after_an_oops_is_reported_hung_without_waiting_its_timeout(session, built):
    """When an oops leaves the command waiting forever, is the guest declared hung in seconds?"""
    from kmodlab.vm.guest import FATAL_GRACE_S

    session.push_modules([built("oops_then_wait")])
    started = time.monotonic()
    with pytest.raises(GuestHung) as info:
        session.run("insmod oops_then_wait.ko", timeout_s=60)
    took = time.monotonic() - started
    assert took < FATAL_GRACE_S + 10, took  # not the 60 s timeout
    assert "BUG: kernel NULL pointer dereference" in info.value.problem
    assert any(r.rip and "worker" in r.rip for r in info.value.reports)
    assert session.run("true").ok  # a fresh guest follows
