"""The instrumented build: every fallible kernel call recorded, the Nth made to fail.

    result, nonce = instrumented_build(src, headers=kernel.headers, out_dir=tmp)
    session.push_modules([m.ko for m in result.modules])
    r = session.run(["insmod", "hello.ko", f"{FAIL_PARAM}=3"])
    events = parse_ledger(r.kmsg, nonce, build_dir=result.build_dir)

Two files from the package's fi/ folder go into the build folder:

- kmodlab_fi.h, force-included (-include) into every file of the module. It
  redefines kmalloc, kzalloc, misc_register, proc_create, ... as macros
  that pass the call site's __FILE__ and __LINE__ to inline wrappers.
- the shim, one copy linked into each module (extra_objs). It holds the call
  counter, the FAIL_PARAM module parameter and the code that writes the
  records (see kmodlab.grader.ledger) with the per-build nonce.

The nonce is written into the shim's source, and the shim is given a random
file name, so the student's code cannot `#include` it to learn the nonce.
(Kbuild here has no per-object flags to pass it as a -D only to the shim.)
"""

from __future__ import annotations

import re
import secrets
from importlib import resources
from pathlib import Path

from kmodlab.build import (
    BuildResult,
    Submission,
    build_submission,
    load_submission,
    module_specs,
)
from kmodlab.build.memcap import MemoryCap

FAIL_PARAM = "kmodlab_fail_nth"
HEADER = "kmodlab_fi.h"
SHIM_TEMPLATE = "kmodlab_fi_shim.c"
NONCE_PLACEHOLDER = b"@KMODLAB_NONCE@"
_NONCE = re.compile(r"^[0-9a-f]{8,64}$")

# Flags for every file of the instrumented build, after the student's own.
INSTRUMENT_CCFLAGS: tuple[str, ...] = (
    f"-include $(src)/{HEADER}",
    # The header includes the kernel headers before the student's first line,
    # so a student's `#define pr_fmt(...)` at the top of a file becomes a
    # "redefined" warning: it must not stop the build under a -Werror.
    "-Wno-error",
)


def fi_source(name: str) -> bytes:
    """A file of the package's fi/ folder (the forced header or the shim template)."""
    return resources.files("kmodlab.grader").joinpath("fi", name).read_bytes()


def shim_source(nonce: str) -> bytes:
    """The shim's C source with the nonce filled in."""
    if not _NONCE.match(nonce):
        raise ValueError(f"a nonce must be 8 to 64 lowercase hex digits: {nonce!r}")
    template = fi_source(SHIM_TEMPLATE)
    if template.count(NONCE_PLACEHOLDER) != 1:
        raise RuntimeError(f"{SHIM_TEMPLATE} must hold the nonce placeholder exactly once")
    return template.replace(NONCE_PLACEHOLDER, nonce.encode())


def instrumented_build(
    src: Path | Submission,
    *,
    headers: Path,
    out_dir: Path | None = None,
    nonce: str | None = None,
    allow_unsandboxed: bool = False,
    memory: MemoryCap | None = None,
) -> tuple[BuildResult, str]:
    """Build the submission in `src` with every module instrumented; return (result, nonce).

    The nonce (random unless given) is the prefix of every record the shim
    writes: pass it to parse_ledger. Build errors are reported as by
    build_submission (result.ok is False); the instrumented build's
    diagnostics are about our header as much as the student's code, so show
    the student the diagnostics of their ordinary build instead.
    """
    nonce = nonce if nonce is not None else secrets.token_hex(8)
    shim = shim_source(nonce)
    # The module names are needed up front to link a shim into each one.
    sub = src if isinstance(src, Submission) else load_submission(Path(src))
    spec = module_specs(sub.files, kbuild=sub.text("Kbuild"), makefile=sub.text("Makefile"))
    # One copy per module: an object linked into two modules is compiled once,
    # with KBUILD_MODNAME "a:b", so its records could not say which module wrote them.
    token = secrets.token_hex(6)
    stems = {m.name: f"kmodlab_fi_{token}_{i}" for i, m in enumerate(spec.modules)}
    result = build_submission(
        sub,
        headers=headers,
        out_dir=out_dir,
        allow_unsandboxed=allow_unsandboxed,
        extra_files={HEADER: fi_source(HEADER), **{f"{s}.c": shim for s in stems.values()}},
        extra_ccflags=INSTRUMENT_CCFLAGS,
        extra_objs={name: [stem] for name, stem in stems.items()},
        memory=memory,
    )
    return result, nonce
