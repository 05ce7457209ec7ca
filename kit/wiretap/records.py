"""What the wire tap records: one :class:`WireEvent` per thing seen, layer by layer.

A single WebSocket frame carrying ``42["new message",{"mess":"hi"}]`` becomes three
events, one per layer, each pointing at the same bytes::

    websocket  client->server  TEXT '42["new message",{"mess":"hi"}]' [31 bytes, masked]
    engine.io  client->server  MESSAGE '2["new message",{"mess":"hi"}]'
    socket.io  client->server  EVENT / ["new message",{"mess":"hi"}]

The inspector widget filters and draws these; tests read them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from kit.wire.decoder import Direction, Layer

__all__ = ["Direction", "Layer", "WireEvent", "as_direction", "as_layer", "as_layers"]


@dataclass(frozen=True)
class WireEvent:
    """One thing the tap saw on one connection, decoded at one layer.

    Attributes:
        seq: position in the capture, from 0.
        time: seconds since the tap started.
        connection: which TCP connection through the tap, from 1.
        direction: which way the bytes went.
        transport: ``"polling"``, ``"websocket"`` or ``"tcp"`` (not yet known).
        layer: the protocol layer of this row.
        summary: one readable line, e.g. ``PING 'probe'`` or ``GET /socket.io/?EIO=4...``.
        raw: the bytes this row stands for (a frame, a packet's text, a request head).
        decoded: the decoded object (an h11 event, a ``Frame``, an ``EnginePacket``...).
    """

    seq: int
    time: float
    connection: int
    direction: Direction
    transport: str
    layer: Layer
    summary: str
    raw: bytes = b""
    decoded: object = field(default=None, compare=False, repr=False)

    @property
    def content(self) -> bytes:
        """What this row carries, whole: a frame's unmasked payload, a packet's text.

        ``summary`` elides long payloads and ``raw`` holds a client frame's *masked*
        bytes; this is the content a reader looks for. For rows without a payload (TCP,
        HTTP heads) it is ``raw``.
        """
        decoded = self.decoded
        payload = getattr(decoded, "payload", None)
        if isinstance(payload, (bytes, bytearray)):
            return bytes(payload)
        serialize = getattr(decoded, "serialize", None)
        if callable(serialize) and self.layer in (Layer.ENGINEIO, Layer.SOCKETIO):
            try:
                text = serialize()
            except Exception:  # an invalid packet that was recorded as such
                return self.raw
            return text.encode() if isinstance(text, str) else bytes(text)
        return self.raw

    def carries(self, text: str | bytes) -> bool:
        """True when :attr:`content` contains ``text`` (UTF-8 for a ``str``)."""
        needle = text.encode() if isinstance(text, str) else text
        return needle in self.content

    @property
    def arrow(self) -> str:
        """``->`` or ``<-``; ``!!`` for a fault the tap caused (it concerns both ways)."""
        return "!!" if self.layer is Layer.FAULT else self.direction.arrow

    def line(self, *, times: bool = False) -> str:
        """The event as one fixed-width text line (times are left out by default)."""
        when = f"{self.time:8.3f}s " if times else ""
        return (
            f"{when}#{self.connection} {self.arrow} {self.transport:<9} "
            f"{self.layer.value:<9} {self.summary}"
        )


def as_layer(value: Layer | str) -> Layer:
    """``Layer.ENGINEIO`` from itself, ``"engine.io"``, ``"engineio"`` or ``"ENGINEIO"``."""
    if isinstance(value, Layer):
        return value
    key = str(value).strip().lower().replace(".", "").replace("_", "").replace("-", "")
    for layer in Layer:
        if key in (layer.value.replace(".", ""), layer.name.lower()):
            return layer
    choices = ", ".join(repr(layer.value) for layer in Layer)
    raise ValueError(f"unknown layer {value!r}: choose among {choices}")


def as_layers(values: Iterable[Layer | str] | Layer | str | None) -> frozenset[Layer]:
    """A set of layers from names or members; None means every layer."""
    if values is None:
        return frozenset(Layer)
    if isinstance(values, (Layer, str)):
        values = [values]
    return frozenset(as_layer(value) for value in values)


def as_direction(value: Direction | str | None) -> Direction | None:
    """A :class:`Direction`, or None for both ways."""
    if value is None or isinstance(value, Direction):
        return value
    key = str(value).strip().lower().replace(" ", "")
    aliases = {
        "both": None,
        "->": Direction.CLIENT_TO_SERVER,
        "<-": Direction.SERVER_TO_CLIENT,
        "client_to_server": Direction.CLIENT_TO_SERVER,
        "server_to_client": Direction.SERVER_TO_CLIENT,
        "client->server": Direction.CLIENT_TO_SERVER,
        "server->client": Direction.SERVER_TO_CLIENT,
    }
    if key not in aliases:
        raise ValueError(
            f"unknown direction {value!r}: choose 'client->server', 'server->client' or 'both'"
        )
    return aliases[key]
