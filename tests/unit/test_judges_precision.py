"""The judges on evidence captured from real grading runs (issue 9: no false blame, named fixes).

Each fixture in tests/data/judges/captured/ is what the guest showed for the
module of the same name in tests/data/judges/ (the kernel log of each step,
trimmed, and the state snapshots' relevant sections); the judges run on it
here with no VM. The .ko files are gone, so stack frames are not decoded:
the VM corpus (tests/vm/test_judges_corpus.py) checks those lines.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kmodlab.build.builder import BuildResult, BuiltModule
from kmodlab.grader.collection import guest_state as state
from kmodlab.grader.collection import kmemtrace
from kmodlab.grader.collection.collect import Limits
from kmodlab.grader.collection.modinfo import depends, module_name
from kmodlab.grader.evidence import Evidence, PointEvidence, Step
from kmodlab.grader.report.formats import read_sources
from kmodlab.grader.verdicts import judges, ledger
from kmodlab.grader.verdicts.labels import declares, entry_points, release_call
from kmodlab.vm.console import find_reports, init_return
from kmodlab.vm.guest import CommandResult
from kmodlab.vm.protocol import KmsgRecord

DATA = Path(__file__).parent.parent / "data" / "judges"


def _step(d: dict | None) -> Step | None:
    if d is None:
        return None
    kmsg = [KmsgRecord(6, i, i, text) for i, text in enumerate(d["kmsg"])]
    result = CommandResult(d["argv"], d["status"], d["returncode"], "", "", kmsg)
    return Step(d["name"], result)


def captured(case: str) -> Evidence:
    """The Evidence of a real run of tests/data/judges/<case>, rebuilt from its capture."""
    d = json.loads((DATA / "captured" / f"{case}.json").read_text())
    ev = Evidence(submission=DATA / case)
    ev.sources = read_sources(ev.submission)
    modules = [
        BuiltModule(name, Path("/gone") / f"{name}.ko", list(ev.sources)) for name in d["order"]
    ]
    ev.build = BuildResult(True, modules, [], "", 0.0, Path(d["build_dir"]), True)
    ev.instrumented, ev.nonce, ev.order = True, d["nonce"], d["order"]
    ev.taint_before, ev.taint_after = d["taint"]
    ev.state_before, ev.state_after = d["state_before"], d["state_after"]
    steps = [_step(s) for s in d["steps"]]
    ev.loads = [s for s in steps if s.name.startswith("load ")]
    ev.unloads = [s for s in steps if s.name.startswith("unload ")]
    ev.settle = next((s for s in steps if s.name == "settle"), None)
    calls = {}
    for step in ev.loads:
        events = ledger.parse_ledger(step.kmsg, ev.nonce, build_dir=ev.build.build_dir)
        calls.update({e.nth: e for e in ledger.fallible_calls(events)})
    for p in d["points"]:
        point = PointEvidence(p["module"], p["index"], calls[p["index"]])
        point.load, point.unload = _step(p["load"]), _step(p["unload"])
        point.state_before, point.state_after = p["state_before"], p["state_after"]
        ev.points.append(point)
    return ev


def judge(case: str, check: str):
    ctx = judges.Context(captured(case))
    return judges.GENERIC_BY_ID[check].verdict(ctx, Limits().cycles)


def _line(case: str, file: str, text: str) -> int:
    lines = (DATA / case / file).read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


# -- 1. a dash in the module name ----------------------------------------------
def test_a_dash_and_an_underscore_name_the_same_module():
    """Is `hello-1` (obj-m, the .ko) the module `hello_1` everywhere the kernel names it?"""
    assert (
        module_name("hello-1") == module_name("hello-1.ko") == module_name("hello_1") == "hello_1"
    )
    assert depends({"depends": ["my-provider,other_one"]}) == ["my_provider", "other_one"]
    record = "n0nce 1 acquire kzalloc n=1 h=ffff888006a02000 mod=hello-1 load=1 at=a.c:3"
    assert ledger.parse_record(record, "n0nce").module == "hello_1"
    site = kmemtrace.CallSite(
        "hello_init+0x1/0x2 [hello_1]", symbol="hello_init", offset=1, module="hello_1"
    )
    assert kmemtrace._ours(site, [], "hello-1")
    before = {"modules": frozenset()}
    (left,) = state.diff_state(before, {"modules": frozenset({"hello_1"})}, module="hello-1")
    assert left.message == "module 'hello_1' is still loaded"


def test_a_correct_dash_named_module_passes_every_check():
    """Does hello-1.o (module hello_1), correct, pass load, unload, leaks and registrations?"""
    for check in ("load", "unload", "kernel-health", "leaks", "registrations", "fault-injection"):
        assert judge("dash_ok", check).status == "pass", check


# -- 2. a kernel thread that ends itself ---------------------------------------------
def test_a_thread_that_ended_itself_needs_no_kthread_stop():
    """Is a thread gone after rmmod (kthread_complete_and_exit) not "never undone"?"""
    result = judge("kthread_self_end", "registrations")
    assert result.status == "pass", result.findings


def test_a_thread_still_running_after_rmmod_is_a_finding_at_its_creation():
    """Is the thread still alive after rmmod reported, by the state and at the kthread_run line?"""
    result = judge("kthread_left", "registrations")
    assert result.status == "fail"
    at = [(f.file, f.line) for f in result.findings if f.file]
    assert at == [("kthread_left.c", _line("kthread_left", "kthread_left.c", "kthread_run("))]
    assert any("kmodlab_left" in f.message for f in result.findings)


# -- 4. debugfs -----------------------------------------------------------------------
def test_debugfs_results_left_unchecked_pass_every_point():
    """Is a failed debugfs_create_file ignored, with the directory removed by exit, a pass?"""
    result = judge("debugfs_ignore", "fault-injection")
    assert result.status == "pass", [p["message"] for p in result.data["points"]]
    point = result.data["points"][1]
    assert point["call"] == "debugfs_create_file" and point["leaked"] == []


def test_a_debugfs_directory_exit_forgets_still_fails_its_point():
    """Does the mutant whose exit keeps the directory fail the point, naming what is left?"""
    result = judge("debugfs_leak", "fault-injection")
    point = result.data["points"][1]
    assert point["verdict"] == "fail" and "after rmmod" in point["message"]
    assert [x["api"] for x in point["leaked"]] == ["debugfs_create_dir"]
    regs = judge("debugfs_leak", "registrations")
    # The file inside the directory goes with it: one fix, for the directory.
    assert [f.message for f in regs.findings if f.file] == [
        "debugfs_create_dir() is never undone: add `debugfs_remove(dir)` to dbg_exit"
    ]


# -- 6. a kernel report during a fault-injection point ----------------------------
def test_bad_page_state_in_an_error_path_fails_that_point():
    """Does "BUG: Bad page state" logged by the error path fail the point, with the report?"""
    result = judge("pages_bad_page", "fault-injection")
    assert result.status == "fail"
    points = {p["index"]: p for p in result.data["points"]}
    assert points[1]["verdict"] == "pass"
    assert points[2]["verdict"] == "fail" and "Bad page state" in points[2]["message"]
    assert "Bad page state" in points[2]["report"]


def test_an_ignored_failure_stays_the_cause_of_a_report_after_it():
    """When init returned 0 despite the failure, is that the message, with the report kept?"""
    ev = captured("pages_bad_page")
    p = ev.points[1]
    p.load.result.returncode = 0
    verdict = judges.judge_point(judges.Context(ev), p)
    assert verdict["verdict"] == "fail"
    assert verdict["message"] == "init ignored the failure of kzalloc() and returned 0"
    assert "Bad page state" in verdict["report"]


def test_the_correct_error_path_passes_every_point():
    """Does the control, which clears the reservation before freeing, pass both points?"""
    assert judge("pages_ok", "fault-injection").status == "pass"


def test_a_new_taint_during_a_point_fails_it():
    """Is a point whose snapshot shows a new taint (no report captured) a failure naming it?"""
    ev = captured("pages_ok")
    p = ev.points[1]
    p.state_before += "@@ files\n/proc/sys/kernel/tainted:12288\n"
    p.state_after += "@@ files\n/proc/sys/kernel/tainted:12320\n"
    assert state.taint(state.parse_state(p.state_after)) == 12320
    verdict = judges.judge_point(judges.Context(ev), p)
    assert verdict["verdict"] == "fail" and "B (bad page or slab corruption)" in verdict["message"]


# -- 8. init returning a positive value ----------------------------------------------
def test_init_returning_one_is_reported_by_load_and_fails_kernel_health():
    """Does load say init returned 1, and kernel-health fail at the `return 1;` line?"""
    load = judge("init_returns_one", "load")
    assert load.status == "pass" and "init_returns_one's init returned 1" in load.summary
    health = judge("init_returns_one", "kernel-health")
    assert health.status == "fail"
    (finding,) = [f for f in health.findings if f.kind == "init-return"]
    assert (finding.file, finding.line) == ("init_returns_one.c", 14)
    assert "return 0" in finding.message


def test_the_kernel_warning_about_init_is_read_as_a_report():
    """Is "'m'->init suspiciously returned 1" a report giving the module and the value?"""
    text = (
        "do_init_module: 'hello_1'->init suspiciously returned 1, it should follow 0/-E "
        "convention\ndo_init_module: loading module anyway...\nCall Trace:\n <TASK>\n"
    )
    (report,) = find_reports(text)
    assert init_return(report) == ("hello_1", 1)


# -- 10. double free ----------------------------------------------------------------
def test_a_double_kfree_is_placed_at_the_second_release():
    """Is "kernel BUG at mm/slub.c" placed at the second kfree of the same pointer?"""
    unload = judge("double_free", "unload")
    assert unload.status == "fail"
    (bug,) = [f for f in unload.findings if f.kind == "bug"]
    assert (bug.file, bug.line) == ("double_free.c", 10)
    assert "double free" in bug.message and "double_free.c:23" in bug.message
    health = judge("double_free", "kernel-health")
    assert any((f.file, f.line) == ("double_free.c", 10) for f in health.findings)


def test_a_double_free_the_kernel_did_not_notice_is_still_found():
    """With no kernel report at all, does kernel-health name the second kfree from the ledger?"""
    ev = captured("double_free")
    unload = ev.unloads[0].result
    unload.kmsg = [r for r in unload.kmsg if r.text.startswith(ev.nonce)]
    unload.status, unload.returncode = "exited", 0
    health = judges.judge_health(judges.Context(ev))
    (finding,) = [f for f in health.findings if f.kind == "double-free"]
    assert (finding.file, finding.line) == ("double_free.c", 10)
    assert finding.data["first_release"] == "double_free.c:23"


def test_an_address_allocated_again_is_no_double_free():
    """Is kfree(p), p = kmalloc() (same address again), kfree(p) not a double free?"""
    lines = [
        "n 1 acquire kmalloc n=1 h=ffff888006a02000 mod=m load=1 at=m.c:3",
        "n 2 release kfree h=ffff888006a02000 mod=m load=1 at=m.c:4",
        "n 3 acquire kmalloc n=2 h=ffff888006a02000 mod=m load=1 at=m.c:5",
        "n 4 release kfree h=ffff888006a02000 mod=m load=1 at=m.c:6",
        "n 5 release kfree h=ffff888006a02000 mod=m load=1 at=m.c:7",
    ]
    ((second, first),) = ledger.double_releases(ledger.parse_ledger(lines, "n"))
    assert (second.line, first.line) == (7, 6)


# -- 11. init failing with -1 ------------------------------------------------------
def test_init_failing_with_minus_one_names_the_code_that_fits():
    """Is `return -1` after a failed kzalloc a failing point at that line, asking for -ENOMEM?"""
    result = judge("errno_minus_one", "fault-injection")
    assert result.status == "fail"
    (finding,) = result.findings
    line = _line("errno_minus_one", "errno_minus_one.c", "return -1;")
    assert (finding.file, finding.line) == ("errno_minus_one.c", line)
    assert "-EPERM" in finding.message and "-ENOMEM" in finding.message


def test_a_load_failing_with_minus_one_says_which_codes_fit():
    """When init always fails with -1, does load point at the `return -1` and name codes?"""
    ev = captured("errno_minus_one")
    ev.loads[0].result.returncode = 1  # EPERM, as insmod reports init's -1
    load = judges.judge_load(judges.Context(ev))
    (hint,) = [f for f in load.findings if f.kind == "hint"]
    line = _line("errno_minus_one", "errno_minus_one.c", "return -1;")
    assert (hint.file, hint.line) == ("errno_minus_one.c", line) and "-ENOMEM" in hint.message


# -- F. feedback that names the fix ------------------------------------------------------
def test_a_registration_never_undone_names_the_exit_and_the_missing_call():
    """Does a leftover say "add `proc_remove(ent)` to hello_exit, before `kfree(buf)`"?"""
    result = judge("dash_leak", "registrations")
    (ledger_finding,) = [f for f in result.findings if f.file]
    assert ledger_finding.line == _line("dash_leak", "hello-1.c", "proc_create_single(")
    assert ledger_finding.message == (
        "proc_create_single() is never undone: add `proc_remove(ent)` to hello_exit, "
        "before `kfree(buf)`"
    )


@pytest.mark.parametrize(
    ("line", "api", "release"),
    [
        ("\tbuf = kzalloc(32, GFP_KERNEL);", "kzalloc", "kfree(buf)"),
        ("\tdev->data = vmalloc(n);", "vmalloc", "vfree(dev->data)"),
        (
            '\tmajor = register_chrdev(0, "x", &fops);',
            "register_chrdev",
            'unregister_chrdev(major, "x")',
        ),
        (
            '\tret = register_chrdev(240, "x", &fops);',
            "register_chrdev",
            'unregister_chrdev(240, "x")',
        ),
        (
            '\tret = alloc_chrdev_region(&devt, 0, 1, "x");',
            "alloc_chrdev_region",
            "unregister_chrdev_region(devt, 1)",
        ),
        ("\tret = cdev_add(&my_cdev, devt, 1);", "cdev_add", "cdev_del(&my_cdev)"),
        (
            '\td = device_create(cls, NULL, devt, NULL, "x");',
            "device_create",
            "device_destroy(cls, devt)",
        ),
        ("\tret = misc_register(&my_misc);", "misc_register", "misc_deregister(&my_misc)"),
        ('\tt = kthread_run(fn, NULL, "x");', "kthread_run", "kthread_stop(t)"),
        (
            "\tp = kmem_cache_alloc(cache, GFP_KERNEL);",
            "kmem_cache_alloc",
            "kmem_cache_free(cache, p)",
        ),
        ("\tp = __get_free_pages(GFP_KERNEL, ORDER);", "__get_free_pages", "free_pages(p, ORDER)"),
        ("\tkzalloc(32, GFP_KERNEL);", "kzalloc", None),  # no variable: no guess
    ],
)
def test_the_release_for_each_acquiring_call(line, api, release):
    """Is the release call built from the acquiring line's variable and arguments?"""
    assert release_call(line, 1, api) == release


def test_a_call_over_two_lines_and_a_local_variable():
    """Are the arguments read over the call's lines, and a local of init told apart?"""
    src = '\tstruct device *d = device_create(cls, NULL,\n\t\tdevt, NULL, "x");\n'
    assert release_call(src, 1, "device_create") == "device_destroy(cls, devt)"
    assert declares(src, 1, "d") and not declares("\td = device_create(c);\n", 1, "d")


def test_the_exit_function_is_read_from_module_exit():
    """Are init and exit the functions module_init and module_exit name, not a guess by name?"""
    src = (
        "static void bye(void)\n{\n}\nstatic int hi(void)\n{\n\treturn 0;\n}\n"
        "module_init(hi);\nmodule_exit(bye);\n"
    )
    found = entry_points({"m.c": src})
    assert (found["exit"].function, found["exit"].line) == ("bye", 1)
    assert (found["init"].function, found["init"].line) == ("hi", 4)
