"""The grading snapshot: traces started and the state read once, before the guest is saved."""

from __future__ import annotations

import json
from pathlib import Path

from kmodlab.grader.collection import collect
from kmodlab.grader.collection import guest_state as state
from kmodlab.grader.evidence import Evidence
from kmodlab.vm import snapshot
from kmodlab.vm.guest import CommandResult

STATE = "@@ class\nmisc\n@@ files\n/proc/sys/kernel/tainted:4096\n@@ end\n"


class FakeSession:
    """A session whose guest answers each shell script from a function; records them."""

    def __init__(self, prepared, answer) -> None:
        self.prepared = prepared
        self.answer = answer
        self.scripts: list[str] = []
        self.boots = 1

    def sh(self, script: str, **_kw) -> CommandResult:
        self.scripts.append(script)
        return CommandResult(["/bin/sh", "-c", script], "exited", 0, self.answer(script), "")

    script = sh

    def run(self, argv, **_kw) -> CommandResult:
        return self.sh(" ".join(argv))


def _cleared(script: str) -> str:
    return "".join(f"cleared {w}\n" for w in ("kmem", "timers") if f"echo 'cleared {w}'" in script)


def test_the_snapshot_name_follows_the_commands_not_the_random_instance(monkeypatch):
    """Is the grading snapshot's name the same every time, and new when its commands change?"""
    first, second = collect.grading_preparation(), collect.grading_preparation()
    assert first.name == second.name and first.name.startswith("graded-")
    monkeypatch.setattr(state, "STATE_SCRIPT", state.STATE_SCRIPT + "echo changed\n")
    assert collect.grading_preparation().name != first.name


def test_a_prepared_guest_costs_one_request_that_only_empties_the_buffers():
    """With the state saved beside the snapshot, does before_load only empty both traces?"""
    facts = {"trace_instance": "0123456789abcdef", "tracing": True, "timer_tracing": True}
    s = FakeSession({**facts, "state": STATE}, _cleared)
    ev = Evidence(Path("sub"))
    collect.before_load(ev, s)  # type: ignore[arg-type]
    assert len(s.scripts) == 1
    assert "mkdir" not in s.scripts[0] and "enable" not in s.scripts[0]
    assert "instances/0123456789abcdef &&" in s.scripts[0]
    assert "instances/0123456789abcdef_timers &&" in s.scripts[0]
    assert ev.trace_instance == "0123456789abcdef"
    assert ev.state_before == STATE and ev.taint_before == 4096
    assert ev.tracing and ev.timer_tracing and ev.prepared_boot == 1


def test_a_buffer_that_could_not_be_emptied_makes_its_witness_abstain():
    """Is a trace whose emptying failed (no `cleared` line) reported off, not trusted?"""
    facts = {"trace_instance": "0123456789abcdef", "tracing": True, "timer_tracing": True}
    s = FakeSession({**facts, "state": STATE}, lambda _script: "cleared timers\n")
    ev = Evidence(Path("sub"))
    collect.before_load(ev, s)  # type: ignore[arg-type]
    assert not ev.tracing and ev.timer_tracing


def test_without_a_saved_state_the_state_is_read_in_the_same_request():
    """Does a prepared guest whose state was not saved read it, and empty the buffers, at once?"""
    facts = {"trace_instance": "0123456789abcdef", "tracing": True, "timer_tracing": False}
    s = FakeSession(facts, lambda script: f"{STATE}{collect._SPLIT}\n{_cleared(script)}")
    ev = Evidence(Path("sub"))
    collect.before_load(ev, s)  # type: ignore[arg-type]
    assert len(s.scripts) == 1 and state.STATE_SCRIPT in s.scripts[0]
    assert ev.state_before == STATE and ev.tracing and not ev.timer_tracing


def test_an_unprepared_or_odd_guest_starts_its_own_traces_under_a_new_name():
    """Is a cold guest (or a sidecar naming a path, not a name) traced as before, never trusted?"""
    for prepared in (None, {"trace_instance": "../../x; reboot", "tracing": True}):
        s = FakeSession(prepared, lambda script: STATE if "@@ class" in script else "")
        ev = Evidence(Path("sub"))
        collect.before_load(ev, s)  # type: ignore[arg-type]
        assert ev.trace_instance and ev.trace_instance != "../../x; reboot"
        assert any(
            f"mkdir -p /sys/kernel/tracing/instances/{ev.trace_instance}" in x for x in s.scripts
        )
        assert not any("reboot" in x for x in s.scripts)


def test_prepared_facts_are_read_from_beside_the_snapshot(tmp_path):
    """Does a snapshot's preparation come back from its sidecar, and a missing one as None?"""
    path = tmp_path / "graded-x" / "guest.state"
    path.parent.mkdir()
    assert snapshot.prepared_facts(path) is None
    (path.parent / snapshot.PREPARED).write_text(json.dumps({"trace_instance": "ab"}))
    assert snapshot.prepared_facts(path) == {"trace_instance": "ab"}
    (path.parent / snapshot.PREPARED).write_text("[1, 2")
    assert snapshot.prepared_facts(path) is None
