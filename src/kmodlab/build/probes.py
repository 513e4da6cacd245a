"""Memoised compiler probes: kbuild's try-run, answered by make itself from set-up's answers.

Every `make M=... modules` evaluates the kernel's top Makefile, which asks the
compiler about some thirty flags (cc-option, as-instr, ...), one shell and
one gcc run each, the same answers every time. The headers'
scripts/Makefile.compiler is patched (memoise_try_run) so that try-run
first looks its probe up among variables that make reads from a file of
answers (ANSWERS_FILE, in the -common folder) with $(file <...) and
$(eval ...): a probe that has an answer starts no process at all.

The key is the probe's exact text: try-run's three arguments as make expanded
them (the command, what to print if it succeeds, what if not), each encoded
into variable-name characters by a chain of $(subst ...) ("_" -> "_u" first,
then space, tab, newline, $, #, =, :, and \\ each to "_" and one letter, so
two different texts never share a name) and joined by "__" (which an
encoded text never holds). A probe whose variable is undefined runs kbuild's
own try-run, kept word for word under another name.

Only a trusted build fills the answers: set-up's own hello build (warm())
runs with every answer ignored (KMODLAB_PROBES_OFF) and each probe's name
and answer logged (KMODLAB_PROBE_LOG, make's $(file >>...)), and kmodlab
writes the file from that log, keeping only names and answers that read
back exactly (answers_text). Inside the sandbox the kernel tree is
read-only, so a student's build can read answers but never plant one; what
it defines in its own Kbuild reaches only its own make.

Older trees carry the first version of this patch (try-run hashing the
probe's text with md5sum into a folder of answer files, LEGACY_MARKER):
patch_tree() puts kbuild's stock try-run back and patches that, so
`kmodlab setup` upgrades an existing kernel folder in place.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

from kmodlab.build.sandbox import MINIMAL_ENV
from kmodlab.paths import atomic_write

ANSWERS_FILE = ".kmodlab-probes.mk"  # in the -common folder, next to its scripts/
NAME_PREFIX = "KMODLAB_PROBE_"
LOG_VARIABLE = "KMODLAB_PROBE_LOG"  # make variable: append each unanswered probe here
OFF_VARIABLE = "KMODLAB_PROBES_OFF"  # make variable: ignore the answers (every probe runs)
MARKER = "# kmodlab: try-run answered by make (see kmodlab/build/probes.py)"
LEGACY_MARKER = "# kmodlab: memoised try-run"
LEGACY_DIR = ".kmodlab-probes"  # the first version's folder of answers

_STOCK_TRY_RUN = re.compile(r"^try-run = (\$\(shell set -e;.*?\n\tfi\)\n)", re.S | re.M)
# This patch, from its marker to its try-run; group 1 is the stock body it kept.
_PATCHED = re.compile(
    "^" + re.escape(MARKER) + r".*?^kmodlab-stock-try-run = (\$\(shell set -e;.*?\n\tfi\)\n)"
    r".*?^try-run = \$\(call kmodlab-try-run,[^\n]*\n",
    re.S | re.M,
)

# kbuild's try-run as Linux 6.1 (and 5.15 to 6.6) has it: what the legacy patch replaced.
STOCK_TRY_RUN = (
    "try-run = $(shell set -e;\t\t\\\n"
    "\tTMP=$(TMPOUT)/tmp;\t\t\\\n"
    '\ttrap "rm -rf $(TMPOUT)" EXIT;\t\\\n'
    "\tmkdir -p $(TMPOUT);\t\t\\\n"
    "\tif ($(1)) >/dev/null 2>&1;\t\\\n"
    '\tthen echo "$(2)";\t\t\\\n'
    '\telse echo "$(3)";\t\t\\\n'
    "\tfi)\n"
)

# The first version of this patch, exactly as it wrote it (replacing STOCK_TRY_RUN).
LEGACY_TRY_RUN = f"""{LEGACY_MARKER} (see kmodlab/build/probes.py)
KMODLAB_PROBES := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))../{LEGACY_DIR})
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

# What replaces `try-run = <stock body>`; {stock} is that body, word for word.
# kmodlab-enc: _ first (so every "_" it leaves is followed by one of u s t n d h e c b),
# then the characters a `define NAME` line cannot hold. (A backslash ending a line
# here joins it to the next in Python: make sees one line.)
_MEMOISED = (
    MARKER
    + """
# kbuild's own try-run, run for a probe without an answer:
kmodlab-stock-try-run = {stock}kmodlab-empty :=
kmodlab-space := $(kmodlab-empty) $(kmodlab-empty)
kmodlab-tab := $(kmodlab-empty)\t$(kmodlab-empty)
define kmodlab-newline


endef
kmodlab-hash := \\#
kmodlab-bslash := $(strip \\ )
kmodlab-enc = $(subst $(kmodlab-newline),_n,$(subst $(kmodlab-tab),_t,$(subst \
$(kmodlab-space),_s,$(subst $(kmodlab-bslash),_b,$(subst :,_c,$(subst =,_e,$(subst \
$(kmodlab-hash),_h,$(subst $$,_d,$(subst _,_u,$(1))))))))))
# Set-up's answers, one `define <name>` each (ignored when {off} is set,
# and by a make older than 4.2, which cannot read a file):
kmodlab-answers := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))../{answers})
ifeq ($({off})$(filter 3.% 4.0% 4.1%,$(MAKE_VERSION)),)
$(eval $(if $(wildcard $(kmodlab-answers)),$(file <$(kmodlab-answers))))
endif
# An answer computed here is appended to {log}, when set (by set-up's own build):
kmodlab-record = $(if $({log}),$(file >>$({log}),$(1) $(2)))$(2)
kmodlab-try-run = $(if $(filter undefined,$(flavor $(1))),$(call kmodlab-record,$(1),$(call \
kmodlab-stock-try-run,$(2),$(3),$(4))),$(value $(1)))
try-run = $(call kmodlab-try-run,{prefix}$(call kmodlab-enc,$(1))__$(call \
kmodlab-enc,$(2))__$(call kmodlab-enc,$(3)),$(1),$(2),$(3))
"""
)


def memoise_try_run(text: str) -> str:
    """Makefile.compiler with try-run answered by make (idempotent; upgrades older patches).

    The stock definition stays, word for word, as kmodlab-stock-try-run: what
    an unanswered probe runs.
    """
    current = _PATCHED.search(text)
    if current:  # back to kbuild's, so that an older text of this patch is brought up to date
        text = text[: current.start()] + "try-run = " + current[1] + text[current.end() :]
    elif LEGACY_MARKER in text:
        if text.count(LEGACY_TRY_RUN) != 1:
            raise ValueError("Makefile.compiler has an unknown version of kmodlab's try-run")
        text = text.replace(LEGACY_TRY_RUN, STOCK_TRY_RUN)
    found = list(_STOCK_TRY_RUN.finditer(text))
    if len(found) != 1:
        raise ValueError("Makefile.compiler has no try-run definition of the expected form")
    m = found[0]
    new = _MEMOISED.format(
        stock=m[1], answers=ANSWERS_FILE, off=OFF_VARIABLE, log=LOG_VARIABLE, prefix=NAME_PREFIX
    )
    return text[: m.start()] + new + text[m.end() :]


def patch_tree(common: Path) -> bool:
    """Patch <common>/scripts/Makefile.compiler (or bring an older patch up to date).

    Returns whether the tree is patched. False (the tree left as it was) for
    a kernel whose try-run looks different: builds are then only slower. An
    upgraded tree loses its old answers (the legacy folder) and needs warm().
    """
    compiler = common / "scripts" / "Makefile.compiler"
    try:
        old = compiler.read_text()
        new = memoise_try_run(old)
        if new != old:
            atomic_write(compiler.resolve(), new.encode())
            (common / ANSWERS_FILE).unlink(missing_ok=True)
    except (OSError, ValueError):
        return False
    shutil.rmtree(common / LEGACY_DIR, ignore_errors=True)
    return True


def common_dir(headers: Path) -> Path:
    """The linux-headers-<abi>-common folder a per-flavour headers folder includes."""
    return headers.resolve().parent / _common_name(headers)


def answers_file(headers: Path) -> Path:
    return common_dir(headers) / ANSWERS_FILE


def patched(headers: Path) -> bool:
    try:
        text = (common_dir(headers) / "scripts" / "Makefile.compiler").read_text()
    except OSError:
        return False
    return MARKER in text


def answered(headers: Path) -> bool:
    """Whether the tree's probes were answered (or it is not patched: nothing to do)."""
    return not patched(headers) or answers_file(headers).is_file()


def answers_text(log: str) -> tuple[str, int]:
    """The answers file for a log of `NAME ANSWER` lines, and how many answers it holds. Pure.

    Keeps a name only if it is one the patched try-run makes (printable ASCII,
    none of the characters it encodes) and its answer only if a `define` body
    gives it back unchanged: one line with no control character but tabs,
    not ending in a backslash, with no define or endef in it (nor a byte
    that was not UTF-8); a name logged with two different answers is
    dropped. Whatever is dropped is probed on every build, as kbuild would.
    """
    answers: dict[str, str | None] = {}
    for line in log.split("\n"):  # make's own lines: not \r or another line break
        name, _, answer = line.partition(" ")
        if not _NAME.fullmatch(name) or _ENCODED & set(name) or not _keepable(answer):
            continue
        answers[name] = answer if answers.get(name, answer) == answer else None
    kept = sorted((n, a) for n, a in answers.items() if a is not None)
    body = "".join(f"define {n}\n{a}\nendef\n" for n, a in kept)
    header = "# kbuild's compiler probes, answered at set-up (kmodlab/build/probes.py)\n"
    return header + body, len(kept)


_NAME = re.compile(re.escape(NAME_PREFIX) + r"[!-~]+")
_ENCODED = set("$#=:\\")  # and whitespace, which [!-~] leaves out


def _keepable(answer: str) -> bool:
    return (
        not _CONTROL.search(answer)
        and not answer.endswith("\\")
        and not re.search(r"\b(define|endef)\b", answer)
    )


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\ufffd]")


def warm(headers: Path, *, timeout_s: float = 300.0) -> int:
    """Answer the probes by building kmodlab's own hello module; returns how many there are.

    Run by set-up once the kernel folder is in place (the answers hold its
    final paths). The source is kmodlab's, not a student's: no sandbox needed.
    Every probe runs (the old answers ignored) and the file is written anew.
    """
    if not patched(headers):
        return 0
    src = resources.files("kmodlab.examples").joinpath("hello").joinpath("hello.c").read_bytes()
    with tempfile.TemporaryDirectory(prefix="kmodlab-probes-") as tmp:
        (Path(tmp) / "hello.c").write_bytes(src)
        (Path(tmp) / "Kbuild").write_text("obj-m := hello.o\n")
        log = Path(tmp) / "probes.log"
        argv = ["make", "-s", "-C", str(headers), f"M={tmp}", "modules"]
        argv += [f"{OFF_VARIABLE}=1", f"{LOG_VARIABLE}={log}"]
        # The builder's environment, so each probe finds the same compiler.
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            subprocess.run(
                argv, capture_output=True, timeout=timeout_s, check=False, env=dict(MINIMAL_ENV)
            )
        try:
            text, count = answers_text(log.read_bytes().decode(errors="replace"))
        except OSError:
            return 0
    atomic_write(answers_file(headers), text.encode())
    return count


def _common_name(headers: Path) -> str:
    # The per-flavour headers folder is linux-headers-<abi>-amd64; its sources
    # are in linux-headers-<abi>-common, named in its one-line Makefile.
    line = (headers / "Makefile").read_text()
    m = re.search(r"\.\./([^/\s]+)/Makefile", line)
    return m.group(1) if m else ""
