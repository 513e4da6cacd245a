"""A failure inside a probe the kernel runs during a registration is the probe's to handle.

The ledger records are written here in the shim's format (kmodlab_fi_shim.c):
a platform driver registered first (no device yet, bound=0), then a device
whose registration runs the driver's probe, which calls devm_kzalloc (its
record says in=platform_device_register_full). Whether the probe failed is
the kernel's to say: the driver core's links between the driver and its
devices, read by the grader (guest_state.BOUND_SECTION), in the normal load
and right after the point's. The VM corpus (tests/vm/test_precision_corpus.py)
grades real modules of each kind; tests/vm/test_trust_corpus.py the forgeries.
"""

from __future__ import annotations

from pathlib import Path

from kmodlab.grader.evidence import Evidence, PointEvidence, Step
from kmodlab.grader.verdicts import judges, ledger
from kmodlab.vm.guest import CommandResult
from kmodlab.vm.protocol import KmsgRecord

NONCE = "0123abcd0123abcd"
DRV, DEV, ST = "ffff888001000000", "ffff888002000000", "ffff888003000000"
SOURCE = {"m.c": "\n".join(f"/* line {i} */" for i in range(1, 80))}


def _rec(seq: int, text: str, load: str) -> str:
    op, _, rest = text.partition(" ")
    api, _, rest = rest.partition(" ")
    return f"{NONCE} {seq} {op} {api} {rest} mod=m load={load}"


def _step(name: str, lines: list[str], load: str = "00000001", first: int = 1) -> Step:
    """A step whose kernel log holds these records (numbered from `first`, as the
    shim numbers one load's records on through its unload)."""
    kmsg = [KmsgRecord(7, i, i, _rec(i, t, load)) for i, t in enumerate(lines, first)]
    return Step(name, CommandResult([name], "exited", 0, "", "", kmsg))


def _clean_load() -> Step:
    return _step(
        "load m",
        [
            f"acquire platform_driver_register n=1 h={DRV} bound=0 name=m at=m.c:50",
            f"call devm_kzalloc n=3 h={ST} size=16 in=platform_device_register_full at=m.c:21",
            f"acquire platform_device_register_full n=2 h={DEV} bound=1 name=m at=m.c:53",
        ],
    )


def _unload(load: str) -> Step:
    return _step(
        "unload m",
        [
            f"release platform_device_unregister h={DEV} at=m.c:62",
            f"release platform_driver_unregister h={DRV} at=m.c:63",
        ],
        load=load,
        first=10,
    )


# The bound devices as BOUND_SECTION prints them: the platform's own driver
# and device always there, m's device "m.0" bound to the driver "m" when bound.
def _bound(*lines: str) -> str:
    return "\n".join(["@@ bound", "drivers/serial8250/serial8250", "devices/serial8250/driver",
                      *lines, "@@ end", ""])  # fmt: skip


BOUND = _bound("drivers/m/m.0", "devices/m.0/driver")
UNBOUND = _bound()


def _evidence(
    point_load: list[str],
    *,
    unload: Step | None,
    log: str | None = None,
    bound: str | None = UNBOUND,
) -> tuple:
    ev = Evidence(submission=Path("/nowhere"))
    ev.sources = dict(SOURCE)
    ev.instrumented, ev.nonce, ev.order = True, NONCE, ["m"]
    ev.state_before = UNBOUND
    ev.reads = [Step("list interfaces", CommandResult(["sh"], "exited", 0, BOUND, ""))]
    ev.loads = [_clean_load()]
    ev.unloads = [_unload("00000001")]
    call = next(e for e in ledger.fallible_calls(_parse(ev.loads[0])) if e.nth == 3)
    point = PointEvidence("m", 3, call)
    point.load = _step("load m failing call 3", point_load, load="00000002")
    if log is not None:
        point.load.result.kmsg.append(KmsgRecord(4, 99, 99, log))
    point.unload = unload
    point.bound = bound
    point.state_before = point.state_after = "@@ end\n"
    ev.points.append(point)
    return judges.Context(ev), point


def _parse(step: Step) -> list:
    return ledger.parse_ledger(step.kmsg, NONCE)


INJECTED = "inject devm_kzalloc n=3 via=devm in=platform_device_register_full at=m.c:21"


def test_the_call_made_in_a_probe_is_recorded_as_made_inside_the_registration():
    """Does the ledger keep the shim's in= (the registration the probe ran in)?"""
    (devm,) = [e for e in _parse(_clean_load()) if e.api == "devm_kzalloc"]
    assert devm.detail["in"] == "platform_device_register_full"
    assert devm.nth == 3 and devm.op == "call"  # counted, and nothing for exit to release


def test_a_probe_that_returns_an_error_passes_though_init_returned_zero():
    """With the device left unbound (the probe failed) and nothing left after rmmod,
    does the point pass, init's 0 being right?"""
    ctx, point = _evidence(
        [
            f"acquire platform_driver_register n=1 h={DRV} bound=0 name=m at=m.c:50",
            INJECTED,
            f"acquire platform_device_register_full n=2 h={DEV} bound=0 name=m at=m.c:53",
        ],
        unload=_unload("00000002"),
    )
    verdict = judges.judge_point(ctx, point)
    assert verdict["verdict"] == "pass", verdict["message"]
    assert verdict["init_returned"] == 0
    assert verdict["inside"] == {
        "registration": "platform_device_register_full",
        "callback": "the probe",
    }


def test_a_probe_that_ignores_the_failure_fails_at_the_call():
    """With the device bound as in the clean load (the probe returned 0), does the
    point fail, saying the probe (not init) ignored the failure?"""
    ctx, point = _evidence(
        [
            f"acquire platform_driver_register n=1 h={DRV} bound=0 name=m at=m.c:50",
            INJECTED,
            f"acquire platform_device_register_full n=2 h={DEV} bound=1 name=m at=m.c:53",
        ],
        unload=_unload("00000002"),
        bound=BOUND,
    )
    verdict = judges.judge_point(ctx, point)
    assert verdict["verdict"] == "fail"
    assert verdict["message"].startswith("the probe ignored the failure of devm_kzalloc()")
    assert (verdict["file"], verdict["line"]) == ("m.c", 21)


FORGED = [
    f"acquire platform_driver_register n=1 h={DRV} bound=0 name=m at=m.c:50",
    INJECTED,
    f"acquire platform_device_register_full n=2 h={DEV} bound=0 name=m at=m.c:53",
]


def test_a_forged_bound_count_and_log_line_do_not_pass_a_probe_the_kernel_bound():
    """When the shim's record says bound=0 and the log says the probe failed (both the
    module's to write) but the kernel still has the device bound, does the point fail?"""
    log = "m: probe of m.0 failed with error -12"
    ctx, point = _evidence(FORGED, unload=_unload("00000002"), log=log, bound=BOUND)
    verdict = judges.judge_point(ctx, point)
    assert verdict["verdict"] == "fail"
    assert verdict["message"].startswith("the probe ignored the failure of devm_kzalloc()")


def test_a_binding_hidden_from_one_side_of_the_link_still_counts():
    """Does a device whose own driver link remains count as bound, though its driver's
    folder no longer lists it (a module removing one link hides nothing)?"""
    ctx, point = _evidence(FORGED, unload=_unload("00000002"), bound=_bound("devices/m.0/driver"))
    assert judges.judge_point(ctx, point)["verdict"] == "fail"


def test_without_the_kernels_bindings_a_probe_point_is_not_decided():
    """When the bound devices were not read (or the read was cut short), is the point
    `error`, never a pass, even with the shim's count and the log saying it failed?"""
    log = "m: probe of m.0 failed with error -12"
    for bound in (None, "@@ bound\ndrivers/m/m.", ""):
        ctx, point = _evidence(FORGED, unload=_unload("00000002"), log=log, bound=bound)
        verdict = judges.judge_point(ctx, point)
        assert verdict["verdict"] == "error", bound
        assert verdict["message"].startswith("not decided: the devices bound after this load")
    ctx, point = _evidence(FORGED, unload=_unload("00000002"), log=log)
    ctx.ev.reads = []
    assert judges.judge_point(ctx, point)["verdict"] == "error"
    result = judges.judge_fault_injection(ctx)
    assert (result.status, result.score) == ("error", 0.0)
    assert "1 not decided: the devices the normal load bound were not read" in result.summary


def test_a_normal_load_that_bound_nothing_leaves_a_probe_point_undecided():
    """If the clean load bound no device, is a failed probe unknowable, so `error`?"""
    ctx, point = _evidence(FORGED, unload=_unload("00000002"))
    ctx.ev.reads = [Step("list interfaces", CommandResult(["sh"], "exited", 0, UNBOUND, ""))]
    verdict = judges.judge_point(ctx, point)
    assert verdict["verdict"] == "error"
    assert "bound no platform device" in verdict["message"]


def test_a_failed_probe_that_leaves_something_after_rmmod_fails():
    """Does a probe that failed but kept a kmalloc'd buffer (no remove runs for a
    device that never probed) fail, naming what was left?"""
    ctx, point = _evidence(
        [
            f"acquire platform_driver_register n=1 h={DRV} bound=0 name=m at=m.c:50",
            "acquire kmalloc n=3 h=ffff888004000000 size=64"
            " in=platform_device_register_full at=m.c:20",
            "inject devm_kzalloc n=4 via=devm in=platform_device_register_full at=m.c:21",
            f"acquire platform_device_register_full n=2 h={DEV} bound=0 name=m at=m.c:53",
        ],
        unload=_unload("00000002"),
    )
    point.index = 4
    point.call = ledger.LedgerEvent(
        2, "call", "devm_kzalloc", ST, "m.c", 21,
        {"in": "platform_device_register_full"}, 4, "m", "00000001",
    )  # fmt: skip
    verdict = judges.judge_point(ctx, point)
    assert verdict["verdict"] == "fail"
    assert [(x["api"], x["line"]) for x in verdict["leaked"]] == [("kmalloc", 20)]
    assert "after rmmod: kmalloc() at m.c:20" in verdict["message"]


def test_a_call_init_makes_itself_is_still_judged_by_inits_return():
    """Is a failure outside any callback, which init ignored, still init's fault?"""
    ctx, point = _evidence(
        ["inject platform_driver_register n=1 via=platform_driver_register at=m.c:50"],
        unload=_unload("00000002"),
    )
    point.index = 1
    point.call = next(e for e in _parse(ctx.ev.loads[0]) if e.nth == 1)
    verdict = judges.judge_point(ctx, point)
    assert verdict["verdict"] == "fail"
    assert "init ignored the failure of platform_driver_register()" in verdict["message"]
    assert "inside" not in verdict


def test_what_exit_also_leaves_in_the_clean_run_is_not_the_probes():
    """When exit never unregisters the device (the clean run leaves it too), does a
    probe point that handled its failure still pass, exit's bug being judged elsewhere?"""
    ctx, point = _evidence(
        [
            f"acquire platform_driver_register n=1 h={DRV} bound=0 name=m at=m.c:50",
            INJECTED,
            f"acquire platform_device_register_full n=2 h={DEV} bound=0 name=m at=m.c:53",
        ],
        unload=_step(
            "unload m", [f"release platform_driver_unregister h={DRV} at=m.c:63"], "00000002", 10
        ),
    )
    ctx.ev.unloads = [
        _step("unload m", [f"release platform_driver_unregister h={DRV} at=m.c:63"], first=10)
    ]
    verdict = judges.judge_point(ctx, point)
    assert verdict["verdict"] == "pass", verdict["message"]
    assert verdict["leaked"] == []
