"""Shared fixtures. Keep this file small: fixtures only."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmodlab.errors import KmodlabError

# Where a colleague unpacked Debian's headers by hand, used until `kmodlab setup` has run.
FALLBACK_HEADERS = Path("/tmp/k/root/usr/src/linux-headers-6.1.0-56-amd64")


@pytest.fixture(scope="session")
def kbuild_dir() -> Path:
    """A kbuild tree to build modules against (`make -C`), or skip."""
    from kmodlab.paths import current_kernel

    try:
        headers = current_kernel().headers
        if (headers / "Makefile").is_file():
            return headers
    except KmodlabError:
        pass
    if (FALLBACK_HEADERS / "Makefile").is_file():
        return FALLBACK_HEADERS
    pytest.skip("no kernel headers: run `kmodlab setup`")


@pytest.fixture(scope="session")
def require_sandbox() -> None:
    """Skip unless bubblewrap can build here."""
    from kmodlab.build.sandbox import sandbox_available

    if not sandbox_available():
        pytest.skip("bubblewrap is missing or not permitted here")
