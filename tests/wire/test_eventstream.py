"""Tests for kit.wire.eventstream: the WHATWG examples, chunking, and writing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kit.wire import EventStreamParser, InvalidEventField, ProtocolError, ServerSentEvent
from kit.wire.eventstream import comment

# The examples of WHATWG HTML section 9.2.6, "Interpreting an event stream".
STOCK_TICKER = b"data: YHOO\ndata: +2\ndata: 10\n\n"
"""Three data lines, one event: 'YHOO\\n+2\\n10'."""

FOUR_BLOCKS = (
    b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n"
)
"""A comment, then three events; the bare ``id`` resets the last event ID."""

EMPTY_DATA = b"data\n\ndata\ndata\n\ndata:"
"""Two events ('' and '\\n'); the last block has no blank line after it, so it is dropped."""

SPACE_OR_NOT = b"data:test\n\ndata: test\n\n"
"""Two identical events: one space after the colon is not part of the value."""


def parse(stream: bytes) -> list[ServerSentEvent]:
    return EventStreamParser().feed(stream)


def test_data_lines_are_joined_with_line_feeds() -> None:
    assert parse(STOCK_TICKER) == [ServerSentEvent("YHOO\n+2\n10", "message", "")]


def test_comments_ids_and_the_one_leading_space() -> None:
    parser = EventStreamParser()
    events = parser.feed(FOUR_BLOCKS)
    assert [(e.data, e.id) for e in events] == [
        ("first event", "1"),
        ("second event", ""),
        (" third event", ""),
    ]
    assert parser.comments == 1


def test_empty_data_fires_and_an_unfinished_block_does_not() -> None:
    assert [e.data for e in parse(EMPTY_DATA)] == ["", "\n"]


def test_one_space_after_the_colon_is_dropped() -> None:
    first, second = parse(SPACE_OR_NOT)
    assert first == second == ServerSentEvent("test", "message", "")


def test_event_types_retry_and_ignored_fields() -> None:
    stream = b"event: news\nretry: 2500\nretry: soon\nflavour: x\ndata: hi\n\ndata: plain\n\n"
    parser = EventStreamParser()
    news, plain = parser.feed(stream)
    assert (news.event, news.data, news.retry) == ("news", "hi", 2500)
    assert (plain.event, plain.data) == ("message", "plain")  # the type does not stick
    assert parser.retry == 2500  # 'retry: soon' was not digits: ignored


def test_a_block_without_data_fires_nothing_but_its_id_counts() -> None:
    parser = EventStreamParser()
    assert parser.feed(b"id: 42\n\n") == []
    assert parser.last_event_id == "42"
    assert parser.feed(b"data: x\n\n")[0].id == "42"


def test_an_id_with_null_is_ignored() -> None:
    parser = EventStreamParser()
    parser.feed(b"id: 1\n\nid: 2\x003\ndata: x\n\n")
    assert parser.last_event_id == "1"


@pytest.mark.parametrize("newline", [b"\r\n", b"\r", b"\n"])
def test_every_line_break_works_and_a_bom_is_skipped(newline: bytes) -> None:
    stream = b"\xef\xbb\xbfdata: a" + newline + b"data: b" + newline + newline
    assert parse(stream) == [ServerSentEvent("a\nb", "message", "")]


def test_any_chunking_gives_the_same_events() -> None:
    stream = "id: 7\r\ndata: caf\u00e9 \u2615\r\n\r\ndata: two\r\r".encode()
    whole = parse(stream)
    assert [e.data for e in whole] == ["caf\u00e9 \u2615", "two"]
    for size in range(1, 6):
        parser = EventStreamParser()
        events = []
        for start in range(0, len(stream), size):
            events += parser.feed(stream[start : start + size])
        assert events == whole, size


@given(
    st.lists(
        st.tuples(
            st.text(st.characters(exclude_categories=["Cs"]), max_size=30),
            st.sampled_from(["message", "news", "tick"]),
            st.one_of(st.none(), st.text(st.characters(codec="ascii"), max_size=8)),
        ),
        max_size=5,
    ),
    st.integers(min_value=1, max_value=7),
)
def test_what_is_written_is_read_back(events, chunk: int) -> None:
    written, expected, last_id = b"", [], ""
    for data, kind, event_id in events:
        if event_id is not None and ("\n" in event_id or "\r" in event_id or "\0" in event_id):
            continue
        written += ServerSentEvent(data, kind, event_id).serialize()
        last_id = event_id if event_id is not None else last_id
        # Every line break in data reads back as \n.
        text = data.replace("\r\n", "\n").replace("\r", "\n")
        expected.append(ServerSentEvent(text, kind, last_id))
    parser = EventStreamParser()
    got = []
    for start in range(0, len(written), chunk):
        got += parser.feed(written[start : start + chunk])
    assert got == expected


def test_writing_puts_each_data_line_on_its_own() -> None:
    event = ServerSentEvent("one\ntwo", event="news", id="3", retry=1000)
    assert event.serialize() == b"event: news\nid: 3\nretry: 1000\ndata: one\ndata: two\n\n"
    assert comment("keep-alive") == b": keep-alive\n\n"


@pytest.mark.parametrize(
    ("event", "fragment"),
    [
        (ServerSentEvent("x", id="1\ndata: forged"), "'id' of a server-sent event contains a line"),
        (ServerSentEvent("x", event="a\rb"), "'event'"),
        (ServerSentEvent("x", id="a\x00"), "NULL"),
        (ServerSentEvent("x", retry=-1), "whole number"),
    ],
)
def test_writing_refuses_what_a_reader_would_misread(event, fragment: str) -> None:
    with pytest.raises(InvalidEventField) as caught:
        event.serialize()
    assert isinstance(caught.value, ProtocolError)
    assert fragment in str(caught.value)
    assert "WHATWG HTML, section 9.2.5" in str(caught.value)
