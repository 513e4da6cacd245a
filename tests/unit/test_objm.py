"""obj-m read as data from student Makefiles/Kbuild files (tests/data/build/makefiles/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmodlab.build.builder import kbuild_text, plan_build
from kmodlab.build.objm import module_specs
from kmodlab.build.validate import Submission
from kmodlab.errors import InputError

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "build" / "makefiles"


def specs(sample: str, files: set[str]):
    folder = SAMPLES / sample
    kbuild, makefile = folder / "Kbuild", folder / "Makefile"
    return module_specs(
        files,
        kbuild=kbuild.read_text() if kbuild.exists() else None,
        makefile=makefile.read_text() if makefile.exists() else None,
    )


def modules(spec) -> dict[str, tuple[str, ...]]:
    return {m.name: m.objects for m in spec.modules}


# sample -> (files in the submission, expected modules and their objects, expected ccflags)
GOOD = {
    "lkmpg_chapter4": (
        {"hello-1.c", "hello-2.c", "hello-3.c", "hello-4.c", "hello-5.c", "start.c", "stop.c"},
        {
            **{f"hello-{i}": (f"hello-{i}",) for i in range(1, 6)},
            "startstop": ("start", "stop"),
        },
        (),
    ),
    "ldd3_two_part": ({"hello.c"}, {"hello": ("hello",)}, ()),
    "ldd3_scull": (
        {"main.c", "pipe.c", "access.c", "scull.h"},
        {"scull": ("main", "pipe", "access")},
        (),
    ),
    "kbuild_wins": (
        {"core.c", "sysfs.c", "include/mydrv.h"},
        {"mydrv": ("core", "sysfs")},
        ("-DDEBUG", "-I$(src)/include"),
    ),
    "config_obj": ({"demo_main.c", "demo_extra.c"}, {"demo": ("demo_main", "demo_extra")}, ()),
    "continuations": (
        {"chardev_main.c", "chardev_fops.c"},
        {"chardev": ("chardev_main", "chardev_fops")},
        (),
    ),
    "target_var": (
        {"proc_main.c", "proc_seq.c"},
        {"procfs_demo": ("proc_main", "proc_seq")},
        (),
    ),
    "hostile": ({"hello.c"}, {"hello": ("hello",)}, ()),
    "debug_switch": ({"sensor.c"}, {"sensor": ("sensor",)}, ("-DSENSOR_DEBUG",)),
    "subdir_parts": (
        {"src/core.c", "src/util.c", "include/layered.h"},
        {"layered": ("src/core", "src/util")},
        ("-I$(src)/include",),
    ),
    "recipe_and_define": ({"real.c"}, {"real": ("real",)}, ()),
    "reverse_condition": ({"timer_demo.c", "outer_only.c"}, {"timer_demo": ("timer_demo",)}, ()),
    "brace_condition": ({"notify.c", "keymap.c"}, {"kbd_notify": ("notify", "keymap")}, ()),
    "kbuild_config": ({"hello.c"}, {"hello": ("hello",)}, ()),
    "subst_ref": ({"list_main.c", "list_ops.c"}, {"mylist": ("list_main", "list_ops")}, ()),
}


@pytest.mark.parametrize("sample", sorted(GOOD))
def test_sample_modules_and_flags(sample: str) -> None:
    files, expected, ccflags = GOOD[sample]
    spec = specs(sample, files)
    assert modules(spec) == expected
    assert spec.ccflags == ccflags


def test_kbuild_takes_precedence_over_makefile() -> None:
    spec = specs("kbuild_wins", {"core.c", "sysfs.c", "wrong.c"})
    assert spec.origin == "Kbuild"
    assert "wrong" not in modules(spec)


def test_makefile_origin_and_no_findings_for_a_clean_tutorial_makefile() -> None:
    spec = specs("lkmpg_chapter4", GOOD["lkmpg_chapter4"][0])
    assert spec.origin == "Makefile"
    assert spec.findings == ()


def test_ccflags_keep_plain_d_i_w_and_report_the_rest() -> None:
    spec = specs("ccflags_mix", {"flags.c"})
    assert spec.ccflags == (
        "-Wall",
        "-Werror",
        "-Wno-declaration-after-statement",
        '-DVERSION=\\"1.0\\"',
        "-DMAX_ITEMS=16",
        "-I$(src)/include",
        "-I$(src)/include2",
    )
    dropped = {
        f.message.split("dropped ")[1].split(" (")[0]
        for f in spec.findings
        if f.kind == "dropped-flag"
    }
    assert dropped == {
        "-std=gnu99",
        "-Wp,-MD,/tmp/x.d",
        "-O0",
        "-g",
        "-I/etc",
        "-I$(src)/../outside",
    }
    ignored = {f.message.split()[0] for f in spec.findings if f.kind == "ignored-setting"}
    assert ignored == {"ldflags-y", "CFLAGS_flags.o"}
    assert all(f.file == "Kbuild" and f.line and f.severity == "warning" for f in spec.findings)


def test_extra_cflags_of_ldd3_are_read_like_ccflags_y() -> None:
    spec = specs("ldd3_scull", GOOD["ldd3_scull"][0])
    messages = [f.message for f in spec.findings if f.kind == "dropped-flag"]
    assert any("-O2" in m for m in messages)  # DEBUG is unset, so the else branch holds
    assert any("$(LDDINC) is not set" in m for m in messages)


def test_unknown_condition_takes_all_branches_and_says_so() -> None:
    spec = specs("unknown_condition", {"base.c", "smp_only.c", "up_only.c"})
    assert set(modules(spec)) == {"base", "smp_only", "up_only"}
    assert {f.kind for f in spec.findings} == {"unevaluated-condition"}


def test_no_obj_m_builds_each_top_level_c_file() -> None:
    spec = specs("no_objm", {"a.c", "b.c", "sub/c.c", "a.h"})
    assert modules(spec) == {"a": ("a",), "b": ("b",)}
    assert [f.kind for f in spec.findings] == ["no-obj-m"]


def test_no_makefile_at_all_builds_each_c_file() -> None:
    spec = module_specs({"one.c", "two.c"})
    assert spec.origin is None
    assert modules(spec) == {"one": ("one",), "two": ("two",)}


def test_hostile_makefile_is_read_not_run(tmp_path: Path) -> None:
    specs("hostile", {"hello.c"})
    specs("recipe_and_define", {"real.c"})
    assert not Path("/tmp/kmodlab-objm-pwned").exists()


BAD = {
    "shell_in_objm": ({"hello.c"}, ["line 1", "$(shell ...)", "does not run"]),
    "wildcard_objm": ({"hello.c"}, ["$(patsubst ...)"]),
    "source_in_objm": ({"hello.c"}, ["hello.c", "write hello.o"]),
    "missing_part": ({"nf_main.c"}, ["line 2", "nf_rules.o", "no nf_rules.c"]),
    "circular": ({"hello.c", "util.c"}, ["hello.o and other objects", "rename hello.c"]),
    "else_only_var": ({"hello.c"}, ["$(MODNAME)", "not set"]),
}


@pytest.mark.parametrize("sample", sorted(BAD))
def test_unusable_obj_m_is_one_line_input_error(sample: str) -> None:
    files, words = BAD[sample]
    with pytest.raises(InputError) as info:
        specs(sample, files)
    text = str(info.value)
    assert "\n" not in text
    for word in words:
        assert word in text
    assert not Path("/tmp/kmodlab-objm-pwned2").exists()


@pytest.mark.parametrize(
    ("makefile", "files", "expected"),
    [
        ("obj-m:=a.o\n", {"a.c"}, {"a": ("a",)}),
        ("obj-m = a.o\nobj-m := b.o\n", {"a.c", "b.c"}, {"b": ("b",)}),
        ("obj-m += a.o a.o\n", {"a.c"}, {"a": ("a",)}),
        ("override obj-m := a.o\n", {"a.c"}, {"a": ("a",)}),
        ("obj-m := a.o # main module\n", {"a.c"}, {"a": ("a",)}),
        ("obj-m += $(M1).o\nM1 = late\n", {"late.c"}, {"late": ("late",)}),
        ("X := one\nobj-m := $(X).o\nX := two\n", {"one.c", "two.c"}, {"one": ("one",)}),
        ("obj-m ?= a.o\nobj-m ?= b.o\n", {"a.c", "b.c"}, {"a": ("a",)}),
        ("obj-m := 8250_demo.o\n", {"8250_demo.c"}, {"8250_demo": ("8250_demo",)}),
        ("obj-m := m.o\nm-objs := x.o\nm-y += y.o\n", {"x.c", "y.c"}, {"m": ("x", "y")}),
        ("ifdef KERNELRELEASE\nobj-m := k.o\nendif\n", {"k.c"}, {"k": ("k",)}),
        (
            "ifndef KERNELRELEASE\nobj-m := no.o\nelse\nobj-m := k.o\nendif\n",
            {"k.c"},
            {"k": ("k",)},
        ),
        ('ifneq "$(KERNELRELEASE)" ""\nobj-m := k.o\nendif\n', {"k.c"}, {"k": ("k",)}),
    ],
)
def test_make_syntax(makefile: str, files: set[str], expected: dict) -> None:
    assert modules(module_specs(files, makefile=makefile)) == expected


@pytest.mark.parametrize(
    ("makefile", "words"),
    [
        ("obj-m := ../escape.o\n", ["../escape.o", "outside"]),
        ("obj-m := sub/inner.o\n", ["subfolder"]),
        ("obj-m := bad$$name.o\n", ["not an object file name", "bad$name"]),
        ("obj-m := mod.o\nmod-y := /etc/passwd.o\n", ["/etc/passwd.o", "outside"]),
        ("obj-m := $(M1).o\nM1 = late\n", ["$(M1)", "not set"]),
        ("obj-m := mod.o\nmod-y := $(CONFIG_X).o\n", ["$(CONFIG_X)"]),
        ("OBJS != ls *.o\nobj-m := $(OBJS)\n", ["$(shell ...)"]),
        ("obj-m := sub/\n", ["sub/"]),
        (f"obj-m := {'x' * 56}.o\n", ["not a usable module name"]),
    ],
)
def test_bad_names_are_input_errors(makefile: str, words: list[str]) -> None:
    with pytest.raises(InputError) as info:
        module_specs({"escape.c", "sub/inner.c", "mod.c", f"{'x' * 56}.c"}, makefile=makefile)
    for word in words:
        assert word in str(info.value)


def test_generated_kbuild_lists_modules_parts_and_flags() -> None:
    text = kbuild_text(
        {"hello": ["hello"], "pair": ["a", "b"]},
        ccflags=["-DDEBUG"],
        extra_ccflags=["-include $(src)/instr.h"],
        ldflags=["--wrap=kmalloc_trace"],
        origin="Makefile",
    )
    lines = text.splitlines()
    assert lines[0].startswith("#") and "never run" in lines[0]
    assert lines[1:] == [
        "obj-m := hello.o pair.o",
        "pair-y := a.o b.o",
        "ccflags-y += -DDEBUG",
        "ccflags-y += -include $(src)/instr.h",
        "ldflags-y += --wrap=kmalloc_trace",
    ]


def test_caller_flags_cannot_smuggle_make_lines() -> None:
    with pytest.raises(ValueError):
        kbuild_text({"m": ["m"]}, extra_ccflags=["-DX\n$(shell id)"])


def test_extra_objects_on_a_one_file_module_go_through_a_wrapper() -> None:
    sub = Submission(Path("/x"), {"hello.c": b"int x;\n", "Makefile": b"obj-m := hello.o\n"})
    spec = module_specs(sub.files, makefile=sub.text("Makefile"))
    plan = plan_build(
        sub,
        spec,
        extra_files={"shim.c": b"int shim;\n"},
        extra_objs={"hello": ["shim.o"]},
    )
    assert plan.files["hello_kmodlab_main.c"] == b'#include "hello.c"\n'
    assert "hello-y := hello_kmodlab_main.o shim.o" in plan.files["Kbuild"].decode()
    assert plan.file_map == {"hello_kmodlab_main.c": "hello.c"}
    assert "Makefile" not in plan.files  # the student's Makefile never reaches make


def test_extra_objects_on_a_composite_module_are_appended() -> None:
    sub = Submission(
        Path("/x"), {"a.c": b"", "b.c": b"", "Kbuild": b"obj-m := m.o\nm-y := a.o b.o\n"}
    )
    spec = module_specs(sub.files, kbuild=sub.text("Kbuild"))
    plan = plan_build(sub, spec, extra_files={"shim.c": b""}, extra_objs={"m": ["shim.o"]})
    assert "m-y := a.o b.o shim.o" in plan.files["Kbuild"].decode()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"extra_files": {"hello.c": b""}},
        {"extra_files": {"../x.c": b""}},
        {"extra_files": {"Kbuild": b""}},
        {"extra_objs": {"nosuch": ["shim.o"]}, "extra_files": {"shim.c": b""}},
        {"extra_objs": {"hello": ["missing.o"]}},
    ],
)
def test_caller_mistakes_are_value_errors(kwargs: dict) -> None:
    sub = Submission(Path("/x"), {"hello.c": b""})
    with pytest.raises(ValueError):
        plan_build(sub, module_specs(sub.files), **kwargs)


@pytest.mark.parametrize("op", ["=", ":="])
def test_exponential_expansion_is_refused_quickly(op: str) -> None:
    # V0 = $(V1)$(V1), V1 = $(V2)$(V2), ...: 2**30 copies if expanded naively.
    names = [f"V{i}" for i in range(31)]
    lines = [f"{a} {op} $({b})$({b})" for a, b in zip(names, names[1:], strict=False)]
    if op == ":=":  # simply expanded: each line doubles what the one before built
        lines = [f"{names[-1]} := x", *reversed(lines)]
    else:
        lines.append(f"{names[-1]} = x")
    makefile = "\n".join([*lines, f"obj-m := $({names[0]}).o", ""])
    with pytest.raises(InputError) as info:
        module_specs({"x.c"}, makefile=makefile)
    assert "expand too far" in str(info.value)
