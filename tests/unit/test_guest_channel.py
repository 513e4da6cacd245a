"""The host's side of the agent channel against a fake agent on a socket pair.

The process boundary is faked (no QEMU): a thread plays the agent, answering
as captured from the real one, or forging as a hostile module did.
"""

from __future__ import annotations

import re
import socket
import threading

import pytest

from kmodlab.vm import protocol
from kmodlab.vm.console import ConsoleLog
from kmodlab.vm.guest import Guest, GuestCompromised


class _Proc:
    def __init__(self) -> None:
        self.killed = False

    def poll(self):
        return 0 if self.killed else None

    def kill(self) -> None:
        self.killed = True

    def wait(self, timeout=None):
        return 0


def _guest() -> tuple[Guest, socket.socket]:
    host, agent = socket.socketpair()
    g = Guest.__new__(Guest)
    g._sock, g._reader, g.proc = host, protocol.ResponseReader(), _Proc()
    g._console, g._console_lock = ConsoleLog(), threading.Lock()
    g._pump = threading.Thread(target=lambda: None)
    g._pump.start()
    return g, agent


def _answer(req_id: bytes, status=b"E", value=0, out=b"") -> bytes:
    return b"R %s %s %d %d 0 0 1\n" % (req_id, status, value, len(out)) + out


def _agent(sock: socket.socket, reply) -> threading.Thread:
    """Read one request header, then send whatever reply(id) gives."""

    def run() -> None:
        head = b""
        while not head.endswith(b"\n"):
            head += sock.recv(1)
        req_id = re.match(rb"^[XPD] (\S+)", head).group(1)
        sock.sendall(reply(req_id))

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_honest_answer_is_taken():
    """Is the agent's one answer, with the request's id, the command's result?"""
    g, agent = _guest()
    _agent(agent, lambda i: _answer(i, value=19, out=b"load x.ko: No such device\n"))
    r = g.run(["@load", "x.ko"], timeout_s=5)
    assert (r.status, r.returncode, r.stdout) == ("exited", 19, "load x.ko: No such device\n")
    assert not g.proc.killed


def test_forged_answer_before_the_real_one_compromises_the_guest():
    """Does a frame with a foreign id (as forge_from_init wrote) stop the guest, flagged?"""
    g, agent = _guest()
    _agent(agent, lambda i: b"R 0 E 0 0 0 0 1\n" + _answer(i, value=19))
    with pytest.raises(GuestCompromised, match="id '0'"):
        g.run(["@load", "x.ko"], timeout_s=5)
    assert g.proc.killed


def test_second_answer_with_the_right_id_compromises_the_guest():
    """Is a duplicate answer (a forger that read the id) refused?"""
    g, agent = _guest()
    _agent(agent, lambda i: _answer(i, value=0) + _answer(i, value=19))
    with pytest.raises(GuestCompromised, match="more bytes"):
        g.run(["@load", "x.ko"], timeout_s=5)


def test_bytes_while_no_request_is_pending_compromise_the_guest():
    """Is a frame that arrives between requests refused before the next request is sent?"""
    g, agent = _guest()
    agent.sendall(b"R 0 E 0 0 0 0 1\n")
    with pytest.raises(GuestCompromised, match="no request was pending"):
        g.drain_kmsg(timeout_s=5)


def test_garbage_on_the_channel_compromises_the_guest():
    """Is a malformed header (not something the agent writes) treated as forged too?"""
    g, agent = _guest()
    _agent(agent, lambda i: b"Hello from a module\n")
    with pytest.raises(GuestCompromised):
        g.run(["true"], timeout_s=5)


def test_late_duplicate_after_the_last_request_is_caught():
    """Is a real answer arriving after a forged one (right id) caught once all requests are done?"""
    g, agent = _guest()
    t = _agent(agent, lambda i: _answer(i, value=0))  # the forgery, with the right id
    r = g.run(["@load", "x.ko"], timeout_s=5)
    t.join()
    assert r.ok
    agent.sendall(_answer(b"0123456789abcdef", value=19))  # the agent's real, late answer
    with pytest.raises(GuestCompromised, match="after the last answer"):
        g.verify_quiet()
