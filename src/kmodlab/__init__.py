"""kmodlab: write Linux kernel modules, build them in a sandbox, run them in a real
kernel under QEMU."""

__version__ = "0.1.0"
from kmodlab.lab import load_ipython_extension as load_ipython_extension  # noqa: E402
from kmodlab.lab import unload_ipython_extension as unload_ipython_extension  # noqa: E402
