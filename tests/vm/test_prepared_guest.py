"""The grading snapshot, for real: saved with both traces on, restored by every grade."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmodlab.grader.collection import collect
from kmodlab.grader.pipeline import grade
from kmodlab.vm import snapshot
from kmodlab.vm.session import Session, silent, start_guest

pytestmark = pytest.mark.vm

DATA = Path(__file__).parent.parent / "data"


def _tracing_on(guest, instance: str) -> str:
    where = f"/sys/kernel/tracing/instances/{instance}"
    script = (
        f"cat {where}/tracing_on {where}/events/kmem/kmalloc/enable"
        f" {where}_timers/tracing_on {where}_timers/events/timer/timer_start/enable"
    )
    return guest.run(["/bin/sh", "-c", script]).stdout.split()


def test_a_restored_grading_guest_is_already_recording_and_the_lab_guest_is_not(machine):
    """Does every restore of the grading snapshot start with both traces on, under one name?"""
    preparation = collect.grading_preparation()
    seen = []
    for _ in range(2):
        guest = start_guest(machine, preparation=preparation, progress=silent)
        try:
            facts = guest.prepared
            assert facts and facts["tracing"] is True and facts["timer_tracing"] is True
            assert _tracing_on(guest, facts["trace_instance"]) == ["1", "1", "1", "1"]
            seen.append(facts["trace_instance"])
        finally:
            guest.close()
    assert seen[0] == seen[1]
    path = snapshot.snapshot_path(machine.spec, variant=preparation.name)
    assert snapshot.prepared_facts(path)["trace_instance"] == seen[0]
    lab = start_guest(machine, progress=silent)  # the lab's guest: no preparation
    try:
        assert lab.prepared is None
        assert lab.run(["ls", "/sys/kernel/tracing/instances"]).stdout.split() == []
    finally:
        lab.close()


def test_a_grade_uses_the_prepared_traces_and_they_still_witness_a_leak(machine):
    """Is a leak still found by the kmem trace a grade no longer starts itself?"""
    preparation = collect.grading_preparation()
    facts = snapshot.prepared_facts(snapshot.snapshot_path(machine.spec, variant=preparation.name))
    if facts is None:  # the first test saved it; alone, save it now
        with Session(machine, progress=silent, preparation=preparation) as s:
            facts = s.prepared
    report = grade(DATA / "leaky" / "leak_kmalloc", machine=machine)
    doc = report.evidence
    assert doc["trace_instance"] == facts["trace_instance"]
    assert doc["state_before"] == facts["state"]
    assert doc["tracing"] is True and doc["timer_tracing"] is True
    leaks = next(c for c in report.checks if c.id == "leaks")
    assert leaks.status == "fail", leaks.summary
    assert any("kmalloc" in f.message for f in leaks.findings), leaks.findings
