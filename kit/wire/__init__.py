"""kit.wire: the wire formats, as pure codecs (no I/O, no asyncio, no threads).

Bytes go in, Python objects come out, and back; nothing here opens a socket, so every
function can be tried in a notebook cell with literal bytes::

    >>> from kit.wire import Frame, accept_key
    >>> accept_key("dGhlIHNhbXBsZSBub25jZQ==")
    's3pPLMBiTxaQ9kYGzzhZRbK+xOo='
    >>> str(Frame.parse(bytes.fromhex("810548656c6c6f")))
    "TEXT 'Hello' [5 bytes]"

The modules follow the layers of a connection, bottom up:

- :mod:`kit.wire.handshake`: the HTTP/1.1 upgrade that opens a WebSocket (RFC 6455 section 4).
- :mod:`kit.wire.frames`: WebSocket frames and the stream reader (RFC 6455 section 5).
- :mod:`kit.wire.messages`: fragmented frames put back together into messages.
- :mod:`kit.wire.deflate`: permessage-deflate (RFC 7692), inflated within bounds.
- :mod:`kit.wire.engineio`: engine.io packets (``4hello``, ``2probe``) and long-polling
  payloads (``4hello\\x1e4€€€``), protocol v4 and v3.
- :mod:`kit.wire.socketio`: socket.io packets (``2["foo"]``, ``3/admin,13["bar"]``) and
  their binary attachments.
- :mod:`kit.wire.eventstream`: server-sent events (``text/event-stream``), the push format
  of plain HTTP (WHATWG HTML section 9.2).
- :mod:`kit.wire.text`: text as it may go on the wire (no lone surrogates).
- :mod:`kit.wire.decoder`: the tap's sans-I/O decoder of a whole connection.
- :mod:`kit.wire.resp`: RESP, the protocol between a chat server and Redis (``*3 $7 PUBLISH
  ...``), read from a stream like frames are.
- :mod:`kit.wire.errors`: one exception tree; every decoding failure is a
  :exc:`ProtocolError` that says what was wrong, where, and what to answer.

kit.runtime does the I/O with these codecs; kit.widgets shows what they decode.
"""

from __future__ import annotations

from kit.wire.engineio import (
    EnginePacket,
    EnginePacketType,
    OpenPacket,
    decode_payload,
    encode_payload,
)
from kit.wire.errors import (
    CloseReasonTooLong,
    ControlFrameTooLong,
    EmptyPacket,
    EngineIOError,
    EventStreamError,
    ForbiddenOrigin,
    FragmentedControlFrame,
    HandshakeError,
    HeadTooLarge,
    IncompleteHead,
    InvalidAccept,
    InvalidAckId,
    InvalidAttachments,
    InvalidBase64,
    InvalidCloseCode,
    InvalidClosePayload,
    InvalidConnection,
    InvalidDeflate,
    InvalidEventField,
    InvalidHTTPVersion,
    InvalidJSON,
    InvalidKey,
    InvalidLength,
    InvalidMethod,
    InvalidOpcode,
    InvalidOpenPacket,
    InvalidPayload,
    InvalidPlaceholder,
    InvalidRespLength,
    InvalidRespNumber,
    InvalidSocketPayload,
    InvalidStatus,
    InvalidUpgrade,
    InvalidUTF8,
    InvalidVersion,
    MalformedHTTP,
    MaskingError,
    MessageTooBig,
    MissingCRLF,
    ProtocolError,
    ReservedBitsSet,
    ReservedEventName,
    RespProtocolError,
    RespTooDeep,
    SocketIOError,
    TooManyFragments,
    TrailingData,
    TruncatedFrame,
    UnexpectedContinuation,
    UnexpectedProtocol,
    UnfinishedMessage,
    UnknownPacketType,
    UnknownRespType,
    UnknownSocketPacketType,
    UnsupportedEngineVersion,
    WebSocketProtocolError,
)
from kit.wire.eventstream import EVENT_STREAM, EventStreamParser, ServerSentEvent
from kit.wire.frames import (
    Close,
    CloseCode,
    Frame,
    FrameReader,
    Opcode,
    apply_mask,
)
from kit.wire.handshake import (
    GUID,
    RequestReader,
    ResponseReader,
    UpgradeRequest,
    UpgradeResponse,
    accept_key,
    check_request,
    error_response,
    generate_key,
)
from kit.wire.messages import Message, MessageAssembler, MessageReader
from kit.wire.resp import RespReader, RespType, RespValue, encode_command
from kit.wire.socketio import (
    SocketPacket,
    SocketPacketType,
    deconstruct,
    reconstruct,
)
from kit.wire.text import is_usv, usv

__all__ = [
    "EVENT_STREAM",
    "GUID",
    "Close",
    "CloseCode",
    "CloseReasonTooLong",
    "ControlFrameTooLong",
    "EmptyPacket",
    "EngineIOError",
    "EnginePacket",
    "EnginePacketType",
    "EventStreamError",
    "EventStreamParser",
    "ForbiddenOrigin",
    "FragmentedControlFrame",
    "Frame",
    "FrameReader",
    "HandshakeError",
    "HeadTooLarge",
    "IncompleteHead",
    "InvalidAccept",
    "InvalidAckId",
    "InvalidAttachments",
    "InvalidBase64",
    "InvalidCloseCode",
    "InvalidClosePayload",
    "InvalidConnection",
    "InvalidDeflate",
    "InvalidEventField",
    "InvalidHTTPVersion",
    "InvalidJSON",
    "InvalidKey",
    "InvalidLength",
    "InvalidMethod",
    "InvalidOpcode",
    "InvalidOpenPacket",
    "InvalidPayload",
    "InvalidPlaceholder",
    "InvalidRespLength",
    "InvalidRespNumber",
    "InvalidSocketPayload",
    "InvalidStatus",
    "InvalidUTF8",
    "InvalidUpgrade",
    "InvalidVersion",
    "MalformedHTTP",
    "MaskingError",
    "Message",
    "MessageAssembler",
    "MessageReader",
    "MessageTooBig",
    "MissingCRLF",
    "Opcode",
    "OpenPacket",
    "ProtocolError",
    "RequestReader",
    "ReservedBitsSet",
    "ReservedEventName",
    "RespProtocolError",
    "RespReader",
    "RespTooDeep",
    "RespType",
    "RespValue",
    "ResponseReader",
    "ServerSentEvent",
    "SocketIOError",
    "SocketPacket",
    "SocketPacketType",
    "TooManyFragments",
    "TrailingData",
    "TruncatedFrame",
    "UnexpectedContinuation",
    "UnexpectedProtocol",
    "UnfinishedMessage",
    "UnknownPacketType",
    "UnknownRespType",
    "UnknownSocketPacketType",
    "UnsupportedEngineVersion",
    "UpgradeRequest",
    "UpgradeResponse",
    "WebSocketProtocolError",
    "accept_key",
    "apply_mask",
    "check_request",
    "decode_payload",
    "deconstruct",
    "encode_command",
    "encode_payload",
    "error_response",
    "generate_key",
    "is_usv",
    "reconstruct",
    "usv",
]
