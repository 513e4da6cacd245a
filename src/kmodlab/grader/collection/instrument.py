"""The instrumented build: every fallible kernel call recorded, the Nth made to fail.

    result, nonce = instrumented_build(src, headers=kernel.headers, out_dir=tmp)
    session.push_modules([m.ko for m in result.modules])
    r = session.run(["insmod", "hello.ko"])                  # records every call
    armed = arm(result.modules[0].ko, 3, tmp / "armed")      # call 3 fails in this copy
    session.push_modules([armed]); session.run(["insmod", armed.name])
    events = parse_ledger(r.kmsg, nonce, build_dir=result.build_dir, kos=...)

Interception is at link level, on the module's imports: every way of
spelling a call (`kmalloc(...)`, `(kmalloc)(...)`, after `#undef`, through a
function pointer) ends in the same undefined symbol, and ld's `--wrap=SYM`
sends it to the shim's __wrap_SYM. Two kinds of file go into the build folder:

- kmodlab_fi.h, force-included (-include) into every file: macros that only
  name the call (the API as written, __FILE__:__LINE__) for the wrapper;
- one shim object per module (kmodlab_fi_<token>_<i>.o, extra_objs), holding
  the wrappers, the call counter and the record writer, with the per-build
  nonce. It is compiled elsewhere, never in the student's folder
  (shimcache.py: once per wrapper set, the secrets patched in per grade).

The build runs twice in one folder: first only the student's objects are
compiled (single kbuild targets: no shim, no modpost), then each module's
shim object is made with a wrapper for each wrappable symbol that module's
own objects import, and the modules are linked with the matching --wrap
flags; nothing is compiled in the student's folder then.
Wrapping only what is imported keeps a module's imports its own (a shim
calling every API would make a non-GPL module import GPL-only symbols).

Which call fails is never a module parameter a module could read: arm()
patches a copy of the .ko (four bytes of the shim's data) per injected load.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import secrets
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from kmodlab.build import (
    BuildResult,
    Submission,
    build_submission,
    load_submission,
    module_specs,
)
from kmodlab.build.diagnostics import Diagnostic
from kmodlab.build.memcap import MemoryCap
from kmodlab.grader.collection import shimcache
from kmodlab.grader.collection.shimcache import ShimCache

HEADER = "kmodlab_fi.h"
SHIM_TEMPLATE = "kmodlab_fi_shim.c"
NONCE_PLACEHOLDER = b"@KMODLAB_NONCE@"
TOKEN_PLACEHOLDER = b"@KMODLAB_TOKEN@"
KEY_PLACEHOLDER = b"@KMODLAB_KEY@"
WRAPS_PLACEHOLDER = b"@KMODLAB_WRAPS@"
ARM_PREFIX = "kfi_arm_"  # the shim's variable that arm() patches
SHIM_PREFIX = "kmodlab_fi_"  # the shims' file names
_NONCE = re.compile(r"^[0-9a-f]{8,64}$")
_GUARD = re.compile(rb"^#ifdef KFI_W_(\w+)$", re.M)

# Flags for every file of the instrumented build, after the student's own.
INSTRUMENT_CCFLAGS: tuple[str, ...] = (
    f"-include $(src)/{HEADER}",
    # The header includes the kernel headers before the student's first line,
    # so a student's `#define pr_fmt(...)` at the top of a file becomes a
    # "redefined" warning: it must not stop the build under a -Werror.
    "-Wno-error",
)

# Wrappers that allocate through __kmalloc_node_track_caller (so the kmem
# trace names the student's call site): they need it wrapped as well.
_TRACK_CALLER = "__kmalloc_node_track_caller"
_NEED_TRACK_CALLER = frozenset(
    {
        *("kmalloc_trace", "kmalloc_node_trace", "__kmalloc", "__kmalloc_node"),
        *("kmalloc_large", "kmalloc_large_node", "kstrdup", "kstrndup", "kmemdup"),
        *("kmemdup_nul", "kasprintf", "kvasprintf"),
    }
)

# Imports that acquire or register something: those the shim does not wrap
# are calls fault injection cannot fail ("not tested"). A pattern, not a list:
# the point is to name what the instrumentation missed.
_ACQUIRING = re.compile(
    r"(alloc|create|register|request_|kmalloc|vmalloc|get_free_page|strdup|memdup|"
    r"asprintf|mkdir|symlink|_add$|_add_|init_queue|kobject_init|ioremap|devm_)"
)
# Imports that undo something (unregister_*, *_free, ...): the undoing half of a pair.
_RELEASING = re.compile(
    r"^(un|free|destroy|remove|release|put_|del_|kill_)|_(free|destroy|remove|release|put|del)$"
)
# Imports of that shape that acquire nothing to undo (or are undone by the kernel).
_NOT_ACQUIRING = re.compile(
    r"^(__list_add_valid|add_timer|add_timer_on|add_wait_queue.*|__init_waitqueue_head|"
    r"queue_work_on|queue_delayed_work_on|mod_timer|__mutex_init|__init_rwsem|"
    r"register_sysctl.*|alloc_workqueue_attrs|__alloc_percpu|free_percpu|"
    r"kthread_create_worker.*|refcount_.*|atomic_.*|idr_alloc.*|ida_alloc_range|"
    r"__kfifo_alloc|kmalloc_caches|wake_up_process|__wake_up|init_timer_key|_dev_.*|__dynamic_.*)$"
)


def fi_source(name: str) -> bytes:
    """A file of the package's fi/ folder (the forced header or the shim template)."""
    return resources.files("kmodlab.grader").joinpath("fi", name).read_bytes()


def wrappable() -> frozenset[str]:
    """Every kernel symbol the shim has a wrapper for."""
    return frozenset(m.decode() for m in _GUARD.findall(fi_source(SHIM_TEMPLATE)))


def wraps_for(imports: Iterable[str]) -> list[str]:
    """The symbols to wrap in a module whose own objects import `imports`."""
    chosen = set(imports) & wrappable()
    if chosen & _NEED_TRACK_CALLER:
        chosen.add(_TRACK_CALLER)
    return sorted(chosen)


def _fill(template: bytes, placeholder: bytes, value: bytes, *, once: bool = True) -> bytes:
    if once and template.count(placeholder) != 1:
        raise RuntimeError(f"the fi/ template must hold {placeholder.decode()} exactly once")
    return template.replace(placeholder, value)


def header_source(token: str) -> bytes:
    """The forced header, with the hint function's random name."""
    return _fill(fi_source(HEADER), TOKEN_PLACEHOLDER, token.encode(), once=False)


def shim_source(nonce: str, token: str = "0", key: int = 0x5A5A5A5A, wraps=()) -> bytes:
    """The shim's C source with the nonce, token, key and wrapped symbols filled in."""
    if not _NONCE.match(nonce):
        raise ValueError(f"a nonce must be 8 to 64 lowercase hex digits: {nonce!r}")
    return _shim_text(nonce, token, key, wraps)


def _shim_text(nonce: str, token: str, key: int, wraps: Iterable[str]) -> bytes:
    if not 0 < key < 1 << 32:
        raise ValueError("the key must be a non-zero 32-bit value")
    text = _fill(fi_source(SHIM_TEMPLATE), NONCE_PLACEHOLDER, nonce.encode())
    text = _fill(text, KEY_PLACEHOLDER, f"{key:#010x}".encode())
    text = _fill(text, WRAPS_PLACEHOLDER, "".join(f"#define KFI_W_{s}\n" for s in wraps).encode())
    return text.replace(TOKEN_PLACEHOLDER, token.encode())


def instrumented_build(
    src: Path | Submission,
    *,
    headers: Path,
    out_dir: Path | None = None,
    nonce: str | None = None,
    allow_unsandboxed: bool = False,
    memory: MemoryCap | None = None,
    shim_cache: ShimCache | None | bool = True,
) -> tuple[BuildResult, str]:
    """Build the submission in `src` with every module instrumented; return (result, nonce).

    The nonce (random unless given) is the prefix of every record the shim
    writes: pass it to parse_ledger. Build errors are reported as by
    build_submission (result.ok is False); the instrumented build's
    diagnostics are about our header as much as the student's code, so show
    the student the diagnostics of their ordinary build instead.
    shim_cache: where compiled shims are kept (True: ShimCache.default(); False or
    None: nowhere, each grade compiles its own shims, still in a clean folder).
    """
    nonce = nonce if nonce is not None else secrets.token_hex(8)
    token = secrets.token_hex(6)
    key = secrets.randbits(31) | 1 << 31
    cache = ShimCache.default() if shim_cache is True else shim_cache or None
    # The module names are needed up front to link a shim into each one.
    sub = src if isinstance(src, Submission) else load_submission(Path(src))
    spec = module_specs(sub.files, kbuild=sub.text("Kbuild"), makefile=sub.text("Makefile"))
    # One object per module, each of its own name: kbuild links an object named in
    # two modules from one file (and compiles it with KBUILD_MODNAME "a:b").
    stems = {m.name: f"{SHIM_PREFIX}{token}_{i}" for i, m in enumerate(spec.modules)}
    common = dict(
        headers=headers,
        allow_unsandboxed=allow_unsandboxed,
        extra_ccflags=INSTRUMENT_CCFLAGS,
        extra_objs={name: [stem] for name, stem in stems.items()},
        memory=memory,
    )
    header = header_source(token)
    first = build_submission(
        sub,
        out_dir=out_dir,
        compile_only=True,  # the student's objects only: each shim is an object of ours
        extra_files={HEADER: header, **{f"{s}.o": b"" for s in stems.values()}},
        **common,
    )
    if not first.ok:
        return first, nonce
    wraps = {
        name: wraps_for(own_imports(first.build_dir, name, first.objects.get(name)))
        for name in stems
    }
    flags = sorted({f"--wrap={s}" for chosen in wraps.values() for s in chosen})
    secret = _Secrets(nonce, token, key)
    shims: dict[str, bytes] = {}
    for name, stem in stems.items():
        obj, failed = _shim_object(wraps[name], secret, cache, **common)
        if obj is None:
            return _shim_failed(first, failed), nonce
        shims[f"{stem}.o"] = obj
    result = build_submission(
        sub,
        reuse_dir=first.build_dir,
        extra_files={HEADER: header, **shims},
        ldflags=flags,
        **common,
    )
    # The compiler spoke in the first pass; the second only linked.
    seen = set(first.diagnostics)
    diagnostics = first.diagnostics + [d for d in result.diagnostics if d not in seen]
    log = first.log + result.log
    duration = first.duration_s + result.duration_s
    return dataclasses.replace(result, diagnostics=diagnostics, log=log, duration_s=duration), nonce


# ---- the shim objects -----------------------------------------------------------


@dataclass(frozen=True)
class _Secrets:
    nonce: str
    token: str
    key: int


def _shim_object(
    wraps: list[str], secret: _Secrets, cache: ShimCache | None, **common
) -> tuple[bytes | None, BuildResult | None]:
    """The shim object of one module, with this grade's secrets: the cached one for
    its wrapper set, patched; else one compiled for this grade. Never compiled in
    the student's folder (their -D and -I flags would apply to it there)."""
    build = dict(
        headers=common["headers"],
        allow_unsandboxed=common["allow_unsandboxed"],
        memory=common["memory"],
        header_name=HEADER,
        ccflags=INSTRUMENT_CCFLAGS,
    )
    if cache is not None:
        # An entry that cannot be used or kept (its secrets, the disk): compile instead.
        with contextlib.suppress(shimcache.ShimPatchError, OSError):
            data = _cached(wraps, cache, build)
            if data is not None:
                patched = shimcache.patch_secrets(
                    data, nonce=secret.nonce, token=secret.token, key=secret.key
                )
                return patched, None
    stem = f"{SHIM_PREFIX}{secret.token}_0"
    shim = _shim_text(secret.nonce, secret.token, secret.key, wraps)
    return shimcache.clean_compile(shim, header_source(secret.token), stem=stem, **build)


# Secrets of the right lengths to try a cache entry with before it is used or kept.
_TRIAL = _Secrets("fedcba9876543210", "0123456789ab", 1)


def _takes_secrets(data: bytes) -> bool:
    try:
        shimcache.patch_secrets(data, nonce=_TRIAL.nonce, token=_TRIAL.token, key=_TRIAL.key)
    except shimcache.ShimPatchError:
        return False
    return True


def _cached(wraps: list[str], cache: ShimCache, build: dict) -> bytes | None:
    """The cache's object for this wrapper set, compiled (with the stand-ins) when the
    cache has none, or one that does not take a grade's secrets."""
    token = shimcache.TOKEN_STAND_IN
    shim = _shim_text(shimcache.NONCE_STAND_IN, token, shimcache.KEY_STAND_IN, wraps)
    header = header_source(token)
    key = shimcache.entry_key(
        kernel=shimcache.kernel_fingerprint(Path(build["headers"])),
        shim=shim,
        header=header,
        wraps=wraps,
        ccflags=(*INSTRUMENT_CCFLAGS, *shimcache.CLEAN_CCFLAGS),
    )
    with cache.filling(key):
        data = cache.get(key)
        if data is not None and _takes_secrets(data):
            return data
        data, _ = shimcache.clean_compile(shim, header, stem=f"{SHIM_PREFIX}{token}_0", **build)
        if data is None or not _takes_secrets(data):
            return None
        cache.put(key, data)
        return data


def _shim_failed(first: BuildResult, failed: BuildResult | None) -> BuildResult:
    """The instrumented build's result when kmodlab's own shim did not compile."""
    why = failed.errors[0].message if failed is not None and failed.errors else "no object"
    message = f"kmodlab's fault-injection shim did not compile for this kernel: {why}"
    problem = Diagnostic(None, None, None, "error", "build-failed", message)
    log = first.log + (failed.log if failed is not None else "")
    return dataclasses.replace(
        first, ok=False, modules=[], diagnostics=[*first.diagnostics, problem], log=log
    )


# ---- what a module imports --------------------------------------------------


def _undefined(obj: Path) -> set[str]:
    with obj.open("rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        if not isinstance(symtab, SymbolTableSection):
            return set()
        return {
            s.name
            for s in symtab.iter_symbols()
            if s.name and s["st_shndx"] == "SHN_UNDEF" and s["st_info"]["bind"] != "STB_LOCAL"
        }


def module_objects(build_dir: Path, module: str, names: Iterable[str] | None = None) -> list[Path]:
    """The student's own objects of one module (kbuild lists them in <module>.mod).

    names: the module's objects as planned (BuildResult.objects), for a
    compile-only build, which writes no .mod.
    """
    if names is None:
        listing = Path(build_dir) / f"{module}.mod"
        names = listing.read_text().split() if listing.is_file() else []
    objs = [Path(build_dir) / n for n in names]
    return [o for o in objs if o.is_file() and not o.name.startswith(SHIM_PREFIX)]


def own_imports(build_dir: Path, module: str, names: Iterable[str] | None = None) -> set[str]:
    """Kernel symbols the student's objects of `module` refer to but do not define."""
    objs = module_objects(build_dir, module, names)
    defined: set[str] = set()
    undefined: set[str] = set()
    for obj in objs:
        undefined |= _undefined(obj)
        with obj.open("rb") as f:
            symtab = ELFFile(f).get_section_by_name(".symtab")
            if isinstance(symtab, SymbolTableSection):
                defined |= {s.name for s in symtab.iter_symbols() if s["st_shndx"] != "SHN_UNDEF"}
    return undefined - defined


@dataclass(frozen=True)
class ImportReport:
    """What the link-level instrumentation saw of one module's imports."""

    wrapped: tuple[str, ...]  # intercepted: counted, failed on request, recorded
    untested: tuple[str, ...]  # acquire or register something, but have no wrapper
    tampering: tuple[str, ...]  # name the instrumentation itself: no honest module does


def import_report(build_dir: Path, module: str) -> ImportReport:
    """Sort a module's own imports into wrapped, untested and tampering (see ImportReport)."""
    imports = own_imports(build_dir, module)
    wrapped = set(wraps_for(imports))
    # Hints are the header's to make; anything else of ours, or ld's wrap
    # names (a __real_kmalloc_trace is kmalloc_trace, unwrapped), is reaching in.
    ours = re.compile(r"^(__real_|__wrap_|kfi_|kmodlab_fi)")
    tampering = sorted(s for s in imports if ours.match(s) and not s.startswith("kfi_hint_"))
    untested = sorted(
        s
        for s in imports - wrapped
        if _ACQUIRING.search(s)
        and not (_NOT_ACQUIRING.match(s) or _RELEASING.search(s) or ours.match(s))
    )
    return ImportReport(tuple(sorted(wrapped)), tuple(untested), tuple(tampering))


# ---- arming a copy for one injected load --------------------------------------


def _arm_offset(elf: ELFFile) -> int:
    symtab = elf.get_section_by_name(".symtab")
    if not isinstance(symtab, SymbolTableSection):
        raise RuntimeError("the instrumented module has no symbol table")
    for sym in symtab.iter_symbols():
        if sym.name.startswith(ARM_PREFIX) and isinstance(sym["st_shndx"], int):
            section = elf.get_section(sym["st_shndx"])
            if section["sh_type"] != "SHT_PROGBITS" or sym["st_size"] != 4:
                raise RuntimeError(f"{sym.name} is not a 4-byte variable with bytes in the file")
            return section["sh_offset"] + sym["st_value"]
    raise RuntimeError("not an instrumented module: no fault-injection variable")


def arm(ko: Path, nth: int, out: Path) -> Path:
    """A copy of the instrumented `ko` at `out` whose `nth` fallible call fails (0: none).

    Loaded, it is the same module as ko in every way a module can ask
    (name, arguments, parameters); only four bytes of the shim's data differ.
    """
    if not 0 <= nth < 1 << 31:
        raise ValueError(f"not a call number: {nth}")
    data = bytearray(Path(ko).read_bytes())
    with Path(ko).open("rb") as f:
        offset = _arm_offset(ELFFile(f))
    value = int.from_bytes(data[offset : offset + 4], "little")
    data[offset : offset + 4] = (value ^ nth).to_bytes(4, "little")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(data)
    shutil.move(tmp, out)
    return out
