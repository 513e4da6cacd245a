"""What each staged notebook claims in prose, and the cell whose output must show it.

The notebooks are executed once, by nbval (`pytest --nbval-lax notebooks/`,
part of `kmodlab test`): the repository's conftest.py gives their cells the
`vm` marker and, after a notebook's last cell, checks the tables below
against what its cells showed. A cell that raises fails on its own (a cell
tagged `raises-exception` is meant to: a self-check shown failing); a claim
whose evidence is missing fails the notebook's last cell. Here, in the fast
tier: every claim names exactly one cell of its notebook.
"""

from __future__ import annotations

import re

import nbformat
import pytest

from tests.course.conftest import NOTEBOOKS, STAGES
from tests.course.nbrun import Executed

# (a piece of a cell's source, text its output must contain), per notebook.
EVIDENCE: dict[str, list[tuple[str, str]]] = {
    "01-setup": [
        ("selfcheck.kernel_release", "answer both"),
        ("%kmod sh uname -r", "6.1."),
        ("%kmod insmod first", "first: hello from inside the kernel"),
        ("%%kmodule typo", "cell line 6"),
        ("%%kmodule typo", "'answer' undeclared"),
        ("%kmod insmod crash", "NULL pointer dereference"),
        ("%kmod insmod crash", "cell line 9 of %%kmodule crash"),
        ("last_crash()", "fresh guest started: True"),
        ("lsmod | grep crash", "no crash module"),
        ("%kmod check --exercise setup", "FAIL   ready"),
        ("%kmod insmod nodev", "No such device"),
        ("%kmod insmod nodev", "nodev: looking for my device"),
        ("lsmod | grep nodev", "no nodev module"),
    ],
    "02-hello": [
        ("selfcheck.stage_secret()", "secret.ko is in the guest's /tmp"),
        ("selfcheck.secret_reading", "answer both"),
        ("%kmod insmod hello", "Hello, world!"),
        ("%kmod rmmod hello", "Goodbye, world!"),
        ("no more hello", "no more hello"),
        ('get_section_by_name(".modinfo")', "description=Says hello"),
        ("%%kmodule nolicense", "no MODULE_LICENSE()"),
        ("%kmod insmod closed", "module license 'Proprietary' taints kernel"),
        ("FLAGS = {", "P: a module with a non-GPL license was loaded"),
        ("cat /sys/module/closed/taint", "POE"),
        ("Freeing unused kernel", "Freeing unused kernel image (initmem) memory"),
        ("%kmod insmod early", "early: early_init is at"),
        ("%kmod check --exercise hello", "FAIL   greetings"),
    ],
    "02b-kbuild": [
        ("for name in sorted(os.listdir(", "solo.mod.c"),
        ("for name in sorted(os.listdir(", "modules.order"),
        ('solo.mod.c").read_text()', "__versions"),
        ('solo.mod.c").read_text()', ".init = init_module"),
        ('"modules.order", "Module.symvers"', "--- Module.symvers (0 bytes)"),
        ("modinfo -F vermagic solo", "modversions"),
        ("%kmod insmod solo", "solo: built by your own Makefile"),
        ("%kmod make clean", "CLEAN"),
        ("rm /lib/modules/$(uname -r)/extra/solo.ko", "Module solo not found"),
        ("%kmod make install", "extra/solo.ko"),
        ("%kmod make install", "Skipping depmod"),
        ("%kmod install staging", "/extra/solo.ko"),
        ("modprobe solo && lsmod", "solo "),
        ('provider/Module.symvers").read_text()', "sums_add"),
        ("--with provider KBUILD_EXTRA_SYMBOLS=", 'ERROR: modpost: "sums_add"'),
        ("--with provider KBUILD_EXTRA_SYMBOLS=", "sums_user.ko] undefined!"),
        ("%kmod insmod sums_user", "sums_user: 2 + 3 = 5"),
        ("%kmod check --exercise kbuild", "FAIL   makefile"),
        ("%kmod check --exercise kbuild", "has no obj-m line"),
    ],
    "03-managing": [
        ("cd / && insmod plain.ko", "No such file or directory"),
        ("/tmp/anything.ko", "plain "),
        ("cd / && modprobe plain", "plain: loaded"),
        ("modprobe --show-depends plain", "extra/plain.ko:"),
        ("/virtio_pci.ko:", "virtio_pci_modern_dev.ko"),
        ("%kmod depmod", "depmod -a"),
        ("%kmod modinfo knobs", "parm:           primes:Up to four numbers (array of int)"),
        ("level=3 who=kmodlab", "HELLO, kmodlab! level=3 primes=4"),
        ("cd /sys/module/virtio &&", "holders: virtio_"),
        ("cd /sys/module/knobs/parameters", "2,3,5,7"),
        ("echo nobody >", "Permission denied"),
        ("level=loud", "`loud' invalid for parameter `level'"),
        ("colour=blue", "unknown parameter 'colour' ignored"),
        ("/etc/modprobe.d/knobs.conf", "hello, modprobe.d! level=5"),
        ("ModuleConsole(", "hello, widget! level=2"),
        ("%kmod check --exercise params", "FAIL   count-param"),
        ("selfcheck.stage_pair()", "tick.ko and tock.ko are in the guest's /tmp"),
        ("modprobe tock; ls /tmp", "Module tock not found"),
        ("%kmod sh insmod /tmp/tock.ko", "Unknown symbol in module"),
        ("selfcheck.install_pair(install)", "write the commands that install"),
        ("insmod /tmp/tick.ko && insmod /tmp/tock.ko", "tick "),
        ("selfcheck.lsmod_reading", "answer all three"),
        ("%kmod rmmod tick", "in use by: tock"),
        ("rmmod tock && rmmod tick", "both removed"),
    ],
    "04-symbols": [
        ("__ksymtab__printk", "__ksymtab__printk"),
        ("%%kmodule lookup", "kallsyms_lookup_name"),
        ("Module.symvers", "debugfs_create_file    EXPORT_SYMBOL_GPL"),
        ("grep -w lender_secret /proc/kallsyms", "no lender_secret in the running kernel"),
        ("modules.symbols", "alias symbol:lender_secret lender"),
        ("grep -E '^(lender|borrower) ' /proc/modules", "lender 16384 1 borrower"),
        ("modprobe --show-depends borrower", "extra/borrower.ko: extra/lender.ko"),
        ("%kmod modprobe borrower", "borrower: the secret is 42"),
        ("%kmod graph", "borrower -> lender: lender_public, lender_secret"),
        ("lender_secret());", "GPL-compatible modules only"),
        ("%kmod modprobe closed", "closed: the public number is 7"),
        ("%kmod check --exercise symbols", "FAIL   build"),
        ("selfcheck.kallsyms_kinds", "answer both"),
        ("%kmod insmod gauge", "Unknown symbol"),
        ("selfcheck.unknown_symbol_fix", "answer both"),
    ],
    "05-rules": [
        ("#include <stdio.h>", "stdio.h: No such file or directory"),
        ("kstrtoint", "error: "),  # the build cell itself: checked below for success
        ("%kmod sh dmesg -r", "<3>"),
        ("dyndbg=+p", "a detail for whoever debugs this"),
        ("%%kmodule gfp", "built gfp.ko"),
        ("%kmod insmod gfp", "GFP_ATOMIC, may sleep: no"),
        ("quiet=1", "greedy: no memory for 1073741824 bytes"),
        ("%kmod insmod careless size=1073741824", "NULL pointer dereference"),
        ("%kmod insmod careless size=1073741824", "cell line 13 of %%kmodule careless"),
        ('printf("port: %s\\n", copy);', "there is no C library in the kernel; use kstrdup("),
        ("%kmod insmod port", "port: QUIETLY"),
        ("%kmod sh cat /proc/interrupts", "virtio0"),
        ("grep -E 'CPU|sharer' /proc/interrupts", "virtio0, sharer"),
        ("%kmod rmmod sharer", "sharer: line 49 raised"),
        ('banner[] __initdata = "see you"', "section mismatch"),
        ("%kmod insmod farewell", "farewell: see you"),
        ("%kmod rmmod farewell", "unable to handle page fault"),
        ("%kmod check --exercise rules", "FAIL   fault-injection"),
    ],
    "06-unwinding": [
        ("cat /proc/misc", "psaux"),
        ("%kmod insmod leaky minor=1", "Device or resource busy"),
        ("ls -l /proc/leaky", "/proc/leaky"),
        ("%kmod insmod ladder minor=1", "Device or resource busy"),
        ("no /proc/ladder", "no /proc/ladder: cleaned up"),
        ("%%kmodule tangled", "label 'remove_proc' defined but not used"),
        ("from kmodlab.lab.widgets import FaultExplorer", "LEFT BEHIND"),
        ("%kmod check --exercise unwinding", "0 of 4 failure points handled"),
    ],
    "07-capstone": [
        ("selfcheck.stage_held()", "held.ko is in the guest's /tmp"),
        ("selfcheck.open_holds", "answer with a number"),
        ("cat /proc/kmodlab_uptime", "ms ago"),
        ("dd if=/dev/kmodlab_ones", "read(count=4, *ppos=8) gives 4 bytes"),
        ("head -c 20", "11111111111111111111"),
        ("%%kmodule capstone", "no MODULE_LICENSE()"),
        ("%kmod check --exercise capstone", "FAIL   build"),
        ("exec 3</dev/kmodlab_ones", "in use"),
    ],
}
# Nowhere in any notebook: a lab or grader failure shown instead of a lesson.
NEVER = [
    "Traceback (most recent call last)",
    "could not decide",
    "could not start a fresh guest",
    "the grader failed",
]


def check_claims(name: str, ran: Executed) -> list[str]:
    """What the notebook claims but did not show, one line each."""
    problems = list(ran.errors())
    everything = ran.text()
    problems += [f"shown somewhere: {bad!r}" for bad in NEVER if bad in everything]
    for needle, expected in EVIDENCE[name]:
        if expected == "error: ":
            continue
        shown = ran.text(ran.cell(needle))
        if expected not in shown:
            problems.append(f"cell {needle!r} does not show {expected!r}:\n{shown[-1500:]}")
    return problems


def specific_claims(name: str, ran: Executed) -> list[str]:
    problems = []
    if name == "02-hello":
        # Loading took two vmalloc areas but one is left: init's was freed.
        counts = [
            int(re.findall(r"^(\d+)$", ran.text(ran.by_id(cell_id)), re.M)[-1])
            for cell_id in ("hello-vmalloc-before", "hello-init-freed")
        ]
        before, after = counts
        if after != before + 1:
            problems.append(f"module vmalloc areas went from {before} to {after}, not +1")
        syms = ran.text(ran.by_id("hello-kallsyms"))
        if "early_exit" not in syms or "early_init" in syms:
            problems.append(f"kallsyms after init should list early_exit only:\n{syms}")
        untainted = ran.text(ran.by_id("hello-untainted"))
        if not re.search(r"^0$", untainted, re.M):
            problems.append(f"the fresh guest is not untainted:\n{untainted}")
    if name == "02b-kbuild":
        made = ran.text(ran.by_id("kbuild-make"))
        for expected in ("CC [M]", "MODPOST", "LD [M]", "pushed to the guest: solo.ko"):
            if expected not in made:
                problems.append(f"%kmod make does not show {expected!r}:\n{made[-1500:]}")
        starter = ran.text(ran.by_id("kbuild-ex-make"))
        if "pushed to the guest" in starter:
            problems.append(f"the starter's Makefile (no obj-m) built a module:\n{starter}")
        undefined = ran.text(ran.by_id("kbuild-consumer-undefined"))
        if "pushed to the guest" in undefined:
            problems.append(f"the consumer without KBUILD_EXTRA_SYMBOLS was built:\n{undefined}")
        # (by id: the exercise's part 2 has a `%kmod make -C provider` cell too)
        provider = ran.text(ran.by_id("kbuild-provider-make"))
        if "pushed to the guest: sums.ko" not in provider:
            problems.append(f"the provider's folder did not build sums.ko:\n{provider[-1500:]}")
        linked = ran.text(ran.by_id("kbuild-consumer-make"))
        if "pushed to the guest: sums_user.ko" not in linked or "undefined!" in linked:
            problems.append(f"the consumer did not link against sums.ko:\n{linked[-1500:]}")
        cleaned = ran.text(ran.by_id("kbuild-ls-clean"))
        if "['Makefile', 'solo.c']" not in cleaned:
            problems.append(f"make clean should leave the Makefile and solo.c:\n{cleaned}")
    if name == "04-symbols":
        busy = ran.text(ran.by_id("symbols-provider-busy"))
        if "in use by: borrower" not in busy:
            problems.append(f"rmmod of the provider in use should be refused:\n{busy}")
    if name == "05-rules":
        built = ran.text(ran.cell("kstrtoint"))
        if "built nolibc.ko" not in built:
            problems.append(f"the kernel-helpers module does not build:\n{built}")
    if name == "06-unwinding":
        clean = ran.text(ran.cell("%%kmodule ladder"))
        if "warning" in clean:
            problems.append(f"the correct ladder builds with a warning:\n{clean}")
        order = ran.text(ran.by_id("unwinding-check-backwards"))
        for expected in ("FAIL   exit-order", "`kfree(message)`", "`proc_remove(entry)` first"):
            if expected not in order:
                problems.append(f"%kmod check on backwards does not show {expected!r}:\n{order}")
    return problems


@pytest.mark.parametrize("name", STAGES)
def test_every_claim_names_one_cell(name):
    """Does each claim's cell text match exactly one code cell of its notebook?"""
    nb = nbformat.read(str(NOTEBOOKS / f"{name}.ipynb"), as_version=4)
    ran = Executed(nb, 0.0)
    for needle, _ in EVIDENCE[name]:
        ran.cell(needle)  # asserts exactly one
