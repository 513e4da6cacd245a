"""Hostile submissions against the host side: quotes, batch folder names, parsers, buffers.

Each attack is reproduced as it was found, and the test asserts the honest
outcome; a clean control shows the same path still works for an honest case.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from pathlib import Path

import pytest

from kmodlab import cli
from kmodlab.build import memcap
from kmodlab.build.builder import link_findings
from kmodlab.build.objm import module_specs
from kmodlab.build.validate import load_submission
from kmodlab.errors import InputError
from kmodlab.grader import batch as batch_mod
from kmodlab.grader.batch import csv_cell, grade_batch, report_stem
from kmodlab.grader.report.formats import read_sources, to_gradescope, to_text
from kmodlab.grader.report.model import CheckResult, Finding, Report
from kmodlab.vm.console import ConsoleLog, find_reports

DATA = Path(__file__).resolve().parents[1] / "data" / "harden"
SECRET = "KMODLAB-HOST-SECRET-7f3a"  # stands for a line of a file of the grading machine


# -- 1. reports quote only validated files ----------------------------------------
@pytest.fixture
def linked(tmp_path: Path) -> Path:
    """The linkquote attack: symlinks the validator never takes, all to a 'host' file."""
    host = tmp_path / "host" / "secret.conf"
    host.parent.mkdir()
    host.write_text(f"{SECRET} line 1\n{SECRET} line 2\n{SECRET} line 3\n")
    sub = tmp_path / "sub-folder"
    sub.mkdir()
    for name in ("hello.c", "Makefile"):
        (sub / name).write_bytes((DATA / "linkquote" / name).read_bytes())
    (sub / "sub").mkdir()
    (sub / "sub" / "Makefile").symlink_to(host)  # a sub-folder Makefile
    (sub / "hello.mod.c").symlink_to(host)  # a generated name the validator skips
    deep = sub / "a" / "b" / "c" / "d"
    deep.mkdir(parents=True)
    (deep / "deep.c").symlink_to(host)  # deeper than the validator looks
    (sub / "etc").symlink_to(host.parent)  # a folder
    return sub


def attack_report(name: str = "sub/Makefile") -> Report:
    warnings = [Finding("warning", f"#warning line {n}", name, n) for n in (1, 2, 3)]
    own = Finding("warning", "unused variable", "hello.c", 5)
    check = CheckResult("build", "pass", 1.0, 1.0, "built hello.ko", [*warnings, own])
    fail = CheckResult("load", "fail", 0.0, 1.0, "failed", [*warnings, own])
    return Report("linkquote", "6.1.0", [check, fail], duration_s=1.0)


def test_links_are_left_behind_and_listed(linked: Path) -> None:
    """Does the validator take no symlinked file, and list each link it left behind?"""
    sub = load_submission(linked)
    assert sorted(sub.files) == ["Makefile", "hello.c"]
    assert sorted(sub.links) == ["etc", "hello.mod.c", "sub/Makefile"]  # a/b/c/d: never looked at
    (warning,) = {d.message for d in link_findings(sub) if "sub/Makefile" in d.message}
    assert warning.startswith("sub/Makefile is a symbolic link: kmodlab never follows one")


def test_a_symlinked_source_the_build_would_take_is_refused(linked: Path) -> None:
    (linked / "peek.c").symlink_to(linked / "hello.c")
    with pytest.raises(InputError, match=r"^peek\.c is a symbolic link"):
        load_submission(linked)


def test_a_file_swapped_for_a_link_after_the_check_is_not_followed(linked: Path) -> None:
    """Is a source that became a symlink between lstat and open refused, not read?"""
    from kmodlab.build import validate

    (linked / "late.c").symlink_to(linked / "sub" / "Makefile")
    with pytest.raises(InputError, match=r"^late\.c cannot be read"):
        validate._read_text(linked, "late.c", validate.MAX_FILE_BYTES)
    assert validate._read_text(linked, "hello.c", validate.MAX_FILE_BYTES).startswith(b"//")


def test_reports_quote_no_file_the_validator_did_not_take(linked: Path) -> None:
    """Do text and Gradescope reports show the #line'd findings without the host file's lines?"""
    sources = read_sources(linked)
    assert sorted(sources) == ["Makefile", "hello.c"]
    report = attack_report()
    text = to_text(report, sources=sources)
    gradescope = json.dumps(to_gradescope(report, sources=sources))
    for out in (text, gradescope):
        assert SECRET not in out
        assert "#warning line 1" in out and "sub/Makefile:1" in out  # the finding stays
    # Control: a finding on the student's own file is still quoted.
    assert "    5 | static int __init hello_init(void)" in text


def test_control_a_regular_sub_folder_file_is_quoted(tmp_path: Path) -> None:
    """Is a regular .h in a sub-folder (taken by the validator) still quoted?"""
    (tmp_path / "inc").mkdir()
    (tmp_path / "hello.c").write_text('#include "inc/util.h"\n')
    (tmp_path / "inc" / "util.h").write_text("int util;\n")
    report = attack_report("inc/util.h")
    assert "1 | int util;" in to_text(report, sources=read_sources(tmp_path))


# -- 8. bounded parser, capped console, one memory cap ----------------------------
def test_deeply_nested_makefile_is_a_one_line_error_in_bounded_time() -> None:
    """Do 2,000 nested $( give a one-line InputError (not RecursionError), quickly?"""
    makefile = "obj-m := " + "$(" * 2000 + "x" + ")" * 2000 + "\n"
    started = time.monotonic()
    with pytest.raises(InputError) as info:
        module_specs(["hello.c"], makefile=makefile)
    assert time.monotonic() - started < 10
    assert str(info.value) == (
        "the Makefile nests $(...) more than 64 levels deep: list obj-m and its objects by name"
    )
    # Control: ordinary nesting still reads.
    ok = module_specs(["a.c"], makefile="V := N\nN := a\nobj-m := $($(V)).o\n")
    assert [m.name for m in ok.modules] == ["a"]


def test_console_keeps_the_first_oops_and_the_end_within_its_cap() -> None:
    """Does a flooding guest leave the host a bounded console with the first oops in it?"""
    log = ConsoleLog(head_max=64 << 10, tail_max=64 << 10)
    oops = "BUG: kernel NULL pointer dereference, address: 0000000000000000\n"
    log.add(b"booting\n" + oops.encode() + b"RIP: 0010:hello_init+0x5/0x20 [hello]\n")
    flood = b"[  1.0] spam spam spam spam spam spam spam spam spam spam\n" * 1000
    for _ in range(300):  # ~17 MB
        log.add(flood)
    log.add(b"Kernel panic - not syncing: the end\n")
    kept = log.since(0).decode()
    assert len(log.head) + len(log.tail) <= (64 << 10) * 2 + (16 << 10)
    assert log.total > 17_000_000 and len(log) == log.total
    assert kept.startswith("booting\nBUG: kernel NULL pointer dereference")
    assert f"[kmodlab: {log.dropped} bytes of console output dropped here]" in kept
    assert [r.kind for r in find_reports(kept)][0] in ("bug", "oops")
    assert kept.endswith("Kernel panic - not syncing: the end\n")
    # An offset taken before the flood still works; one inside the tail is exact.
    assert log.since(len(log) - 4) == b"end\n"
    assert log.since(0).startswith(b"booting")


def test_console_control_nothing_dropped_below_the_cap() -> None:
    log = ConsoleLog(head_max=100, tail_max=100)
    log.add(b"a" * 150)
    log.add(b"b" * 40)
    assert log.since(0) == b"a" * 150 + b"b" * 40 and log.dropped == 0
    assert log.since(120) == b"a" * 30 + b"b" * 40


def test_memory_cgroup_is_found_from_proc_self() -> None:
    """Are our own cgroup and the memory controller's mount read from /proc/self?"""
    groups = memcap._own_groups("4:memory:/process_api/ab\n3:cpu,cpuacct:/x\n0::/user.slice/u\n")
    assert groups["memory"] == "/process_api/ab" and groups[""] == "/user.slice/u"
    assert groups["cpuacct"] == "/x"
    mounts = (
        "cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\n"
        "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0\n"
    )
    assert memcap._mounts(mounts) == (Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup/memory"))


# -- 7. one student's folder never stops or corrupts the class ----------------------
HOSTILE = {
    "long": "x" * 245,
    "newline": "alice\nbob",
    "dash": "-rf",
    "quotes": 'o\'brien "the" hacker',
    "formula": '=HYPERLINK("evil.example","click me")',
    "plus": "+cmd|' -C calc'!A0",
    "markup": "[bold red]boom[link=x]",
    "undecodable": os.fsdecode(b"caf\xe9"),
    "plain": "alice",
    "edge": "é" * 100,  # 200 bytes: the longest name kept as the file name
}


def test_report_stem_is_a_short_plain_file_name_or_the_name_itself() -> None:
    assert report_stem("alice") == "alice"
    assert report_stem("é" * 100) == "é" * 100 and report_stem("é" * 101) != "é" * 101
    assert report_stem("Doe, Jane_123_assignsubmission") == "Doe, Jane_123_assignsubmission"
    for key in ("long", "newline", "dash", "undecodable"):
        stem = report_stem(HOSTILE[key])
        assert stem != HOSTILE[key] and len(stem.encode()) <= 60 and stem.isprintable()
        assert not stem.startswith("-") and stem == report_stem(HOSTILE[key])  # stable
    assert report_stem("a\nb") != report_stem("a\tb")  # the hash tells them apart


def test_csv_cells_never_start_a_formula() -> None:
    for text in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert csv_cell(text) == "'" + text
    assert csv_cell("alice") == "alice"


def grade_ok(sub: Path) -> Report:
    check = CheckResult("build", "pass", 1.0, 1.0, "built")
    return Report(sub.name, "6.1.0", [check], duration_s=0.1)


def snapshot(root: Path, skip: Path) -> set[Path]:
    return {p for p in root.rglob("*") if not p.is_relative_to(skip)}


def test_hostile_folder_names_are_all_graded_and_nothing_escapes(tmp_path: Path) -> None:
    """Is every student graded, with files only in the output folder and a CSV with no formula?"""
    subs = tmp_path / "subs"
    for name in HOSTILE.values():
        folder = subs / name
        folder.mkdir(parents=True)
        (folder / "m.c").write_text("int x;\n")
    out = tmp_path / "out"
    before = snapshot(tmp_path, out)
    summary = grade_batch(subs, out, grade=grade_ok, progress=False)
    assert sorted(summary.graded) == sorted(HOSTILE.values())
    assert summary.ungraded == {}
    assert snapshot(tmp_path, out) == before  # nothing written outside the output folder
    files = sorted(p.name for p in out.iterdir())
    assert len(files) == 2 * len(HOSTILE) + 2  # .json and .txt each; summary.csv, gradebook.csv
    assert all(len(f.encode()) < 255 and f.isprintable() and f[0] not in "-." for f in files)
    rows = list(csv.reader(io.StringIO((out / "summary.csv").read_text(encoding="utf-8"))))
    names = [r[0] for r in rows[1:]]
    assert len(names) == len(HOSTILE)
    assert not [n for n in names if n.startswith(("=", "+", "-", "@"))]
    assert "'" + HOSTILE["formula"] in names and "'-rf" in names
    assert "alice\nbob" in names and "caf\ufffd" in names
    # A rerun finds every report under the same file name: nothing graded twice.
    again = grade_batch(subs, out, grade=grade_ok, progress=False)
    assert again.graded == [] and len(again.resumed) == len(HOSTILE)


def test_progress_bar_shows_hostile_names_as_text(tmp_path: Path) -> None:
    """Does a name holding rich markup or a newline show as plain text in the bar?"""
    assert batch_mod._bar_name("[bold red]boom[/]") == "\\[bold red]boom\\[/]"
    assert batch_mod._bar_name("a\nb") == "a?b"
    assert len(batch_mod._bar_name("x" * 245)) == 40


def test_grade_batch_exits_1_and_names_the_ungraded(tmp_path: Path, monkeypatch, capsys) -> None:
    """Does `grade-batch` exit non-zero, naming each submission it could not grade?"""
    subs = tmp_path / "subs"
    for name in ("alice", "bob", "x" * 245):
        (subs / name).mkdir(parents=True)

    def grade(sub: Path, **_kw) -> Report:
        if sub.name == "bob":
            raise RuntimeError("the guest exploded")
        return grade_ok(sub)

    monkeypatch.setattr("kmodlab.grader.pipeline.grade", grade)
    monkeypatch.setattr("kmodlab.vm.session.prepare", lambda: None)
    argv = ["grade-batch", str(subs), "--output-dir", str(tmp_path / "out")]
    assert cli.main(argv) == cli.EXIT_UNGRADED == 1
    err = capsys.readouterr().err
    assert "1 could not be graded (rerun with --retry-errors):" in err
    assert "  bob: the grader failed on this submission: RuntimeError: the guest exploded" in err
    # Resumed, bob's error report still counts; --retry-errors grades him again.
    monkeypatch.setattr("kmodlab.grader.pipeline.grade", lambda sub, **_kw: grade_ok(sub))
    assert cli.main(argv) == 1
    assert cli.main([*argv, "--retry-errors"]) == 0


def _compressed_section_far_away() -> bytes:
    """An ELF64 whose one section claims SHF_COMPRESSED data at an offset past 2**63:
    pyelftools raises OverflowError (not ELFError) when it seeks there."""
    import struct

    def section(name: int, kind: int, flags: int, offset: int, size: int) -> bytes:
        return struct.pack("<IIQQQQIIQQ", name, kind, flags, 0, offset, size, 0, 0, 1, 0)

    names = b"\x00.shstrtab\x00.x\x00"
    ident = b"\x7fELF\x02\x01\x01" + b"\x00" * 9
    header = ident + struct.pack("<HHIQQQIHHHHHH", 1, 62, 1, 0, 0, 64, 0, 64, 0, 0, 64, 3, 1)
    return (
        header
        + section(0, 0, 0, 0, 0)
        + section(1, 3, 0, 64 + 3 * 64, len(names))
        + section(11, 1, 0x800, 0x8500000000000000, 64)
        + names
    )


@pytest.mark.parametrize(
    "body",
    [
        _compressed_section_far_away(),
        b"\x7fELF\x02\x01\x01" + b"\x00" * 57 + b"\x01" * 200,  # counts that point past the end
        b"not an elf at all",
    ],
)
def test_a_ko_with_handwritten_bytes_answers_nothing_and_never_raises(tmp_path, body):
    """Does a .ko whose bytes are not a sane ELF (a student can write sections by hand)
    leave the decoder with no answers instead of stopping the grade?"""
    from kmodlab.grader.collection.decode import ElfDebug

    ko = tmp_path / "bad.ko"
    ko.write_bytes(body)
    debug = ElfDebug(ko)
    assert debug.symbol("init_module") is None
    assert debug.section_sizes() in ({}, debug.sections)
