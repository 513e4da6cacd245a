"""Verdicts that rest on the kernel, not on what the module can write, graded for real.

A module runs with full kernel privilege: it can write the fault-injection
shim's records and the kernel log. A fault point inside a probe used to pass
on the shim's own bound count, or failing that on the driver core's "probe of
... failed" line. plat_forge_probe's probe ignores a failed devm_kzalloc and
returns 0 (the device stays bound), then finds the shim's record writer in its
own symbol table, writes a "failed" record for the registration and logs the
driver core's line. Graded by the merge-base's judges that point passed
(9/9); judged from the driver core's links in sysfs, read by the grader, it
fails. plat_alloc_add (tests/data/precision) is the correct control: the
same module whose probe returns the error.

forge_vm_release's error path keeps a page and a vmalloc'd buffer and logs
ledger records of their release in the shim's format (nonce, load id and
counter read from its own memory). The merge-base's judges passed every
point (9/9): the kmem trace, their only witness, sees neither. The page
probes and /proc/vmallocinfo, read with each point's trace, contradict the
records; vm_release_ok is its correct control.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kmodlab.grader import evidence
from kmodlab.grader.batch import grade_batch
from kmodlab.grader.collection import guest_state as state
from kmodlab.grader.pipeline import Limits, grade
from kmodlab.grader.report.formats import to_text
from kmodlab.grader.report.model import Report
from kmodlab.grader.verdicts.judges import GENERIC_CHECKS

pytestmark = [pytest.mark.vm, pytest.mark.timeout(1800)]
LIMITS = Limits(cycles=4)  # cycling is not what these cases test
DATA = Path(__file__).parent.parent / "data"
SOURCES = {
    "plat_forge_probe": DATA / "trust" / "plat_forge_probe",
    "plat_alloc_add": DATA / "precision" / "plat_alloc_add",  # the correct control
    "forge_vm_release": DATA / "trust" / "forge_vm_release",
    "vm_release_ok": DATA / "trust" / "vm_release_ok",  # its correct control
}
# case -> the checks that do not pass
CORPUS: dict[str, dict[str, str]] = {
    # The forgery is also flagged: it reads its symbol table and names the shim's kfi_note.
    "plat_forge_probe": {"fault-injection": "fail", "integrity": "fail"},
    "plat_alloc_add": {},
    # Flagged for the same reasons, and for the disagreements the kernel found.
    "forge_vm_release": {"fault-injection": "fail", "integrity": "fail"},
    "vm_release_ok": {},
}


@pytest.fixture(scope="module")
def graded(machine, tmp_path_factory) -> dict[str, tuple[Report, evidence.Document]]:
    subs = tmp_path_factory.mktemp("submissions")
    for case, source in SOURCES.items():
        shutil.copytree(source, subs / case)
    out = tmp_path_factory.mktemp("reports")
    summary = grade_batch(
        subs, out, grade=lambda s: grade(s, machine=machine, limits=LIMITS), jobs=2, progress=False
    )
    assert summary.errors == [] and len(summary.graded) == len(SOURCES)
    return {
        case: (
            Report.from_dict(json.loads((out / f"{case}.json").read_text())),
            evidence.from_document(evidence.read_document(out / f"{case}.evidence.json.xz")),
        )
        for case in SOURCES
    }


@pytest.mark.parametrize("case", list(CORPUS))
def test_case_gets_exactly_its_verdicts(graded, case):
    """Do exactly the checks this module's bug (or forgery) breaks fail, and all others pass?"""
    report = graded[case][0]
    expected = {c: CORPUS[case].get(c, "pass") for c in GENERIC_CHECKS}
    got = {c.id: c.status for c in report.checks}
    assert got == expected, to_text(report)


def _probe_point(case: str, graded):
    """The devm_kzalloc point (made in the probe) of the report and of the evidence."""
    report, doc = graded[case]
    fi = next(c for c in report.checks if c.id == "fault-injection")
    (point,) = [p for p in fi.data["points"] if p["call"] == "devm_kzalloc"]
    (ev,) = [p for p in doc.evidence.points if p.call.api == "devm_kzalloc"]
    return point, ev


def test_a_probe_forging_the_shims_record_and_the_log_fails_on_the_kernels_links(graded):
    """With the shim's "failed" record and the driver core's line forged, but the device
    still bound in sysfs, does the probe point fail at devm_kzalloc's line?"""
    point, ev = _probe_point("plat_forge_probe", graded)
    nonce = graded["plat_forge_probe"][1].evidence.nonce
    texts = [k.text for k in ev.load.kmsg]
    # The forgery really happened: what the old judgement read says "failed".
    assert any(t.startswith(f"{nonce} ") and " fail platform_device_add " in t for t in texts)
    assert any("probe of plat_forge_probe failed with error -12" in t for t in texts)
    # The kernel says otherwise: the driver still has the device.
    assert "plat_forge_probe" in state.bound_devices(state.parse_state(ev.bound))
    assert point["verdict"] == "fail"
    assert point["message"].startswith("the probe ignored the failure of devm_kzalloc()")
    source = (SOURCES["plat_forge_probe"] / "plat_forge_probe.c").read_text().splitlines()
    assert source[point["line"] - 1].strip().startswith("st = devm_kzalloc(")


def test_a_probe_returning_the_error_passes_on_the_kernels_links(graded):
    """Does the control's probe point pass, with the kernel showing its device unbound
    after the load (read before the unload) though the normal load bound it?"""
    point, ev = _probe_point("plat_alloc_add", graded)
    assert ev.bound is not None
    assert "plat_alloc_add" not in state.bound_devices(state.parse_state(ev.bound))
    assert (point["verdict"], point["init_returned"]) == ("pass", 0), point["message"]


def test_forged_page_and_vmalloc_releases_are_contradicted_by_the_kernel(graded):
    """With free_pages and vfree records forged in the error path (the memory kept), do
    the points fail with both releases contradicted, and integrity name the disagreement?"""
    report, doc = graded["forge_vm_release"]
    fi = next(c for c in report.checks if c.id == "fault-injection")
    by_call = {p["call"]: p for p in fi.data["points"]}
    assert by_call["vmalloc"]["verdict"] == "pass"  # nothing acquired before it
    assert [x["api"] for x in by_call["__get_free_pages"]["contradicted"]] == ["vmalloc"]
    assert sorted(x["api"] for x in by_call["kmalloc"]["contradicted"]) == [
        "__get_free_pages",
        "vmalloc",
    ]
    for call in ("__get_free_pages", "kmalloc"):
        assert by_call[call]["verdict"] == "fail"
        assert "/proc/vmallocinfo" in by_call[call]["message"]
    assert "the kernel's page trace saw no free of it" in by_call["kmalloc"]["message"]
    # The records were really there: the ledger alone says everything was released.
    assert not by_call["kmalloc"]["leaked"]
    assert {d["where"] for d in fi.data["disagreements"]} == {
        "point 2 of forge_vm_release",
        "point 3 of forge_vm_release",
    }
    integrity = next(c for c in report.checks if c.id == "integrity")
    assert any("the kernel contradicts" in f.message for f in integrity.findings)


def test_honest_page_and_vmalloc_releases_pass_every_point(graded):
    """Does the control, which frees the page and the area, pass every point with
    nothing contradicted (the witnesses see the frees)?"""
    report, _ = graded["vm_release_ok"]
    fi = next(c for c in report.checks if c.id == "fault-injection")
    assert [p["verdict"] for p in fi.data["points"]] == ["pass"] * 3
    assert fi.data["disagreements"] == []
    assert not any(p.get("contradicted") for p in fi.data["points"])
