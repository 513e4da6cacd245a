"""The lessons' self-checks judged on captured guest output: the answers and the feedback."""

from __future__ import annotations

import pytest

from kmodlab.course import selfcheck as sc

REF_INSTALL = "cp /tmp/tick.ko /tmp/tock.ko /lib/modules/$(uname -r)/extra/ && depmod"
# What the guest showed (6.1.0-50) for the reference install, and for two mistakes.
INSTALLED = """@@loaded
@@files
/lib/modules/6.1.0-50-amd64/extra/tock.ko
/lib/modules/6.1.0-50-amd64/extra/tick.ko
@@dep
extra/tock.ko: extra/tick.ko
extra/tick.ko:
@@modprobe
rc=0
@@after
tock 16384 0 - Live 0xffffffffc0227000 (OE)
tick 16384 1 tock, Live 0xffffffffc0222000 (OE)
"""
NO_DEPMOD = """@@loaded
@@files
/lib/modules/6.1.0-50-amd64/extra/tock.ko
/lib/modules/6.1.0-50-amd64/extra/tick.ko
@@dep
@@modprobe
modprobe: FATAL: Module tock not found in directory /lib/modules/6.1.0-50-amd64
rc=1
@@after
"""
ONLY_TOCK = """@@loaded
@@files
/lib/modules/6.1.0-50-amd64/extra/tock.ko
@@dep
extra/tock.ko:
@@modprobe
modprobe: ERROR: could not insert 'tock': Unknown symbol in module, or unknown parameter
rc=1
@@after
"""
LSMOD = "@@proc\ntick 16384 1 tock, Live 0xffffffffc0222000 (OE)\n@@refcnt\n1\n@@holders\ntock\n"
KALLSYMS = """ffffffff812aa4c0 T kmemdup
ffffffff8246770c r __ksymtab_kmemdup
ffffffff8114b5a0 T module_flags
ffffffff811484d0 t resolve_symbol
"""


@pytest.mark.parametrize(
    ("commands", "probe", "ok", "says"),
    [
        (REF_INSTALL, INSTALLED, True, "loaded tick first"),
        ("# your commands here\n", "", False, "write the commands"),
        ("cp /tmp/t*.ko /lib/modules/$(uname -r)/extra/", NO_DEPMOD, False, "run depmod"),
        (
            "cp /tmp/tock.ko /lib/modules/$(uname -r)/extra/ && depmod",
            ONLY_TOCK,
            False,
            "tick.ko is not installed",
        ),
        (
            "insmod /tmp/tick.ko && insmod /tmp/tock.ko",
            "@@loaded\ntick 16384 0 - Live 0x0 (OE)\n",
            False,
            "let `modprobe tock` do the loading",
        ),
        (
            "cp /tmp/t*.ko /lib/modules/",
            "@@files\n@@dep\n@@modprobe\nrc=1\n",
            False,
            "tock.ko is not there",
        ),
    ],
)
def test_install_pair_judged(commands, probe, ok, says):
    """Is the install judged by what `modprobe tock` did, with feedback naming the step missed?"""
    v = sc.judge_install(commands, "", sc.sections(probe))
    assert v.ok is ok and says in v.message


def test_install_commands_that_fail_are_quoted():
    """Does a failing install script get its own last line back?"""
    v = sc.judge_install("cp /tmp/nope.ko /x", "cp: can't stat '/tmp/nope.ko'\n", {}, False)
    assert not v.ok and "can't stat '/tmp/nope.ko'" in v.message


@pytest.mark.parametrize(
    ("used_by", "holders", "count_file", "ok", "says"),
    [
        (1, ["tock"], "/sys/module/tick/refcnt", True, "used by 1"),
        (None, [], "", False, "answer all three"),  # the lesson's starter
        (0, ["tock"], "/sys/module/tick/refcnt", False, "0 is tick's count before tock loads"),
        (1, [], "/sys/module/tick/refcnt", False, "are not tick's holders"),
        (1, ["tock"], "/proc/modules", False, "takes the list of modules from /proc/modules"),
    ],
)
def test_lsmod_reading_judged(used_by, holders, count_file, ok, says):
    """Are the use count, the holders and lsmod's source file each checked against the guest?"""
    v = sc.judge_lsmod(used_by, holders, count_file, sc.sections(LSMOD))
    assert v.ok is ok and says in v.message


@pytest.mark.parametrize(
    ("exported", "local", "ok", "says"),
    [
        ({"kmemdup"}, "resolve_symbol", True, "local: resolve_symbol"),
        (set(), "", False, "answer both"),  # the lesson's starter
        ({"kmemdup", "module_flags"}, "resolve_symbol", False, "module_flags is global (T)"),
        ({"kmemdup"}, "module_flags", False, "a local (static) function's letter is lowercase"),
        (set(), "resolve_symbol", False, "left out an exported one"),
    ],
)
def test_kallsyms_kinds_judged(exported, local, ok, says):
    """Is exported told from global by the __ksymtab_ entry, and local by the lowercase letter?"""
    v = sc.judge_kallsyms(exported, local, KALLSYMS)
    assert v.ok is ok and says in v.message


@pytest.mark.parametrize(
    ("provider", "commands", "log", "loaded", "ok", "says"),
    [
        (
            "tuner",
            "insmod tuner.ko && insmod gauge.ko",
            "",
            "gauge 16384 0 - Live",
            True,
            "gauge loaded",
        ),
        ("", "", "", "", False, "answer both"),  # the lesson's starter
        ("calib", "insmod gauge.ko", "", "", False, "modules.symbols"),
        (
            "tuner",
            "insmod gauge.ko; insmod tuner.ko",
            "gauge: Unknown symbol calib_offset (err -2)",
            "",
            False,
            "must be loaded first",
        ),
        ("tuner", "insmod tuner.ko", "", "", False, "do not leave gauge loaded"),
    ],
)
def test_unknown_symbol_fix_judged(provider, commands, log, loaded, ok, says):
    """Must the student name gauge's provider and load gauge after it, told what went wrong?"""
    v = sc.judge_unknown_symbol(provider, commands, log, loaded)
    assert v.ok is ok and says in v.message
    assert "calib_offset" not in v.message  # the diagnosis is not given away


def test_commands_copied_from_cells_run_as_shell():
    """Does a line copied from a `%kmod sh` cell run as the shell command it names?"""
    script = sc.as_shell("%kmod sh cp /tmp/tick.ko /x/\n  depmod -a\n# done")
    assert script == "cp /tmp/tick.ko /x/\ndepmod -a\n# done\n"
