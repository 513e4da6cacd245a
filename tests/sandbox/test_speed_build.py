"""The instrumented build's cheaper first pass, for real in the sandbox: the student's
objects only (single kbuild targets), then one modules build that compiles only the shims."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmodlab.build import build_submission
from kmodlab.grader.collection.instrument import SHIM_PREFIX, import_report, instrumented_build

pytestmark = [pytest.mark.sandbox, pytest.mark.usefixtures("require_sandbox")]

ALLOC = """\
#include <linux/module.h>
#include <linux/slab.h>

static void *buf;

static int __init two_init(void)
{
	buf = kmalloc(32, GFP_KERNEL);
	return buf ? 0 : -ENOMEM;
}

static void __exit two_exit(void)
{
	kfree(buf);
}

module_init(two_init);
module_exit(two_exit);
MODULE_LICENSE("GPL");
"""


def _write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def test_compile_only_compiles_the_students_objects_and_nothing_else(tmp_path, kbuild_dir):
    """Does a compile-only build leave the student's object and no shim object, no
    modpost output and no .ko, and still fail on a compile error?"""
    src = _write(tmp_path / "src", {"two.c": ALLOC})
    result = build_submission(
        src,
        headers=kbuild_dir,
        out_dir=tmp_path / "out",
        compile_only=True,
        extra_files={"shim.c": b"#error the shim must not be compiled here\n"},
        extra_objs={"two": ["shim.o"]},
    )
    assert result.ok, result.log
    built = {p.name for p in result.build_dir.iterdir()}
    assert "two_kmodlab_main.o" in built  # the wrapper that #includes two.c
    assert not {"shim.o", "two.ko", "Module.symvers", "two.mod"} & built, built
    assert result.modules == [] and not result.linked
    assert result.objects == {"two": ["two_kmodlab_main.o", "shim.o"]}

    broken = _write(tmp_path / "broken", {"two.c": ALLOC.replace("return buf", "return buf +")})
    failed = build_submission(broken, headers=kbuild_dir, out_dir=tmp_path / "out2",
                              compile_only=True)  # fmt: skip
    assert not failed.ok and failed.errors


def test_instrumented_build_compiles_the_students_file_once(tmp_path, kbuild_dir):
    """Does the instrumented build compile the student's file in its first pass only, never
    the shim in the student's folder (its object comes from a clean folder), and still
    wrap what the module imports?"""
    src = _write(tmp_path / "src", {"two.c": ALLOC})
    result, _nonce = instrumented_build(
        src, headers=kbuild_dir, out_dir=tmp_path / "out", shim_cache=False
    )
    assert result.ok, result.log
    compiled = [ln.split()[-1] for ln in result.log.splitlines() if ln.strip().startswith("CC [M]")]
    main = [c for c in compiled if c.endswith("/two_kmodlab_main.o")]
    shims = [c for c in compiled if Path(c).name.startswith(SHIM_PREFIX)]
    assert len(main) == 1 and not shims, compiled
    linked = [p.name for p in result.build_dir.glob(f"{SHIM_PREFIX}*")]
    assert len(linked) == 1 and linked[0].endswith(".o"), linked  # no shim source here
    assert {"kmalloc_trace", "kfree"} <= set(import_report(result.build_dir, "two").wrapped)


def test_an_object_in_a_subfolder_is_a_first_pass_target(tmp_path, kbuild_dir):
    """Is a module object in a subfolder (two-y := main.o src/part.o) compiled in the
    first pass, once, with the allocation it makes wrapped?"""
    main = ALLOC.replace("kmalloc(32, GFP_KERNEL)", "part_alloc()").replace(
        "static void *buf;", "void *part_alloc(void);\nstatic void *buf;"
    )
    part = "#include <linux/slab.h>\nvoid *part_alloc(void) { return kmalloc(8, GFP_KERNEL); }\n"
    src = _write(
        tmp_path / "src",
        {"main.c": main, "Makefile": "obj-m := two.o\ntwo-y := main.o src/part.o\n"},
    )
    (src / "src").mkdir()
    (src / "src" / "part.c").write_text(part)
    result, _nonce = instrumented_build(src, headers=kbuild_dir, out_dir=tmp_path / "out")
    assert result.ok, result.log
    compiled = [ln.split()[-1] for ln in result.log.splitlines() if ln.strip().startswith("CC [M]")]
    assert len([c for c in compiled if c.endswith("/src/part.o")]) == 1, compiled
    assert "kmalloc_trace" in import_report(result.build_dir, "two").wrapped
