"""Saving the booted guest once when several graders start together."""

from __future__ import annotations

import threading
import time

from kmodlab.grader.collection import interfaces
from kmodlab.vm import snapshot


def test_two_graders_starting_at_once_save_the_snapshot_once(tmp_path, monkeypatch) -> None:
    """Does a second ensure_snapshot wait for the first and reuse its file (no clash)?"""
    target = tmp_path / "snapshots" / "key" / "guest.state"
    saves: list[int] = []

    def slow_save(spec, out, **_kw) -> None:
        saves.append(1)
        time.sleep(0.3)  # a boot and a save take seconds
        out.write_bytes(b"state")

    monkeypatch.setattr(snapshot, "snapshot_path", lambda spec, base=None, **_kw: target)
    monkeypatch.setattr(snapshot, "save_snapshot", slow_save)
    got: list[object] = []
    threads = [
        threading.Thread(target=lambda: got.append(snapshot.ensure_snapshot(None)))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert saves == [1] and got == [target] * 3 and target.read_bytes() == b"state"


def test_a_report_in_the_graders_reader_is_told_apart() -> None:
    """Is an oops raised in the interface reader (Comm: head) known as the reader's?"""
    reader = "BUG: unable to handle page fault\nCPU: 0 PID: 92 Comm: sh Tainted: G OE"
    rmmod = "BUG: unable to handle page fault\nCPU: 0 PID: 90 Comm: kmodlab-agent Tainted: G"
    assert interfaces.by_reader(reader) and not interfaces.by_reader(rmmod)
