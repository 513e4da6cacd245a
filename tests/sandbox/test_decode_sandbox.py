"""addr2line reads the student's .ko inside the build sandbox, never as the grader.

A .ko's debug sections are bytes the student can write (assembler directives
in their C file), and binutils parses them: so the decoding that places a
kernel report at the student's line runs as the build user, shown only the
toolchain and the build folder, like the build that made the .ko.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kmodlab.build import build_submission
from kmodlab.build.sandbox import UNPRIVILEGED_ID, build_uid
from kmodlab.grader.collection import decode

pytestmark = [pytest.mark.sandbox, pytest.mark.usefixtures("require_sandbox")]

SOURCE = """\
#include <linux/module.h>
#include <linux/slab.h>
static void *p;
static int __init dec_init(void)
{
	p = kmalloc(16, GFP_KERNEL);
	return p ? 0 : -ENOMEM;
}
static void __exit dec_exit(void)
{
	kfree(p);
}
module_init(dec_init);
module_exit(dec_exit);
MODULE_LICENSE("GPL");
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory, kbuild_dir: Path):
    src = tmp_path_factory.mktemp("src")
    (src / "dec.c").write_text(SOURCE)
    result = build_submission(src, headers=kbuild_dir, out_dir=tmp_path_factory.mktemp("out"))
    assert result.ok and result.sandboxed, result.log
    return result


def test_a_frame_is_placed_at_the_students_line_from_inside_the_sandbox(built):
    """Does the sandboxed addr2line place dec_init+0x0 on dec.c's init line, as addr2line
    run directly does (the sandbox costs no answer)?"""
    ko = built.modules[0].ko
    debug = decode.ElfDebug.of_build(ko, built)
    section, offset = debug.symbol("dec_init", function=True)
    sandboxed = decode.addr2line(ko, section, offset, built.build_dir)
    direct = decode.addr2line(ko, section, offset)
    assert sandboxed is not None and sandboxed == direct
    assert Path(sandboxed.file).name.startswith("dec") and sandboxed.line in range(4, 9)
    function, file, line = debug.line(section, offset)
    assert (function, line) == ("dec_init", sandboxed.line)


def test_addr2line_runs_as_the_build_user_with_only_the_build_folder(built):
    """Is the command line a bwrap sandbox binding the build folder (and, as root, a switch
    to nobody), with no kernel tree and no other host folder writable?"""
    ko = built.modules[0].ko
    argv = decode.addr2line_argv(ko, ".text", 0, built.build_dir)
    assert Path(argv[0]).name == "bwrap"
    binds = [argv[i + 1] for i, a in enumerate(argv) if a == "--bind"]
    assert binds == [str(built.build_dir.resolve())]
    tail = ["addr2line", "-f", "-i", "-e", str(ko), "-j", ".text", "0x0"]
    assert argv[-len(tail) :] == tail
    if build_uid() == UNPRIVILEGED_ID:
        assert f"--reuid={UNPRIVILEGED_ID}" in argv


def test_a_ko_outside_the_build_folder_is_not_read(built, tmp_path):
    """Is a .ko the sandbox would not show (outside the build folder) left undecoded, while
    the same file inside it decodes (the control)?"""
    ko = built.modules[0].ko
    outside = tmp_path / "copy.ko"
    shutil.copy(ko, outside)
    section, offset = decode.ElfDebug(ko).symbol("dec_init", function=True)
    assert decode.addr2line(outside, section, offset, built.build_dir) is None
    assert decode.addr2line(ko, section, offset, built.build_dir) is not None
