"""Framing of the host <-> guest agent channel (see guest/agent.c).

Pure functions: encoding requests, parsing responses, and parsing the raw
/dev/kmsg records the agent returns. Every frame carries explicit lengths, so
no byte a command or a module prints can be mistaken for a frame boundary.

Every request carries a fresh random id, and exactly one response may answer
it, with that id. A module runs with kernel privilege and could write frames
to the port: a response with another id, a second response, or bytes when no
request is pending can only be forged (the agent answers each request once),
so they raise ForgedFrame and the guest is not trusted again.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from kmodlab.records import (  # noqa: F401  (re-exported)
    CYCLE,
    LOAD,
    UNLOAD,
    KmsgRecord,
    cycle_argv,
    is_cycle,
    load_argv,
    unload_argv,
)

READY = b"KMODLAB-AGENT-READY "

STATUS_EXITED = "E"
STATUS_SIGNALED = "S"
STATUS_TIMEOUT = "T"
STATUS_FAILED_TO_START = "F"


class ProtocolError(Exception):
    """The guest sent something that is not a frame: a bug or a compromised guest."""


class ForgedFrame(ProtocolError):
    """A frame no pending request asked for: only a forger in the guest sends one."""


def new_request_id() -> str:
    """A fresh id per request (64 random bits): a forger cannot guess the next one."""
    return secrets.token_hex(8)


def check_answer(expected_id: str, response: Response, leftover: int) -> Response:
    """The response if it answers the request `expected_id` alone; else ForgedFrame. Pure.

    leftover: bytes already received after this response. The agent writes
    nothing until the next request, so any is a frame nobody asked for.
    """
    if response.req_id != expected_id:
        raise ForgedFrame(
            f"a response with id {response.req_id!r} answered request {expected_id!r}"
        )
    if leftover:
        raise ForgedFrame(f"{leftover} more bytes arrived after the answer to {expected_id!r}")
    return response


def _check_token(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,63}", value):
        raise ValueError(f"bad request id {value!r}")
    return value


def encode_exec(req_id: str, argv: list[str], timeout_s: float) -> bytes:
    if not argv or any("\0" in a for a in argv):
        raise ValueError("argv must be non-empty and free of NUL bytes")
    payload = b"\0".join(a.encode() for a in argv)
    ms = max(1, int(timeout_s * 1000))
    return b"X %s %d %d\n" % (_check_token(req_id).encode(), ms, len(payload)) + payload


def encode_put(req_id: str, path: str, data: bytes, mode: int = 0o644) -> bytes:
    raw = path.encode()
    if not path.startswith("/") or b"\0" in raw:
        raise ValueError(f"guest path must be absolute: {path!r}")
    head = b"P %s %o %d %d\n" % (_check_token(req_id).encode(), mode, len(raw), len(data))
    return head + raw + data


def encode_drain(req_id: str) -> bytes:
    return b"D %s\n" % _check_token(req_id).encode()


_KMSG = re.compile(r"^(\d+),(\d+),(\d+),[^;]*;(.*)$")


def _unescape(text: str) -> str:
    # /dev/kmsg escapes non-printable bytes as \xNN.
    return re.sub(r"\\x([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), text)


def parse_kmsg(raw: bytes) -> list[KmsgRecord]:
    """Parse /dev/kmsg records ("prio,seq,usec,flags;text"), skipping dictionary lines."""
    records = []
    for line in raw.decode("utf-8", "replace").split("\n"):
        m = _KMSG.match(line)
        if m:
            prio, seq, ts, text = m.groups()
            records.append(KmsgRecord(int(prio) & 7, int(seq), int(ts), _unescape(text)))
    return records


@dataclass(frozen=True)
class Response:
    req_id: str
    status: str
    value: int
    stdout: bytes
    stderr: bytes
    kmsg: list[KmsgRecord] = field(default_factory=list)
    guest_ms: int = 0


_HEAD = re.compile(rb"^R ([A-Za-z0-9_.-]+) ([ESTF]) (-?\d+) (\d+) (\d+) (\d+) (\d+)$")


class ResponseReader:
    """Incremental parser: feed bytes as they arrive, take complete responses."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self._buf += data

    @property
    def pending(self) -> int:
        """Bytes received and not yet taken as a response."""
        return len(self._buf)

    def take(self) -> Response | None:
        nl = self._buf.find(b"\n")
        if nl < 0:
            if len(self._buf) > 512:
                raise ProtocolError("response header too long")
            return None
        m = _HEAD.match(bytes(self._buf[:nl]))
        if not m:
            raise ProtocolError(f"bad response header {bytes(self._buf[:80])!r}")
        n_out, n_err, n_kmsg = (int(x) for x in m.group(4, 5, 6))
        start = nl + 1
        end = start + n_out + n_err + n_kmsg
        if len(self._buf) < end:
            return None
        body = bytes(self._buf[start:end])
        del self._buf[:end]
        return Response(
            req_id=m.group(1).decode(),
            status=m.group(2).decode(),
            value=int(m.group(3)),
            stdout=body[:n_out],
            stderr=body[n_out : n_out + n_err],
            kmsg=parse_kmsg(body[n_out + n_err :]),
            guest_ms=int(m.group(7)),
        )

    def take_ready(self) -> bool:
        """Consume the agent's boot banner if it is complete."""
        idx = self._buf.find(READY)
        if idx < 0:
            return False
        nl = self._buf.find(b"\n", idx)
        if nl < 0:
            return False
        del self._buf[: nl + 1]
        return True
