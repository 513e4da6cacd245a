"""The self-checks' own modules: built once per kernel and source, not in every notebook kernel."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from kmodlab.course import selfcheck


@pytest.fixture
def fake_build(tmp_path, monkeypatch):
    """A lesson folder, a kernel, and a build that counts its calls (writes .ko files)."""
    modules = tmp_path / "modules"
    (modules / "lesson").mkdir(parents=True)
    (modules / "lesson" / "secret.c").write_text("int x;\n")
    (modules / "lesson" / "held.c").write_text("int y;\n")
    monkeypatch.setattr(selfcheck, "MODULES", modules)
    monkeypatch.setattr(selfcheck, "_built", {})
    monkeypatch.setenv("KMODLAB_HOME", str(tmp_path / "home"))
    headers = tmp_path / "headers"
    headers.mkdir()
    monkeypatch.setattr("kmodlab.paths.current_kernel", lambda: SimpleNamespace(headers=headers))
    calls: list[Path] = []

    def build(src: Path, *, headers: Path, out_dir: Path):
        calls.append(src)
        out_dir.mkdir(parents=True, exist_ok=True)
        mods = []
        for c in sorted(src.glob("*.c")):
            ko = out_dir / f"{c.stem}.ko"
            ko.write_bytes(b"\x7fELF" + c.read_bytes())
            mods.append(SimpleNamespace(name=c.stem, ko=ko))
        return SimpleNamespace(ok=True, modules=mods, log="")

    monkeypatch.setattr("kmodlab.build.build_submission", build)
    return modules, calls


def test_a_second_notebook_kernel_reuses_the_built_modules(fake_build, monkeypatch):
    """Does a new process (empty per-process memo) find the modules built before, unbuilt?"""
    _modules, calls = fake_build
    first = selfcheck._build("lesson")
    assert sorted(first) == ["held", "secret"] and len(calls) == 1
    monkeypatch.setattr(selfcheck, "_built", {})  # as in another notebook kernel
    again = selfcheck._build("lesson")
    assert again == first and len(calls) == 1
    assert again["secret"].read_bytes() == b"\x7fELFint x;\n"


def test_a_changed_source_or_an_unfinished_folder_is_built_again(fake_build, monkeypatch):
    """Is the cache keyed on the sources, and is a folder without its last file never used?"""
    modules, calls = fake_build
    first = selfcheck._build("lesson")
    (modules / "lesson" / "secret.c").write_text("int changed;\n")
    monkeypatch.setattr(selfcheck, "_built", {})
    changed = selfcheck._build("lesson")
    assert len(calls) == 2 and changed["secret"].parent != first["secret"].parent
    assert changed["secret"].read_bytes() == b"\x7fELFint changed;\n"
    (changed["secret"].parent / selfcheck._COMPLETE).unlink()  # as if cut short
    monkeypatch.setattr(selfcheck, "_built", {})
    selfcheck._build("lesson")
    assert len(calls) == 3


# -- facts about kmodlab's own modules: measured in a fresh guest once ------------
@pytest.fixture
def guests(fake_build, monkeypatch):
    """Fresh guests that count themselves; .logs is what secret.ko logs in them."""

    class Guests:
        started = 0
        logs = [selfcheck.SECRET_LINE]
        taint = "POE\n"

    class Session:
        guest = SimpleNamespace(put=lambda path, data: None)

        def __enter__(self):
            Guests.started += 1
            return self

        def __exit__(self, *exc):
            return False

        def sh(self, command, timeout_s=30):
            if command.startswith("insmod"):
                kmsg = [SimpleNamespace(level=5, text=t) for t in Guests.logs]
                return SimpleNamespace(ok=True, stdout="", kmsg=kmsg)
            return SimpleNamespace(ok=True, stdout=Guests.taint, kmsg=[])

    monkeypatch.setattr(selfcheck, "_fresh_guest", Session)
    return Guests


def verdict(level, taint) -> str:
    try:
        selfcheck.secret_reading(level=level, taint=taint)
    except AssertionError as e:
        return str(e)
    return "passed"


def test_facts_are_measured_in_one_fresh_guest_then_read(guests, monkeypatch):
    """Does a second check, in another notebook kernel, judge without starting a guest?"""
    assert verdict(5, "POE") == "passed" and guests.started == 1
    monkeypatch.setattr(selfcheck, "_built", {})
    assert verdict(5, "POE") == "passed"
    assert "pr_info's level" in verdict(6, "POE")
    assert guests.started == 1


def test_a_failed_measurement_is_judged_but_never_kept(guests):
    guests.logs = []  # the guest did not log secret's line
    assert verdict(5, "POE") != "passed" and guests.started == 1
    guests.logs = [selfcheck.SECRET_LINE]
    assert verdict(5, "POE") == "passed" and guests.started == 2


def test_a_changed_module_or_a_damaged_file_is_measured_again(guests, fake_build, monkeypatch):
    modules, _calls = fake_build
    assert verdict(5, "POE") == "passed" and guests.started == 1
    (kept,) = selfcheck._facts_dir().glob("secret-*.json")
    kept.write_text("{not json")
    assert verdict(5, "POE") == "passed" and guests.started == 2
    (modules / "lesson" / "secret.c").write_text("int changed;\n")
    monkeypatch.setattr(selfcheck, "_built", {})
    guests.taint = "PE\n"  # the changed module's truth
    assert verdict(5, "POE") != "passed" and guests.started == 3
    assert verdict(5, "PE") == "passed" and guests.started == 3
