"""Report renderers (JSON, Gradescope, text, the unwind ladder) against golden files.

Golden files live in tests/data/reports/; after an intended change of output,
rewrite them with KMODLAB_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kmodlab.grader.report.formats import quote, read_sources, to_gradescope, to_json, to_text
from kmodlab.grader.report.ladder import ladder_lines, ladder_svg, leak_hint
from kmodlab.grader.report.model import CheckResult, Finding, Report

ROOT = Path(__file__).resolve().parents[2]
REPORTS = ROOT / "tests" / "data" / "reports"
SAMPLE = REPORTS / "sample"
SCHEMA_DOC = ROOT / "docs" / "report-schema.md"


def golden(name: str, text: str) -> None:
    path = REPORTS / name
    if os.environ.get("KMODLAB_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
        return
    assert path.is_file(), f"no golden file {path.name}: run with KMODLAB_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"{path.name} differs from the golden file"


# -- sample reports -------------------------------------------------------------
def res(api: str, line: int, handle: str | None) -> dict:
    return {"api": api, "file": "mydev.c", "line": line, "handle": handle}


SCRATCH = "0xffff888003a1c000"
PRIV = "0xffff888003b2d080"


def fault_points() -> list[dict]:
    """mydev.c: kmalloc (26), kzalloc (28), misc_register (32) whose goto skips err_priv."""
    return [
        {
            "index": 1, "module": "mydev", "call": "kmalloc", "file": "mydev.c", "line": 26,
            "init_returned": -12, "verdict": "pass",
            "acquired": [], "released": [], "leaked": [], "leftovers": [], "message": "",
        },
        {
            "index": 2, "module": "mydev", "call": "kzalloc", "file": "mydev.c", "line": 28,
            "init_returned": -12, "verdict": "pass",
            "acquired": [res("kmalloc", 26, SCRATCH)],
            "released": [res("kfree", 40, SCRATCH)],
            "leaked": [], "leftovers": [], "message": "",
        },
        {
            "index": 3, "module": "mydev", "call": "misc_register", "file": "mydev.c",
            "line": 32, "init_returned": -12, "verdict": "fail",
            "acquired": [res("kmalloc", 26, SCRATCH), res("kzalloc", 28, PRIV)],
            "released": [res("kfree", 40, SCRATCH)],
            "leaked": [res("kzalloc", 28, PRIV)], "leftovers": [],
            "message": "left behind: kzalloc() at mydev.c:28",
        },
    ]  # fmt: skip


def rich_report() -> Report:
    """Every field and shape the schema documents, with believable values."""
    checks = [
        CheckResult(
            "build", "pass", 2, 2, "built mydev.ko (1 warning)",
            findings=[Finding("warning", "label 'err_priv' defined but not used", "mydev.c", 37,
                              {"column": 1})],
        ),
        CheckResult("load", "pass", 2, 2, "insmod mydev.ko succeeded"),
        CheckResult("unload", "pass", 1, 1, "rmmod mydev succeeded"),
        CheckResult("cycle", "pass", 1, 1, "loaded and unloaded 3 times"),
        CheckResult("kernel-health", "pass", 2, 2, "no oops, warning or taint"),
        CheckResult(
            "leaks", "fail", 0, 2, "1 allocation is never freed",
            findings=[Finding("leak", "kmalloc(4096) is never freed", "mydev.c", 26,
                              {"witness": "kmem-trace", "api": "kmalloc", "end_line": 27})],
        ),
        CheckResult("registrations", "error", 0, 1, "the state snapshot timed out after 10 s"),
        CheckResult(
            "fault-injection", "fail", 2, 3, "2 of 3 failure points handled",
            findings=[Finding("fault-injection", "left behind: kzalloc() at mydev.c:28",
                              "mydev.c", 32, {"index": 3, "call": "misc_register"})],
            data={"points": fault_points()},
        ),
        CheckResult(
            "greeting", "fail", 0, 1, "1 of 1 expected log line is missing",
            findings=[Finding("missing-log-line", "expected on load: 'mydev: ready'")],
        ),
        CheckResult("exports", "skip", 0, 1, "not run: the exercise's provider did not build"),
    ]  # fmt: skip
    return Report("alice", "6.1.0-56-amd64", checks, duration_s=41.237, exercise="misc-device")


def crash_report() -> Report:
    oops = (
        "BUG: kernel NULL pointer dereference, address: 0000000000000000\n"
        "RIP: 0010:mydev_init+0x1d/0x80 [mydev]"
    )
    point = {
        "index": 1, "module": "mydev", "call": "misc_register", "file": "mydev.c", "line": 32,
        "init_returned": None, "verdict": "crash",
        "acquired": [res("kmalloc", 26, None)], "released": [res("kfree", 40, None)],
        "leaked": [], "leftovers": ["/proc/mydev still exists"],
        "message": "init crashed after misc_register() failed: BUG: kernel NULL pointer "
                   "dereference in mydev_init()",
    }  # fmt: skip
    checks = [
        CheckResult("build", "pass", 2, 2, "built mydev.ko"),
        CheckResult(
            "load", "fail", 0, 2, "the kernel oopsed during insmod",
            findings=[Finding("oops", "NULL pointer dereference in mydev_init()", "mydev.c", 31,
                              {"report": oops})],
        ),
        CheckResult(
            "registrations", "fail", 0, 1, "/proc/mydev still exists",
            findings=[Finding("leftover", "/proc/mydev still exists",
                              data={"section": "proc", "item": "mydev"})],
        ),
        CheckResult("fault-injection", "fail", 0, 3, "the error path crashed the kernel",
                    data={"points": [point]}),
    ]  # fmt: skip
    return Report("bob", "6.1.0-56-amd64", checks, duration_s=12.0)


def passing_report() -> Report:
    checks = [CheckResult("build", "pass", 2, 2, "built hello.ko"),
              CheckResult("load", "pass", 2.5, 2.5, "insmod hello.ko succeeded")]  # fmt: skip
    return Report("carol", "6.1.0-56-amd64", checks, duration_s=3.5, exercise="hello")


def sources() -> dict[str, str]:
    return read_sources(SAMPLE)


# -- golden files ---------------------------------------------------------------
def test_rich_report_text_matches_golden() -> None:
    """Does the text of the rich sample read as the reviewed golden file does?"""
    golden("rich.txt", to_text(rich_report(), sources=sources()))


def test_rich_report_json_matches_golden_and_round_trips() -> None:
    """Is the JSON the golden file, and does it load back into the same report?"""
    text = to_json(rich_report())
    golden("rich.json", text + "\n")
    again = Report.from_dict(json.loads(text))
    assert to_json(again) == text


def test_gradescope_matches_golden() -> None:
    """Is the Gradescope results.json the golden file?"""
    golden("rich.gradescope.json", json.dumps(to_gradescope(rich_report()), indent=2) + "\n")


def test_crash_and_passing_text_match_golden() -> None:
    """Do a crashing and an all-passing report render as their golden files?"""
    golden("crash.txt", to_text(crash_report(), sources=sources()))
    golden("passing.txt", to_text(passing_report()))


def test_ladder_svg_matches_golden() -> None:
    """Is the SVG ladder of the leaking point the golden picture?"""
    golden("ladder-point3.svg", ladder_svg(fault_points()[2]))


# -- JSON -----------------------------------------------------------------------
def test_json_bytes_do_not_depend_on_data_insertion_order() -> None:
    """Do two reports differing only in the order data keys were set give the same bytes?"""
    a, b = rich_report(), rich_report()
    fi = b.check("fault-injection")
    assert fi is not None
    fi.data = {"points": [dict(reversed(list(p.items()))) for p in fi.data["points"]]}
    assert to_json(a) == to_json(b)
    assert list(json.loads(to_json(a)))[:2] == ["schema", "submission"]


def test_json_refuses_nan_rather_than_writing_invalid_json() -> None:
    """Is a NaN score refused instead of written as JSON no parser accepts?"""
    report = passing_report()
    report.checks[0].score = float("nan")
    with pytest.raises(ValueError):
        to_json(report)


# -- Gradescope -----------------------------------------------------------------
def test_gradescope_has_the_spec_fields_and_only_passes_passing_checks() -> None:
    """Does each check become a test with the spec's keys, green only when it passed?"""
    gs = to_gradescope(rich_report())
    assert gs["score"] == 10 and gs["execution_time"] == 41
    assert "alice" in gs["output"] and "10 / 16" in gs["output"]
    statuses = {t["name"]: t["status"] for t in gs["tests"]}
    assert statuses["build"] == "passed"
    assert statuses["leaks"] == statuses["registrations"] == statuses["exports"] == "failed"
    for t in gs["tests"]:
        assert set(t) == {"name", "score", "max_score", "status", "output", "visibility"}
        assert t["visibility"] == "visible"
    assert sum(t["score"] for t in gs["tests"]) == gs["score"]
    fi = next(t for t in gs["tests"] if t["name"] == "fault-injection")
    assert "LEFT BEHIND: kzalloc at mydev.c:28" in fi["output"]


# -- text -----------------------------------------------------------------------
def test_kernel_reports_are_shown_and_long_ones_clipped() -> None:
    """Is an oops's text shown under its finding, and a long call trace clipped?"""
    assert "RIP: 0010:mydev_init+0x1d/0x80 [mydev]" in to_text(crash_report())
    report = crash_report()
    load = report.check("load")
    assert load is not None
    load.findings[0].data["report"] = "\n".join(f"frame {i}" for i in range(100))
    text = to_text(report)
    assert "frame 29" in text and "frame 30" not in text and "70 more lines" in text


def test_text_has_one_line_per_check_and_details_only_for_non_passing() -> None:
    """Is there a PASS/FAIL/ERROR/SKIP line per check, and detail only where something is wrong?"""
    text = to_text(rich_report(), sources=sources())
    table = [line for line in text.splitlines() if re.match(r"^(PASS|FAIL|ERROR|SKIP) ", line)]
    assert [line.split()[1] for line in table[:10]] == [c.id for c in rich_report().checks]
    assert "label 'err_priv' defined but not used" not in text  # build passed
    assert "not a verdict on your code" in text  # the ERROR check says whose problem it is


def test_text_quotes_the_leaked_line_with_a_marker_under_the_code() -> None:
    """Is the leaking kzalloc quoted from the source with carets under the code, tabs expanded?"""
    text = to_text(rich_report(), sources=sources())
    assert (
        "    in your code:\n"
        "      28 |         priv = kzalloc(sizeof(*priv), GFP_KERNEL);\n"
        "         |         ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
    ) in text
    assert text.count("32 |         ret = misc_register") == 1  # quoted once per check
    assert "the other 2 injected failures were cleaned up correctly" in text


def test_text_without_sources_still_names_file_and_line() -> None:
    """Without the source text, does a finding still say file:line?"""
    text = to_text(rich_report())
    assert "at mydev.c:32" in text and " | " not in text


def test_quote_puts_a_single_caret_at_a_column_and_survives_bad_lines() -> None:
    """Is a column marked with one caret, and are unknown files and lines quietly skipped?

    gcc 12 counts display columns, a tab advancing to the next multiple of 8:
    in "\tfoo(bar);" the b of bar is column 13.
    """
    src = {"a.c": "int x;\n\tfoo(bar);\n"}
    assert quote(src, "a.c", 2, column=13) == ["2 |         foo(bar);", "  |             ^"]
    assert quote(src, "a.c", 1, end_line=2) == [
        "1 | int x;",
        "  | ^^^^^^",
        "2 |         foo(bar);",
        "  |         ^^^^^^^^^",
    ]
    assert quote(src, "a.c", 9) == [] and quote(src, "b.c", 1) == [] and quote({}, None, 1) == []


def test_read_sources_takes_c_files_and_makefiles_but_not_hidden_or_binary(tmp_path) -> None:
    """Are .c/.h/Makefile read by relative path, hidden folders and other files ignored?

    A file the validator refuses (not UTF-8) refuses the folder: no quotes at all.
    """
    (tmp_path / "sub").mkdir()
    (tmp_path / ".git").mkdir()
    (tmp_path / "a.c").write_text("int a;\n")
    (tmp_path / "sub" / "b.h").write_bytes(b"\xff\n")
    (tmp_path / "Makefile").write_text("obj-m += a.o\n")
    (tmp_path / ".git" / "c.c").write_text("x")
    (tmp_path / "a.ko").write_bytes(b"\x7fELF")
    assert read_sources(tmp_path) == {}
    (tmp_path / "sub" / "b.h").write_text("int b;\n")
    assert sorted(read_sources(tmp_path)) == ["Makefile", "a.c", "sub/b.h"]


# -- ladder ---------------------------------------------------------------------
def test_ladder_lists_acquisitions_failure_releases_then_what_was_left() -> None:
    """Does the ladder read: ✓ acquisitions, ✗ the failure, ↩ releases, then LEFT BEHIND?"""
    lines = ladder_lines(fault_points()[2])
    assert lines[0].startswith("✓ kmalloc") and lines[0].endswith("mydev.c:26")
    assert lines[1].startswith("✓ kzalloc") and lines[1].endswith("mydev.c:28")
    assert lines[2].startswith("✗ misc_register") and lines[2].endswith("fails here (injected)")
    assert lines[3].startswith("↩ kfree") and "undoes kmalloc from mydev.c:26" in lines[3]
    assert lines[-1] == (
        "LEFT BEHIND: kzalloc at mydev.c:28 — your error path never frees it; "
        "the label for it was skipped"
    )


@pytest.mark.parametrize(
    ("released", "hint"),
    [
        ([], "nothing was cleaned up after the failure"),
        ([res("kfree", 41, "h2")], "the unwinding stops before it"),
        ([res("kfree", 40, "h0")], "the label for it was skipped"),
    ],
)
def test_leak_hint_tells_a_skipped_label_from_a_missing_cleanup(released, hint) -> None:
    """Does the hint say whether the goto skipped the label, stopped early, or nothing ran?"""
    point = {
        "call": "register_x", "file": "mydev.c", "line": 50,
        "acquired": [res("a", 10, "h0"), res("b", 11, "h1"), res("c", 12, "h2")],
        "released": released, "leaked": [res("b", 11, "h1")],
    }  # fmt: skip
    assert leak_hint(point, point["leaked"][0]).endswith(hint)


def test_ladder_says_when_init_pretends_success() -> None:
    """Is init returning 0 after an injected failure called out?"""
    point = {**fault_points()[0], "init_returned": 0, "verdict": "fail"}
    assert "init returned 0: it reported success although kmalloc failed" in ladder_lines(point)


def test_ladder_svg_is_wellformed_and_escapes_names() -> None:
    """Is the SVG well-formed XML, self-contained, with every rung and user text escaped?"""
    point = {**fault_points()[2], "call": "reg<x>&"}
    svg = ladder_svg(point)
    root = ET.fromstring(svg)
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert any("reg<x>&" in (t or "") for t in texts)
    assert any("LEFT BEHIND" in (t or "") for t in texts)
    assert "href" not in svg and "<script" not in svg


# -- the schema document --------------------------------------------------------
def key_paths(obj: object, prefix: str = "") -> set[str]:
    """`checks[].findings[].file`-style paths of every key in a JSON value."""
    paths: set[str] = set()
    if isinstance(obj, dict):
        for k, v in obj.items():
            path = f"{prefix}.{k}" if prefix else k
            paths |= {path} | key_paths(v, path)
    elif isinstance(obj, list):
        for v in obj:
            paths |= key_paths(v, f"{prefix}[]")
    return paths


def documented_paths() -> set[str]:
    """The backticked names in the first column of the schema document's tables."""
    found = set()
    for line in SCHEMA_DOC.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\|\s*`([^`]+)`\s*\|", line)
        if m:
            found.add(m.group(1))
    return found


def test_every_json_key_is_documented_in_the_schema_doc() -> None:
    """Is every key to_json writes for the sample reports listed in docs/report-schema.md?"""
    from kmodlab.grader.batch import error_report

    produced: set[str] = set()
    for report in (rich_report(), crash_report(), error_report("dave", RuntimeError("boom"))):
        produced |= key_paths(json.loads(to_json(report)))
    missing = sorted(produced - documented_paths())
    assert not missing, f"document these in docs/report-schema.md: {missing}"


def test_schema_doc_names_every_status_and_generic_check() -> None:
    """Does the doc explain each status and list each generic check id?"""
    from kmodlab.grader.report.model import SCHEMA, STATUSES
    from kmodlab.grader.verdicts.judges import GENERIC_CHECKS

    doc = SCHEMA_DOC.read_text(encoding="utf-8")
    assert SCHEMA in doc
    for name in (*STATUSES, *GENERIC_CHECKS, "grader"):
        assert f"`{name}`" in doc, name


def test_fault_points_are_numbered_within_their_module():
    """With two modules, is each point "I of N in MODULE" (I is the call number arm() fails)?"""
    from kmodlab.grader.report.ladder import point_title

    a = [{"module": "a", "index": i} for i in (1, 2)]
    b = [{"module": "b", "index": i} for i in (1, 2, 3)]
    assert point_title(b[2], a + b) == "injected failure 3 of 3 in b"
    assert point_title(a[0], a + b) == "injected failure 1 of 2 in a"
    assert point_title(b[1], b) == "injected failure 2 of 3"  # one module: no name needed
