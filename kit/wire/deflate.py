"""permessage-deflate (RFC 7692): what a compressed WebSocket message looks like, inflated.

When client and server agree on ``Sec-WebSocket-Extensions: permessage-deflate``, a sender
may compress a data message: it deflates the whole message, drops the final
``00 00 ff ff`` of the deflate stream, and sets RSV1 on the message's first frame. The
receiver appends those four bytes again and inflates. Each direction may keep its
compression context from message to message (the default: repeated text compresses
better) or start afresh ("no context takeover"), and may use a smaller window.

Inflating is where a peer can hurt: a few hundred kilobytes can inflate to gigabytes (a
"decompression bomb"). :class:`Inflater` never produces more than ``max_size`` bytes for
one message; past that it raises :class:`~kit.wire.errors.MessageTooBig`, close code 1009,
as a server must.

    >>> import zlib
    >>> packer = zlib.compressobj(wbits=-15)
    >>> wire = packer.compress(b"hello hello hello") + packer.flush(zlib.Z_SYNC_FLUSH)
    >>> Inflater().inflate(wire[:-4])      # what travels has no trailing 00 00 ff ff
    b'hello hello hello'
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

from kit.wire.errors import InvalidDeflate, MessageTooBig

__all__ = [
    "DEFAULT_MAX_SIZE",
    "DeflateParams",
    "DeflateSettings",
    "Deflater",
    "Inflater",
    "negotiate",
]

DEFAULT_MAX_SIZE = 2**20
"""Inflate at most 1 MiB per message unless told otherwise (websockets' default too)."""

_TAIL = b"\x00\x00\xff\xff"


@dataclass(frozen=True)
class DeflateParams:
    """The parameters a server accepted, from its ``Sec-WebSocket-Extensions`` answer.

    ``permessage-deflate; server_no_context_takeover; client_max_window_bits=10`` means:
    the server starts each message with a fresh context, the client deflates with a
    2**10-byte window.
    """

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = 15
    client_max_window_bits: int = 15

    @classmethod
    def parse(cls, header: str) -> DeflateParams | None:
        """The parameters in a response's extensions header, or None if not negotiated."""
        offers = [offer.strip() for offer in header.split(",")]
        chosen = next((o for o in offers if o.lower().startswith("permessage-deflate")), None)
        if chosen is None:
            return None
        values: dict[str, object] = {}
        for param in chosen.split(";")[1:]:
            name, _, value = param.strip().partition("=")
            name = name.strip().lower()
            value = value.strip().strip('"')
            if name.endswith("_no_context_takeover"):
                values[name] = True
            elif name.endswith("_max_window_bits") and value.isdigit():
                bits = int(value)
                if 8 <= bits <= 15:
                    values[name] = bits
        return cls(**values)  # type: ignore[arg-type]

    def deflater(self, sender: str, *, level: int = 6) -> Deflater:
        """The deflater for messages ``sender`` (``"client"`` or ``"server"``) sends."""
        if sender == "server":
            bits, fresh = self.server_max_window_bits, self.server_no_context_takeover
        else:
            bits, fresh = self.client_max_window_bits, self.client_no_context_takeover
        return Deflater(window_bits=bits, keep_context=not fresh, level=level)

    def inflater(self, sender: str, *, max_size: int | None = DEFAULT_MAX_SIZE) -> Inflater:
        """The inflater for messages sent by ``sender`` (``"client"`` or ``"server"``)."""
        if sender == "server":
            bits, fresh = self.server_max_window_bits, self.server_no_context_takeover
        else:
            bits, fresh = self.client_max_window_bits, self.client_no_context_takeover
        return Inflater(window_bits=bits, keep_context=not fresh, max_size=max_size)


class Inflater:
    """Inflates the messages of one direction, in order, within ``max_size`` each.

    Args:
        window_bits: the sender's window (8-15).
        keep_context: False when the sender starts every message afresh.
        max_size: the largest inflated message, in bytes, or None for no limit.
    """

    def __init__(
        self,
        *,
        window_bits: int = 15,
        keep_context: bool = True,
        max_size: int | None = DEFAULT_MAX_SIZE,
    ) -> None:
        # zlib cannot inflate with an 8-bit raw window; 9 reads what 8 wrote.
        self.window_bits = max(window_bits, 9)
        self.keep_context = keep_context
        self.max_size = max_size
        self._inflate = zlib.decompressobj(-self.window_bits)

    def inflate(self, compressed: bytes) -> bytes:
        """The message ``compressed`` stands for.

        Raises:
            MessageTooBig: it inflates to more than ``max_size`` bytes (close with 1009).
            InvalidDeflate: the bytes are not a deflate stream (close with 1002).
        """
        if not self.keep_context:
            self._inflate = zlib.decompressobj(-self.window_bits)
        limit = 0 if self.max_size is None else self.max_size + 1
        try:
            data = self._inflate.decompress(compressed + _TAIL, limit)
        except zlib.error as exc:
            self._inflate = zlib.decompressobj(-self.window_bits)
            raise InvalidDeflate(str(exc)) from exc
        if self.max_size is not None and (
            len(data) > self.max_size or self._inflate.unconsumed_tail
        ):
            # The rest is never inflated: the context is spoiled, start a new one.
            self._inflate = zlib.decompressobj(-self.window_bits)
            raise MessageTooBig(max(len(data), self.max_size + 1), self.max_size)
        return data


class Deflater:
    """Deflates the messages of one direction, in order (the sender's side of RFC 7692).

    Args:
        window_bits: the window to compress with (9-15; zlib cannot write with 8).
        keep_context: False to start every message afresh ("no context takeover").
        level: zlib's compression level, 1 (fast) to 9 (small).

        >>> deflater = Deflater()
        >>> first, again = deflater.deflate(b"hello " * 20), deflater.deflate(b"hello " * 20)
        >>> len(first) > len(again)    # the second refers back to the first
        True
        >>> Inflater().inflate(first)[:11]
        b'hello hello'
    """

    def __init__(self, *, window_bits: int = 15, keep_context: bool = True, level: int = 6):
        if not 9 <= window_bits <= 15:
            raise ValueError(f"window_bits is 9 to 15 for zlib to compress, not {window_bits}")
        self.window_bits, self.keep_context, self.level = window_bits, keep_context, level
        self._deflate = self._new()

    def _new(self) -> Any:
        return zlib.compressobj(self.level, zlib.DEFLATED, -self.window_bits)

    def deflate(self, data: bytes) -> bytes:
        """The payload of ``data`` as one compressed message (RSV1 goes on its first frame).

        The deflate stream is flushed to a byte boundary (``Z_SYNC_FLUSH``), which ends in
        ``00 00 ff ff``; RFC 7692 section 7.2.1 drops those four bytes on the wire.
        """
        if not self.keep_context:
            self._deflate = self._new()
        out = self._deflate.compress(data) + self._deflate.flush(zlib.Z_SYNC_FLUSH)
        if out.endswith(_TAIL):
            out = out[:-4]
        return out or b"\x00"  # an empty message: one empty stored block, RFC 7692 7.2.3.6


@dataclass(frozen=True)
class DeflateSettings:
    """What a server is willing to do, for :func:`negotiate`.

    Attributes:
        server_no_context_takeover: start each message it sends afresh (costs ratio,
            saves the memory of a window per client between messages).
        client_no_context_takeover: ask clients to do the same.
        server_max_window_bits: the largest window it compresses with (9-15).
        min_size: messages shorter than this are sent uncompressed (deflating a few
            bytes costs CPU and usually makes them longer).
    """

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = 15
    min_size: int = 32

    def __post_init__(self) -> None:
        if not 9 <= self.server_max_window_bits <= 15:
            raise ValueError(
                f"server_max_window_bits is 9 to 15, not {self.server_max_window_bits}"
            )
        if self.min_size < 0:
            raise ValueError(f"min_size is a number of bytes, at least 0, not {self.min_size}")


_PARAMS = {
    "server_no_context_takeover",
    "client_no_context_takeover",
    "server_max_window_bits",
    "client_max_window_bits",
}


def _offer_params(offer: str) -> dict[str, str | None] | None:
    """An offer's parameters, or None when it breaks RFC 7692 section 7 (declined)."""
    parts = [part.strip() for part in offer.split(";")]
    if parts[0].lower() != "permessage-deflate":
        return None
    params: dict[str, str | None] = {}
    for part in parts[1:]:
        name, equals, value = part.partition("=")
        name = name.strip().lower()
        if name not in _PARAMS or name in params:
            return None  # an unknown or repeated parameter: decline this offer
        text = value.strip().strip('"') if equals else None
        if name.endswith("_no_context_takeover") and text is not None:
            return None
        if name == "server_max_window_bits" and (text is None or not _bits(text)):
            return None
        if name == "client_max_window_bits" and text is not None and not _bits(text):
            return None
        params[name] = text
    return params


def _bits(text: str) -> bool:
    return text.isdigit() and 8 <= int(text) <= 15 and text == str(int(text))


def negotiate(
    offers: str | list[str], settings: DeflateSettings | None = None
) -> tuple[DeflateParams, str] | None:
    """The server's side of RFC 7692: accept the first acceptable offer, or none.

    Args:
        offers: the request's ``Sec-WebSocket-Extensions`` values (one string, or one per
            header line); offers are separated by commas.
        settings: what the server is willing to do.

    Returns:
        ``(params, header value for the 101 answer)``, or None: no compression.

        >>> params, answer = negotiate("permessage-deflate; client_max_window_bits")
        >>> answer
        'permessage-deflate'
        >>> negotiate("permessage-deflate; server_max_window_bits=10")[1]
        'permessage-deflate; server_max_window_bits=10'
    """
    settings = settings or DeflateSettings()
    values = [offers] if isinstance(offers, str) else list(offers)
    for offer in (o.strip() for value in values for o in value.split(",")):
        params = _offer_params(offer)
        if params is None:
            continue
        server_bits = settings.server_max_window_bits
        if "server_max_window_bits" in params:
            wanted = int(params["server_max_window_bits"] or 15)
            if wanted < 9:
                continue  # zlib cannot compress with a 256-byte window: decline
            server_bits = min(server_bits, wanted)
        server_fresh = settings.server_no_context_takeover or (
            "server_no_context_takeover" in params
        )
        client_fresh = settings.client_no_context_takeover or (
            "client_no_context_takeover" in params
        )
        client_bits = 15
        if params.get("client_max_window_bits"):
            client_bits = int(params["client_max_window_bits"] or 15)
        answer = ["permessage-deflate"]
        if server_fresh:
            answer.append("server_no_context_takeover")
        if client_fresh:
            answer.append("client_no_context_takeover")
        if server_bits < 15 or "server_max_window_bits" in params:
            answer.append(f"server_max_window_bits={server_bits}")
        if params.get("client_max_window_bits"):
            answer.append(f"client_max_window_bits={client_bits}")
        chosen = DeflateParams(
            server_no_context_takeover=server_fresh,
            client_no_context_takeover=client_fresh,
            server_max_window_bits=server_bits,
            client_max_window_bits=client_bits,
        )
        return chosen, "; ".join(answer)
    return None
