"""Parsing real kbuild logs (tests/data/build/logs/, made by tests/data/build/capture.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmodlab.build.diagnostics import Diagnostic, errors, locate_symbols, parse_build_log

DATA = Path(__file__).resolve().parents[1] / "data" / "build"
CAPTURE_DIR = "/tmp/kmodlab-capture/build"  # the build folder the captured logs name


def parse(case: str, **kwargs) -> list[Diagnostic]:
    return parse_build_log((DATA / "logs" / f"{case}.log").read_text(), CAPTURE_DIR, **kwargs)


def where(d: Diagnostic) -> tuple:
    return (d.file, d.line, d.column, d.severity, d.kind)


def test_syntax_error_maps_to_the_student_file_and_function() -> None:
    found = parse("syntax")
    assert [where(d) for d in found] == [
        ("syntax.c", 7, 9, "error", "compile-error"),
        ("syntax.c", 8, 1, "error", "return-type"),
    ]
    assert found[0].message == "expected ';' before 'return'"
    assert found[0].function == "syntax_init"
    assert str(found[0]) == "syntax.c:7:9: error: expected ';' before 'return'"


def test_unused_variable_is_a_warning_with_its_option_as_kind() -> None:
    (d,) = parse("unusedvar")
    assert where(d) == ("unusedvar.c", 6, 13, "warning", "unused-variable")
    assert d.message == "unused variable 'unused'"
    assert d.function == "unusedvar_init"


def test_implicit_declaration_is_an_error_in_kernel_builds() -> None:
    (d,) = parse("implicit")
    assert where(d) == ("implicit.c", 6, 17, "error", "implicit-function-declaration")
    assert "my_helper" in d.message


def test_fatal_error_for_a_missing_header() -> None:
    (d,) = parse("missinginc")
    assert where(d) == ("missinginc.c", 2, 10, "error", "fatal-error")
    assert "linux/no_such_header.h" in d.message


def test_note_in_a_kernel_header_keeps_a_readable_kernel_path() -> None:
    err, note = parse("badptr")
    assert where(err) == ("badptr.c", 10, 23, "error", "incompatible-pointer-types")
    assert note.severity == "note"
    assert note.file == "include/linux/fortify-string.h"


def test_composite_module_errors_name_each_file_and_header() -> None:
    found = parse("composite")
    got = {(d.file, d.line, d.severity) for d in found}
    assert got == {("util.c", 6, "error"), ("util.h", 4, "note"), ("main.c", 8, "warning")}


def test_undefined_symbol_is_explained() -> None:
    (d,) = parse("undefsym")
    assert (d.severity, d.kind) == ("error", "undefined-symbol")
    assert d.message.startswith("undefsym.ko uses kmodlab_no_such_symbol, which no module")
    assert "load the module that exports it" in d.message


def test_gpl_only_symbols_are_explained_once_each() -> None:
    found = parse("gplonly")
    assert [d.kind for d in found] == ["gpl-only-symbol"] * 3
    assert "debugfs_create_u32" in found[0].message
    assert 'MODULE_LICENSE("GPL")' in found[0].message


def test_missing_license_points_at_the_only_source() -> None:
    (d,) = parse("nolicense", modules={"nolicense": ["nolicense.c"]})
    assert (d.file, d.severity, d.kind) == ("nolicense.c", "error", "missing-license")
    assert 'add MODULE_LICENSE("GPL") to nolicense.c' in d.message


def test_multiple_definition_from_the_linker() -> None:
    (d,) = parse("multidef")
    assert where(d) == ("second.c", 4, None, "error", "multiple-definition")
    assert "first.c:5" in d.message and "static" in d.message


@pytest.mark.parametrize("case", sorted(p.stem for p in (DATA / "logs").glob("*.log")))
def test_no_build_noise_becomes_a_diagnostic(case: str) -> None:
    for d in parse(case):
        assert "BTF" not in d.message
        assert "Error 1" not in d.message and "Waiting for unfinished" not in d.message
        assert d.severity in ("error", "warning", "note")
        assert d.file is None or not d.file.startswith(CAPTURE_DIR)


def test_each_failed_log_has_an_error_and_the_good_one_has_none() -> None:
    for log in (DATA / "logs").glob("*.log"):
        assert bool(errors(parse(log.stem))) == (log.stem != "unusedvar"), log.stem


LINES = [
    # older modpost wording of a missing license
    (
        "WARNING: modpost: missing MODULE_LICENSE() in /b/x.o",
        ("x.c", None, None, "warning", "missing-license"),
    ),
    (
        "cc1: error: unrecognized command-line option '-Wbogus'",
        (None, None, None, "error", "compile-error"),
    ),
    ("ld: warning: creating DT_TEXTREL in a PIE", (None, None, None, "warning", "linker")),
    (
        "make[2]: *** No rule to make target '/b/util.o', needed by '/b/m.o'.  Stop.",
        (None, None, None, "error", "make"),
    ),
    ("ERROR: modpost: something new", (None, None, None, "error", "modpost")),
    (
        "/b/sub/a.c:3:1: warning: x [-Wunused-function]",
        ("sub/a.c", 3, 1, "warning", "unused-function"),
    ),
    ("/b/a.c:3: error: no column", ("a.c", 3, None, "error", "compile-error")),
    (
        "/tmp/ccAbc.s:7: Error: unable to include `/dev/zero'",
        (None, None, None, "error", "assembler"),
    ),
]


@pytest.mark.parametrize(("line", "expected"), LINES)
def test_single_lines(line: str, expected: tuple) -> None:
    (d,) = parse_build_log(line, "/b", modules={"x": ["x.c"]})
    assert where(d) == expected


@pytest.mark.parametrize(
    "line",
    [
        "Skipping BTF generation for /b/x.ko due to unavailability of vmlinux",
        "  CC [M]  /b/x.o",
        "make[1]: *** [/k/scripts/Makefile.build:255: /b/x.o] Error 1",
        "cc1: some warnings being treated as errors",
        "    6 |         int unused;",
        "      |             ^~~~~~",
        "In file included from /b/x.c:2:",
        "compilation terminated.",
    ],
)
def test_noise_is_ignored(line: str) -> None:
    assert parse_build_log(line, "/b") == []


def test_generated_wrapper_maps_back_to_the_student_file() -> None:
    log = "/b/hello_kmodlab_main.c:1:10: fatal error: hello.c: No such file or directory"
    (d,) = parse_build_log(log, "/b", file_map={"hello_kmodlab_main.c": "hello.c"})
    assert d.file == "hello.c"


def test_function_context_is_per_file_and_resets_at_top_level() -> None:
    log = "\n".join(
        [
            "/b/a.c: In function 'f':",
            "/b/a.c:2:1: warning: w1 [-Wx]",
            "/b/a.c: At top level:",
            "/b/a.c:9:1: warning: w2 [-Wx]",
        ]
    )
    assert [d.function for d in parse_build_log(log, "/b")] == ["f", None]


def test_symbol_complaints_point_at_the_first_call() -> None:
    sources = {
        name: (DATA / "broken" / name.split(".")[0] / name).read_text()
        for name in ("undefsym.c", "gplonly.c")
    }
    found = locate_symbols([*parse("undefsym"), *parse("gplonly")], sources)
    assert [(d.file, d.line, d.symbol) for d in found] == [
        ("undefsym.c", 8, "kmodlab_no_such_symbol"),  # the call, not the extern on line 4
        ("gplonly.c", 10, "debugfs_create_u32"),
        ("gplonly.c", 11, "debugfs_create_dir"),
        ("gplonly.c", 17, "debugfs_remove"),
    ]


def test_symbol_never_called_stays_unlocated() -> None:
    (d,) = locate_symbols(parse("undefsym"), {"other.c": "int main;\n"})
    assert (d.file, d.line) == (None, None)


def test_error_inside_a_kernel_macro_points_at_the_students_use_of_it():
    """Is an error gcc reports in printk.h moved to the student's pr_info() line?"""
    build = "/tmp/kmodlab-build-x1"
    hdr = "/root/.cache/kmodlab/kernels/k/tree/usr/src/linux-headers-6.1.0-56-common"
    log = "\n".join([
        f"{build}/m.c: In function 'm_init':",
        f"{hdr}/include/linux/printk.h:427:10: error: expected expression before '{{' token",
        f"{hdr}/include/linux/printk.h:530:9: note: in expansion of macro 'printk'",
        f"{build}/m.c:8:9: note: in expansion of macro 'pr_info'",
        f"{build}/m.c:7:22: error: called object is not a function or function pointer",
    ])  # fmt: skip
    errors = [d for d in parse_build_log(log, build) if d.severity == "error"]
    assert [(d.file, d.line, d.column) for d in errors] == [("m.c", 8, 9), ("m.c", 7, 22)]
    assert errors[0].message.endswith("(inside the kernel macro pr_info() used here)")


def test_symbol_complaint_skips_prototypes_and_other_modules_files() -> None:
    """Is the line the call in the module modpost names, not a prototype or another module?"""
    (d,) = parse("undefsym")
    assert d.module == "undefsym"
    sources = {
        "aaa_other.c": (
            "int kmodlab_no_such_symbol(int x)\n{\n\treturn kmodlab_no_such_symbol(x);\n}\n"
        ),
        "undefsym.c": (
            "static int kmodlab_no_such_symbol(int x);\n"
            "unsigned long *kmodlab_no_such_symbol (void);\n"
            "static int __init undefsym_init(void)\n{\n"
            "\tif (!kmodlab_no_such_symbol(1))\n\t\treturn 0;\n"
            "\treturn kmodlab_no_such_symbol(2);\n}\n"
        ),
    }
    (found,) = locate_symbols([d], sources, {"undefsym": ["undefsym.c"]})
    assert (found.file, found.line) == ("undefsym.c", 5)
    # Without the module's file list, the first file's call is found (not its definition line).
    (anywhere,) = locate_symbols([d], sources)
    assert (anywhere.file, anywhere.line) == ("aaa_other.c", 3)


def test_symbol_used_without_a_call_is_located_by_its_first_use() -> None:
    """Is a symbol taken by address or read (no call) still pointed at, after any call search?"""
    (d,) = parse("undefsym")
    src = "extern int kmodlab_no_such_symbol;\nstatic int *p = &kmodlab_no_such_symbol;\n"
    (found,) = locate_symbols([d], {"undefsym.c": src})
    assert (found.file, found.line) == ("undefsym.c", 2)
