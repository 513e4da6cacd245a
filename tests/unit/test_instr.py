"""Link-level instrumentation on the host (pure parts): arming copies, sorting imports,
the kernel witness against forged releases, and points whose injection never happened."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from kmodlab.grader.collection import instrument
from kmodlab.grader.evidence import Evidence, PointEvidence, Step
from kmodlab.grader.verdicts import witness
from kmodlab.grader.verdicts.judges import Context, judge_fault_injection, judge_point
from kmodlab.grader.verdicts.ledger import parse_ledger
from kmodlab.vm.guest import CommandResult
from kmodlab.vm.protocol import KmsgRecord

NONCE = "5eed5eed00c0ffee"
P1, P2 = "ffff888000000100", "ffff888000000200"

needs_gcc = pytest.mark.skipif(not shutil.which("gcc"), reason="gcc is not installed")


def _object(tmp: Path, source: str) -> Path:
    (tmp / "t.c").write_text(source)
    subprocess.run(["gcc", "-c", "-O1", "-o", str(tmp / "t.o"), str(tmp / "t.c")], check=True)
    return tmp / "t.o"


@needs_gcc
def test_arm_patches_four_bytes_of_the_copy_only(tmp_path):
    """Does arm() XOR the call number into the kfi_arm_ variable of a copy, leaving the
    original and every other byte alone?"""
    obj = _object(tmp_path, "unsigned int kfi_arm_x __attribute__((used)) = 0x80000005u;\n"
                            "int other = 7;\n")  # fmt: skip
    original = obj.read_bytes()
    armed = instrument.arm(obj, 3, tmp_path / "armed" / "t.ko")
    assert obj.read_bytes() == original
    diff = [i for i, (a, b) in enumerate(zip(original, armed.read_bytes(), strict=True)) if a != b]
    assert len(diff) == 1  # 0x05 ^ 3 = 0x06: one byte of four changes
    assert armed.read_bytes()[diff[0]] == 0x05 ^ 3
    with pytest.raises(RuntimeError):
        instrument.arm(_object(tmp_path, "int nothing = 1;\n"), 1, tmp_path / "x.ko")


@needs_gcc
def test_imports_sort_into_wrapped_untested_and_tampering(tmp_path):
    """Are a module's own imports sorted into wrapped (kmalloc_trace), untested
    (register_netdevice_notifier: acquires, no wrapper) and tampering (__real_kfree
    reaches the real kfree around the wrapper), harmless ones (printk) nowhere?"""
    source = """
    void *kmalloc_trace(void *, unsigned, unsigned long);
    int register_netdevice_notifier(void *);
    void __real_kfree(const void *);
    int _printk(const char *, ...);
    void kfi_hint_abc(const char *, const char *, const char *, int);
    void *t(void) { void *p = kmalloc_trace(0, 0, 8); kfi_hint_abc(0, 0, 0, 0);
        register_netdevice_notifier(p); __real_kfree(p); _printk("x"); return p; }
    """
    _object(tmp_path, source)
    (tmp_path / "m.mod").write_text("t.o\n")
    report = instrument.import_report(tmp_path, "m")
    assert report.wrapped == ("__kmalloc_node_track_caller", "kmalloc_trace")
    assert report.untested == ("register_netdevice_notifier",)
    assert report.tampering == ("__real_kfree",)


def _rec(seq, op, api, rest, *, nth=None):
    n = f" n={nth}" if nth else ""
    return f"{NONCE} {seq} {op} {api}{n} {rest} mod=m load=0000000a at=/b/m.c:{seq}"


TRACE = """@@ stats
overrun: 0
dropped events: 0
@@ trace
 insmod-50 [000] ..... 10.000001: kmalloc: call_site=m_init+0x10/0x40 [m] ptr={p} bytes_req=8 bytes_alloc=8 gfp_flags=GFP_KERNEL node=-1 accounted=false
{free}@@ end
"""  # noqa: E501


def test_a_release_the_kmem_trace_contradicts_is_a_disagreement():
    """Is a ledger release of an object the kernel's trace shows allocated and never
    freed reported (a forged record), and one the trace saw freed not?"""
    acquired = _rec(1, "acquire", "kmalloc", f"h={P1} size=8", nth=1)
    events = parse_ledger([acquired, _rec(2, "release", "kfree", f"h={P1}")], NONCE)
    kept = TRACE.format(p="0x" + P1, free="")
    free = f" rmmod-60 [000] ..... 11.0: kfree: call_site=m_exit+0x5/0x9 [m] ptr=0x{P1}\n"
    freed = TRACE.format(p="0x" + P1, free=free)
    assert [e.api for e in witness.contradicted_releases(events, kept)] == ["kmalloc"]
    assert witness.contradicted_releases(events, freed) == []
    assert witness.contradicted_releases(events, None) == []  # no witness: abstain


def _point(index: int, records: list[str], returncode: int = 12) -> PointEvidence:
    call = parse_ledger([_rec(1, "acquire", "kzalloc", f"h={P1} size=8", nth=index)], NONCE)[0]
    result = CommandResult(["@load"], "exited", returncode, "", "")
    result.kmsg = [KmsgRecord(7, 0, 1.0, r) for r in records]
    p = PointEvidence("m", index, call, load=Step("load m failing call 1", result))
    p.state_before = p.state_after = "@@ end\n"
    return p


def _context(points: list[PointEvidence]) -> Context:
    ev = Evidence(submission=Path("/s"), instrumented=True, nonce=NONCE, points=points)
    loaded = CommandResult(["@load"], "exited", 0, "", "")
    ev.loads = [Step("load m", loaded)]
    ev.order = ["m"]
    return Context(ev)


def test_a_point_passes_only_where_its_injection_happened():
    """Is a point whose load holds no inject record of its module and number
    "not-injected" (an init that bailed out early, or another module's record), and
    is a check made of such points a fail, never a pass?"""
    bailed = _point(1, [])  # init returned -ENOMEM before reaching call 1
    other = _point(
        1, [_rec(1, "inject", "kzalloc", "via=kmalloc", nth=1).replace("mod=m", "mod=x")]
    )
    for p in (bailed, other):
        assert judge_point(_context([p]), p)["verdict"] == "not-injected"
    check = judge_fault_injection(_context([bailed]))
    assert check.status == "fail" and check.score == 0


def test_an_init_that_bails_out_at_some_points_cannot_pass_on_the_others():
    """With one real injection that unwinds and one that never happened (init bailed
    out before the call), is the check a fail at half the points, saying why?"""
    real = _point(1, [_rec(1, "inject", "kzalloc", "via=kmalloc", nth=1)])
    ghost = _point(2, [])
    check = judge_fault_injection(_context([real, ghost]))
    assert check.status == "fail" and check.score == 0.5 * check.max_score
    assert "1 of 2" in check.summary and "never reached" in check.summary
    assert [p["verdict"] for p in check.data["points"]] == ["pass", "not-injected"]


def test_a_dashed_module_name_is_the_same_module_as_its_records():
    """Is the point of module `m-1` (as kbuild's obj-m names it) injected when its
    records say mod=m_1 (KBUILD_MODNAME)?"""
    record = _rec(1, "inject", "kzalloc", "via=kmalloc", nth=1).replace("mod=m", "mod=m_1")
    p = _point(1, [record])
    p.module = "m-1"
    assert judge_point(_context([p]), p)["verdict"] == "pass"


def test_a_point_never_reached_is_drawn_as_such():
    """Does the ladder of a not-injected point say the call was never reached, not that
    it failed there?"""
    from kmodlab.grader.report.ladder import ladder_lines

    point = judge_point(_context([_point(1, [])]), _point(1, []))
    lines = ladder_lines(point)
    assert any("never reached" in line for line in lines)
    assert not any("fails here" in line for line in lines)
