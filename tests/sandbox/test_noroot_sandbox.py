"""The build sandbox started by an ordinary user: contained without root."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from kmodlab.build.sandbox import UNPRIVILEGED_ID, bwrap_argv, bwrap_disables_userns, host_view

pytestmark = pytest.mark.sandbox


def _as_ordinary_user(command: list[str], *, disable_userns: bool) -> subprocess.CompletedProcess:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root to become an ordinary user for the test")
    with tempfile.TemporaryDirectory(prefix="kmodlab-user-") as tmp:
        build_dir = Path(tmp)
        build_dir.chmod(0o755)
        os.chown(build_dir, UNPRIVILEGED_ID, UNPRIVILEGED_ID)
        argv = bwrap_argv(
            command,
            build_dir=build_dir,
            kernel_tree=Path("/"),
            view=host_view(),
            drop_to=None,
            disable_userns=disable_userns,
        )
        as_user = ["setpriv", f"--reuid={UNPRIVILEGED_ID}", f"--regid={UNPRIVILEGED_ID}"]
        done = subprocess.run(
            [*as_user, "--clear-groups", *argv], capture_output=True, text=True, timeout=60
        )
    if "No permissions to create new namespace" in done.stderr:
        pytest.skip("unprivileged user namespaces are disabled here")
    return done


def test_an_ordinary_users_build_cannot_make_a_nested_user_namespace():
    """Started by an ordinary user, is a build refused a nested user namespace (which would
    give it capabilities again), while the same sandbox without the flag allows one?"""
    if not bwrap_disables_userns():
        pytest.skip("this bwrap has no --disable-userns (older than 0.8)")
    nested = ["sh", "-c", "unshare --user true && echo nested || echo refused"]
    refused = _as_ordinary_user(nested, disable_userns=True)
    assert refused.returncode == 0, refused.stderr
    assert refused.stdout.split() == ["refused"]
    control = _as_ordinary_user(nested, disable_userns=False)
    assert control.stdout.split() == ["nested"], control.stderr
