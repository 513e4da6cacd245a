"""The browser tier reuses the real-VM fixtures: it needs the lab VM as much as a browser."""

from tests.vm.conftest import machine  # noqa: F401  (a fixture, used by name)
