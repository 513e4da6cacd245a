"""The shim cache's pure parts: the entry's key, and writing a grade's secrets into a
copy of a compiled shim (on small ELF objects made here, shaped as the shim's)."""

from __future__ import annotations

import struct
import threading
from pathlib import Path

import pytest

from kmodlab.build.builder import PREBUILT_CMD, _write_tree, plan_build
from kmodlab.build.objm import module_specs
from kmodlab.build.validate import Submission
from kmodlab.grader.collection.shimcache import (
    KEY_STAND_IN,
    NONCE_STAND_IN,
    TOKEN_STAND_IN,
    ShimCache,
    ShimPatchError,
    entry_key,
    patch_secrets,
)

NONCE, TOKEN, KEY = "0011223344556677", "a1b2c3d4e5f6", 0x8BADF00D


def elf_object(symbols: dict[str, bytes], strings: bytes = b"", *, wrapper: bool = True) -> bytes:
    """An x86-64 relocatable object: each symbol a variable in .data holding its bytes,
    `strings` in .rodata.str1.1, and (wrapper) a function __wrap_kfree."""
    data = b"".join(symbols.values())
    names = [*symbols, *(["__wrap_kfree"] if wrapper else [])]
    strtab = b"\0" + b"".join(n.encode() + b"\0" for n in names)
    syms = [bytes(24)]
    value, at = 0, 1
    for name in names:
        size = len(symbols.get(name, b""))
        info = 0x01 if name in symbols else 0x12  # local object / global function
        syms.append(struct.pack("<IBBHQQ", at, info, 0, 1, value, size))
        value, at = value + size, at + len(name) + 1
    symtab = b"".join(syms)
    shstr = b"\0.data\0.rodata.str1.1\0.symtab\0.strtab\0.shstrtab\0"
    bodies = [data, strings, symtab, strtab, shstr]
    offsets, off = [], 64
    for body in bodies:
        offsets.append(off)
        off += len(body)
    shoff = off
    headers = [bytes(64)]
    spec = [  # name offset, type, flags, link, info, entsize
        (1, 1, 3, 0, 0, 0),
        (7, 1, 0x32, 0, 0, 1),
        (22, 2, 0, 4, 1 + len(symbols), 24),
        (30, 3, 0, 0, 0, 0),
        (38, 3, 0, 0, 0, 0),
    ]
    for (name, kind, flags, link, info, entsize), body, offset in zip(
        spec, bodies, offsets, strict=True
    ):
        fields = (name, kind, flags, 0, offset, len(body), link, info, 1, entsize)
        headers.append(struct.pack("<IIQQQQIIQQ", *fields))
    ident = b"\x7fELF\x02\x01\x01" + bytes(9)
    elf_header = ident + struct.pack(
        "<HHIQQQIHHHHHH", 1, 62, 1, 0, 0, shoff, 0, 64, 0, 0, 64, len(headers), 5
    )
    return elf_header + b"".join(bodies) + b"".join(headers)


def shim_like(**kw) -> bytes:
    key = KEY_STAND_IN.to_bytes(4, "little")
    return elf_object(
        {f"kfi_arm_{TOKEN_STAND_IN}": key, f"kfi_key_{TOKEN_STAND_IN}": key},
        f"%s %u mod=%s\0{NONCE_STAND_IN}\0kmodlab_fi_{TOKEN_STAND_IN}_0.c\0".encode(),
        **kw,
    )


def test_patched_copy_holds_the_grades_secrets_and_no_stand_in():
    """Does a patched copy hold the grade's nonce, token (in names and strings) and key
    (in both key variables), and not one byte of a stand-in?"""
    out = patch_secrets(shim_like(), nonce=NONCE, token=TOKEN, key=KEY)
    assert NONCE_STAND_IN.encode() not in out and TOKEN_STAND_IN.encode() not in out
    assert KEY_STAND_IN.to_bytes(4, "little") not in out
    assert out.count(NONCE.encode()) == 1
    assert f"kfi_arm_{TOKEN}\0kfi_key_{TOKEN}".encode() in out
    assert f"kmodlab_fi_{TOKEN}_0.c".encode() in out
    assert out.count(KEY.to_bytes(4, "little")) == 2
    assert len(out) == len(shim_like())


def test_two_grades_get_different_bytes_from_one_entry():
    """Do two grades' copies of one entry differ in their secrets, and only there?"""
    entry = shim_like()
    a = patch_secrets(entry, nonce=NONCE, token=TOKEN, key=KEY)
    b = patch_secrets(entry, nonce="8899aabbccddeeff", token="0f1e2d3c4b5a", key=0x12345679)
    assert a != b and len(a) == len(b)
    assert b"8899aabbccddeeff" in b and NONCE.encode() not in b


@pytest.mark.parametrize(
    "secrets",
    [
        dict(nonce="00112233", token=TOKEN, key=KEY),  # a nonce shorter than its stand-in
        dict(nonce=NONCE, token="abc", key=KEY),
        dict(nonce=NONCE, token=TOKEN, key=0),
    ],
)
def test_secrets_of_another_shape_are_refused(secrets):
    """Is a nonce or token of another length than its stand-in, or a zero key, refused
    (the caller then compiles the shim with the real secrets)?"""
    with pytest.raises(ShimPatchError):
        patch_secrets(shim_like(), **secrets)


def test_an_entry_missing_a_stand_in_is_refused():
    """Is an object whose wrappers write records but whose nonce stand-in is missing
    (compiled from another text) refused rather than linked with no nonce?"""
    key = KEY_STAND_IN.to_bytes(4, "little")
    entry = elf_object(
        {f"kfi_arm_{TOKEN_STAND_IN}": key, f"kfi_key_{TOKEN_STAND_IN}": key}, b"no nonce\0"
    )
    with pytest.raises(ShimPatchError, match=NONCE_STAND_IN):
        patch_secrets(entry, nonce=NONCE, token=TOKEN, key=KEY)
    # A shim without a wrapper writes no record: the compiler drops its nonce.
    bare = elf_object(
        {f"kfi_arm_{TOKEN_STAND_IN}": key, f"kfi_key_{TOKEN_STAND_IN}": key},
        b"no nonce\0",
        wrapper=False,
    )
    assert TOKEN.encode() in patch_secrets(bare, nonce=NONCE, token=TOKEN, key=KEY)


def test_a_key_left_in_the_code_or_a_missing_key_variable_is_refused():
    """Is an object refused whose stand-in key is also held outside the key variables
    (an immediate the patch would miss), or that lacks one key variable?"""
    key = KEY_STAND_IN.to_bytes(4, "little")
    extra = elf_object(
        {f"kfi_arm_{TOKEN_STAND_IN}": key, f"kfi_key_{TOKEN_STAND_IN}": key},
        f"{NONCE_STAND_IN}\0".encode() + key,
    )
    with pytest.raises(ShimPatchError, match="outside"):
        patch_secrets(extra, nonce=NONCE, token=TOKEN, key=KEY)
    one = elf_object({f"kfi_arm_{TOKEN_STAND_IN}": key}, f"{NONCE_STAND_IN}\0".encode())
    with pytest.raises(ShimPatchError, match="key variables"):
        patch_secrets(one, nonce=NONCE, token=TOKEN, key=KEY)


def test_a_damaged_entry_is_refused():
    """Is a truncated or non-ELF entry refused with ShimPatchError (then compiled again)?"""
    for data in (shim_like()[:100], b"not an object " + NONCE_STAND_IN.encode()):
        with pytest.raises(ShimPatchError):
            patch_secrets(data, nonce=NONCE, token=TOKEN, key=KEY)


def test_a_token_that_collides_with_the_nonce_is_refused():
    """Is a token found inside the grade's nonce (its count would not add up) refused
    rather than trusted?"""
    with pytest.raises(ShimPatchError, match="replaced everywhere"):
        patch_secrets(shim_like(), nonce="a1b2c3d4e5f60000", token=TOKEN, key=KEY)


BASE = dict(
    kernel="headers 1 2 3\ngcc-12 4 5 6",
    shim=b"shim text",
    header=b"header text",
    wraps=["kfree", "kmalloc_trace"],
    ccflags=["-include $(src)/kmodlab_fi.h", "-Wno-error"],
)


def test_entry_key_is_stable_and_names_every_input():
    """Is the key the same for the same inputs (wrappers in any order), and different
    when the kernel, either text, the wrapper set or a flag differs?"""
    key = entry_key(**BASE)
    assert key == entry_key(**{**BASE, "wraps": ["kmalloc_trace", "kfree"]})
    changed = [
        {"kernel": "headers 1 2 4\ngcc-12 4 5 6"},
        {"shim": b"shim text "},
        {"header": b"header text "},
        {"wraps": ["kfree"]},
        {"ccflags": ["-include $(src)/kmodlab_fi.h"]},
    ]
    assert len({key, *(entry_key(**{**BASE, **c}) for c in changed)}) == 1 + len(changed)


def test_cache_entries_are_renamed_into_place_and_never_followed(tmp_path):
    """Does put leave the whole entry and no temporary file, and get refuse to follow a
    link planted at an entry's name?"""
    cache = ShimCache(tmp_path)
    cache.put("k1", b"object")
    assert cache.get("k1") == b"object"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k1.o"]
    (tmp_path / "secret").write_bytes(b"not an entry")
    (tmp_path / "k2.o").symlink_to(tmp_path / "secret")
    assert cache.get("k2") is None


def test_filling_one_entry_is_one_at_a_time(tmp_path):
    """Do two threads that fill the same entry take turns (the second finds it made)?"""
    cache, made, inside = ShimCache(tmp_path), [], []

    def fill():
        with cache.filling("k"):
            inside.append(1)
            assert len(inside) == 1
            if cache.get("k") is None:
                made.append(1)
                cache.put("k", b"x")
            inside.pop()

    threads = [threading.Thread(target=fill) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert made == [1] and cache.get("k") == b"x"


def test_a_prebuilt_object_gets_a_cmd_file_for_modpost():
    """Does an extra object given as a .o (no source) get the .cmd file modpost reads,
    and one given as a .c not?"""
    sub = Submission(Path("/nowhere"), {"two.c": b"int x;\n"})
    spec = module_specs(sub.files)
    plan = plan_build(
        sub, spec, extra_files={"shim.o": b"\x7fELF", "other.c": b""},
        extra_objs={"two": ["shim.o", "other.o"]},
    )  # fmt: skip
    assert plan.files[".shim.o.cmd"] == PREBUILT_CMD
    assert ".other.o.cmd" not in plan.files


def test_writing_the_build_folder_replaces_a_link_instead_of_following_it(tmp_path):
    """Does a rebuild in place replace a link an earlier build left at a file's name,
    leaving the file it pointed at untouched?"""
    outside = tmp_path / "outside"
    outside.write_bytes(b"host file")
    build = tmp_path / "build"
    build.mkdir()
    (build / "shim.o").symlink_to(outside)
    _write_tree(build, {"shim.o": b"object"})
    assert outside.read_bytes() == b"host file"
    assert not (build / "shim.o").is_symlink() and (build / "shim.o").read_bytes() == b"object"


def test_the_default_cache_is_the_users_own_or_what_the_variable_names(tmp_path, monkeypatch):
    """Is the default cache $KMODLAB_SHIM_CACHE's folder when set ("off": none), and a
    folder others can write refused with the fix named?"""
    from kmodlab.errors import SetupError
    from kmodlab.grader.collection.shimcache import CACHE_ENV

    monkeypatch.setenv(CACHE_ENV, "off")
    assert ShimCache.default() is None
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "mine"))
    assert ShimCache.default() == ShimCache(tmp_path / "mine")
    assert (tmp_path / "mine").is_dir()
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv(CACHE_ENV, str(shared))
    with pytest.raises(SetupError, match=CACHE_ENV):
        ShimCache.default()
