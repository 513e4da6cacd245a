"""make's command line for a compile-only build: the student's objects as single targets."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmodlab.build.builder import make_argv, plan_build, student_objects
from kmodlab.build.objm import module_specs
from kmodlab.build.validate import Submission


def test_objects_replace_the_modules_target():
    """Does a compile-only command name the objects and neither `modules` nor modpost's
    NOFINAL, while the ordinary command still builds the modules?"""
    argv = make_argv(Path("/k"), Path("/b"), objects=["a.o", "sub/b.o"])
    assert argv[-2:] == ["a.o", "sub/b.o"]
    assert "modules" not in argv and not any(a.startswith("KBUILD_MODPOST") for a in argv)
    assert make_argv(Path("/k"), Path("/b"))[-1] == "modules"


@pytest.mark.parametrize("bad", ["-f/etc/passwd.o", "a.c", "../x.o", "a b.o", "V=1"])
def test_a_target_that_is_not_a_plain_object_is_refused(bad):
    """Is a target that make could read as an option, a variable or a path outside refused?"""
    with pytest.raises(ValueError):
        make_argv(Path("/k"), Path("/b"), objects=[bad])


def test_student_objects_leave_out_the_callers_extra_objects():
    """Are the student's objects (through the wrapper of a one-file module) the targets,
    each once, and never the caller's extra objects?"""
    files = {"a.c": b"", "b.c": b"", "n.c": b"", "Makefile": b"obj-m := m.o n.o\nm-y := a.o b.o\n"}
    sub = Submission(Path("/s"), files)
    spec = module_specs(files, kbuild=None, makefile=files["Makefile"].decode())
    plan = plan_build(sub, spec, extra_files={"x.c": b""}, extra_objs={"m": ["x.o"], "n": ["x.o"]})
    assert student_objects(plan) == ["a.o", "b.o", "n_kmodlab_main.o"]


def test_a_first_pass_skips_the_exported_static_check_the_plain_build_runs():
    """Do objects compiled alone (the instrumented first pass) skip check-local-export,
    while a modules build (the plain one) keeps it?"""
    assert "cmd_check_local_export=" in make_argv(Path("/k"), Path("/b"), objects=["a.o"])
    assert "cmd_check_local_export=" not in make_argv(Path("/k"), Path("/b"))


def test_pahole_flags_are_given_as_the_script_would_print_them(monkeypatch):
    """Without pahole, is PAHOLE_FLAGS set empty on make's command line (what
    scripts/pahole-flags.sh prints), and left to the script when pahole exists?"""
    import kmodlab.build.builder as builder

    monkeypatch.setattr(builder.shutil, "which", lambda name, path=None: None)
    assert "PAHOLE_FLAGS=" in make_argv(Path("/k"), Path("/b"))
    monkeypatch.setattr(builder.shutil, "which", lambda name, path=None: "/usr/bin/pahole")
    assert not any(a.startswith("PAHOLE_FLAGS") for a in make_argv(Path("/k"), Path("/b")))
