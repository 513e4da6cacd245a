"""The instrumented build against the real guest kernel: records, injections, leaks."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from kmodlab.build import BuildResult
from kmodlab.grader.collection.instrument import arm, import_report, instrumented_build
from kmodlab.grader.verdicts.ledger import (
    LedgerEvent,
    fallible_calls,
    outstanding,
    pair,
    parse_ledger,
    unwind,
)
from kmodlab.vm.console import find_reports

pytestmark = pytest.mark.vm

GRADER = Path(__file__).resolve().parents[1] / "data" / "grader"
TAINT_OE = 12288  # O|E: set by every out-of-tree unsigned module, nothing else


@dataclass(frozen=True)
class Instrumented:
    result: BuildResult
    nonce: str

    @property
    def ko(self) -> Path:
        (module,) = self.result.modules
        return module.ko

    def kos(self) -> dict[str, Path]:
        return {m.name: m.ko for m in self.result.modules}

    def events(self, *runs) -> list[LedgerEvent]:
        records = [rec for run in runs for rec in run.kmsg]
        return parse_ledger(
            records,
            self.nonce,
            build_dir=self.result.build_dir,
            kos=self.kos(),
            file_map=self.result.file_map,
        )

    def armed(self, session, module: str, n: int) -> str:
        """Push a copy of `module` whose call n fails; return its file name in the guest."""
        ko = arm(self.kos()[module], n, self.result.build_dir / "armed" / f"armed_{module}.ko")
        session.push_modules([ko], depmod=False)
        return ko.name


@pytest.fixture(scope="module")
def instrumented(machine, tmp_path_factory):
    """instrumented(name) -> the instrumented build of tests/data/grader/<name>, once."""
    cache: dict[str, Instrumented] = {}

    def build(name: str) -> Instrumented:
        if name not in cache:
            out = tmp_path_factory.mktemp(f"fi-{name}")
            result, nonce = instrumented_build(
                GRADER / name, headers=machine.kernel.headers, out_dir=out
            )
            assert result.ok, result.log
            cache[name] = Instrumented(result, nonce)
        return cache[name]

    return build


def line_of(path: Path, text: str, which: int | None = None) -> int:
    """The number of the line of the fixture that contains text: the only one, or hits[which]."""
    hits = [i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line]
    if which is not None:
        return hits[which]
    assert len(hits) == 1, (text, hits)
    return hits[0]


def defined_symbols(ko: Path) -> list[str]:
    with ko.open("rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        return [s.name for s in symtab.iter_symbols() if s["st_shndx"] != "SHN_UNDEF"]


def sites(events: list[LedgerEvent]) -> list[tuple[str, str, str, int | None]]:
    return [(e.op, e.api, e.file, e.line) for e in events]


def tainted(session) -> int:
    return int(session.run("cat /proc/sys/kernel/tainted").stdout)


def test_normal_load_records_four_acquisitions_at_the_students_lines(session, instrumented):
    """Does a plain load give the 4 acquisitions, in order, at the student's file:line,
    and rmmod the 4 releases in reverse, leaving nothing outstanding?"""
    fi = instrumented("four_resources")
    src = GRADER / "four_resources" / "four_resources.c"
    session.push_modules([fi.ko])
    load = session.run("insmod four_resources.ko")
    assert load.ok, load.stderr
    events = fi.events(load)
    f = "four_resources.c"
    assert sites(events) == [
        ("acquire", "kzalloc", f, line_of(src, "buf = kzalloc(")),
        ("acquire", "kstrdup", f, line_of(src, "name = kstrdup(")),
        ("acquire", "proc_create", f, line_of(src, "entry = proc_create(")),
        ("acquire", "misc_register", f, line_of(src, "ret = misc_register(")),
    ]
    assert [e.nth for e in fallible_calls(events)] == [1, 2, 3, 4]
    assert events[0].detail["size"] == "64"
    assert events[2].detail["name"] == "four_resources"
    assert len(outstanding(events)) == 4

    unload = session.run("rmmod four_resources")
    assert unload.ok, unload.stderr
    both = fi.events(load, unload)
    assert sites([e for e in both if e.op == "release"]) == [
        ("release", "misc_deregister", f, line_of(src, "misc_deregister(")),
        ("release", "proc_remove", f, line_of(src, "proc_remove(entry);", -1)),
        ("release", "kfree", f, line_of(src, "kfree(name);", -1)),
        ("release", "kfree", f, line_of(src, "kfree(buf);", -1)),
    ]
    assert outstanding(both) == []
    paired = pair(both)
    assert [paired.released_by[a].api for a in events] == [
        "kfree",
        "kfree",
        "proc_remove",
        "misc_deregister",
    ]


def test_every_injection_point_fails_the_load_and_unwinds_cleanly(session, instrumented):
    """For N in 1..4, does a copy armed for call N fail exactly call N, make insmod fail with
    ENOMEM, and leave nothing outstanding? Does N=5 (past the last call) load normally?"""
    fi = instrumented("four_resources")
    session.push_modules([fi.ko])
    apis = ["kzalloc", "kstrdup", "proc_create", "misc_register"]
    for n in range(1, 5):
        r = session.run(["insmod", fi.armed(session, "four_resources", n)])
        assert r.returncode == 1 and "Cannot allocate memory" in r.stderr, (n, r.stderr)
        events = fi.events(r)
        calls = fallible_calls(events)
        assert [(e.op, e.api) for e in calls] == [
            *(("acquire", api) for api in apis[: n - 1]),
            ("inject", apis[n - 1]),
        ]
        assert outstanding(events) == [], (n, [str(e) for e in outstanding(events)])
        ladder = unwind(events)
        assert ladder is not None and ladder.point.nth == n and ladder.clean
        assert len(ladder.released) == n - 1
        assert "four_resources" not in session.run("cat /proc/modules").stdout
    assert session.run("test -e /proc/four_resources").returncode == 1
    r = session.run(["insmod", fi.armed(session, "four_resources", 5)])
    assert r.ok and len(fallible_calls(fi.events(r))) == 4
    # Nothing a module can read tells an armed copy from the plain one: no parameter.
    assert session.run("ls /sys/module/four_resources/parameters").returncode != 0
    assert session.run("rmmod four_resources").ok
    assert tainted(session) == TAINT_OE


def test_ladder_that_skips_a_free_leaks_only_at_that_point(session, instrumented):
    """Does failing misc_register in ladder_skips_one leave exactly the kzalloc buffer
    outstanding, at its file:line, while the other points unwind cleanly?"""
    fi = instrumented("ladder_skips_one")
    src = GRADER / "ladder_skips_one" / "ladder_skips_one.c"
    session.push_modules([fi.ko])
    for n in range(1, 4):
        r = session.run(["insmod", fi.armed(session, "ladder_skips_one", n)])
        assert r.returncode == 1
        assert outstanding(fi.events(r)) == [], n
    r = session.run(["insmod", fi.armed(session, "ladder_skips_one", 4)])
    assert r.returncode == 1 and "Cannot allocate memory" in r.stderr
    events = fi.events(r)
    (leak,) = outstanding(events)
    assert (leak.op, leak.api) == ("acquire", "kzalloc")
    assert (leak.file, leak.line) == ("ladder_skips_one.c", line_of(src, "buf = kzalloc("))
    ladder = unwind(events, 4)
    assert ladder is not None and ladder.point.api == "misc_register"
    assert [e.api for e in ladder.acquired] == ["kzalloc", "kstrdup", "proc_create"]
    assert [e.api for e in ladder.released] == ["proc_remove", "kfree"]
    assert ladder.left == [leak]


def test_unchecked_allocation_oopses_in_init_when_injected(session, instrumented):
    """Does failing the unchecked kmalloc oops in the student's init, with the injection
    recorded at the kmalloc's line just before?"""
    fi = instrumented("unchecked_alloc")
    src = GRADER / "unchecked_alloc" / "unchecked_alloc.c"
    session.push_modules([fi.ko])
    normal = session.run("insmod unchecked_alloc.ko")
    assert normal.ok and "unchecked_alloc: hi" in normal.log
    assert session.run("rmmod unchecked_alloc").ok
    assert outstanding(fi.events(normal)) != []  # the exit's kfree is in the next run

    r = session.run(["insmod", fi.armed(session, "unchecked_alloc", 1)])
    assert r.status == "signaled" and r.returncode == -9
    (inject,) = fi.events(r)
    assert (inject.op, inject.api, inject.file, inject.line) == (
        "inject",
        "kmalloc",
        "unchecked_alloc.c",
        line_of(src, "greeting = kmalloc("),
    )
    (oops,) = find_reports(r.log)
    assert oops.kind == "oops" and "NULL pointer dereference" in oops.title
    assert oops.rip and oops.rip.startswith("unchecked_alloc_init+")
    assert oops.rip.endswith("[unchecked_alloc]")
    session.restart()  # the module is stuck "loading" after an oops in init
    assert session.run("true").ok


def test_two_file_module_links_one_shim_and_names_each_file(session, instrumented):
    """Does a module of two files get one shim (one counter) and records naming each file?"""
    fi = instrumented("two_files")
    assert sum(s.startswith("kfi_arm_") for s in defined_symbols(fi.ko)) == 1
    session.push_modules([fi.ko])
    load = session.run("insmod two_files.ko")
    assert load.ok, load.stderr
    unload = session.run("rmmod two_files")
    events = fi.events(load, unload)
    assert sites(events) == [
        ("acquire", "kcalloc", "main.c", line_of(GRADER / "two_files/main.c", "kcalloc(")),
        ("acquire", "kstrdup", "helper.c", line_of(GRADER / "two_files/helper.c", "kstrdup(")),
        ("release", "kfree", "helper.c", line_of(GRADER / "two_files/helper.c", "kfree(")),
        ("release", "kfree", "main.c", line_of(GRADER / "two_files/main.c", "kfree(table);", -1)),
    ]
    assert [e.nth for e in fallible_calls(events)] == [1, 2]
    assert outstanding(events) == []
    r = session.run(["insmod", fi.armed(session, "two_files", 2)])
    assert r.returncode == 1
    assert fallible_calls(fi.events(r))[-1].file == "helper.c"
    assert outstanding(fi.events(r)) == []


def test_two_modules_of_one_folder_count_apart_and_nofail_is_never_failed(session, instrumented):
    """Does each module of a folder get its own shim (records name their module, each
    counts from 1)? Is a __GFP_NOFAIL allocation counted but never failed?"""
    fi = instrumented("two_modules")
    kos = fi.kos()
    assert sorted(kos) == ["alpha", "beta"]
    for ko in kos.values():
        assert sum(s.startswith("kfi_arm_") for s in defined_symbols(ko)) == 1
    session.push_modules(kos.values())
    alpha = session.run(["insmod", fi.armed(session, "alpha", 1)])
    assert alpha.ok, alpha.stderr  # its only call is __GFP_NOFAIL: not counted, not failed
    beta = session.run(["insmod", "beta.ko"])
    assert beta.ok, beta.stderr
    events = fi.events(alpha, beta)
    assert [(e.module, e.nth, e.op, e.api, e.file) for e in events] == [
        ("alpha", None, "acquire", "kmalloc", "alpha.c"),
        ("beta", 1, "acquire", "kzalloc", "beta.c"),
    ]
    unload = session.run("rmmod alpha beta")
    assert unload.ok, unload.stderr
    assert outstanding(fi.events(alpha, beta, unload)) == []
    failed = session.run(["insmod", fi.armed(session, "beta", 1)])
    assert failed.returncode == 1
    assert [(e.module, e.op) for e in fi.events(failed)] == [("beta", "inject")]


def test_address_taken_parenthesised_and_undefined_calls_are_all_recorded(session, instrumented):
    """Do an address taken, a (parenthesised) call, #undef, KMEM_CACHE and
    debugfs_remove_recursive build, and is every one of those calls recorded at the
    student's line (the bypasses from their return address, at link level)? Does a
    pr_fmt defined before the includes still apply, under the student's -Werror?"""
    fi = instrumented("odd_uses")
    src = GRADER / "odd_uses" / "odd_uses.c"
    assert [d.message for d in fi.result.diagnostics if d.file == "odd_uses.c"] == [
        '"pr_fmt" redefined'  # the header's includes came first; a warning, not an error
    ]
    session.push_modules([fi.ko])
    load = session.run("insmod odd_uses.ko")
    assert load.ok, load.stderr
    assert "odd_uses: loaded" in [r.text for r in load.kmsg]
    unload = session.run("rmmod odd_uses")
    assert unload.ok
    events = fi.events(load, unload)
    assert sites(events) == [
        ("acquire", "kmalloc", "odd_uses.c", line_of(src, "odd_paren = (kzalloc)(")),
        ("acquire", "kmem_cache_create", "odd_uses.c", line_of(src, "KMEM_CACHE(")),
        ("acquire", "debugfs_create_dir", "odd_uses.c", line_of(src, "= debugfs_create_dir(")),
        ("acquire", "proc_create_single", "odd_uses.c", line_of(src, "proc_create_single(")),
        ("acquire", "kmalloc", "odd_uses.c", line_of(src, "odd_plain = kmalloc(")),
        ("release", "remove_proc_entry", "odd_uses.c", line_of(src, "remove_proc_entry(")),
        ("release", "debugfs_remove", "odd_uses.c", line_of(src, "debugfs_remove_recursive(")),
        ("release", "kmem_cache_destroy", "odd_uses.c", line_of(src, "kmem_cache_destroy(")),
        ("release", "kfree", "odd_uses.c", line_of(src, "odd_release(odd_plain)")),
        # exit's last call is a tail call (a jmp): its return address is the kernel's,
        # so this one release is recorded without a line.
        ("release", "kfree", None, None),
    ]
    assert events[1].detail["name"] == "odd_item"
    assert "ret" in events[0].detail and "ret" not in events[1].detail
    assert outstanding(events) == []
    assert import_report(fi.result.build_dir, "odd_uses").tampering == ()


MANY_APIS = [
    "kmalloc",
    "kcalloc",
    "kmalloc_array",
    "kmalloc",
    "krealloc",
    "kstrdup",
    "kmemdup",
    "kasprintf",
    "vmalloc",
    "vzalloc",
    "kvmalloc",
    "kvcalloc",
    "kstrndup",
    "kmemdup_nul",
    "kmalloc_node",
    "kzalloc_node",
    "__get_free_pages",
    "get_zeroed_page",
    "alloc_pages",
    "kmem_cache_create",
    "kmem_cache_alloc",
    "kmem_cache_zalloc",
    "register_chrdev",
    "alloc_chrdev_region",
    "register_chrdev_region",
    "cdev_alloc",
    "cdev_add",
    "class_create",
    "device_create",
    "misc_register",
    "proc_mkdir",
    "proc_mkdir_mode",
    "proc_mkdir_data",
    "proc_symlink",
    "proc_create_single",
    "proc_create_seq",
    "proc_create_data",
    "debugfs_create_dir",
    "debugfs_create_file",
    "kthread_run",
    "kthread_create",
    "alloc_workqueue",
]


def test_every_wrapped_api_records_and_unwinds_at_every_point(session, instrumented):
    """Does each wrapped API record its call and its release on the real kernel, and does
    failing each one (a module that unwinds correctly) leave nothing behind, in the
    ledger or in the kernel?"""
    fi = instrumented("many_apis")
    session.push_modules([fi.ko])
    load = session.run("insmod many_apis.ko")
    assert load.ok, load.stderr
    calls = fallible_calls(fi.events(load))
    assert [e.api for e in calls] == MANY_APIS
    assert all(e.op == "acquire" for e in calls if e.api != "cdev_alloc")
    assert {e.file for e in calls} == {"many_apis.c"}
    device = next(e for e in calls if e.api == "device_create")
    assert device.detail["name"] == "many_apis0"
    assert next(e for e in calls if e.api == "kthread_run").detail["name"] == "many_run1"
    unload = session.run("rmmod many_apis")
    assert unload.ok, unload.stderr
    events = fi.events(load, unload)
    assert outstanding(events) == [], [str(e) for e in outstanding(events)]
    assert pair(events).unmatched == []
    freed = Counter(e.api for e in events if e.op == "release")
    assert freed["proc_remove"] == 1 and freed["debugfs_remove"] == 1  # subtrees

    for n in range(1, len(MANY_APIS) + 1):
        r = session.run(["insmod", fi.armed(session, "many_apis", n)])
        assert r.returncode == 1 and "Cannot allocate memory" in r.stderr, (n, r.stderr)
        events = fi.events(r)
        point = fallible_calls(events)[n - 1]  # calls made after it in the same batch follow it
        assert (point.nth, point.op, point.api) == (n, "inject", MANY_APIS[n - 1])
        assert outstanding(events) == [], (n, [str(e) for e in outstanding(events)])
        assert not re.search(r"WARNING|BUG|already registered", r.log), (n, r.log)
    left = session.sh("ls /proc/many_apis /sys/class/many_apis /dev/many_apis 2>&1; true")
    assert left.stdout.count("No such file") == 3
    assert tainted(session) == TAINT_OE
