"""Memoised kbuild probes: the Makefile.compiler patch (pure text) and, with GNU make,
what the patched try-run does on the real Makefile.compiler of Debian's 6.1 kernel."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from kmodlab.build import probes

DATA = Path(__file__).parents[1] / "data" / "probes"
# Debian's linux-kbuild-6.1 6.1.192-3, as unpacked; and as kmodlab's first patch left it.
STOCK = (DATA / "Makefile.compiler-6.1").read_text()
LEGACY = (DATA / "Makefile.compiler-6.1-kmodlab-v4").read_text()

needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


def test_only_try_run_is_replaced_and_kbuilds_own_stays_word_for_word():
    """Is the stock try-run kept verbatim under another name, and is everything else of
    the real Makefile.compiler (cc-option, as-instr, ...) left as it was?"""
    patched = probes.memoise_try_run(STOCK)
    stock_body = STOCK[STOCK.index("try-run = ") + len("try-run = ") : STOCK.index("\tfi)\n") + 5]
    assert "kmodlab-stock-try-run = " + stock_body in patched
    assert "try-run = " + stock_body not in patched.replace("kmodlab-stock-try-run", "")
    before, after = STOCK.split("try-run = " + stock_body)
    assert patched.startswith(before) and patched.endswith(after)
    block = patched[patched.index(probes.MARKER) : patched.index("# as-option")]
    assert "md5sum" not in block and block.count("$(shell") == 1  # only kbuild's own


def test_patching_twice_changes_nothing():
    """Is the patch idempotent (set-up runs it on every already patched tree)?"""
    once = probes.memoise_try_run(STOCK)
    assert probes.memoise_try_run(once) == once


def test_the_first_versions_patch_is_upgraded_to_the_same_text():
    """Does a tree patched by the md5sum version of kmodlab get exactly what a stock tree gets?"""
    assert probes.LEGACY_MARKER in LEGACY and probes.MARKER not in LEGACY
    assert probes.memoise_try_run(LEGACY) == probes.memoise_try_run(STOCK)


def test_an_older_text_of_this_patch_is_brought_up_to_date():
    """Does a tree with another text of the current patch (here: its comments gone) get the
    current text, kbuild's own try-run taken back from what that patch kept?"""
    current = probes.memoise_try_run(STOCK)
    older = re.sub(r"^# (kbuild's own|Set-up's|An answer).*\n", "", current, flags=re.M)
    assert older != current
    assert probes.memoise_try_run(older) == current


def test_an_unexpected_makefile_is_refused_not_mangled():
    """Does a Makefile.compiler without the stock try-run, or with an unknown kmodlab patch,
    raise instead of being half-patched?"""
    with pytest.raises(ValueError):
        probes.memoise_try_run("try-run = $(shell something else)\n")
    with pytest.raises(ValueError):
        probes.memoise_try_run(LEGACY.replace("md5sum", "sha1sum"))


def test_patch_tree_upgrades_in_place_and_drops_the_old_answers(tmp_path):
    """Does patch_tree() rewrite a legacy tree's Makefile.compiler, remove the old answer
    folder and any answers file (they need warming again), and leave a current tree alone?"""
    (tmp_path / "scripts").mkdir()
    compiler = tmp_path / "scripts" / "Makefile.compiler"
    compiler.write_text(LEGACY)
    (tmp_path / probes.LEGACY_DIR).mkdir()
    (tmp_path / probes.LEGACY_DIR / ("0" * 32)).write_text("-Wold\n")
    assert probes.patch_tree(tmp_path)
    assert compiler.read_text() == probes.memoise_try_run(STOCK)
    assert not (tmp_path / probes.LEGACY_DIR).exists()
    (tmp_path / probes.ANSWERS_FILE).write_text("# answers\n")
    assert probes.patch_tree(tmp_path)  # already current: the answers stay
    assert (tmp_path / probes.ANSWERS_FILE).is_file()
    compiler.write_text("try-run = $(shell other)\n")
    assert not probes.patch_tree(tmp_path)
    assert compiler.read_text() == "try-run = $(shell other)\n"


def test_answers_text_keeps_only_what_a_define_gives_back():
    """Does the answers file keep good records (an empty answer too) and drop a name with a
    character the encoding removes, a non-ASCII name, an answer ending in a backslash,
    holding endef, a carriage return or a byte that was not UTF-8, and a name logged with
    two different answers?"""
    log = "\n".join(
        [
            "KMODLAB_PROBE_gcc_s-Wa__-Wa__ -Wa",
            "KMODLAB_PROBE_false__-x__ ",
            "KMODLAB_PROBE_pad__a__b   lead and trail  ",
            "KMODLAB_PROBE_a$b__x__ -Wdollar",
            "KMODLAB_PROBE_caf\u00e9__x__ -Wcafe",
            "KMODLAB_PROBE_bs__x__ -Wa\\",
            "KMODLAB_PROBE_end__x__ endef",
            "KMODLAB_PROBE_twice__x__ -Wone",
            "KMODLAB_PROBE_twice__x__ -Wtwo",
            "KMODLAB_PROBE_same__x__ -Wsame",
            "KMODLAB_PROBE_same__x__ -Wsame",
            "KMODLAB_PROBE_cr__x__ -Wcr\rKMODLAB_PROBE_in__cr__ -Wfrom-cr",
            "KMODLAB_PROBE_bad__x__ -W\ufffd",
            "OTHER_NAME -Wfoo",
        ]
    )
    text, count = probes.answers_text(log)
    kept = dict(re.findall(r"^define (\S+)\n(.*)\nendef$", text, re.M))
    assert kept == {
        "KMODLAB_PROBE_gcc_s-Wa__-Wa__": "-Wa",
        "KMODLAB_PROBE_false__-x__": "",
        "KMODLAB_PROBE_pad__a__b": "  lead and trail  ",
        "KMODLAB_PROBE_same__x__": "-Wsame",
    }
    assert count == 4


# -- the patched try-run under GNU make ------------------------------------------

# Probe texts with what kbuild's have (quotes, $, commas, = and :) and worse.
TRICKY = [
    ("true", "-fa_b", "no"),
    ("false", "yes", "  lead\\ =:x"),
    ('printf "%b\\n" "a,b" | grep -q a', "ok", ""),
    ("test x_sy = x_sy", "-Dunder", ""),
    ("test 'x y' = 'x y'", "-Dspace", ""),
    ("test '#' = '#'", "-Dhash$$HOME", ""),
    ("true\t", "-Dtab", ""),
    ("true", "a|b", "c"),
    ("true|a", "b", "c"),
]


def _tree(tmp_path: Path) -> Path:
    """A folder with the patched real Makefile.compiler and a Makefile printing each probe."""
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "Makefile.compiler").write_text(probes.memoise_try_run(STOCK))
    lines = ["comma := ,", "TMPOUT = .tmp_$$$$", "include scripts/Makefile.compiler"]
    for i, (cmd, ok, ko) in enumerate(TRICKY):
        c, o, k = (x.replace(",", "$(comma)") for x in (cmd, ok, ko))
        lines.append(f"$(info R{i}=[$(call try-run,touch ran-{i}; {c},{o},{k})])")
    (tmp_path / "Makefile").write_text("\n".join([*lines, "all: ;", ""]))
    return tmp_path


def _make(folder: Path, *variables: str) -> list[str]:
    done = subprocess.run(
        ["make", "-s", "-C", str(folder), *variables], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def _ran(folder: Path) -> list[str]:
    ran = sorted(p.name for p in folder.glob("ran-*"))
    for name in ran:
        (folder / name).unlink()
    return ran


@needs_make
def test_a_probe_without_answer_runs_and_is_recorded_then_answered_without_running(tmp_path):
    """Does an unanswered probe run as kbuild's try-run (its answer logged), and once the
    log is the answers file, does every probe give the same answer without running?"""
    folder = _tree(tmp_path)
    stock = _make(folder)  # no answers file: kbuild's own try-run
    assert len(_ran(folder)) == len(TRICKY)
    assert stock[:3] == ["R0=[-fa_b]", "R1=[  lead\\ =:x]", "R2=[ok]"]

    log = folder / "probes.log"
    assert _make(folder, f"{probes.LOG_VARIABLE}={log}") == stock
    _ran(folder)
    text, count = probes.answers_text(log.read_text())
    assert count == len(TRICKY)  # nine different names: none of the texts collide
    (folder / probes.ANSWERS_FILE).write_text(text)

    assert _make(folder, f"{probes.LOG_VARIABLE}={folder}/again.log") == stock
    assert _ran(folder) == [] and not (folder / "again.log").exists()
    # Switched off, every probe runs again.
    assert _make(folder, f"{probes.OFF_VARIABLE}=1") == stock
    assert len(_ran(folder)) == len(TRICKY)


@needs_make
def test_an_answer_is_taken_from_the_file_as_written(tmp_path):
    """Is the answer the file's, word for word (so a wrong answer there would show)?"""
    folder = _tree(tmp_path)
    log = folder / "probes.log"
    _make(folder, f"{probes.LOG_VARIABLE}={log}")
    text, _count = probes.answers_text(log.read_text())
    (folder / probes.ANSWERS_FILE).write_text(text.replace("\n-fa_b\n", "\n -Dfrom$$file# \n"))
    assert _make(folder)[0] == "R0=[ -Dfrom$$file# ]"


def test_setup_upgrades_an_installed_legacy_tree_once(tmp_path, monkeypatch):
    """Does `kmodlab setup` on a kernel folder with the first patch rewrite it and answer
    the probes, and a second set-up leave the answered tree alone?"""
    from kmodlab import setup
    from kmodlab.paths import KernelLayout

    layout = KernelLayout(abi="6.1.0-9-amd64", root=tmp_path)
    layout.headers.mkdir(parents=True)
    (layout.headers / "Makefile").write_text(
        "include $(dir $(lastword $(MAKEFILE_LIST)))../linux-headers-6.1.0-9-common/Makefile\n"
    )
    common = layout.headers.parent / "linux-headers-6.1.0-9-common"
    (common / "scripts").mkdir(parents=True)
    (common / "scripts" / "Makefile.compiler").write_text(LEGACY)
    (common / probes.LEGACY_DIR).mkdir()
    warmed = []

    def warm(headers):
        warmed.append(headers)
        (common / probes.ANSWERS_FILE).write_text("# answers\n")
        return 0

    monkeypatch.setattr(probes, "warm", warm)
    said = []
    setup._warm_probes(layout, said.append)
    assert warmed == [layout.headers] and not (common / probes.LEGACY_DIR).exists()
    assert (common / "scripts" / "Makefile.compiler").read_text() == probes.memoise_try_run(STOCK)
    setup._warm_probes(layout, said.append)
    assert warmed == [layout.headers]  # answered already: nothing to do
