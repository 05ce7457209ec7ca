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

from kit.wire.errors import InvalidDeflate, MessageTooBig

__all__ = ["DEFAULT_MAX_SIZE", "DeflateParams", "Inflater"]

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
