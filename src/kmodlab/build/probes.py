"""Memoised compiler probes: kbuild's try-run, answered from a cache filled at set-up.

Every `make M=... modules` evaluates the kernel's top Makefile, which asks the
compiler about some thirty flags (cc-option, as-instr, ...), one gcc run each:
about 0.8 s of a 1.8 s hello build, the same answers every time. The headers'
scripts/Makefile.compiler is patched so that try-run first looks its probe up
in a folder of answers keyed by the md5 of the probe's text (written with
make's $(file ...), so no shell quoting can change the key). Only a trusted
build fills the folder (kmodlab's own hello, at set-up); inside the sandbox
the kernel tree is read-only, so a student's Makefile can read answers but
never plant one. A probe with no answer runs as before.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

from kmodlab.build.sandbox import MINIMAL_ENV

CACHE_DIR = ".kmodlab-probes"  # in the -common folder, next to Makefile.compiler's scripts/
MARKER = "# kmodlab: memoised try-run"
_TRY_RUN = re.compile(r"^try-run = \$\(shell set -e;.*?\n\tfi\)\n", re.S | re.M)

# $(1) is the probe command, $(2) what to print if it succeeds, $(3) if not.
MEMOISED_TRY_RUN = f"""{MARKER} (see kmodlab/build/probes.py)
KMODLAB_PROBES := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))../{CACHE_DIR})
KMODLAB_PROBE_KEY = $(if $(KBUILD_EXTMOD),$(firstword $(KBUILD_EXTMOD))/).kmodlab-probe-$(MAKELEVEL)
try-run = $(file >$(KMODLAB_PROBE_KEY),$(1)|$(2)|$(3))$(shell set -e;	\\
	K=$$(md5sum < $(KMODLAB_PROBE_KEY)); K=$(KMODLAB_PROBES)/$${{K%% *}};	\\
	if [ -f "$$K" ]; then cat "$$K"; exit 0; fi;	\\
	TMP=$(TMPOUT)/tmp;		\\
	trap "rm -rf $(TMPOUT)" EXIT;	\\
	mkdir -p $(TMPOUT);		\\
	if ($(1)) >/dev/null 2>&1;	\\
	then R="$(2)";			\\
	else R="$(3)";			\\
	fi;				\\
	echo "$$R";			\\
	if [ -w $(KMODLAB_PROBES) ]; then echo "$$R" > "$$K.$$$$" && mv "$$K.$$$$" "$$K"; fi)
"""


def memoise_try_run(text: str) -> str:
    """Makefile.compiler with its try-run replaced by the memoised one (idempotent)."""
    if MARKER in text:
        return text
    new, count = _TRY_RUN.subn(lambda _m: MEMOISED_TRY_RUN, text)
    if count != 1:
        raise ValueError("Makefile.compiler has no try-run definition of the expected form")
    return new


def patch_tree(common: Path) -> bool:
    """Patch <common>/scripts/Makefile.compiler and make the answer folder.

    Returns False (and leaves the tree as it was) for a kernel whose try-run
    looks different: builds are then only slower.
    """
    compiler = common / "scripts" / "Makefile.compiler"
    try:
        compiler.write_text(memoise_try_run(compiler.read_text()))
    except (OSError, ValueError):
        return False
    (common / CACHE_DIR).mkdir(exist_ok=True)
    return True


def answers_dir(headers: Path) -> Path:
    return headers.resolve().parent / _common_name(headers) / CACHE_DIR


def answered(headers: Path) -> bool:
    """Whether the tree's probes were answered (or it is not patched: nothing to do)."""
    folder = answers_dir(headers)
    return not folder.is_dir() or any(folder.iterdir())


def warm(headers: Path, *, timeout_s: float = 300.0) -> int:
    """Fill the answers by building kmodlab's own hello module; returns how many there are.

    Run by set-up once the kernel folder is in place (the answers hold its
    final paths). The source is kmodlab's, not a student's: no sandbox needed.
    """
    answers = answers_dir(headers)
    if not answers.is_dir():
        return 0
    src = resources.files("kmodlab.examples").joinpath("hello").joinpath("hello.c").read_bytes()
    with tempfile.TemporaryDirectory(prefix="kmodlab-probes-") as tmp:
        (Path(tmp) / "hello.c").write_bytes(src)
        (Path(tmp) / "Kbuild").write_text("obj-m := hello.o\n")
        argv = ["make", "-s", "-C", str(headers), f"M={tmp}", "modules"]
        # The builder's environment, so each probe finds the same compiler.
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            subprocess.run(
                argv, capture_output=True, timeout=timeout_s, check=False, env=dict(MINIMAL_ENV)
            )
    # Each answer is written whole (renamed into place): a partial fill is still right.
    return sum(1 for p in answers.iterdir() if "." not in p.name)


def _common_name(headers: Path) -> str:
    # The per-flavour headers folder is linux-headers-<abi>-amd64; its sources
    # are in linux-headers-<abi>-common, named in its one-line Makefile.
    line = (headers / "Makefile").read_text()
    m = re.search(r"\.\./([^/\s]+)/Makefile", line)
    return m.group(1) if m else ""
