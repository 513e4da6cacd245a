"""The integrity check on sources, objects and evidence, without a guest."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from kmodlab.grader.evidence import Evidence
from kmodlab.grader.report.formats import read_sources
from kmodlab.grader.verdicts import integrity, judges
from kmodlab.grader.verdicts.integrity import ObjectFacts, findings, scan_object, scan_source

ROOT = Path(__file__).parent.parent.parent
HOSTILE = ROOT / "tests" / "data" / "channel"


def _rules(text: str, name: str = "m.c", files=("m.c",)) -> list[tuple[str, int]]:
    return [(f.data["rule"], f.line) for f in scan_source(name, text, files)]


@pytest.mark.parametrize(
    ("snippet", "rule"),
    [
        ("struct file *f = fget(3);", "symbol"),
        ("struct files_struct *fs = current->files;", "symbol"),
        ("fd_install(fd, f);", "symbol"),
        ('unsigned long a = kallsyms_lookup_name("x");', "symbol"),
        ("register_kprobe(&kp);", "symbol"),
        ("text_poke(addr, buf, 5);", "symbol"),
        ('f = filp_open("/dev/vport0p1", O_RDWR, 0);', "path"),
        ('f = filp_open("/dev/hvc0", O_RDWR, 0);', "path"),
        ('const char *p = "/sys/kernel/" "tracing/trace";', "path"),
        ('const char *p = "/sys/kernel/debug/tracing/trace";', "path"),
        ('const char *p = "/proc/kallsyms";', "path"),
        ("extern int kmodlab_fi_note(const char *);", "instrumentation"),
        ("void *__real_kmalloc(size_t, gfp_t);", "instrumentation"),
        ("void *__wrap_kfree(const void *);", "instrumentation"),
        ('#include "/etc/passwd"', "absolute-include"),
        ('#include "../../../etc/passwd"', "absolute-include"),
        ('#line 1 "sub/Makefile"', "line-directive"),
        ('# 7 "/etc/shadow"', "line-directive"),
        ('asm(".incbin \\"/etc/hostname\\"");', "incbin"),
        ('asm(".inc" "bin \\"/etc/hostname\\"");', "incbin"),
    ],
)
def test_each_reach_is_flagged_at_its_line(snippet, rule):
    """Is each thing an honest module never needs flagged, at the line that does it?"""
    text = "#include <linux/module.h>\n\n" + snippet + "\n"
    assert (rule, 3) in _rules(text)


@pytest.mark.parametrize(
    "snippet",
    [
        "/* fget(), kallsyms_lookup_name and /sys/kernel/tracing are not for us */",
        '// #line 1 "sub/Makefile"  and  .incbin "/etc/hostname"',
        '#line 12 "m.c"',  # its own file
        '#include "inc/local.h"',
        "#include <linux/fs.h>",
        'pr_info("see /sys/kernel/debug/mydir\\n");',  # a message, nothing opened
        '#define NAME "kmodlab_counter"',  # the course's own names
        "static int kmodlab_count;",
        "u32 x = 0x1f, y = 1e3;",
        'f = filp_open("/tmp/mine.txt", O_RDONLY, 0);',  # a file of its own
    ],
)
def test_honest_code_is_not_flagged(snippet):
    """Do comments, messages, the module's own names and its own files stay unflagged?"""
    assert (
        _rules("#include <linux/module.h>\n" + snippet + "\n", files=("m.c", "inc/local.h")) == []
    )


def test_debugfs_opened_by_path_is_flagged():
    """Is a debugfs path flagged when the module opens files by path?"""
    text = 'void f(void)\n{\n\tfilp_open("/sys/kernel/debug/x", O_RDONLY, 0);\n}\n'
    assert ("path", 3) in _rules(text)


def test_line_directive_to_a_file_in_a_subfolder_of_the_submission_is_fine():
    """Does #line naming another file of the submission pass?"""
    files = ("src/a.c", "src/b.h")
    assert _rules('#line 3 "b.h"\n', name="src/a.c", files=files) == []
    assert _rules('#line 3 "../b.h"\n', name="src/a.c", files=files) == [("line-directive", 1)]


def test_objects_show_imports_definitions_and_strings():
    """Does an object's import, definition or string reveal a reach the source hid?"""
    obj = ObjectFacts(
        "m.o",
        undefined=("fget", "kmalloc_trace", "printk"),
        defined=("__wrap_kmalloc", "kmodlab_counter_show", "init_module"),
        strings=("/sys/kernel/tracing/trace", "kmodlab_counter", "kmodlab_fail_nth"),
    )
    rules = sorted((rule, needle) for rule, _what, needle in scan_object(obj))
    assert rules == [
        ("instrumentation", "__wrap_kmalloc"),
        ("instrumentation", "kmodlab_fail_nth"),
        ("path", "/sys/kernel/tracing"),
        ("symbol", "fget"),
    ]


def test_object_findings_point_at_the_source_line_when_they_can():
    """Is an object-only finding (a macro built the call) located in the source?"""
    sources = {"m.c": "#define GET(x) f##get(x)\nvoid *p(void) { return GET(3); }\n"}
    found = findings(sources, [ObjectFacts("m.o", undefined=("fget",))])
    assert [(f.data["witness"], f.file) for f in found] == [("object", None)]
    sources = {"m.c": "void *p(void) { return (fget)(3); }\n"}
    found = findings(sources, [ObjectFacts("m.o", undefined=("fget",))])
    assert [(f.data["witness"], f.line) for f in found] == [("source", 1)]  # once, with its line


@pytest.mark.skipif(not shutil.which("gcc"), reason="gcc is not installed")
def test_read_objects_reads_a_real_object(tmp_path):
    """Are the undefined symbols and strings of an object compiled here read back?"""
    src = tmp_path / "m.c"
    src.write_text(
        "extern unsigned long kallsyms_lookup_name(const char *);\n"
        'unsigned long f(void) { return kallsyms_lookup_name("/dev/vport0p1"); }\n'
    )
    subprocess.run(["gcc", "-c", "-o", str(tmp_path / "m.o"), str(src)], check=True)
    (tmp_path / "m.mod.o").write_bytes((tmp_path / "m.o").read_bytes())  # generated: skipped
    (obj,) = integrity.read_objects(tmp_path)
    assert obj.name == "m.o" and "kallsyms_lookup_name" in obj.undefined
    assert any("/dev/vport0p1" in s for s in obj.strings)
    rules = {rule for rule, _w, _n in scan_object(obj)}
    assert rules == {"symbol", "path"}


def _ctx(**fields) -> judges.Context:
    return judges.Context(Evidence(submission=Path("s"), **fields))


def test_judge_passes_clean_sources_for_no_points():
    """Does a clean submission pass integrity, worth 0 points?"""
    result = judges.judge_integrity(_ctx(sources={"m.c": "int x;\n"}))
    assert (result.status, result.score, result.max_score) == ("pass", 0.0, 0.0)


def test_judge_flags_tampering_and_forged_answers_first():
    """Do a forged answer and a witness disagreement flag the submission, named first?"""
    ev = dict(
        sources={"m.c": "void *p = fget;\n"},
        tamper=["the .ko imports kmalloc_trace, which the instrumentation never saw"],
        compromised="the guest's answers were forged (a response with id '0' ...)",
    )
    result = judges.judge_integrity(_ctx(**ev))
    assert result.status == "fail" and result.summary.startswith("flagged for review: ")
    assert [f.kind for f in result.findings] == ["forged-answer", "tamper", "integrity"]


def test_a_module_reading_its_own_symbol_table_for_the_shim_is_flagged():
    """Is a source that walks THIS_MODULE->kallsyms for the shim's static kfi_note (to
    write ledger records) flagged, at each line?"""
    code = (
        "void *f(void) {\n"
        "  struct mod_kallsyms *ks = THIS_MODULE->kallsyms;\n"
        '  return find(ks, "kfi_note");\n'
        "}\n"
    )
    found = scan_source("m.c", code, ["m.c"])
    assert [(f.line, f.data["rule"]) for f in found] == [(3, "instrumentation"), (2, "symbol")]


def test_judge_skips_when_there_is_nothing_to_read():
    """Is an empty submission not judged (no source, no evidence)?"""
    assert judges.judge_integrity(_ctx()).status == "skip"


def _folders() -> list[Path]:
    roots = [
        p for base in ("solutions", "exercises") for p in (ROOT / base).iterdir() if p.is_dir()
    ]
    data = {p.parent for p in (ROOT / "tests" / "data").rglob("*.c")}
    # The attack corpora of the other hardening work are hostile by design.
    hostile = (HOSTILE, HOSTILE.parent / "harden", HOSTILE.parent / "trust")
    return roots + sorted(d for d in data if not any(h in d.parents for h in hostile))


def test_no_false_flags_on_solutions_exercises_and_the_clean_corpus():
    """Does no source of the course or of the test corpus (but the hostile one) get flagged?"""
    flagged = {
        str(folder.relative_to(ROOT)): [f.message for f in findings(read_sources(folder))]
        for folder in _folders()
    }
    assert len(flagged) > 50
    assert {k: v for k, v in flagged.items() if v} == {}


@pytest.mark.parametrize("case", sorted(p.name for p in HOSTILE.iterdir()))
def test_hostile_corpus_sources_are_flagged_and_controls_are_not(case):
    """Is every hostile case's source flagged (but the runtime-only one), and no control?"""
    found = findings(read_sources(HOSTILE / case))
    if case.startswith("control_") or case == "trace_erase_hidden":
        assert found == []  # the hidden one is caught at run time (test_channel_corpus)
    else:
        assert found and all(f.file and f.line for f in found)


def test_erased_trace_is_inconclusive_and_flagged():
    """Is a trace cleared after load an `error` for leaks (never a pass) and a tamper finding?"""
    from kmodlab.grader.evidence import Step
    from kmodlab.vm.guest import CommandResult

    alloc = (
        "  insmod-201 [000] ..... 12.500000: kmalloc: call_site=evil_init+0x1c/0x60 [evil] "
        "ptr=ffff888004a3c000 bytes_req=200 bytes_alloc=256 gfp_flags=GFP_KERNEL\n"
    )
    read = "@@ stats\noverrun: 0\n@@ trace\n{}@@ vmalloc\n@@ end\n"
    ok = CommandResult(["@unload", "evil"], "exited", 0, "", "")
    ctx = _ctx(
        sources={"evil.c": "int x;\n"},
        unloads=[Step("unload evil", ok)],
        trace_reads=[read.format(alloc)],
        trace=read.format(""),
    )
    leaks = judges.judge_leaks(ctx)
    assert leaks.status == "error" and "cleared" in leaks.summary
    flag = judges.judge_integrity(ctx)
    assert flag.status == "fail" and [f.kind for f in flag.findings] == ["tamper"]
    # the same trace, not cleared: a clean pass
    ctx.ev.trace = read.format(alloc + alloc.replace("kmalloc:", "kfree:").replace("12.5", "13.0"))
    assert judges.judge_leaks(ctx).status == "pass"
    assert judges.judge_integrity(ctx).status == "pass"


def test_forged_answer_leaves_nothing_graded_from_that_guest():
    """With a forged answer, is every check but build and integrity an error, the flag raised?"""
    from kmodlab.build import BuildResult
    from kmodlab.grader.verdicts import document
    from kmodlab.grader.verdicts.judges import GENERIC_CHECKS

    build = BuildResult(True, [], [], "", 0.0, Path("."), True)
    ev = Evidence(submission=Path("s"), build=build, sources={"m.c": "int x;\n"})
    ev.compromised = "the guest's answers were forged (a response with id '0' ...)"
    checks = document.judge(ev)
    got = {c.id: c.status for c in checks}
    assert got == {**dict.fromkeys(GENERIC_CHECKS, "error"), "build": "pass", "integrity": "fail"}
    assert all(c.score == 0 for c in checks if c.id != "build")
    assert next(c for c in checks if c.id == "fault-injection").max_score == 2


def test_flag_is_plain_in_text_json_csv_and_gradescope():
    """Does a failed integrity check read "flagged for review" in every output, and only then?"""
    from kmodlab.grader.batch import summary_csv
    from kmodlab.grader.report.formats import to_gradescope, to_json, to_text
    from kmodlab.grader.report.model import CheckResult, Report

    def report(status: str) -> Report:
        checks = [
            CheckResult("build", "pass", 1, 1, "built m.ko"),
            CheckResult("integrity", status, 0, 0, "flagged for review: fget: ..."),
        ]
        return Report("m", "6.1", checks)

    flagged, clean = report("fail"), report("pass")
    assert "FLAGGED FOR REVIEW" in to_text(flagged) and "FLAGGED" not in to_text(clean)
    assert '"flagged": true' in to_json(flagged) and '"flagged": false' in to_json(clean)
    assert "FLAGGED FOR REVIEW" in to_gradescope(flagged)["output"]
    rows = summary_csv({"a": flagged, "b": clean}).splitlines()
    assert rows[0].endswith(",status,flagged")
    assert rows[1].endswith(",fail,flagged for review") and rows[2].endswith(",pass,")
