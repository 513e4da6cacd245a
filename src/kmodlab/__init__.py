"""kmodlab: write Linux kernel modules, build them in a sandbox, run them in a real
kernel under QEMU."""

__version__ = "0.1.0"
