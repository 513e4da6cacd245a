"""Memoised kbuild probes: the Makefile.compiler patch (pure text)."""

import shutil
import subprocess

import pytest

from kmodlab.build import probes

STOCK = """# try-run
try-run = $(shell set -e;		\\
	TMP=$(TMPOUT)/tmp;		\\
	trap "rm -rf $(TMPOUT)" EXIT;	\\
	mkdir -p $(TMPOUT);		\\
	if ($(1)) >/dev/null 2>&1;	\\
	then echo "$(2)";		\\
	else echo "$(3)";		\\
	fi)

# as-option
as-option = $(call try-run,$(CC) $(1) -c -x assembler-with-cpp /dev/null -o "$$TMP",$(1),$(2))
"""


def test_try_run_is_replaced_by_the_memoised_one_and_the_rest_kept():
    """Is only try-run rewritten, to look answers up by the md5 of the probe's text?"""
    patched = probes.memoise_try_run(STOCK)
    assert probes.MARKER in patched and "md5sum" in patched and "$(file >" in patched
    assert 'then echo "$(2)"' not in patched  # the stock definition is gone
    assert patched.endswith(STOCK[STOCK.index("# as-option") :])


def test_patching_twice_changes_nothing():
    """Is the patch idempotent (set-up may run on an already patched tree)?"""
    once = probes.memoise_try_run(STOCK)
    assert probes.memoise_try_run(once) == once


def test_an_unexpected_makefile_is_refused_not_mangled():
    """Does a Makefile.compiler without the stock try-run raise instead of being half-patched?"""
    with pytest.raises(ValueError):
        probes.memoise_try_run("try-run = $(shell something else)\n")


def _make(folder, probe):
    done = subprocess.run(
        ["make", "-s", "-C", str(folder), "-f", "Makefile", f"PROBE={probe}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")
def test_a_probe_runs_once_then_is_answered_from_the_folder(tmp_path):
    """Does GNU make with the patched try-run store a probe's answer, then answer from it?"""
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "Makefile.compiler").write_text(
        "TMPOUT = .tmp_$$$$\n" + probes.memoise_try_run(STOCK)
    )
    (tmp_path / probes.CACHE_DIR).mkdir()
    (tmp_path / "Makefile").write_text(
        "include scripts/Makefile.compiler\n$(info R=$(call try-run,$(PROBE),yes,no))\nall: ;\n"
    )
    assert _make(tmp_path, "true") == "R=yes"
    assert _make(tmp_path, "false") == "R=no"
    answers = list((tmp_path / probes.CACHE_DIR).iterdir())
    assert len(answers) == 2 and all(len(a.name) == 32 for a in answers)
    # The answer now comes from the folder, not from running the probe again.
    for a in answers:
        a.write_text("from-the-folder\n")
    assert _make(tmp_path, "true") == "R=from-the-folder"
