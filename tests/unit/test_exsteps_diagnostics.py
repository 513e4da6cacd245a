"""Build diagnostics for the rules stage: no libc, and `__init` called from exit (pure).

The log lines are the real ones (gcc 12 and the 6.1 modpost of the guest's
headers); the sandbox tier builds the same mistakes for real
(tests/vm/test_exsteps_corpus.py grades them).
"""

from __future__ import annotations

from kmodlab.build.diagnostics import locate_symbols, parse_build_log

BUILD = "/tmp/kmodlab-build-x1y2"
SOURCE = """\
// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>

int __init setup_counter(void)
{
	pr_info("secmis: counter set up\\n");
	return 0;
}

static int __init secmis_init(void)
{
	return setup_counter();
}

static void __exit secmis_exit(void)
{
	setup_counter();
}

module_init(secmis_init);
module_exit(secmis_exit);
MODULE_LICENSE("GPL");
"""
MISMATCH = (
    f"WARNING: modpost: {BUILD}/secmis.o: section mismatch in reference: cleanup_module "
    "(section: .exit.text) -> setup_counter (section: .init.text)"
)


def test_section_mismatch_is_a_warning_at_the_call_inside_exit():
    """Is modpost's section mismatch (exit calls an __init function) a warning at the call
    in the exit function (not the legitimate call in init), saying why and what to do?"""
    (d,) = parse_build_log(MISMATCH, BUILD, modules={"secmis": ["secmis.c"]})
    (d,) = locate_symbols([d], {"secmis.c": SOURCE}, {"secmis": ["secmis.c"]})
    assert (d.kind, d.severity, d.file, d.line) == ("section-mismatch", "warning", "secmis.c", 17)
    assert d.function == "secmis_exit"
    assert "secmis's exit function (.exit.text) calls setup_counter (.init.text)" in d.message
    assert "marked __init" in d.message and "drop __init from setup_counter" in d.message


def test_section_mismatch_on_initdata_names_initdata():
    """Is a reference to __initdata from a kept function explained as data, at its use?"""
    source = SOURCE.replace(
        "int __init setup_counter(void)", "int __initdata start = 1;\nint f(void)"
    )
    line = (
        f"WARNING: modpost: {BUILD}/secmis.o: section mismatch in reference: f "
        "(section: .text) -> start (section: .init.data)"
    )
    source = source.replace('pr_info("secmis: counter set up\\n");', 'pr_info("%d\\n", start);')
    (d,) = locate_symbols(parse_build_log(line, BUILD), {"secmis.c": source})
    assert "uses start (.init.data), which is marked __initdata" in d.message
    assert d.line == 7 and d.function == "f"


def test_a_libc_call_is_explained_with_the_kernel_helper():
    """Is an implicit declaration of malloc/printf/strdup explained: no libc in the kernel,
    and which helper to use?"""
    log = "\n".join(
        f"{BUILD}/libc.c:{n}:9: error: implicit declaration of function '{fn}' "
        "[-Werror=implicit-function-declaration]"
        for n, fn in ((8, "malloc"), (9, "printf"), (10, "strdup"))
    )
    found = parse_build_log(log, BUILD)
    assert [(d.line, d.kind) for d in found] == [
        (n, "implicit-function-declaration") for n in (8, 9, 10)
    ]
    assert "no C library in the kernel; use kmalloc(size, GFP_KERNEL)" in found[0].message
    assert "use pr_info()" in found[1].message
    assert "use kstrdup(s, GFP_KERNEL)" in found[2].message


def test_an_undeclared_function_of_the_students_own_is_not_called_libc():
    """Is an implicit declaration of a name that is not libc's left as gcc said it?"""
    log = (
        f"{BUILD}/m.c:4:9: error: implicit declaration of function 'my_helper' "
        "[-Werror=implicit-function-declaration]"
    )
    (d,) = parse_build_log(log, BUILD)
    assert d.message == "implicit declaration of function 'my_helper'"


def test_a_kernel_function_without_its_header_names_the_header():
    """Is an implicit declaration of toupper() or kfree() told which kernel header has it?"""
    log = "\n".join(
        f"{BUILD}/m.c:{n}:9: error: implicit declaration of function '{fn}' "
        "[-Werror=implicit-function-declaration]"
        for n, fn in ((4, "toupper"), (5, "kfree"))
    )
    found = parse_build_log(log, BUILD)
    assert found[0].message.endswith("the kernel has it; #include <linux/ctype.h>")
    assert found[1].message.endswith("the kernel has it; #include <linux/slab.h>")
