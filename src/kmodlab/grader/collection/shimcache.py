"""The fault-injection shim, compiled once per wrapper set, not once per grade.

    cache = ShimCache.default()
    obj = shim_object(wraps, headers=h, nonce=n, token=t, key=k, cache=cache)
    # obj: the bytes of kmodlab_fi_<token>_<i>.o, ready to link into one module

Every instrumented build links one shim object per module. Its text differs
between grades only by the grade's secrets (nonce, token, key) and by the
wrappers it holds (the symbols that module imports), and a class's modules
mostly import the same few; compiling it was about 0.3 to 0.4 CPU-s of each
module's second build pass (bench/README.md, 2026-12-02).

So the shim is compiled with fixed stand-ins for the secrets (same length as
the real ones), in a clean folder that holds only kmodlab's files (in the
sandbox, with the flags of a module build, none of the student's), and kept
by a key over everything that goes into it. A grade copies the object and
writes its own secrets over the stand-ins: the nonce and token as bytes
(string literals, symbol and debug names), the key by symbol (the shim's two
key variables). Every stand-in must be found and none may be left, else the
shim is compiled again with the real secrets (never in the student's folder).

The cache lives where no build can write: the user's own cache
($KMODLAB_HOME/shims), else a folder of this process. The sandbox never
shows either to a build. Entries are written under a unique name and renamed
into place, and a lock per entry lets one of two grades that need the same
entry compile it while the other waits.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import functools
import glob
import hashlib
import io
import os
import shutil
import struct
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from kmodlab.build import BuildResult, Submission, build_submission
from kmodlab.build.memcap import MemoryCap
from kmodlab.build.sandbox import MINIMAL_ENV
from kmodlab.errors import SetupError
from kmodlab.paths import atomic_write

# Bumped whenever what a cached object means changes (the stand-ins, the patching).
CACHE_VERSION = 1
# Stand-ins for the secrets: as long as the real ones (a 16-digit nonce, a 12-digit
# token), letters that no compiler output holds by chance, valid in a C name and a
# file name, neither a part of the other.
NONCE_STAND_IN = "QzNonceQzNonceQz"
TOKEN_STAND_IN = "QzTokenQzTok"
KEY_STAND_IN = 0xA5C3E1F7
NONCE_LENGTH = len(NONCE_STAND_IN)
TOKEN_LENGTH = len(TOKEN_STAND_IN)
KEY_PREFIXES = ("kfi_arm_", "kfi_key_")  # the shim's variables that hold the key
# The clean compile's debug info names the shim as /kmodlab-shim/<file>, never by the
# clean folder's path: a frame in the shim, decoded, must not name the grading host.
# (A relative name would not do: addr2line joins it to the kernel tree's path.)
SHIM_DEBUG_DIR = "/kmodlab-shim"
CLEAN_CCFLAGS: tuple[str, ...] = (f"-fdebug-prefix-map=$(src)={SHIM_DEBUG_DIR}",)
SHIM_DIR = "shims"
CACHE_ENV = "KMODLAB_SHIM_CACHE"


class ShimPatchError(Exception):
    """A cached object whose stand-ins cannot all be replaced: compile instead."""


# ---- the key of a cache entry (pure) ----------------------------------------


def entry_key(
    *,
    kernel: str,
    shim: bytes,
    header: bytes,
    wraps: Sequence[str],
    ccflags: Sequence[str],
) -> str:
    """The name of the cache entry for one wrapper set. Pure.

    kernel: the fingerprint of the kbuild tree and toolchain (kernel_fingerprint);
    shim, header: the filled-in texts (stand-ins, wrappers) the object is compiled from;
    ccflags: every flag kmodlab adds to the module build's own.
    """
    h = hashlib.sha256()
    for part in (
        f"kmodlab-shim v{CACHE_VERSION}".encode(),
        kernel.encode(),
        shim,
        header,
        "\n".join(sorted(wraps)).encode(),
        "\n".join(ccflags).encode(),
    ):
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()[:40]


def _stat_line(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return f"{path} -"
    return f"{path} {st.st_size} {st.st_mtime_ns} {st.st_ino}"


def _compiler(headers: Path) -> list[str]:
    """The compiler, assembler and objtool a module build of this tree runs."""
    name = "gcc"
    with contextlib.suppress(OSError):
        for line in (headers / "include/config/auto.conf").read_text().splitlines():
            if line.startswith("CONFIG_CC_VERSION_TEXT="):
                name = line.split("=", 1)[1].strip('"').split()[0]
    path = MINIMAL_ENV.get("PATH")
    found = [shutil.which(tool, path=path) for tool in (name, "as", "ld")]
    real = [os.path.realpath(f) for f in found if f]
    return [*real, *sorted(glob.glob("/usr/lib/gcc/*/*/cc1"))]


@functools.cache
def kernel_fingerprint(headers: Path) -> str:
    """What of the kbuild tree and toolchain a compiled shim depends on, as text.

    Paths with size, modification time and inode: a kernel or compiler updated
    in place (same ABI, a new gcc package) gives another key.
    """
    headers = Path(headers).resolve()
    tree = [
        headers / name
        for name in (
            "Makefile",
            ".config",
            "Module.symvers",
            "include/config/auto.conf",
            "include/generated/autoconf.h",
            "include/generated/utsrelease.h",
            "tools/objtool/objtool",
        )
    ]
    return "\n".join(_stat_line(str(p)) for p in [*tree, *map(Path, _compiler(headers))])


# ---- writing a grade's secrets into an object (pure) ---------------------------


def _symbols(data: bytes) -> tuple[list[int], bool]:
    """File offsets of the shim's key variables (stand-in names) in an object, and
    whether it defines any wrapper (only then does it write records, with the nonce)."""
    wanted = {f"{p}{TOKEN_STAND_IN}" for p in KEY_PREFIXES}
    offsets = []
    wrappers = False
    try:
        elf = ELFFile(io.BytesIO(data))
        symtab = elf.get_section_by_name(".symtab")
        if not isinstance(symtab, SymbolTableSection):
            raise ShimPatchError("the shim object has no symbol table")
        for sym in symtab.iter_symbols():
            defined = isinstance(sym["st_shndx"], int)
            wrappers = wrappers or (defined and sym.name.startswith("__wrap_"))
            if sym.name in wanted and defined:
                section = elf.get_section(sym["st_shndx"])
                if section["sh_type"] != "SHT_PROGBITS" or sym["st_size"] != 4:
                    raise ShimPatchError(f"{sym.name} is not a 4-byte variable in the file")
                offsets.append(section["sh_offset"] + sym["st_value"])
    except (ELFError, ValueError, EOFError, struct.error) as e:
        raise ShimPatchError(f"the shim object is not a readable ELF file: {e}") from e
    if len(offsets) != len(wanted):
        raise ShimPatchError("the shim object lacks its key variables")
    return offsets, wrappers


def patch_secrets(data: bytes, *, nonce: str, token: str, key: int) -> bytes:
    """The object `data` (compiled with the stand-ins) with a grade's secrets. Pure.

    Raises ShimPatchError unless every stand-in is found, replaced, and none is left.
    """
    if len(nonce) != NONCE_LENGTH or len(token) != TOKEN_LENGTH:
        raise ShimPatchError("the nonce or token is not as long as its stand-in")
    if not 0 < key < 1 << 32:
        raise ShimPatchError("the key must be a non-zero 32-bit value")
    pairs = ((NONCE_STAND_IN.encode(), nonce.encode()), (TOKEN_STAND_IN.encode(), token.encode()))
    offsets, wrappers = _symbols(data)
    counts = {}
    for (stand_in, real), needed in zip(pairs, (wrappers, True), strict=True):
        counts[real] = data.count(stand_in) + data.count(real)
        # A shim without wrappers writes no record: the compiler drops the nonce.
        if needed and not data.count(stand_in):
            raise ShimPatchError(f"the shim object does not hold {stand_in.decode()}")
    out = bytearray(data)
    for offset in offsets:
        if int.from_bytes(out[offset : offset + 4], "little") != KEY_STAND_IN:
            raise ShimPatchError("a key variable does not hold the stand-in key")
        out[offset : offset + 4] = key.to_bytes(4, "little")
    for stand_in, real in pairs:
        out = bytearray(bytes(out).replace(stand_in, real))
    for stand_in, real in pairs:
        if stand_in in out or out.count(real) != counts[real]:
            raise ShimPatchError(f"{stand_in.decode()} was not replaced everywhere")
    # The key is only ever in those variables (not an immediate in the code).
    if data.count(KEY_STAND_IN.to_bytes(4, "little")) != len(offsets):
        raise ShimPatchError("the stand-in key is held outside the key variables")
    return bytes(out)


# ---- the store -------------------------------------------------------------------


@dataclass(frozen=True)
class ShimCache:
    """A folder of compiled shim objects, one per entry_key; only kmodlab writes it."""

    root: Path

    @classmethod
    def default(cls) -> ShimCache | None:
        """$KMODLAB_SHIM_CACHE (a folder, or "off": none), else the user's own cache
        ($KMODLAB_HOME/shims), else a folder of this process."""
        chosen = os.environ.get(CACHE_ENV, "").strip()
        if chosen == "off":
            return None
        if chosen:
            folder = Path(chosen).expanduser()
            if not _usable(folder):
                raise SetupError(
                    f"{CACHE_ENV}={chosen} is not a folder only this user can write",
                    f"create it (mkdir -m 755) or unset {CACHE_ENV}",
                )
            return ShimCache(folder)
        return _default_cache()

    def path(self, key: str) -> Path:
        return self.root / f"{key}.o"

    def get(self, key: str) -> bytes | None:
        try:
            fd = os.open(self.path(key), os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return None
        with os.fdopen(fd, "rb") as f:
            return f.read()

    def put(self, key: str, data: bytes) -> None:
        """Store an entry: a unique temporary name, then renamed into place."""
        atomic_write(self.path(key), data)

    @contextlib.contextmanager
    def filling(self, key: str) -> Iterator[None]:
        """Held while an entry is looked up and, if missing, compiled: a second grade
        (thread or process) that needs the same entry waits, then finds it."""
        fd = os.open(self.root / f".{key}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def _usable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o755)
        st = folder.lstat()
    except OSError:
        return False
    return (
        st.st_uid == os.geteuid()
        and not st.st_mode & 0o022
        and os.access(folder, os.W_OK | os.X_OK)
        and not folder.is_symlink()
    )


@functools.cache
def _default_cache() -> ShimCache:
    from kmodlab.paths import home

    own = home() / SHIM_DIR
    if _usable(own):
        return ShimCache(own)
    # No cache of one's own to write (a read-only home): one for this process.
    tmp = Path(tempfile.mkdtemp(prefix="kmodlab-shims-"))
    atexit.register(shutil.rmtree, tmp, True)
    return ShimCache(tmp)


# ---- compiling -------------------------------------------------------------------


def clean_compile(
    shim: bytes,
    header: bytes,
    *,
    stem: str,
    header_name: str,
    ccflags: Sequence[str],
    headers: Path,
    allow_unsandboxed: bool = False,
    memory: MemoryCap | None = None,
) -> tuple[bytes | None, BuildResult]:
    """Compile the shim alone in a new folder that holds only kmodlab's files.

    The folder is a module of its own (obj-m := <stem>.o) built with compile_only:
    the same kbuild command line as any module's object, with kmodlab's flags
    and none of a student's. Returns (the object's bytes or None, the build).
    """
    with tempfile.TemporaryDirectory(prefix="kmodlab-clean-") as tmp:
        sub = Submission(Path(tmp) / "shim", {f"{stem}.c": shim})
        result = build_submission(
            sub,
            headers=headers,
            out_dir=Path(tmp),
            allow_unsandboxed=allow_unsandboxed,
            extra_files={header_name: header},
            extra_ccflags=(*ccflags, *CLEAN_CCFLAGS),
            compile_only=True,
            memory=memory,
        )
        obj = result.build_dir / f"{stem}.o"
        data = obj.read_bytes() if result.ok and obj.is_file() else None
    return data, result
