"""What a built .ko says about itself: its .modinfo strings and its load order.

Read on the host from the ELF file (never by loading it), so a multi-module
submission is loaded in dependency order and the grader knows each module's
license, description, parameters and dependencies before booting anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from elftools.elf.elffile import ELFFile

from kmodlab.errors import InputError


def module_name(name: str) -> str:
    """The kernel's name for a module: the one spelling every comparison uses.

    kbuild names the module of `hello-1.o` "hello_1" (KBUILD_MODNAME, /sys/module,
    /proc/modules, `[hello_1]` in stack traces), while its file stays hello-1.ko;
    kmod and the kernel treat "-" and "_" in module names as the same.
    """
    return name.removesuffix(".ko").replace("-", "_")


def parse_modinfo(raw: bytes) -> dict[str, list[str]]:
    """The NUL-separated key=value strings of a .modinfo section; keys may repeat."""
    info: dict[str, list[str]] = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.decode("utf-8", "replace").partition("=")
        if sep:
            info.setdefault(key, []).append(value)
    return info


def read_modinfo(ko: Path) -> dict[str, list[str]]:
    with ko.open("rb") as f:
        section = ELFFile(f).get_section_by_name(".modinfo")
        return parse_modinfo(section.data()) if section is not None else {}


def depends(info: Mapping[str, list[str]]) -> list[str]:
    return [module_name(d) for value in info.get("depends", []) for d in value.split(",") if d]


def load_order(deps: Mapping[str, list[str]]) -> list[str]:
    """Modules ordered so each comes after the submission's modules it depends on.

    Dependencies outside the submission (kernel modules) are ignored; a cycle
    cannot load at all and is reported as bad input.
    """
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str, path: tuple[str, ...]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            cycle = " -> ".join((*path, name))
            raise InputError(
                f"the modules depend on each other in a cycle ({cycle})",
                "a module cannot need symbols from a module that needs its own",
            )
        state[name] = "visiting"
        for dep in deps.get(name, []):
            if dep in deps:
                visit(dep, (*path, name))
        state[name] = "done"
        order.append(name)

    for name in sorted(deps):
        visit(name, ())
    return order
