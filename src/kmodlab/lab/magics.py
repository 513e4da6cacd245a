"""The notebook's words for the lab: %%kmodule and %kmod.

    %load_ext kmodlab
    %%kmodule hello [--warn-as-error] [--load [param=value ...]]
    %kmod insmod hello [param=value ...]   %kmod rmmod hello   %kmod lsmod
    %kmod modinfo hello   %kmod modprobe ARGS   %kmod depmod   %kmod dmesg [--all]
    %kmod sh COMMAND...   %kmod check [--exercise NAME]   %kmod graph
    %kmod build NAME [--warn-as-error] [--load [param=value ...]]  (NAME.c edited elsewhere)
    %kmod make [-C DIR] [--with DIR ...] [TARGET|VAR=value ...]  (the folder's own Makefile,
        in the build sandbox; -C: a folder of the workspace; --with: a provider folder of the
        workspace shown read-only, for KBUILD_EXTRA_SYMBOLS)
    %kmod install TREE  (TREE/lib/modules/... from modules_install, into the guest)
    %kmod workspace [PATH]   %kmod delete NAME   %kmod restart   %kmod help

The magics parse, call the Workspace, and display its view; they return
nothing (a cell's value would print the result object again). The last
CommandResult stays reachable as kmodlab.lab.last().
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class, no_var_expand
from IPython.display import display

from kmodlab.errors import InputError, KmodlabError
from kmodlab.lab import render, state
from kmodlab.lab.render import Rendered

HELP = __doc__.split("\n\n")[1].strip() if __doc__ else ""


def parse_kmodule_line(line: str) -> tuple[str, bool, list[str] | None]:
    """`hello --warn-as-error --load a=1 b=2` -> ("hello", True, ["a=1", "b=2"])."""
    words = shlex.split(line)
    if not words or words[0].startswith("-"):
        raise ValueError("usage: %%kmodule NAME [--warn-as-error] [--load [param=value ...]]")
    name, warn, load = words[0], False, None
    for word in words[1:]:
        if word == "--warn-as-error":
            warn = True
        elif word == "--load":
            load = []
        elif load is not None and "=" in word and not word.startswith("-"):
            load.append(word)  # module parameters follow --load
        else:
            raise ValueError(f"%%kmodule: unexpected {word!r}; parameters go after --load")
    return name, warn, load


def _show(view: Rendered) -> None:
    if view.text or view.html:
        display(view)


def _usage(message: str) -> None:
    _show(render.note_view(message, render.ORANGE))


@magics_class
class KmodlabMagics(Magics):
    # no_var_expand: IPython would otherwise rewrite $VAR and {x} in a shell
    # command line or in C source before we see it.
    @no_var_expand
    @cell_magic
    def kmodule(self, line: str, cell: str) -> None:
        """%%kmodule NAME [--warn-as-error] [--load [param=value ...]]: the cell is NAME.c."""
        try:
            name, warn, load = parse_kmodule_line(line)
        except ValueError as e:
            return _usage(str(e))
        ws = state.current_workspace()
        outcome = ws.kmodule(name, cell, args_line=line, warn_as_error=warn, load=load)
        _show(ws.view_cell(outcome))

    @no_var_expand
    @line_magic
    def kmod(self, line: str) -> None:
        """%kmod SUBCOMMAND ...: run a command in the warm guest (%kmod help lists them)."""
        sub, _, rest = line.strip().partition(" ")
        handler = _SUBCOMMANDS.get(sub)
        if handler is None:
            return _usage(f"%kmod {sub}: unknown; one of:\n{HELP}" if sub else HELP)
        try:
            view = handler(rest.strip())
        except ValueError as e:
            return _usage(str(e))
        except KmodlabError as e:
            view = render.note_view(e.line(), render.RED)
        _show(view)


# -- subcommands: each takes the rest of the line, returns what to show ---------
def _need(rest: str, usage: str) -> list[str]:
    words = shlex.split(rest)
    if not words:
        raise ValueError(f"usage: %kmod {usage}")
    return words


def _build(rest: str) -> Rendered:
    """Rebuild and push after NAME.c was edited outside a cell (in JupyterLab's editor)."""
    try:
        name, warn, load = parse_kmodule_line(rest)
    except ValueError:
        raise ValueError(
            "usage: %kmod build NAME [--warn-as-error] [--load [param=value ...]]"
        ) from None
    ws = state.current_workspace()
    return ws.view_cell(ws.kmodule(name, None, warn_as_error=warn, load=load))


def parse_make_line(line: str) -> tuple[str | None, list[str], list[str]]:
    """`-C consumer --with provider modules` -> ("consumer", ["provider"], ["modules"])."""
    words = shlex.split(line)
    in_folder, providers, args = None, [], []
    while words:
        word = words.pop(0)
        if word in ("-C", "--with"):
            if not words:
                raise ValueError(f"usage: %kmod make {word} DIR (a folder of the workspace)")
            if word == "-C":
                in_folder = words.pop(0)
            else:
                providers.append(words.pop(0))
        else:
            args.append(word)
    return in_folder, providers, args


def _make(rest: str) -> Rendered:
    in_folder, providers, args = parse_make_line(rest)
    ws = state.current_workspace()
    return ws.view_step(ws.make(args, in_folder=in_folder, providers=providers))


def _install(rest: str) -> Rendered:
    ws = state.current_workspace()
    return ws.view_step(ws.install(_need(rest, "install TREE (the INSTALL_MOD_PATH folder)")[0]))


def _insmod(rest: str) -> Rendered:
    name, *params = _need(rest, "insmod NAME [param=value ...]")
    ws = state.current_workspace()
    return ws.view_step(ws.insmod(name, params))


def _rmmod(rest: str) -> Rendered:
    ws = state.current_workspace()
    return ws.view_step(ws.rmmod(_need(rest, "rmmod NAME")[0]))


def _simple(command: str, usage: str | None = None) -> Callable[[str], Rendered]:
    def run(rest: str) -> Rendered:
        args = _need(rest, usage) if usage else shlex.split(rest)
        ws = state.current_workspace()
        return ws.view_step(ws.run([command, *args]))

    return run


def _depmod(rest: str) -> Rendered:
    ws = state.current_workspace()
    return ws.view_step(ws.run(["depmod", *(shlex.split(rest) or ["-a"])]))


def _dmesg(rest: str) -> Rendered:
    ws = state.current_workspace()
    if rest.split() == ["--all"]:  # the whole ring buffer, boot included
        return ws.view_step(ws.run(["dmesg"]))
    step = ws.drain()
    view = render.log_view(ws.log, "kernel log of this lab (%kmod dmesg --all: since boot)")
    return view if step.crash is None else view + ws.view_crash(step.crash)


def _sh(rest: str) -> Rendered:
    if not rest:
        raise ValueError("usage: %kmod sh COMMAND... (a shell command line run in the guest)")
    ws = state.current_workspace()
    return ws.view_step(ws.sh(rest))


def _check(rest: str) -> Rendered:
    words = shlex.split(rest)
    exercise = None
    if words[:1] == ["--exercise"] and len(words) == 2:
        exercise = words[1]
    elif words:
        raise ValueError("usage: %kmod check [--exercise NAME]")
    ws = state.current_workspace()
    report = ws.check(exercise)
    state.set_last_report(report)
    return render.report_view(report, ws.sources())


def _workspace(rest: str) -> Rendered:
    # A relative PATH is relative to the kernel's cwd: the notebook's folder.
    if rest:
        folder = Path(shlex.split(rest)[0]).expanduser()
        if folder.exists() and not folder.is_dir():
            raise InputError(f"{folder} is a file", "give a folder for the workspace")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise InputError(
                f"cannot make {folder}: {e.strerror}", "choose another folder"
            ) from None
        ws = state.set_folder(folder)
    else:
        ws = state.current_workspace()
    names = ", ".join(p.stem for p in sorted(ws.folder.glob("*.c"))) if ws.folder.is_dir() else ""
    guest = "warm" if ws.has_session() else "not started yet (starts on first use)"
    return render.note_view(
        f"workspace {ws.folder.resolve()}: modules {names or '(none yet)'}; guest {guest}"
    )


def _delete(rest: str) -> Rendered:
    return state.current_workspace().delete(_need(rest, "delete NAME")[0])


def _restart(rest: str) -> Rendered:
    ws = state.current_workspace()
    return ws.view_step(ws.restart())


def _graph(rest: str) -> Any:
    from kmodlab.lab.widgets import SymbolGraph

    graph = SymbolGraph.from_workspace(state.current_workspace())
    return graph.rendered()


def _help(rest: str) -> Rendered:
    return render.note_view(HELP)


_SUBCOMMANDS: dict[str, Callable[[str], Any]] = {
    "build": _build,
    "make": _make,
    "install": _install,
    "insmod": _insmod,
    "rmmod": _rmmod,
    "lsmod": _simple("lsmod"),
    "modinfo": _simple("modinfo", "modinfo NAME"),
    "modprobe": _simple("modprobe", "modprobe [options] NAME [param=value ...]"),
    "depmod": _depmod,
    "dmesg": _dmesg,
    "sh": _sh,
    "check": _check,
    "graph": _graph,
    "workspace": _workspace,
    "delete": _delete,
    "restart": _restart,
    "help": _help,
}
