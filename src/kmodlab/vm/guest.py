"""One running lab guest: a QEMU process, its console, and the agent channel.

This is the thin process layer; framing is in protocol.py and reading the
kernel's reports is in console.py. A guest that dies or stops answering raises
GuestCrashed / GuestHung carrying the console, where the kernel's own oops
text is, so callers can report it and start another guest.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import select
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from kmodlab.errors import KmodlabError
from kmodlab.records import COMMAND_TIMEOUT_S, CommandResult  # noqa: F401  (re-exported)
from kmodlab.vm import protocol
from kmodlab.vm.console import ConsoleLog, KernelReport, find_reports, is_fatal
from kmodlab.vm.qemu import MachineSpec, qemu_argv
from kmodlab.vm.qmp import QMP

CONNECT_TIMEOUT_S = 10.0
# QEMU outlives a Python process that dies without closing its guests; these
# are killed at interpreter exit. (PR_SET_PDEATHSIG would fire when the
# *thread* that started QEMU ends, and guests are started from worker threads.)
_LIVE: set[subprocess.Popen] = set()


@atexit.register
def _kill_leftover_guests() -> None:
    for proc in list(_LIVE):
        with contextlib.suppress(OSError):
            proc.kill()


RESTORE_TIMEOUT_S = 30.0  # a saved guest loading from the page cache takes 0.2 s
# Slack the host grants beyond a command's own timeout before it declares the
# whole guest hung (the agent enforces the command timeout itself).
HOST_SLACK_S = 5.0
# Once the console shows a fatal report (console.is_fatal) during a request,
# the answer has this long to come before the guest is declared hung: an oops
# in the command's own process ends it at once (killed), so a longer wait
# means the oops left something stuck (a lock, a waiter), and waiting out the
# timeout is useless.
FATAL_GRACE_S = 3.0
WATCH_EVERY_S = 0.25


class _FatalWatch:
    """Watches the console from a request's start for a fatal kernel report."""

    def __init__(self, guest: Guest):
        self.guest = guest
        self.offset = guest.console_bytes()
        self.seen_at: float | None = None
        self.title = ""

    def expired(self, now: float) -> bool:
        if self.seen_at is None:
            fatal = [r for r in find_reports(self.guest.console_since(self.offset)) if is_fatal(r)]
            if fatal:
                self.seen_at, self.title = now, fatal[0].title
        return self.seen_at is not None and now - self.seen_at > FATAL_GRACE_S


class _FatalHang(Exception):
    pass


class GuestError(KmodlabError):
    """The guest did not do what was asked; carries the console for diagnosis."""

    def __init__(self, problem: str, console: str = "", fix: str | None = None):
        super().__init__(problem, fix)
        self.console = console

    @property
    def reports(self) -> list[KernelReport]:
        return find_reports(self.console)


class GuestCompromised(KmodlabError):
    """The channel carried a frame the agent never sent: code in the guest forged it.

    Not a GuestError on purpose: callers that retry a crashed step in a fresh
    guest must not catch this; grading stops and the submission is flagged.
    The guest is killed before this is raised, so nothing reuses it.
    """

    def __init__(self, problem: str, console: str = ""):
        super().__init__(
            f"the guest's answers were forged ({problem})",
            "the submission is flagged for review; nothing from that guest is graded",
        )
        self.detail = problem
        self.console = console


class GuestCrashed(GuestError):
    """QEMU exited or the agent vanished: a panic, a triple fault, a dead init."""


class GuestHung(GuestError):
    """The guest stopped answering within the host-side timeout."""


class BootFailed(GuestError):
    """The guest never became ready."""


_STATUS = {
    protocol.STATUS_EXITED: "exited",
    protocol.STATUS_SIGNALED: "signaled",
    protocol.STATUS_TIMEOUT: "timeout",
    protocol.STATUS_FAILED_TO_START: "failed-to-start",
}


def _to_result(argv: list[str], r: protocol.Response) -> CommandResult:
    status = _STATUS[r.status]
    code: int | None = {"exited": r.value, "signaled": -r.value}.get(status)
    if status == "failed-to-start":
        code = 127
        msg = f"{argv[0]}: command not found or not executable (errno {r.value})\n"
        return CommandResult(argv, status, code, "", msg, r.kmsg, r.guest_ms)
    out, err = (b.decode("utf-8", "replace") for b in (r.stdout, r.stderr))
    return CommandResult(argv, status, code, out, err, r.kmsg, r.guest_ms)


class Guest:
    """A booted guest. Use Guest.boot(...) or Guest.restore(...); always close()."""

    def __init__(self, spec: MachineSpec, *, incoming: Path | None, qmp: bool = False):
        self.spec = spec
        self._dir = Path(tempfile.mkdtemp(prefix="kmodlab-vm-"))
        self.agent_path = self._dir / "agent.sock"
        self.qmp_path = self._dir / "qmp.sock" if qmp else None
        self.argv = qemu_argv(
            spec, agent_socket=self.agent_path, qmp_socket=self.qmp_path, incoming=incoming
        )
        self._console = ConsoleLog()  # capped: a guest may print without end
        self._console_lock = threading.Lock()
        self._reader = protocol.ResponseReader()
        self._sock: socket.socket | None = None
        # What a snapshot's preparation made in this guest (start_guest sets it).
        self.prepared: dict[str, object] | None = None
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        _LIVE.add(self.proc)
        self._pump = threading.Thread(target=self._read_console, daemon=True)
        self._pump.start()
        self._connect()

    # -- process plumbing -------------------------------------------------
    def _read_console(self) -> None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        # close() may close the pipe under this thread: that ends the console too.
        with contextlib.suppress(OSError, ValueError):
            while chunk := os.read(fd, 65536):
                with self._console_lock:
                    self._console.add(chunk)
        # The console ends when QEMU does: reap it at once. A Jupyter kernel that
        # is shutting down SIGTERMs its children and waits, up to 4 s, while any
        # is left, and a QEMU nobody waited for is still its child (a zombie).
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)

    def console(self) -> str:
        with self._console_lock:
            return self._console.since(0).decode("utf-8", "replace").replace("\r\n", "\n")

    def console_bytes(self) -> int:
        with self._console_lock:
            return len(self._console)

    def console_since(self, offset: int) -> str:
        with self._console_lock:
            return self._console.since(offset).decode("utf-8", "replace").replace("\r\n", "\n")

    def _qemu_error(self) -> str:
        if self.proc.poll() is None or self.proc.stderr is None:
            return ""
        text = self.proc.stderr.read().decode("utf-8", "replace")
        lines = [ln for ln in text.splitlines() if "QEMU waiting for connection" not in ln]
        return lines[-1] if lines else ""

    def _connect(self) -> None:
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise BootFailed(f"QEMU exited at start: {self._qemu_error()}", self.console())
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(str(self.agent_path))
                self._sock = s
                return
            except (FileNotFoundError, ConnectionRefusedError):
                s.close()
                if time.monotonic() > deadline:
                    raise BootFailed(
                        "QEMU did not open the agent channel", self.console()
                    ) from None
                time.sleep(0.002)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _recv(self, deadline: float, watch: _FatalWatch | None = None) -> bytes:
        assert self._sock is not None
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            wait = min(left, WATCH_EVERY_S) if watch is not None else left
            ready, _, _ = select.select([self._sock], [], [], wait)
            if ready:
                break
            # Only while nothing arrives: a busy answer never pays for the scan.
            if watch is not None and watch.expired(time.monotonic()):
                raise _FatalHang
        data = self._sock.recv(1 << 16)
        if not data:
            self.proc.wait(timeout=5)
            console = self._settled_console()
            reports = find_reports(console)
            why = f": {reports[-1].title}" if reports else ""
            if not why and (err := self._qemu_error()):
                why = f": {err}"
            raise GuestCrashed(f"the guest stopped (QEMU exited){why}", console)
        return data

    def _settled_console(self) -> str:
        # The console pipe may still hold the last lines of a panic.
        self._pump.join(timeout=1.0)
        return self.console()

    def wait_restored(self, timeout_s: float = RESTORE_TIMEOUT_S) -> None:
        """Wait until an incoming snapshot has loaded and the guest runs.

        Bytes sent to the serial port while the snapshot loads are lost (the
        saved UART state overwrites its FIFO), so nothing may be sent before.
        """
        assert self.qmp_path is not None, "restoring needs the QMP socket"
        deadline = time.monotonic() + timeout_s
        try:
            qmp = QMP(self.qmp_path, timeout_s=timeout_s)
            try:
                while not qmp.execute("query-status").get("running"):  # type: ignore[union-attr]
                    if time.monotonic() > deadline:
                        raise BootFailed("restoring the guest timed out", self.console())
                    time.sleep(0.005)
            finally:
                qmp.close()
        except (OSError, ValueError, RuntimeError) as e:
            # QEMU quits when the stream is not a snapshot it can load.
            self.kill()
            raise BootFailed(f"restoring the guest failed: {self._qemu_error() or e}") from None

    def wait_ready(self, timeout_s: float) -> None:
        """Wait for the agent's banner (after a cold boot)."""
        deadline = time.monotonic() + timeout_s
        try:
            while not self._reader.take_ready():
                self._reader.feed(self._recv(deadline))
        except TimeoutError:
            raise BootFailed(
                f"the guest did not come up within {timeout_s:.0f} s", self.console()
            ) from None

    # -- requests ---------------------------------------------------------
    def _stray(self) -> int:
        """Bytes that arrived since the last answer (the agent sends none unasked)."""
        assert self._sock is not None
        while select.select([self._sock], [], [], 0)[0]:
            data = self._sock.recv(1 << 16)
            if not data:
                break  # the guest closed the channel: the request will say so
            self._reader.feed(data)
        return self._reader.pending

    def verify_quiet(self) -> None:
        """Raise GuestCompromised if anything arrived since the last answer.

        Requests check this before they send; call it once more after the
        last one (a forged answer with the right id leaves the real one to
        arrive later, unasked).
        """
        if self._sock is not None and self.alive() and (stray := self._stray()):
            raise self._forged(f"{stray} bytes arrived after the last answer")

    def _forged(self, problem: str) -> GuestCompromised:
        self.kill()
        return GuestCompromised(problem, self._settled_console())

    def _request(self, req_id: str, frame: bytes, deadline: float) -> protocol.Response:
        assert self._sock is not None
        watch = _FatalWatch(self)
        try:
            if stray := self._stray():
                raise self._forged(f"{stray} bytes arrived while no request was pending")
            self._sock.sendall(frame)
            while (resp := self._reader.take()) is None:
                self._reader.feed(self._recv(deadline, watch))
            return protocol.check_answer(req_id, resp, self._reader.pending)
        except protocol.ProtocolError as e:
            # A malformed header is a forgery too: the agent only writes whole frames.
            raise self._forged(str(e)) from None
        except (BrokenPipeError, ConnectionResetError):
            raise GuestCrashed(
                "the guest stopped (channel closed)", self._settled_console()
            ) from None
        except TimeoutError:
            self.kill()
            raise GuestHung("the guest stopped answering", self._settled_console()) from None
        except _FatalHang:
            self.kill()
            problem = f"the guest stopped answering after: {watch.title}"
            raise GuestHung(problem, self._settled_console()) from None

    def run(self, argv: list[str], *, timeout_s: float = COMMAND_TIMEOUT_S) -> CommandResult:
        """Run one command in the guest; a timeout inside the guest is a normal result."""
        req_id = protocol.new_request_id()
        frame = protocol.encode_exec(req_id, argv, timeout_s)
        resp = self._request(req_id, frame, time.monotonic() + timeout_s + HOST_SLACK_S)
        return _to_result(argv, resp)

    def put(
        self, path: str, data: bytes, mode: int = 0o644, *, timeout_s: float = COMMAND_TIMEOUT_S
    ) -> None:
        req_id = protocol.new_request_id()
        frame = protocol.encode_put(req_id, path, data, mode)
        resp = self._request(req_id, frame, time.monotonic() + timeout_s)
        if resp.status != protocol.STATUS_EXITED:
            raise GuestError(f"cannot write {path} in the guest: {os.strerror(resp.value)}")

    def drain_kmsg(self, *, timeout_s: float = 10.0) -> list[protocol.KmsgRecord]:
        """Kernel log records since the previous request; also proves the agent answers."""
        req_id = protocol.new_request_id()
        frame = protocol.encode_drain(req_id)
        return self._request(req_id, frame, time.monotonic() + timeout_s).kmsg

    # -- shutdown ---------------------------------------------------------
    def kill(self) -> None:
        _LIVE.discard(self.proc)
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)

    def close(self) -> None:
        self.kill()
        if self._sock is not None:
            self._sock.close()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        for p in (self.agent_path, self.qmp_path):
            if p is not None:
                p.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self._dir.rmdir()

    def __enter__(self) -> Guest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
