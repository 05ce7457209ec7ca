"""Server-sent events: the ``text/event-stream`` format, written and read without I/O.

A server that wants to *push* over plain HTTP answers one GET with a response that never
ends, ``Content-Type: text/event-stream``, and writes an event whenever it has news. The
format is defined by the WHATWG HTML standard, section 9.2 "Server-sent events"
(https://html.spec.whatwg.org/multipage/server-sent-events.html). An event is a few
``field: value`` lines ended by a blank line::

    id: 7
    event: news
    data: first line
    data: second line

Reading follows the standard's rules (9.2.6 "Interpreting an event stream") to the letter: lines
end with CRLF, LF or CR; a line starting with ``:`` is a comment (servers send them to
keep idle connections open); ``data`` lines are joined with ``\\n``; ``id`` sets the last
event ID, which a reconnecting browser sends back as ``Last-Event-ID``; ``retry`` sets
the reconnection delay in ms; unknown fields are ignored; an event not yet ended by a
blank line when the stream stops is dropped.

>>> ServerSentEvent("hello", id="1").serialize()
b'id: 1\\ndata: hello\\n\\n'
>>> parser = EventStreamParser()
>>> parser.feed(b"data: YHOO\\ndata: +2\\ndata: 10\\n\\n")
[ServerSentEvent(data='YHOO\\n+2\\n10', event='message', id='', retry=None)]

Reading never raises: the standard tells a browser what to make of any bytes. Writing
refuses what a reader would misread (a newline inside ``event`` or ``id``) with
:exc:`~kit.wire.errors.InvalidEventField`.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from kit.wire.errors import InvalidEventField

__all__ = ["EVENT_STREAM", "EventStreamParser", "ServerSentEvent", "comment"]

EVENT_STREAM = "text/event-stream"
"""The media type of an event stream (``Content-Type: text/event-stream``)."""

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class ServerSentEvent:
    """One event of a ``text/event-stream``: what a browser's ``EventSource`` dispatches.

    Attributes:
        data: the event's data; several ``data:`` lines arrive joined by ``\\n``.
        event: the event type; ``"message"`` (the default) fires ``onmessage``.
        id: the last event ID after this event (``""`` when none was ever set).
        retry: the reconnection time in milliseconds in force after this event (the
            last ``retry:`` line so far), or None.
    """

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None

    def serialize(self) -> bytes:
        """The event as UTF-8 lines ending in a blank line, ready to write to the stream.

        ``event`` is written only when it is not ``"message"``, ``id`` when it is not
        None; every line of ``data`` becomes one ``data:`` line.
        """
        lines = []
        if self.event != "message":
            _check_field("event", self.event)
            lines.append(f"event: {self.event}")
        if self.id is not None:
            _check_field("id", self.id)
            lines.append(f"id: {self.id}")
        if self.retry is not None:
            if isinstance(self.retry, bool) or not isinstance(self.retry, int) or self.retry < 0:
                raise InvalidEventField("retry", str(self.retry), "is not a whole number of ms")
            lines.append(f"retry: {self.retry}")
        lines.extend(f"data: {line}" for line in _LINE_BREAK.split(self.data))
        return ("\n".join(lines) + "\n\n").encode("utf-8")


def comment(text: str = "") -> bytes:
    """A comment line (``: text``), ignored by readers: a keep-alive for idle streams."""
    _check_field("comment", text)
    return f":{' ' if text else ''}{text}\n\n".encode()


def _check_field(name: str, value: str) -> None:
    if "\n" in value or "\r" in value:
        raise InvalidEventField(name, value, "contains a line break")
    if name == "id" and "\x00" in value:
        raise InvalidEventField(name, value, "contains NULL, which readers ignore")


class EventStreamParser:
    """Reads a ``text/event-stream`` as a browser's ``EventSource`` does, bytes in, events out.

    Feed it the response body as it arrives, in chunks of any size (a chunk may end in
    the middle of a UTF-8 character or between the CR and LF of a line break); each call
    returns the events the chunk completed.

    Attributes:
        last_event_id: the last event ID so far (sent back as ``Last-Event-ID``).
        retry: the reconnection time in milliseconds the server last asked for, or None.
        comments: how many comment lines were read (keep-alives).
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._first = True  # a BOM may open the stream, and only there
        self._data: list[str] = []
        self._event = ""
        self._pending_cr = False
        self.last_event_id = ""
        self.retry: int | None = None
        self.comments = 0

    def feed(self, data: bytes) -> list[ServerSentEvent]:
        """Read ``data``, the next bytes of the stream; return the events it completed."""
        text = self._decoder.decode(data)
        if self._first and text:
            self._first = False
            text = text.removeprefix("\ufeff")
        if self._pending_cr and text:
            self._pending_cr = False
            text = text.removeprefix("\n")  # the LF of a CRLF whose CR ended the last chunk
        self._buffer += text
        events: list[ServerSentEvent] = []
        while True:
            match = _LINE_BREAK.search(self._buffer)
            if match is None:
                break
            if match.group() == "\r" and match.end() == len(self._buffer):
                self._pending_cr = True  # a lone CR: a line break, maybe half a CRLF
            line, self._buffer = self._buffer[: match.start()], self._buffer[match.end() :]
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    def _line(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            self.comments += 1
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\x00" not in value:  # an id with NULL is ignored
            self.last_event_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry = int(value)
        return None  # any other field (and a bad id or retry) is ignored

    def _dispatch(self) -> ServerSentEvent | None:
        data, event = self._data, self._event
        self._data, self._event = [], ""
        if not data:  # a block with no data line fires nothing
            return None
        return ServerSentEvent("\n".join(data), event or "message", self.last_event_id, self.retry)
