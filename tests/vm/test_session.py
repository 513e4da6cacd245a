"""The persistent session API and the snapshot cache, on the real guest."""

from __future__ import annotations

import pytest

from kmodlab.vm import snapshot
from kmodlab.vm.session import Session, start_guest

pytestmark = pytest.mark.vm


def test_session_runs_many_commands_and_reads_the_log_since_the_last(session, built):
    """Does one guest serve many commands, each with only the log lines it caused?"""
    session.push_modules([built("hello")])
    first = session.run("insmod hello.ko")
    assert "Hello, world!" in first.log
    assert session.dmesg() == []  # nothing new since the last command
    second = session.run("rmmod hello")
    assert "Hello, world!" not in second.log and "Goodbye, world!" in second.log
    assert session.boots == 1


def test_pushing_a_new_build_replaces_the_module(session, built, tmp_path):
    """After pushing a different .ko under the same name, does the guest load the new one?"""
    session.push_modules([built("hello")])
    assert "Hello, world!" in session.run("insmod hello.ko").log
    session.run("rmmod hello")
    params_ko = built("params")
    renamed = tmp_path / "hello.ko"
    renamed.write_bytes(params_ko.read_bytes())  # a module is loaded by its content, not name
    session.push_modules([renamed])
    assert "params: hello, world" in session.run("insmod hello.ko").log


def test_section_addresses_of_a_loaded_module(session, built):
    """Are the code sections' load addresses read (hello's code is all __init/__exit)?"""
    session.push_modules([built("hello")])
    session.run("insmod hello.ko")
    sections = session.section_addresses("hello")
    assert {".init.text", ".exit.text"} <= set(sections)
    assert all(addr >= 0xFFFFFFFFC0000000 for addr in sections.values())


def test_a_damaged_snapshot_is_dropped_and_the_guest_boots_cold(machine, tmp_path, monkeypatch):
    """Does a snapshot QEMU cannot load fall back to a cold boot, replacing the bad file?"""
    monkeypatch.setenv("KMODLAB_HOME", str(tmp_path))
    path = snapshot.snapshot_path(machine.spec)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"QEVM this is not a migration stream")
    guest = start_guest(machine)
    try:
        assert guest.run(["uname", "-r"]).stdout.strip() == machine.kernel.abi
    finally:
        guest.close()
    assert not path.exists() or path.read_bytes()[:4] != b"QEVM"


def test_snapshot_is_saved_once_and_reused(machine, tmp_path, monkeypatch):
    """Is the first start saving a snapshot that the next start restores?"""
    monkeypatch.setenv("KMODLAB_HOME", str(tmp_path))
    with Session(machine) as s:
        assert s.run("true").ok
    path = snapshot.snapshot_path(machine.spec)
    assert path.is_file()
    stamp = path.stat().st_mtime_ns
    with Session(machine) as s:
        assert s.run("cat /proc/uptime").ok
    assert path.stat().st_mtime_ns == stamp
