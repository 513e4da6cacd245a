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
