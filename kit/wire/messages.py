"""From frames to messages: put fragmented messages back together (RFC 6455 section 5.4).

A sender may cut one message into fragments: ``01 03 48 65 6c`` (TEXT, FIN = 0,
``Hel``) then ``80 02 6c 6f`` (CONT, FIN = 1, ``lo``) is the one text message
``"Hello"``. Control frames (PING, PONG, CLOSE) may arrive between fragments, but
two messages never interleave.

:class:`MessageAssembler` turns data frames into :class:`Message` objects;
:class:`MessageReader` goes from raw bytes to messages and control frames.
"""

from __future__ import annotations

import codecs
import dataclasses
from collections.abc import Iterator

from kit.wire.deflate import Inflater
from kit.wire.errors import (
    InvalidUTF8,
    MessageTooBig,
    MisplacedRSV1,
    ProtocolError,
    TooManyFragments,
    UnexpectedContinuation,
    UnfinishedMessage,
)
from kit.wire.frames import CONTROL_OPCODES, Frame, FrameReader, Opcode

__all__ = [
    "DEFAULT_MAX_FRAGMENTS",
    "DEFAULT_MAX_SIZE",
    "Message",
    "MessageAssembler",
    "MessageReader",
]

DEFAULT_MAX_SIZE = 2**20
DEFAULT_MAX_FRAGMENTS = 4096
"""Frames one message may arrive in. Real senders cut a message into a handful; the
bound stops a peer from making a server chew through millions of empty frames."""
"""A MessageReader refuses messages over 1 MiB unless told otherwise (like websockets)."""


@dataclasses.dataclass(frozen=True)
class Message:
    """A complete data message: ``Message("Hello", fragments=2)`` from TEXT + CONT.

    ``data`` is ``str`` for a text message and ``bytes`` for a binary one;
    ``fragments`` counts the frames it arrived in; ``compressed`` is the size it had on
    the wire when it came deflated (permessage-deflate), else None.
    """

    data: str | bytes
    fragments: int = 1
    compressed: int | None = dataclasses.field(default=None, repr=False)

    @property
    def opcode(self) -> Opcode:
        """TEXT for a str message, BINARY for bytes: the opcode of its first frame."""
        return Opcode.TEXT if isinstance(self.data, str) else Opcode.BINARY


class MessageAssembler:
    """Collect data frames (TEXT/BINARY, then CONT...) into messages.

    ::

        assembler = MessageAssembler()
        assembler.add(Frame(Opcode.TEXT, b"Hel", fin=False))  # -> None: more to come
        assembler.add(Frame(Opcode.CONT, b"lo"))  # -> Message("Hello", fragments=2)

    Text is validated as UTF-8 fragment by fragment, so bad bytes are refused as soon
    as they arrive (:class:`InvalidUTF8`, close code 1007).

    With permessage-deflate negotiated, pass the sender's
    :class:`~kit.wire.deflate.Inflater`: a message whose first frame has RSV1 set is
    collected compressed, inflated once complete (within its ``max_size``), and only
    then checked as UTF-8.

    Args:
        max_size: the largest message accepted, in bytes, or None for no limit.
        inflater: the sender's inflater, when permessage-deflate is in use.
        max_fragments: the most frames one message may arrive in, or None for no limit.
    """

    def __init__(
        self,
        *,
        max_size: int | None = None,
        inflater: Inflater | None = None,
        max_fragments: int | None = None,
    ) -> None:
        self.max_size = max_size
        self.max_fragments = max_fragments
        self.inflater = inflater
        self._opcode: Opcode | None = None
        self._compressed = False
        self._text: list[str] = []  # a text message's decoded parts
        self._bytes: list[bytes] = []  # a binary (or still compressed) message's parts
        self._size = 0
        self._fragments = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")()

    @property
    def opcode(self) -> Opcode | None:
        """The opcode of the message being assembled, or None between messages."""
        return self._opcode

    @property
    def size(self) -> int:
        """Bytes received so far for the message being assembled."""
        return self._size

    @property
    def remaining(self) -> int | None:
        """Bytes the open message may still grow by before ``max_size``, or None."""
        if self.max_size is None:
            return None
        return self.max_size - self._size

    def add(self, frame: Frame) -> Message | None:
        """Add a data frame; return the message it completes, or None.

        Raises:
            UnexpectedContinuation: CONT with no message open (1002).
            UnfinishedMessage: TEXT/BINARY while a message is open (1002).
            MessageTooBig: the message outgrew ``max_size`` (1009).
            TooManyFragments: the message outgrew ``max_fragments`` (1009).
            InvalidUTF8: a text message that is not UTF-8 (1007).
        """
        if frame.opcode in CONTROL_OPCODES:
            raise ValueError(f"{frame.opcode.name} is a control frame, not part of a message")
        if frame.opcode == Opcode.CONT:
            if self._opcode is None:
                raise UnexpectedContinuation()
        elif self._opcode is not None:
            raise UnfinishedMessage(frame.opcode, self._opcode)
        else:
            self._opcode = Opcode(frame.opcode)
            self._compressed = frame.rsv1 and self.inflater is not None
            self._decoder.reset()

        self._size += len(frame.payload)
        self._fragments += 1
        if self.max_size is not None and self._size > self.max_size:
            raise MessageTooBig(self._size, self.max_size)
        if self.max_fragments is not None and self._fragments > self.max_fragments:
            raise TooManyFragments(self._fragments, self.max_fragments)

        if self._compressed:
            self._bytes.append(bytes(frame.payload))
            return self._inflated() if frame.fin else None
        text = self._opcode == Opcode.TEXT
        if text:
            try:
                self._text.append(self._decoder.decode(frame.payload, final=frame.fin))
            except UnicodeDecodeError as exc:
                raise InvalidUTF8("text message", str(exc)) from exc
        else:
            self._bytes.append(bytes(frame.payload))

        if not frame.fin:
            return None
        data: str | bytes = "".join(self._text) if text else b"".join(self._bytes)
        message = Message(data, self._fragments)
        self.reset()
        return message

    def _inflated(self) -> Message:
        assert self.inflater is not None
        opcode, fragments = self._opcode, self._fragments
        compressed = b"".join(self._bytes)
        self.reset()
        data = self.inflater.inflate(compressed)  # MessageTooBig, InvalidDeflate
        if opcode == Opcode.TEXT:
            try:
                return Message(data.decode("utf-8"), fragments, len(compressed))
            except UnicodeDecodeError as exc:
                raise InvalidUTF8("text message", str(exc)) from exc
        return Message(data, fragments, len(compressed))

    def reset(self) -> None:
        """Forget the message being assembled (after an error, to go on with the next)."""
        self._opcode, self._compressed = None, False
        self._text, self._bytes, self._size, self._fragments = [], [], 0, 0


def _check_rsv(frame: Frame) -> None:
    """RFC 7692 section 6: RSV1 on a message's first frame only, RSV2 and RSV3 never."""
    first_of_message = frame.opcode in (Opcode.TEXT, Opcode.BINARY)
    if frame.rsv2 or frame.rsv3 or (frame.rsv1 and not first_of_message):
        flags = {"RSV1": frame.rsv1, "RSV2": frame.rsv2, "RSV3": frame.rsv3}
        raise MisplacedRSV1(int(frame.opcode), ", ".join(n for n, on in flags.items() if on))


class MessageReader:
    """Turn a byte stream into complete messages and control frames.

    What a WebSocket endpoint reads after the handshake::

        reader = MessageReader(mask_required=False)  # a client: server frames unmasked
        reader.feed(bytes.fromhex("0103 48656c 8905 48656c6c6f 8002 6c6f"))
        list(reader)  # -> [Frame(Opcode.PING, b'Hello'), Message('Hello', fragments=2)]

    Control frames are returned as soon as they arrive, even between the fragments of
    a message, so the caller can answer a PING or a CLOSE at once. ``max_size``
    bounds the whole message and is checked from each frame's head, before its
    payload is buffered.

    Args:
        mask_required: True on a server, False on a client, None to accept both.
        max_size: the largest message accepted, in bytes (default 1 MiB), or None.
        allow_rsv: True when a negotiated extension gives RSV1-3 a meaning.
        max_fragments: the most frames one message may arrive in (default 4096), or None.
        inflater: the peer's :class:`~kit.wire.deflate.Inflater` when permessage-deflate
            was negotiated: RSV1 then marks a compressed message (on its first frame
            only; anywhere else, or RSV2/RSV3, is :class:`~kit.wire.errors.MisplacedRSV1`),
            and ``max_size`` bounds the compressed message and the inflater's the result.
    """

    def __init__(
        self,
        *,
        mask_required: bool | None = None,
        max_size: int | None = DEFAULT_MAX_SIZE,
        allow_rsv: bool = False,
        max_fragments: int | None = DEFAULT_MAX_FRAGMENTS,
        inflater: Inflater | None = None,
    ) -> None:
        self.max_size = max_size
        self._deflate = inflater is not None
        self._frames = FrameReader(
            mask_required=mask_required, allow_rsv=allow_rsv or self._deflate
        )
        self._assembler = MessageAssembler(
            max_size=max_size, max_fragments=max_fragments, inflater=inflater
        )
        self._error: ProtocolError | None = None

    def feed(self, data: bytes) -> None:
        """Add bytes received from the socket."""
        self._frames.feed(data)

    def next_event(self) -> Message | Frame | None:
        """Return the next message or control frame, or None until more bytes arrive.

        Raises:
            WebSocketProtocolError: the stream broke a rule; close with its close_code.
        """
        if self._error is not None:
            raise self._error
        try:
            while True:
                frame = self._next_frame()
                if frame is not None and self._deflate:
                    _check_rsv(frame)
                if frame is None or frame.opcode in CONTROL_OPCODES:
                    return frame
                message = self._assembler.add(frame)
                if message is not None:
                    return message
        except ProtocolError as exc:
            self._error = exc
            raise

    def _next_frame(self) -> Frame | None:
        # A data frame may only fill what is left of the message's budget.
        self._frames.max_size = self._assembler.remaining
        try:
            return self._frames.next_frame()
        except MessageTooBig as exc:
            if self.max_size is None or self._assembler.opcode is None:
                raise
            # Report the size of the whole message, not just of this frame.
            raise MessageTooBig(self._assembler.size + exc.size, self.max_size) from exc

    def __iter__(self) -> Iterator[Message | Frame]:
        """Yield every message and control frame complete so far."""
        while (event := self.next_event()) is not None:
            yield event
