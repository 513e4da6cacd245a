"""The agent channel's framing, tested without a guest."""

import pytest

from kmodlab.vm import protocol


def _frame(req_id, status, value, out=b"", err=b"", kmsg=b"", ms=3):
    head = b"R %s %s %d %d %d %d %d\n" % (
        req_id.encode(),
        status.encode(),
        value,
        len(out),
        len(err),
        len(kmsg),
        ms,
    )
    return head + out + err + kmsg


def test_exec_frame_carries_argv_with_nul_separators():
    """Is an exec request a header with the exact payload length, then argv joined by NUL?"""
    frame = protocol.encode_exec("7", ["insmod", "hello.ko", "whom=a b"], 2.5)
    head, payload = frame.split(b"\n", 1)
    assert head == b"X 7 2500 %d" % len(payload)
    assert payload.split(b"\0") == [b"insmod", b"hello.ko", b"whom=a b"]


@pytest.mark.parametrize("argv", [[], ["a\0b"]])
def test_exec_rejects_unframeable_argv(argv):
    """Are an empty argv and an argument with a NUL byte refused before sending?"""
    with pytest.raises(ValueError):
        protocol.encode_exec("1", argv, 1)


def test_put_needs_absolute_path():
    """Is a relative guest path refused?"""
    with pytest.raises(ValueError):
        protocol.encode_put("1", "hello.ko", b"x")
    assert protocol.encode_put("1", "/w/a.ko", b"xyz", 0o600).startswith(b"P 1 600 7 3\n/w/a.ko")


def test_response_split_across_reads_and_output_that_looks_like_a_frame():
    """Does a response arrive whole however it is chunked, even when the output mimics a header?"""
    forged = b"R 9 E 0 0 0 0 0\nKMODLAB-AGENT-READY 1\n"
    kmsg = b"6,100,5000000,-;Hello, world!\n4,101,5000100,-;\\x1b[31mred\n"
    data = _frame("3", "E", 0, out=forged, err=b"warn\n", kmsg=kmsg) + _frame("4", "T", 0)
    reader = protocol.ResponseReader()
    got = []
    for i in range(len(data)):
        reader.feed(data[i : i + 1])
        while (r := reader.take()) is not None:
            got.append(r)
    assert [r.req_id for r in got] == ["3", "4"]
    assert got[0].stdout == forged and got[0].stderr == b"warn\n"
    assert [(k.level, k.seq, k.text) for k in got[0].kmsg] == [
        (6, 100, "Hello, world!"),
        (4, 101, "\x1b[31mred"),
    ]
    assert got[1].status == protocol.STATUS_TIMEOUT


def test_garbage_header_is_a_protocol_error():
    """Is a line that is not a response header reported, not silently skipped?"""
    reader = protocol.ResponseReader()
    reader.feed(b"Hello, world!\n")
    with pytest.raises(protocol.ProtocolError):
        reader.take()


def test_ready_banner_is_consumed_once():
    """Does the boot banner count once, leaving what follows it?"""
    reader = protocol.ResponseReader()
    reader.feed(b"KMODLAB-AGENT-")
    assert not reader.take_ready()
    reader.feed(b"READY 1\n" + _frame("1", "E", 0))
    assert reader.take_ready()
    assert reader.take().req_id == "1"


def test_kmsg_skips_dictionary_lines_and_keeps_timestamps():
    """Are the ' SUBSYSTEM=' continuation lines of /dev/kmsg ignored?"""
    raw = b"3,5,1500000,-,caller=T1;usb 1-1: oops\n SUBSYSTEM=usb\n DEVICE=c189:1\n"
    (rec,) = protocol.parse_kmsg(raw)
    assert rec.level == 3 and rec.ts_us == 1500000 and rec.text == "usb 1-1: oops"
    assert rec.format() == "[    1.500000] usb 1-1: oops"


def _answer(data: bytes, expected: str):
    reader = protocol.ResponseReader()
    reader.feed(data)
    resp = reader.take()
    return protocol.check_answer(expected, resp, reader.pending)


def test_request_ids_are_random_and_fresh():
    """Is every request id new and unguessable (not a counter a module could predict)?"""
    ids = {protocol.new_request_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(len(i) == 16 for i in ids)
    assert protocol.encode_drain(next(iter(ids))) == b"D %s\n" % next(iter(ids)).encode()


def test_answer_with_its_own_id_is_accepted():
    """Is the one response carrying the request's id taken as its answer?"""
    resp = _answer(
        _frame("5ac0ffee5ac0ffee", "E", 19, out=b"load: No such device\n"), "5ac0ffee5ac0ffee"
    )
    assert resp.value == 19 and resp.stdout == b"load: No such device\n"


def test_forged_frame_with_another_id_is_refused():
    """Is the frame a module wrote (captured: id 0, success) before the agent's real one refused?"""
    forged = b"R 0 E 0 0 0 0 1\n"
    real = _frame("9f1c2b3a4d5e6f70", "E", 19, out=b"load hostile.ko: No such device\n")
    with pytest.raises(protocol.ForgedFrame, match="id '0'"):
        _answer(forged + real, "9f1c2b3a4d5e6f70")


def test_duplicate_answer_is_refused():
    """Is a second frame with the right id (a forger that read the id) refused as a duplicate?"""
    real = _frame("0123456789abcdef", "E", 19)
    forged = _frame("0123456789abcdef", "E", 0)
    with pytest.raises(protocol.ForgedFrame, match="more bytes"):
        _answer(forged + real, "0123456789abcdef")


def test_forged_frame_is_a_protocol_error():
    """Does every caller that handles protocol errors also see forgeries?"""
    assert issubclass(protocol.ForgedFrame, protocol.ProtocolError)
