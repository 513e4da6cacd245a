"""Containers and other distributions' hosts: which gcc-12 builds modules Debian's kernel
loads (measured in an Ubuntu 22.04 container: tests/container/test_gradescope_container.py),
and the build check of a grade where no sandbox could be made (a default container)."""

from __future__ import annotations

from pathlib import Path

from kmodlab.doctor import compiler_verdict, compiler_versions
from kmodlab.grader.evidence import Evidence
from kmodlab.grader.verdicts import judges

CONFIG = 'CONFIG_CC_VERSION_TEXT="gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0"\n'
DEBIAN = "gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0\nCopyright (C) 2022\n"
UBUNTU = "gcc-12 (Ubuntu 12.3.0-1ubuntu1~22.04.3) 12.3.0\nCopyright (C) 2022\n"
OLDER = "gcc-12 (Debian 11.3.0-1) 11.3.0\n"  # a gcc-12 link to another major version


def test_another_release_of_the_same_gcc_major_passes_and_another_major_fails():
    """Does the doctor accept Ubuntu 22.04's gcc-12 12.3.0 for Debian's 12.2.0-built kernel
    (it builds modules that load and grade in full there), say so, and still fail a gcc of
    another major version?"""
    ok, line = compiler_verdict(*compiler_versions(CONFIG, DEBIAN))
    assert ok and "major" not in line
    ok, line = compiler_verdict(*compiler_versions(CONFIG, UBUNTU))
    assert ok and "12.3.0" in line and "same major version" in line
    ok, line = compiler_verdict(*compiler_versions(CONFIG, OLDER))
    assert not ok and line.endswith("modules may not load")
    assert not compiler_verdict("unknown", "gcc-12 (Debian) 12.2.0")[0]


def test_a_grade_with_no_sandbox_says_why_in_its_build_check():
    """When the build never ran because no sandbox could be made (a container with a
    masked /proc), does the build check say so as the grader's error, with the reason,
    instead of failing on an assertion?"""
    ev = Evidence(submission=Path("/s"))
    ev.internal_error = (
        "SandboxUnavailable: no sandbox is available to build in (bubblewrap missing or "
        "not permitted): install bubblewrap\nTraceback ..."
    )
    result = judges.judge_build(judges.Context(ev))
    assert result.status == "error" and result.score == 0
    assert "no sandbox is available to build in" in result.summary
    assert "Traceback" not in result.summary
