"""`--show-command`: the command lines a build, run or grade would run, printed, not run.

Each is an argument list (never a shell string; commands run without a shell)
printed shell-quoted, so it can be read, compared or pasted. The build's is
the sandbox (bwrap, setpriv when run as root, prlimit) around make; a guest's
is QEMU's. The build folder and the guest's socket folder are made fresh for
every build and guest; placeholders (XXXXXXXX) stand for their random names.
"""

from __future__ import annotations

import shlex
import tempfile
from pathlib import Path

from kmodlab.build.builder import build_argv
from kmodlab.build.sandbox import sandbox_available
from kmodlab.build.validate import load_submission
from kmodlab.paths import KernelLayout, current_kernel

Command = tuple[str, list[str]]  # (what it is for, argv)
__all__ = ["Command", "build_commands", "guest_commands", "render", "sandbox_available", "show"]


def build_commands(headers: Path, *, sandboxed: bool = True, grade: bool = False) -> list[Command]:
    """The build's command lines: one for `build` and `run`, two for `grade`."""
    build_dir = Path(tempfile.gettempdir()) / "kmodlab-build-XXXXXXXX"
    if not grade:
        return [("build", build_argv(headers, build_dir, sandboxed=sandboxed))]
    plain = build_argv(headers, build_dir / "plain", link=False, sandboxed=sandboxed)
    inst = build_argv(headers, build_dir / "instrumented", sandboxed=sandboxed)
    return [
        ("plain build: the student's own compiler messages (stops after modpost)", plain),
        ("instrumented build, at the same time: the modules that run", inst),
    ]


def guest_commands(kernel: KernelLayout, *, use_snapshot: bool = True) -> list[Command]:
    """QEMU's command lines for a fresh guest, chosen as a real run chooses (no guest boots
    to probe the accelerator: the remembered choice, else tcg)."""
    from kmodlab.vm.session import prepare, start_commands

    return start_commands(prepare(kernel=kernel, probe=False), use_snapshot=use_snapshot)


def show(
    what: str,
    submission: Path,
    *,
    sandboxed: bool = True,
    use_snapshot: bool = True,
    kernel: KernelLayout | None = None,
) -> list[Command]:
    """The commands `kmodlab build|run|grade SUBMISSION` would run, in order. Runs none."""
    load_submission(submission)  # bad input is reported as the real command would
    kernel = kernel or current_kernel()
    commands = build_commands(kernel.headers, sandboxed=sandboxed, grade=what == "grade")
    if what in ("run", "grade"):
        guests = guest_commands(kernel, use_snapshot=use_snapshot)
        if what == "grade":
            # Fault-injection points after a crash or a leftover start fresh guests too.
            guests = [(f"{title} (again for each fresh guest)", a) for title, a in guests]
        commands += guests
    return commands


def render(commands: list[Command]) -> str:
    """One `# what` line, then the shell-quoted command, for each."""
    return "".join(f"# {title}\n{shlex.join(argv)}\n" for title, argv in commands)
