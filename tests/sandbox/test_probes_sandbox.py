"""Kbuild's compiler probes answered by make from set-up's answers (build/probes.py), for
real: the kernel tree set-up patched and answered, builds in the sandbox."""

from __future__ import annotations

import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import pytest

from kmodlab.build import probes
from kmodlab.build.sandbox import MINIMAL_ENV, hand_over, sandbox_argv
from tests.conftest import unavailable

pytestmark = [pytest.mark.sandbox, pytest.mark.usefixtures("require_sandbox")]

# Variables that say how make was called or that are the memo itself, not kbuild's result.
_HOW_CALLED = {"MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES", "-*-command-variables-*-", ".VARIABLES"}


def _answered_tree(headers: Path) -> dict[str, str]:
    answers = probes.answers_file(headers)
    if not probes.patched(headers) or not answers.is_file():
        unavailable(f"answered compiler probes in {headers} (an older kmodlab set it up)")
    found = dict(re.findall(r"^define (\S+)\n(.*)\nendef$", answers.read_text(), re.M))
    assert len(found) >= 20, found  # a hello build asks some thirty
    return found


def _hello(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    src = resources.files("kmodlab.examples").joinpath("hello").joinpath("hello.c")
    (folder / "hello.c").write_bytes(src.read_bytes())
    (folder / "Kbuild").write_text("obj-m := hello.o\n")
    hand_over(folder)
    return folder


def _make_database(headers: Path, folder: Path, *variables: str) -> str:
    """make -p of a hello build in the sandbox, one job (so each make's database is whole)."""
    command = ["make", "-C", str(headers), f"M={folder}", "modules", "-p", *variables]
    argv = sandbox_argv(command, build_dir=folder, headers=headers)
    done = subprocess.run(argv, env=dict(MINIMAL_ENV), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def databases(output: str) -> list[dict[str, str]]:
    """The global variables of each make in `make -p` output, with their final values."""
    found = []
    for part in output.split("\n# Variables\n")[1:]:
        section = part.split("\n# variable set hash-table stats:")[0]
        values: dict[str, str] = {}
        lines = iter(section.splitlines())
        for line in lines:
            if line.startswith("#") or not line:
                continue
            if line.startswith("define "):
                body = []
                for more in lines:
                    if more == "endef":
                        break
                    body.append(more)
                values[line[len("define ") :]] = "\n".join(body)
                continue
            m = re.match(r"(\S+) (:?=) ?(.*)", line)
            assert m, line
            values[m[1]] = f"{m[2]} {m[3]}"
        found.append(values)
    return found


def _kbuilds(database: dict[str, str]) -> dict[str, str]:
    return {
        name: value
        for name, value in database.items()
        if name not in _HOW_CALLED and not name.upper().startswith("KMODLAB")
    }


def test_cached_probes_leave_make_with_the_very_flags_kbuild_computes(tmp_path, kbuild_dir):
    """Does a hello build with set-up's answers start no probe and end, in every make, with
    the same variables (KBUILD_CFLAGS, KBUILD_AFLAGS, KBUILD_LDFLAGS, ...) as the same
    build probing the compiler itself; and does each answer equal what kbuild computes now?"""
    answers = _answered_tree(kbuild_dir)

    # The same folder both times: its path is in kbuild's variables.
    folder = _hello(tmp_path / "hello")
    log = f"{probes.LOG_VARIABLE}={folder}/probes.log"
    cached = _make_database(kbuild_dir, folder, log)
    assert not (folder / "probes.log").exists()  # every probe was answered: no shell, no gcc

    folder = _hello(tmp_path / "hello")
    probed = _make_database(kbuild_dir, folder, log, f"{probes.OFF_VARIABLE}=1")
    computed = dict(line.split(" ", 1) for line in (folder / "probes.log").read_text().splitlines())
    assert {name: computed.get(name) for name in answers} == answers

    with_cache, without = databases(cached), databases(probed)
    assert len(with_cache) == len(without) >= 2  # the top Makefile's make and Makefile.build's
    for a, b in zip(with_cache, without, strict=True):
        a, b = _kbuilds(a), _kbuilds(b)
        assert "KBUILD_CFLAGS" in a and a.keys() == b.keys()
        differing = {k: (a[k], b[k]) for k in a if a[k] != b[k]}
        assert not differing, differing
