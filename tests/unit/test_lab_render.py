"""The lab's views: the same content as HTML and as text, escaped, on the cell's lines."""

from __future__ import annotations

import html
import json
from pathlib import Path

from kmodlab.build.diagnostics import Diagnostic
from kmodlab.grader.report.formats import to_text
from kmodlab.grader.report.model import Report
from kmodlab.lab import render
from kmodlab.vm.guest import CommandResult
from tests.unit.test_lab_fakes import record

REPORTS = Path(__file__).resolve().parents[1] / "data" / "reports"


def test_command_view_shows_output_and_the_kernel_log_it_caused():
    r = CommandResult(["insmod", "hello.ko"], "exited", 0, "", "", [record("Hello, world!")])
    view = render.command_view(r)
    assert view.text.splitlines()[0] == "$ insmod hello.ko   [exit 0]"
    assert "kernel log:" in view.text and "Hello, world!" in view.text
    assert "Hello, world!" in view.html and "kernel log" in view.html
    assert "output</div>" not in view.html  # no empty output column


def test_a_failed_command_says_how_it_ended():
    r = CommandResult(
        ["rmmod", "x"], "exited", 1, "", "rmmod: ERROR: Module x is not currently loaded\n"
    )
    assert "[exit 1]" in render.command_view(r).text
    killed = CommandResult(["insmod", "x.ko"], "signaled", -9, "", "")
    assert render.status_words(killed) == "killed by signal 9"


def test_everything_from_the_guest_is_escaped():
    r = CommandResult(
        ["/bin/sh", "-c", "echo '<b>'"],
        "exited",
        0,
        "<script>x</script>\n",
        "",
        [record("<img src=x onerror=alert(1)>")],
    )
    view = render.command_view(r)
    assert "<script>" not in view.html and "&lt;script&gt;" in view.html
    assert "<img" not in view.html
    assert view.text.splitlines()[0].startswith("$ echo '<b>'")  # the script, not /bin/sh -c


def test_the_caret_sits_under_gccs_display_column_in_tab_indented_code():
    # gcc 12 counts display columns (tab = 8): `\treturn x;` has `x` at column 16.
    source = "int f(void)\n{\n\treturn x;\n}\n"
    lines = render.source_text(source, 3, 16)
    assert lines[0] == "    3 |         return x;"
    assert lines[1].index("^") == lines[0].index("x")
    html = render.source_html(source, 3, 16)
    assert "background:#ffebee" in html and "^" in html


def test_source_text_without_a_column_underlines_the_line_and_can_show_lines_before():
    source = "a;\nb;\n\tc = *p;\n"
    lines = render.source_text(source, 3, before=2)
    assert [ln.split("|")[0].strip() for ln in lines[:3]] == ["1", "2", "3"]
    assert lines[-1].endswith("^^^^^^^")
    assert render.source_text(source, 9) == []  # a line the file does not have


def test_build_view_puts_the_cells_messages_first_on_cell_lines_and_quotes_each_line_once():
    cell = "// %%kmodule hello\n#include <linux/module.h>\nint f(void)\n{\n\treturn y;\n}\n"
    diags = [
        Diagnostic("other.c", 3, 1, "warning", "unused-variable", "unused variable 'z'"),
        Diagnostic("hello.c", 5, 9, "error", "compile-error", "'y' undeclared", "f"),
        Diagnostic(
            "hello.c", 5, 9, "note", "note", "each undeclared identifier is reported only once"
        ),
    ]
    view = render.build_view(
        ok=False,
        cell_file="hello.c",
        diagnostics=diags,
        sources={"hello.c": cell},
        summary="hello: build failed",
    )
    lines = view.text.splitlines()
    assert lines[0] == "hello: build failed"
    assert lines[1] == "cell line 5, column 9: error: 'y' undeclared (in function f)"
    assert sum("| " in ln and "return y" in ln for ln in lines) == 1
    assert "other.c:3:1: warning: unused variable 'z'" in view.text
    assert view.text.index("cell line 5") < view.text.index("other.c:3:1")
    assert "cell line 5, column 9" in view.html and "return y;" in view.html


def test_count_words():
    d = [Diagnostic(None, None, None, s, "k", "m") for s in ("error", "warning", "warning", "note")]
    assert render.count_words(d) == "1 error, 2 warnings"
    assert render.count_words([]) == ""


def test_crash_view_names_the_cell_line_and_what_the_lab_did():
    cell = "// %%kmodule boom\nx;\ny;\nint *p = 0; *p = 1;\n"
    view = render.crash_view(
        headline="the guest crashed: Kernel panic",
        location=("boom.c", 4, "boom_init"),
        cell_file_names=["boom.c"],
        sources={"boom.c": cell},
        report_text="Kernel panic - not syncing: boom",
        aftermath="The lab started a fresh guest.",
    )
    assert "in boom_init, at cell line 4 of %%kmodule boom" in view.text
    assert "*p = 1;" in view.text and "Kernel panic - not syncing" in view.text
    assert view.text.rstrip().endswith("The lab started a fresh guest.")
    assert "<details>" in view.html


def test_report_view_rows_findings_and_ladders():
    report = Report.from_dict(json.loads((REPORTS / "rich.json").read_text()))
    sources = {"mydev.c": (REPORTS / "sample" / "mydev.c").read_text()}
    view = render.report_view(report, sources)
    assert view.text == to_text(report, sources=sources)  # the plain form is the grader's own
    assert view.html.count("<tr") == len(report.checks)
    assert render.STATUS_COLOUR["fail"] in view.html and render.STATUS_COLOUR["pass"] in view.html
    assert "<svg" in view.html  # the unwind ladder of the failing point
    assert "kmalloc(4096) is never freed" in view.html and "<b>mydev.c:26</b>" in view.html
    line_26 = sources["mydev.c"].splitlines()[25].expandtabs(8)
    assert line_26.strip() and html.escape(line_26) in view.html  # the leaking line, quoted


def test_log_view_keeps_the_labs_markers():
    view = render.log_view([record("a"), "--- fresh guest #2 ---", record("b")], "log")
    assert view.text.splitlines() == [
        "log",
        record("a").format(),
        "--- fresh guest #2 ---",
        record("b").format(),
    ]
    assert "font-style:italic" in view.html


def test_rendered_has_both_forms_for_ipython():
    r = render.Rendered("plain", "<b>rich</b>")
    assert r._repr_html_() == "<b>rich</b>" and str(r) == "plain"
    both = r + render.Rendered("more", "<i>more</i>")
    assert both.text == "plain\nmore" and both.html == "<b>rich</b><i>more</i>"


def test_a_long_kernel_log_folds_after_its_first_lines():
    kmsg = [record(f"line {i}", seq=i) for i in range(60)]
    view = render.command_view(CommandResult(["insmod", "oops.ko"], "signaled", -9, "", "", kmsg))
    assert "<details><summary>48 more lines</summary>" in view.html
    assert view.html.index("line 11") < view.html.index("<details>") < view.html.index("line 12")
    assert "line 59" in view.text  # the text form keeps everything
