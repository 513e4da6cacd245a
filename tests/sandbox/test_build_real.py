"""Real builds of student folders against the guest kernel's kbuild tree, in bubblewrap."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

import kmodlab.build.builder as builder
from kmodlab.build import build_submission
from kmodlab.errors import InputError

pytestmark = [pytest.mark.sandbox, pytest.mark.usefixtures("require_sandbox")]

BROKEN = Path(__file__).resolve().parents[1] / "data" / "build" / "broken"

HELLO = """\
#include <linux/module.h>
#include <linux/init.h>

static int __init hello_init(void)
{
	pr_info("hello\\n");
	return 0;
}

static void __exit hello_exit(void)
{
	pr_info("bye\\n");
}

module_init(hello_init);
module_exit(hello_exit);
MODULE_LICENSE("GPL");
"""

LKMPG_MAKEFILE = """\
obj-m += hello.o

PWD := $(CURDIR)

all:
\t$(MAKE) -C /lib/modules/$(shell uname -r)/build M=$(PWD) modules

clean:
\t$(MAKE) -C /lib/modules/$(shell uname -r)/build M=$(PWD) clean
"""


def write(folder: Path, files: dict[str, str | bytes]) -> Path:
    for rel, data in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
    return folder


def symbols(ko: Path) -> set[str]:
    with ko.open("rb") as f:
        table = ELFFile(f).get_section_by_name(".symtab")
        return {s.name for s in table.iter_symbols()}


def modinfo(ko: Path) -> bytes:
    with ko.open("rb") as f:
        return ELFFile(f).get_section_by_name(".modinfo").data()


def test_hello_builds_to_hello_ko(tmp_path: Path, kbuild_dir: Path) -> None:
    src = write(tmp_path / "src", {"hello.c": HELLO, "Makefile": LKMPG_MAKEFILE})
    result = build_submission(src, headers=kbuild_dir, out_dir=tmp_path / "out")
    assert result.ok, result.log
    assert result.sandboxed
    assert [(m.name, m.sources) for m in result.modules] == [("hello", ["hello.c"])]
    ko = result.modules[0].ko
    assert ko == result.build_dir / "hello.ko" and ko.is_file()
    assert b"license=GPL" in modinfo(ko) and b"name=hello" in modinfo(ko)
    assert result.diagnostics == []
    assert result.build_dir.parent == tmp_path / "out"
    # The student's Makefile never reaches make: our Kbuild stands in its place.
    assert not (result.build_dir / "Makefile").exists()
    assert "obj-m := hello.o" in (result.build_dir / "Kbuild").read_text()
    assert 0 < result.duration_s < 60


def test_compile_error_maps_to_the_student_file_and_line(tmp_path: Path, kbuild_dir: Path) -> None:
    result = build_submission(BROKEN / "syntax", headers=kbuild_dir, out_dir=tmp_path)
    assert not result.ok and result.modules == []
    first = result.errors[0]
    assert (first.file, first.line, first.column) == ("syntax.c", 7, 9)
    assert first.message == "expected ';' before 'return'"
    assert first.function == "syntax_init"


@pytest.mark.parametrize(
    ("case", "kind", "file"),
    [
        ("implicit", "implicit-function-declaration", "implicit.c"),
        ("undefsym", "undefined-symbol", "undefsym.c"),
        ("gplonly", "gpl-only-symbol", "gplonly.c"),
        ("nolicense", "missing-license", "nolicense.c"),
        ("multidef", "multiple-definition", "second.c"),
        ("composite", "compile-error", "util.c"),
        ("missinginc", "fatal-error", "missinginc.c"),
    ],
)
def test_broken_submissions(tmp_path: Path, kbuild_dir: Path, case: str, kind: str, file) -> None:
    result = build_submission(BROKEN / case, headers=kbuild_dir, out_dir=tmp_path)
    assert not result.ok
    assert (result.errors[0].kind, result.errors[0].file) == (kind, file), result.log


@pytest.mark.parametrize(
    ("case", "kind"),
    [("undefsym", "undefined-symbol"), ("gplonly", "gpl-only-symbol"), ("syntax", None)],
)
def test_check_only_build_reports_the_same_errors_without_linking(
    tmp_path: Path, kbuild_dir: Path, case: str, kind: str | None
) -> None:
    """Does link=False stop after modpost yet give the same first error as a full build?"""
    full = build_submission(BROKEN / case, headers=kbuild_dir, out_dir=tmp_path / "full")
    check = build_submission(
        BROKEN / case, headers=kbuild_dir, out_dir=tmp_path / "check", link=False
    )
    assert not check.ok and not check.linked and check.modules == []
    assert check.errors[0] == full.errors[0]
    if kind:
        assert check.errors[0].kind == kind


def test_check_only_build_of_good_code_is_ok_with_no_ko(tmp_path: Path, kbuild_dir: Path) -> None:
    """Does a check-only build of a clean module succeed, keep warnings and produce no .ko?"""
    result = build_submission(
        BROKEN / "unusedvar", headers=kbuild_dir, out_dir=tmp_path, link=False
    )
    assert result.ok and result.modules == []
    assert [d.kind for d in result.diagnostics] == ["unused-variable"]
    assert not list(result.build_dir.glob("*.ko"))
    assert list(result.build_dir.glob("*.o"))  # it did compile


def test_warning_does_not_fail_the_build(tmp_path: Path, kbuild_dir: Path) -> None:
    result = build_submission(BROKEN / "unusedvar", headers=kbuild_dir, out_dir=tmp_path)
    assert result.ok
    (warning,) = result.diagnostics
    assert (warning.file, warning.line, warning.kind) == ("unusedvar.c", 6, "unused-variable")


def test_two_file_composite_module(tmp_path: Path, kbuild_dir: Path) -> None:
    src = write(
        tmp_path / "src",
        {
            "Makefile": "ifneq ($(KERNELRELEASE),)\nobj-m := counter.o\n"
            "counter-objs := main.o util.o\nelse\nall:\n\t$(MAKE) -C x M=$$PWD\nendif\n",
            "util.h": "int counter_next(void);\n",
            "util.c": '#include "util.h"\nstatic int v;\nint counter_next(void) { return v++; }\n',
            "main.c": HELLO.replace(
                'pr_info("hello\\n");', 'pr_info("%d\\n", counter_next());'
            ).replace("#include <linux/init.h>", '#include <linux/init.h>\n#include "util.h"'),
        },
    )
    result = build_submission(src, headers=kbuild_dir, out_dir=tmp_path / "out")
    assert result.ok, result.log
    (module,) = result.modules
    assert (module.name, module.sources) == ("counter", ["main.c", "util.c"])
    assert {"counter_next", "hello_init"} <= symbols(module.ko)


def test_subfolders_and_include_dir(tmp_path: Path, kbuild_dir: Path) -> None:
    src = write(
        tmp_path / "src",
        {
            "Kbuild": "obj-m := layered.o\nlayered-y := src/main.o src/util.o\n"
            "ccflags-y := -I$(src)/include -DLAYER=3\n",
            "include/layer.h": "int layer(void);\n",
            "src/util.c": "#include <layer.h>\nint layer(void) { return LAYER; }\n",
            "src/main.c": HELLO.replace("#include <linux/init.h>", "#include <layer.h>"),
        },
    )
    result = build_submission(src, headers=kbuild_dir, out_dir=tmp_path / "out")
    assert result.ok, result.log
    assert result.modules[0].sources == ["src/main.c", "src/util.c"]


def test_several_modules_and_no_makefile(tmp_path: Path, kbuild_dir: Path) -> None:
    src = write(tmp_path / "src", {"one.c": HELLO, "two-b.c": HELLO})
    result = build_submission(src, headers=kbuild_dir, out_dir=tmp_path / "out")
    assert result.ok, result.log
    assert [m.ko.name for m in result.modules] == ["one.ko", "two-b.ko"]


def test_autograder_extras_instrument_and_wrap(tmp_path: Path, kbuild_dir: Path) -> None:
    src = write(
        tmp_path / "src",
        {"hello.c": HELLO + "#ifndef KMODLAB_INSTRUMENTED\n#error no header\n#endif\n"},
    )
    shim = (
        "#include <linux/slab.h>\n"
        "void *__real_kmalloc_trace(struct kmem_cache *s, gfp_t f, size_t n);\n"
        "void *__wrap_kmalloc_trace(struct kmem_cache *s, gfp_t f, size_t n)\n"
        "{ return __real_kmalloc_trace(s, f, n); }\n"
    )
    result = build_submission(
        src,
        headers=kbuild_dir,
        out_dir=tmp_path / "out",
        extra_files={"kmodlab_shim.c": shim.encode(), "instr.h": b"#define KMODLAB_INSTRUMENTED\n"},
        extra_ccflags=["-include $(src)/instr.h"],
        extra_objs={"hello": ["kmodlab_shim.o"]},
        ldflags=["--wrap=kmalloc_trace"],
    )
    assert result.ok, result.log
    (module,) = result.modules
    assert (module.name, module.sources) == ("hello", ["hello.c"])
    assert {"__wrap_kmalloc_trace", "hello_init"} <= symbols(module.ko)


def test_timeout_stops_the_build_and_leaves_no_process(tmp_path: Path, kbuild_dir: Path) -> None:
    src = write(tmp_path / "src", {"hello.c": HELLO})
    started = time.monotonic()
    result = build_submission(src, headers=kbuild_dir, out_dir=tmp_path / "out", timeout_s=0.3)
    assert time.monotonic() - started < 10
    assert not result.ok
    assert "timeout" in [d.kind for d in result.errors]
    time.sleep(0.5)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        assert str(result.build_dir).encode() not in cmdline, cmdline


def test_output_cap_stops_the_build(tmp_path: Path, kbuild_dir: Path) -> None:
    result = build_submission(
        BROKEN / "composite", headers=kbuild_dir, out_dir=tmp_path, max_output=200
    )
    assert not result.ok
    assert len(result.log.encode()) <= 200
    assert "output-limit" in [d.kind for d in result.errors]


def test_unsandboxed_build_warns(tmp_path: Path, kbuild_dir: Path, monkeypatch) -> None:
    monkeypatch.setattr(builder, "sandbox_available", lambda: False)
    src = write(tmp_path / "src", {"hello.c": HELLO})
    with pytest.warns(RuntimeWarning, match="without a sandbox"):
        result = build_submission(
            src, headers=kbuild_dir, out_dir=tmp_path / "out", allow_unsandboxed=True
        )
    assert result.ok and not result.sandboxed


def bad_inputs(tmp_path: Path) -> dict[str, Path]:
    empty = tmp_path / "empty"
    empty.mkdir()
    return {
        "missing": tmp_path / "missing",
        "empty": empty,
        "no-c": write(tmp_path / "noc", {"notes.txt": "x", "Makefile": "obj-m := a.o\n"}),
        "not-utf8": write(tmp_path / "latin", {"a.c": b"/* \xe9 */\n"}),
        "huge": write(tmp_path / "huge", {"a.c": b"//" + b"x" * (3 << 20) + b"\n"}),
        "a-file": write(tmp_path / "afile", {"a.c": HELLO}) / "a.c",
        "bad-objm": write(tmp_path / "objm", {"a.c": HELLO, "Makefile": "obj-m := b.o\n"}),
    }


@pytest.mark.parametrize(
    "case", ["missing", "empty", "no-c", "not-utf8", "huge", "a-file", "bad-objm"]
)
def test_bad_input_is_one_line_input_error(tmp_path: Path, kbuild_dir: Path, case: str) -> None:
    with pytest.raises(InputError) as info:
        build_submission(bad_inputs(tmp_path)[case], headers=kbuild_dir, out_dir=tmp_path / "out")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()


def test_build_folder_holds_only_what_was_taken(tmp_path: Path, kbuild_dir: Path) -> None:
    src = write(
        tmp_path / "src",
        {"hello.c": HELLO, "old.ko": b"\x7fELF", ".ipynb_checkpoints/hello-checkpoint.c": "x"},
    )
    result = build_submission(src, headers=kbuild_dir, out_dir=tmp_path / "out")
    assert result.ok
    assert not (result.build_dir / "old.ko").exists()
    assert not (result.build_dir / ".ipynb_checkpoints").exists()
    shutil.rmtree(result.build_dir)
