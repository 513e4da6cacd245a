"""Making the guest kernel ready: Debian's own kernel packages, unpacked into the cache.

This module is also the one thin process layer of the package: every command the
kernel set-up runs goes through `run`, `run_with_status` or `stdout_stream`, as an
argument list (never a shell). The parsers in the sibling modules are pure, so
tests replace these three functions and feed captured outputs.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from kmodlab.errors import SetupError

NOT_FOUND = 127  # what a shell reports for a missing command; callers treat it as any failure

Reporter = Callable[[str], None]


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    returncode: int
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def last_error(self) -> str:
        """The most telling line of the output: apt and dpkg put the reason last."""
        lines = [ln.strip() for ln in (self.stderr + "\n" + self.stdout).splitlines()]
        errors = [ln for ln in lines if ln.startswith(("E:", "dpkg-deb: error", "dpkg-query:"))]
        picked = errors or [ln for ln in lines if ln]
        return picked[-1] if picked else f"exit status {self.returncode}"


def _env(extra: Mapping[str, str] | None) -> dict[str, str] | None:
    return {**os.environ, **extra} if extra else None


def run(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    capture: bool = True,
) -> Result:
    """Run a command to completion. With capture=False its output goes to our stderr,
    so long apt-get installs show their own progress and our stdout stays clean."""
    try:
        proc = subprocess.run(
            list(argv),
            cwd=cwd,
            env=_env(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture else 2,
            stderr=subprocess.PIPE if capture else 2,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        return Result(tuple(argv), NOT_FOUND, "", f"{argv[0]}: command not found")
    return Result(tuple(argv), proc.returncode, proc.stdout or "", proc.stderr or "")


def run_with_status(argv: Sequence[str], *, cwd: Path, on_status: Callable[[str], None]) -> Result:
    """Run an apt-get command with its status lines (`dlstatus:...`) fed to on_status.

    `-o APT::Status-Fd=N` is inserted after argv[0], N being a pipe we read line by
    line. apt's ordinary output goes to a file, not a pipe, so a chatty apt can
    never block on a pipe nobody reads.
    """
    read_fd, write_fd = os.pipe()
    full = [argv[0], "-o", f"APT::Status-Fd={write_fd}", *argv[1:]]
    with tempfile.TemporaryFile("w+") as out:
        try:
            proc = subprocess.Popen(
                full,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                pass_fds=(write_fd,),
            )
        except FileNotFoundError:
            os.close(read_fd)
            return Result(tuple(full), NOT_FOUND, "", f"{argv[0]}: command not found")
        finally:
            os.close(write_fd)  # ours must go, or the reads below never see the end
        try:
            with os.fdopen(read_fd, "r", errors="replace") as status:
                for line in status:
                    on_status(line.rstrip("\n"))
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        rc = proc.wait()
        out.seek(0)
        return Result(tuple(full), rc, out.read(), "")


@contextmanager
def stdout_stream(argv: Sequence[str]) -> Iterator[IO[bytes]]:
    """Run a command and hand its stdout over as a binary stream (a tar from dpkg-deb).

    Whatever the caller leaves unread is drained, so the command never dies of
    SIGPIPE; a failing command raises SetupError naming it.
    """
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(
                list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err
            )
        except FileNotFoundError as exc:
            raise SetupError(
                f"{argv[0]} not found", f"install the package providing {argv[0]}"
            ) from exc
        assert proc.stdout is not None
        try:
            yield proc.stdout
            while proc.stdout.read(1 << 20):
                pass
        except BaseException:
            proc.kill()
            raise
        finally:
            proc.stdout.close()
            rc = proc.wait()
        if rc != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace").strip().splitlines()
            reason = tail[-1] if tail else f"exit status {rc}"
            raise SetupError(f"`{' '.join(argv)}` failed: {reason}")
