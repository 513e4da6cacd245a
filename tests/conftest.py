"""Shared fixtures. Keep this file small: fixtures only."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kmodlab.errors import KmodlabError


def unavailable(what: str) -> None:
    """Skip a test that needs the lab, or fail it under `kmodlab test`.

    `kmodlab test` sets everything up first and sets KMODLAB_REQUIRE_VM, so
    there a missing kernel, sandbox or VM is a failure, never a quiet skip.
    """
    if os.environ.get("KMODLAB_REQUIRE_VM"):
        pytest.fail(f"required but unavailable: {what}")
    pytest.skip(f"{what} (run `kmodlab setup`)")


@pytest.fixture(scope="session")
def kbuild_dir() -> Path:
    """A kbuild tree to build modules against (`make -C`)."""
    from kmodlab.paths import current_kernel

    try:
        headers = current_kernel().headers
    except KmodlabError as e:
        unavailable(e.line())
    if not (headers / "Makefile").is_file():
        unavailable(f"no kernel headers in {headers}")
    return headers


@pytest.fixture(scope="session")
def require_sandbox() -> None:
    """Bubblewrap must be able to build here."""
    from kmodlab.build.sandbox import sandbox_available

    if not sandbox_available():
        unavailable("bubblewrap is missing or not permitted here")
