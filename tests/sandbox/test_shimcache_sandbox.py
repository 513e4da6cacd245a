"""The shim cache for real in the sandbox: a class's grades link one compiled shim,
each with its own secrets, and nothing of a student's reaches it."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from kmodlab.build import build_submission
from kmodlab.grader.collection.instrument import (
    HEADER,
    INSTRUMENT_CCFLAGS,
    SHIM_PREFIX,
    _shim_text,
    header_source,
    instrumented_build,
    shim_source,
)
from kmodlab.grader.collection.shimcache import (
    KEY_STAND_IN,
    NONCE_STAND_IN,
    SHIM_DEBUG_DIR,
    TOKEN_STAND_IN,
    ShimCache,
    clean_compile,
    patch_secrets,
)
from tests.sandbox.test_speed_build import ALLOC  # a module with one allocation

pytestmark = [pytest.mark.sandbox, pytest.mark.usefixtures("require_sandbox")]

WRAPS = ["__kmalloc_node_track_caller", "kfree", "kmalloc_trace"]  # what ALLOC imports
MARK = b"PWNED-BY-STUDENT"
# A student's Kbuild whose flags reach whatever is compiled in their folder: a header
# folder put on the include path, with a linux/hash.h that adds a string and then
# includes the real one, and -D flags that make the shim include interrupt.h (whose
# include guard they also set), so that a shim compiled there does not compile at all.
ATTACK = {
    "two.c": ALLOC,
    "Kbuild": "obj-m := two.o\n"
    "ccflags-y += -I$(src)/inc -D_LINUX_INTERRUPT_H -DKFI_W_request_threaded_irq\n",
    "inc/linux/hash.h": "#include_next <linux/hash.h>\n"
    f'static const char kfi_pwned[] __attribute__((used)) = "{MARK.decode()}";\n',
}


def _write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def _entries(cache: ShimCache) -> list[Path]:
    return sorted(p for p in cache.root.iterdir() if not p.name.startswith("."))


def _loaded(obj: bytes | Path) -> dict[str, bytes]:
    """The sections a module loads (no debug info, no symbol or relocation tables)."""
    data = obj if isinstance(obj, bytes) else obj.read_bytes()
    elf = ELFFile(io.BytesIO(data))
    return {s.name: s.data() for s in elf.iter_sections() if s["sh_flags"] & 0x2}  # SHF_ALLOC


def test_a_students_flags_and_headers_never_reach_a_cached_shim(tmp_path, kbuild_dir):
    """Does a submission whose Kbuild puts its own linux/hash.h on the include path and
    -D flags that break the shim leave the shim another grade links as a clean compile
    makes it, and its own instrumented build working? (Control: the same flags do
    break a shim compiled in the student's folder, as kmodlab did before.)"""
    attacker = _write(tmp_path / "attacker", ATTACK)
    honest = _write(tmp_path / "honest", {"two.c": ALLOC})
    token, nonce = "c0ffee000001", "00112233445566aa"
    stem = f"{SHIM_PREFIX}{token}_0"
    old_shim = shim_source(nonce, token, 7, WRAPS)
    control = build_submission(
        attacker,
        headers=kbuild_dir,
        out_dir=tmp_path / "control",
        extra_files={HEADER: header_source(token), f"{stem}.c": old_shim},
        extra_ccflags=INSTRUMENT_CCFLAGS,
        extra_objs={"two": [stem]},
    )
    assert not control.ok and any("irq_handler_t" in d.message for d in control.errors)

    cache = ShimCache(tmp_path / "cache")
    cache.root.mkdir()
    first, _ = instrumented_build(
        attacker, headers=kbuild_dir, out_dir=tmp_path / "a", shim_cache=cache
    )
    assert first.ok, first.log
    [entry] = _entries(cache)
    filled = entry.read_bytes()
    second, _ = instrumented_build(
        honest, headers=kbuild_dir, out_dir=tmp_path / "b", shim_cache=cache
    )
    assert second.ok, second.log
    assert _entries(cache) == [entry] and entry.read_bytes() == filled  # a hit, not a refill

    reference = ShimCache(tmp_path / "reference")
    reference.root.mkdir()
    alone, _ = instrumented_build(
        honest, headers=kbuild_dir, out_dir=tmp_path / "c", shim_cache=reference
    )
    assert alone.ok, alone.log
    [clean] = _entries(reference)
    assert _loaded(filled) == _loaded(clean)
    for obj in (filled, first.modules[0].ko.read_bytes(), second.modules[0].ko.read_bytes()):
        assert MARK not in obj
    assert b"__wrap_request_threaded_irq" not in filled


def test_a_patched_entry_is_the_object_compiled_with_those_secrets(tmp_path, kbuild_dir):
    """Is a cached object with a grade's secrets written in the very object (every
    section a module loads) that compiling the shim with those secrets makes?"""
    wraps = [*WRAPS, "kstrdup", "misc_register", "misc_deregister", "proc_create"]
    common = dict(header_name=HEADER, ccflags=INSTRUMENT_CCFLAGS, headers=kbuild_dir)
    entry, built = clean_compile(
        _shim_text(NONCE_STAND_IN, TOKEN_STAND_IN, KEY_STAND_IN, wraps),
        header_source(TOKEN_STAND_IN),
        stem=f"{SHIM_PREFIX}{TOKEN_STAND_IN}_0",
        **common,
    )
    assert entry is not None, built.log
    token, nonce, key = "a1b2c3d4e5f6", "00aa11bb22cc33dd", 0x8BADF00D
    direct, built = clean_compile(
        shim_source(nonce, token, key, wraps),
        header_source(token),
        stem=f"{SHIM_PREFIX}{token}_0",
        **common,
    )
    assert direct is not None, built.log
    patched = patch_secrets(entry, nonce=nonce, token=token, key=key)
    assert _loaded(patched) == _loaded(direct)
    assert len(patched) == len(direct)
    # Its debug info names the shim by a fixed folder, not the clean folder it was made in.
    assert f"{SHIM_DEBUG_DIR}/{SHIM_PREFIX}{token}_0.c".encode() in patched
    assert b"kmodlab-clean-" not in patched


def _arm_bytes(ko: Path) -> tuple[str, bytes]:
    with ko.open("rb") as f:
        elf = ELFFile(f)
        for sym in elf.get_section_by_name(".symtab").iter_symbols():
            if sym.name.startswith("kfi_arm_"):
                section = elf.get_section(sym["st_shndx"])
                return sym.name, section.data()[sym["st_value"] : sym["st_value"] + 4]
    raise AssertionError("no kfi_arm_ symbol")


def test_two_grades_at_once_share_one_entry_with_their_own_secrets(tmp_path, kbuild_dir):
    """Do two grades of the same module, run at once on an empty cache, both build, fill
    one entry (no temporary file left), and get different nonce, token and key bytes in
    their .ko, with no stand-in left in either?"""
    src = _write(tmp_path / "src", {"two.c": ALLOC})
    cache = ShimCache(tmp_path / "cache")
    cache.root.mkdir()

    def grade(n: int):
        return instrumented_build(
            src, headers=kbuild_dir, out_dir=tmp_path / f"out{n}", shim_cache=cache
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        (a, nonce_a), (b, nonce_b) = pool.map(grade, (1, 2))
    assert a.ok and b.ok, a.log + b.log
    assert len(_entries(cache)) == 1
    assert not [p for p in cache.root.iterdir() if p.name.endswith(".tmp")]
    ko_a, ko_b = a.modules[0].ko.read_bytes(), b.modules[0].ko.read_bytes()
    assert nonce_a != nonce_b
    assert nonce_a.encode() in ko_a and nonce_b.encode() not in ko_a
    assert nonce_b.encode() in ko_b and nonce_a.encode() not in ko_b
    (name_a, key_a), (name_b, key_b) = _arm_bytes(a.modules[0].ko), _arm_bytes(b.modules[0].ko)
    assert name_a != name_b and key_a != key_b
    for ko in (ko_a, ko_b):
        for stand_in in (NONCE_STAND_IN.encode(), TOKEN_STAND_IN.encode()):
            assert stand_in not in ko
        assert KEY_STAND_IN.to_bytes(4, "little") not in ko


def test_a_damaged_entry_is_compiled_again(tmp_path, kbuild_dir):
    """Does a grade that finds a cache entry its secrets cannot be written into (here,
    overwritten with other bytes) still build, and leave a good entry in its place?"""
    src = _write(tmp_path / "src", {"two.c": ALLOC})
    cache = ShimCache(tmp_path / "cache")
    cache.root.mkdir()
    first, _ = instrumented_build(src, headers=kbuild_dir, out_dir=tmp_path / "a", shim_cache=cache)
    assert first.ok, first.log
    [entry] = _entries(cache)
    good = entry.read_bytes()
    entry.write_bytes(b"\x7fELF damaged " + NONCE_STAND_IN.encode())
    again, _ = instrumented_build(src, headers=kbuild_dir, out_dir=tmp_path / "b", shim_cache=cache)
    assert again.ok, again.log
    assert _entries(cache) == [entry] and _loaded(entry) == _loaded(good)


def test_a_shim_that_does_not_compile_fails_only_the_instrumented_build(
    tmp_path, kbuild_dir, monkeypatch
):
    """When kmodlab's own shim cannot be compiled (a kernel it does not fit), is the
    instrumented build a failed result that says so (the grade then runs the plain
    build), not an exception, with no entry kept?"""
    from kmodlab.grader.collection import shimcache

    real = shimcache.clean_compile

    def broken(shim: bytes, header: bytes, **kw):
        return real(shim + b"\n#error this kernel has no such API\n", header, **kw)

    monkeypatch.setattr(shimcache, "clean_compile", broken)
    src = _write(tmp_path / "src", {"two.c": ALLOC})
    cache = ShimCache(tmp_path / "cache")
    cache.root.mkdir()
    result, _ = instrumented_build(
        src, headers=kbuild_dir, out_dir=tmp_path / "a", shim_cache=cache
    )
    assert not result.ok and result.modules == []
    assert any("shim did not compile" in d.message for d in result.errors), result.diagnostics
    assert _entries(cache) == []
