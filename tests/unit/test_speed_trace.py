"""The kmem trace is parsed once per text: each caller still gets its own list."""

from __future__ import annotations

from kmodlab.grader.collection.kmemtrace import parse_trace
from tests.unit.test_kmemtrace import trace


def test_a_caller_changing_its_events_leaves_the_next_parse_whole():
    """Does parsing the same trace again give all its events, in order, even after an
    earlier caller emptied or reordered the list it was given?"""
    text = trace("leak_kmalloc")
    first = parse_trace(text)
    expected = list(first)
    assert expected  # a real capture, with events
    first.reverse()
    first.clear()
    again = parse_trace(text)
    assert again == expected and again is not first
    assert parse_trace(text + "\n") == expected  # another text, parsed on its own
