"""kmodlab: write Linux kernel modules, build them in a sandbox, run them in a real
kernel under QEMU."""

__version__ = "0.1.0"


def load_ipython_extension(ipython):  # type: ignore[no-untyped-def]
    """`%load_ext kmodlab`: imported here lazily, so the CLI does not load IPython."""
    from kmodlab.lab import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython):  # type: ignore[no-untyped-def]
    from kmodlab.lab import unload_ipython_extension as unload

    unload(ipython)
