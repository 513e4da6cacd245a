"""Small C programs kmodlab compiles with the host's gcc, cached by the hash of their source."""

from __future__ import annotations

import hashlib
import os
import subprocess
from importlib import resources
from pathlib import Path

from kmodlab.errors import SetupError
from kmodlab.paths import cached

GCC_FIX = "install gcc and libc6-dev (apt-get install gcc libc6-dev)"


def compile_program(
    package: str,
    source_name: str,
    purpose: str,
    *,
    flags: tuple[str, ...] = (),
    cache: Path | None = None,
) -> Path:
    """The executable built from a C file shipped in `package`, under $KMODLAB_HOME/guest
    (or already in the shared cache, keyed by the same hash)."""
    source = resources.files(package).joinpath(source_name).read_bytes()
    digest = hashlib.sha256(source + "\0".join(flags).encode()).hexdigest()[:16]
    relative = Path("guest") / f"{Path(source_name).stem.replace('_', '-')}-{digest}"
    out = cache / relative if cache else cached(relative)
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    # Two processes may build the same program at once: each writes its own files.
    src = out.with_name(f"{out.name}.{os.getpid()}.c")
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
    src.write_bytes(source)
    cmd = ["gcc", *flags, "-O2", "-Wall", "-o", str(tmp), str(src)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise SetupError(f"cannot build {purpose} (gcc is not installed)", GCC_FIX) from None
    finally:
        src.unlink(missing_ok=True)
    if proc.returncode != 0:
        first = (proc.stderr.strip().splitlines() or ["gcc failed"])[0]
        raise SetupError(f"cannot build {purpose} ({first})", GCC_FIX)
    tmp.replace(out)
    return out
