"""``kit.tap(server)``: a loopback relay that records and decodes every byte, both ways.

Browser DevTools show one layer at a time, for one browser. The tap sits between *any*
client and a kit server, passes the bytes through unchanged, and decodes them layer by
layer as they go by::

    client  --TCP-->  tap (127.0.0.1:TAP_PORT)  --TCP-->  server (127.0.0.1:PORT)
                       |
                       +-- HTTP heads and bodies   (long-polling GET/POST, the upgrade)
                       +-- WebSocket frames         (opcode, mask, length)
                       +-- engine.io packets        (open, ping, pong, message, upgrade...)
                       +-- socket.io packets        (connect, event, ack...)

Connect the client to ``tap.url`` instead of ``server.url``; read ``tap.events`` (a list of
:class:`~kit.runtime.records.WireEvent`) or show them live with ``kit.FrameInspector(tap)``.
Decoding never touches the bytes that are relayed: whatever the tap fails to understand is
recorded as such and passed on as it came.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import h11

from kit.runtime import cells
from kit.runtime.loop import connection_handler
from kit.runtime.records import Direction, Layer, WireEvent, as_direction, as_layer, as_layers
from kit.runtime.servers import Server, serve
from kit.wire import EnginePacket, Frame, Opcode, ProtocolError, SocketPacket, decode_payload
from kit.wire.frames import FrameReader

__all__ = ["Tap", "TapRelay", "tap"]

C2S, S2C = Direction.CLIENT_TO_SERVER, Direction.SERVER_TO_CLIENT
READ_SIZE = 65536
MAX_EVENTS = 100_000


class _Inflater:
    """permessage-deflate (RFC 7692) for one direction: decompress whole messages."""

    def __init__(self, window_bits: int, keep_context: bool) -> None:
        self.window_bits, self.keep_context = window_bits, keep_context
        self._inflate = zlib.decompressobj(-window_bits)

    def message(self, data: bytes) -> bytes:
        if not self.keep_context:
            self._inflate = zlib.decompressobj(-self.window_bits)
        return self._inflate.decompress(data + b"\x00\x00\xff\xff")


def _deflate_params(header: str, role: str) -> tuple[int, bool]:
    """Window bits and context takeover for frames sent by ``role`` ("server"/"client")."""
    bits, keep = 15, True
    for param in header.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name == f"{role}_no_context_takeover":
            keep = False
        elif name == f"{role}_max_window_bits" and value.strip().strip('"').isdigit():
            bits = int(value.strip().strip('"'))
    return bits, keep


class _Decoder:
    """Decodes one TCP connection through the tap, one call per chunk of bytes."""

    def __init__(self, relay: TapRelay, number: int) -> None:
        self.relay, self.number = relay, number
        self.transport = "tcp"
        self.mode = "http"  # "http", then "websocket" after a 101, or "raw" if lost
        self.client_http = h11.Connection(h11.SERVER)  # parses what the client sends
        self.server_http = h11.Connection(h11.CLIENT)  # parses what the server sends
        self.heads: dict[Direction, bytearray] = {C2S: bytearray(), S2C: bytearray()}
        self.bodies: dict[Direction, bytearray] = {C2S: bytearray(), S2C: bytearray()}
        self.request: h11.Request | None = None
        self.engine_version = 4
        self.socketio = False
        self.frames: dict[Direction, FrameReader] = {}
        self.partial: dict[Direction, tuple[Opcode, bool, bytearray]] = {}
        self.inflaters: dict[Direction, _Inflater] = {}
        self.attachments: dict[Direction, list[int]] = {C2S: [0, 0], S2C: [0, 0]}

    # -- recording ----------------------------------------------------------------

    def record(
        self, direction: Direction, layer: Layer, summary: str, raw: bytes, decoded: object
    ) -> None:
        self.relay._record(self.number, direction, self.transport, layer, summary, raw, decoded)

    def lost(self, direction: Direction, why: str, data: bytes) -> None:
        """Stop decoding this connection; keep relaying."""
        self.mode = "raw"
        self.record(direction, Layer.TCP, f"not decoded any more: {why}", data, None)

    # -- entry point --------------------------------------------------------------

    def feed(self, direction: Direction, data: bytes) -> None:
        try:
            if self.mode == "http":
                self._feed_http(direction, data)
            elif self.mode == "websocket":
                self._feed_websocket(direction, data)
        except Exception as exc:  # decoding must never break the relay
            self.lost(direction, f"{type(exc).__name__}: {exc}", data)

    # -- HTTP ---------------------------------------------------------------------

    def _feed_http(self, direction: Direction, data: bytes) -> None:
        self.heads[direction] += data
        parser = self.client_http if direction is C2S else self.server_http
        parser.receive_data(data)
        self._drain_http()

    def _drain_http(self) -> None:
        progress = True
        while progress and self.mode == "http":
            progress = self._next_http(C2S) or self._next_http(S2C)
            if self.client_http.our_state is h11.DONE and self.client_http.their_state is h11.DONE:
                self.client_http.start_next_cycle()
                self.server_http.start_next_cycle()
                progress = True

    def _next_http(self, direction: Direction) -> bool:
        parser, mirror = (
            (self.client_http, self.server_http)
            if direction is C2S
            else (self.server_http, self.client_http)
        )
        try:
            event = parser.next_event()
        except h11.RemoteProtocolError as exc:
            self.lost(direction, f"not HTTP/1.1 ({exc})", bytes(self.heads[direction]))
            return False
        if event is h11.NEED_DATA or event is h11.PAUSED:
            return False
        if isinstance(event, h11.ConnectionClosed):
            return False
        mirror.send(event)  # keep the other parser's idea of the exchange in step
        if isinstance(event, h11.Request):
            self._request(event)
        elif isinstance(event, h11.InformationalResponse | h11.Response):
            self._response(event)
        elif isinstance(event, h11.Data):
            self.bodies[direction] += event.data
        elif isinstance(event, h11.EndOfMessage):
            body = bytes(self.bodies[direction])
            self.bodies[direction].clear()
            self._body(direction, body)
        return True

    def _take_head(self, direction: Direction) -> bytes:
        buffer = self.heads[direction]
        end = buffer.find(b"\r\n\r\n")
        head = bytes(buffer[: end + 4]) if end >= 0 else bytes(buffer)
        del buffer[: end + 4 if end >= 0 else len(buffer)]
        return head

    def _request(self, request: h11.Request) -> None:
        self.request = request
        target = request.target.decode("latin-1")
        url = urlsplit(target)
        query = parse_qs(url.query)
        if "EIO" in query and query["EIO"][0].isdigit():
            self.engine_version = int(query["EIO"][0])
        self.socketio = url.path.startswith("/socket.io")
        upgrade = any(k == b"upgrade" and b"websocket" in v.lower() for k, v in request.headers)
        self.transport = query.get("transport", ["websocket" if upgrade else "http"])[0]
        method = request.method.decode("latin-1")
        self.record(C2S, Layer.HTTP, f"{method} {target}", self._take_head(C2S), request)

    def _response(self, response: h11.InformationalResponse | h11.Response) -> None:
        reason = response.reason.decode("latin-1")
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in response.headers}
        summary = f"{response.status_code} {reason}"
        if "content-type" in headers:
            summary += f" ({headers['content-type']})"
        self.record(S2C, Layer.HTTP, summary, self._take_head(S2C), response)
        if response.status_code == 101:
            self._switch_to_websocket(headers.get("sec-websocket-extensions", ""))

    def _body(self, direction: Direction, body: bytes) -> None:
        request = self.request
        if not body or request is None:
            return
        if direction is S2C and request.method == b"POST":
            # The answer to a polling POST: "ok" in the spec (python-engineio says "OK").
            self.record(direction, Layer.HTTP, f"body {body!r}", body, body)
            return
        if b"EIO=" not in request.target:
            self.record(direction, Layer.HTTP, f"body [{len(body)} bytes]", body, body)
            return
        try:
            # Bytes as they came: decode_payload tells v3's binary bodies from text itself.
            packets = decode_payload(body, version=self.engine_version)
        except ProtocolError as exc:
            self.record(direction, Layer.HTTP, f"body not engine.io: {exc}", body, body)
            return
        self.record(
            direction, Layer.HTTP, f"body [{len(body)} bytes, {len(packets)} packets]", body, body
        )
        for packet in packets:
            self._engine_packet(direction, packet)

    # -- WebSocket ----------------------------------------------------------------

    def _switch_to_websocket(self, extensions: str) -> None:
        self.mode, self.transport = "websocket", "websocket"
        compressed = extensions.strip().lower().startswith("permessage-deflate")
        for direction, role in ((C2S, "client"), (S2C, "server")):
            self.frames[direction] = FrameReader(allow_rsv=compressed)
            if compressed:
                self.inflaters[direction] = _Inflater(*_deflate_params(extensions, role))
        # Bytes that came right after the heads are already frames.
        for direction, parser in ((C2S, self.client_http), (S2C, self.server_http)):
            trailing, _ = parser.trailing_data
            self.heads[direction].clear()
            if trailing:
                self._feed_websocket(direction, bytes(trailing))

    def _feed_websocket(self, direction: Direction, data: bytes) -> None:
        reader = self.frames[direction]
        reader.feed(data)
        for frame in reader:
            raw = frame.serialize(mask=frame.mask, validate=False)
            self.record(direction, Layer.WEBSOCKET, str(frame), raw, frame)
            if frame.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
                self._data_frame(direction, frame)

    def _data_frame(self, direction: Direction, frame: Frame) -> None:
        """Put fragments back together, inflate if compressed, decode the message."""
        if frame.opcode != Opcode.CONT:
            self.partial[direction] = (frame.opcode, frame.rsv1, bytearray())
        started = self.partial.get(direction)
        if started is None:
            return  # a continuation of nothing: the frame row says enough
        opcode, compressed, chunks = started
        chunks += frame.payload
        if not frame.fin:
            return
        del self.partial[direction]
        data = bytes(chunks)
        if compressed:
            data = self.inflaters[direction].message(data)
        self._engine_data(direction, data.decode("utf-8") if opcode == Opcode.TEXT else data)

    def _engine_data(self, direction: Direction, data: str | bytes) -> None:
        if self.request is None or b"EIO=" not in self.request.target:
            return  # a plain WebSocket: frames are the whole story
        try:
            packet = EnginePacket.parse(data, version=self.engine_version)
        except ProtocolError as exc:
            self.record(direction, Layer.ENGINEIO, f"not engine.io: {exc}", _raw(data), None)
            return
        self._engine_packet(direction, packet)

    # -- engine.io and socket.io ----------------------------------------------------

    def _engine_packet(self, direction: Direction, packet: Any) -> None:
        wire = packet.serialize(version=self.engine_version)
        self.record(direction, Layer.ENGINEIO, str(packet), _raw(wire), packet)
        if not self.socketio or packet.type != 4:  # MESSAGE
            return
        pending = self.attachments[direction]
        if isinstance(packet.data, bytes):
            if pending[1]:
                pending[0] += 1
                summary = f"attachment {pending[0]}/{pending[1]} [{len(packet.data)} bytes]"
                if pending[0] == pending[1]:
                    pending[:] = [0, 0]
                self.record(direction, Layer.SOCKETIO, summary, packet.data, packet.data)
            return
        try:
            message = SocketPacket.parse(packet.data)
        except ProtocolError as exc:
            self.record(direction, Layer.SOCKETIO, f"invalid: {exc}", _raw(packet.data), None)
            return
        if message.attachments:
            pending[:] = [0, message.attachments]
        self.record(direction, Layer.SOCKETIO, str(message), _raw(packet.data), message)


def _raw(data: str | bytes) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


class TapRelay:
    """The relay ``kit.serve`` runs for a tap: accept, connect upstream, pump, decode."""

    kind = "tap"

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.events: list[WireEvent] = []
        self._cond = threading.Condition()
        self._subscribers: list[Callable[[WireEvent], object]] = []
        self._started = self.last_activity = time.monotonic()
        self._count = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def _record(
        self,
        connection: int,
        direction: Direction,
        transport: str,
        layer: Layer,
        summary: str,
        raw: bytes,
        decoded: object,
    ) -> None:
        with self._cond:
            if len(self.events) >= MAX_EVENTS:
                return
            event = WireEvent(
                seq=len(self.events),
                time=time.monotonic() - self._started,
                connection=connection,
                direction=direction,
                transport=transport,
                layer=layer,
                summary=summary,
                raw=raw,
                decoded=decoded,
            )
            self.events.append(event)
            self.last_activity = time.monotonic()
            self._cond.notify_all()
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            try:
                subscriber(event)
            except Exception:  # a broken viewer must not break the relay
                import logging

                logging.getLogger("kit.runtime.tap").exception("tap subscriber failed")

    # -- the AppAdapter protocol ------------------------------------------------------

    async def start(self, sock: Any) -> None:
        self._server = await asyncio.start_server(connection_handler(self._relay), sock=sock)

    async def stop(self) -> None:
        if self._server is None:
            return
        server, self._server = self._server, None
        server.close()
        for writer in list(self._writers):
            writer.close()
        await server.wait_closed()

    # -- one connection -----------------------------------------------------------------

    async def _relay(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        self._count += 1
        number = self._count
        self._writers.add(client_out)
        try:
            server_in, server_out = await asyncio.open_connection(*self.target)
        except OSError as exc:
            self._record(
                number,
                C2S,
                "tcp",
                Layer.TCP,
                f"cannot reach the server at {self.target[0]}:{self.target[1]}: {exc}",
                b"",
                None,
            )
            client_out.close()
            self._writers.discard(client_out)
            return
        self._writers.add(server_out)
        decoder = _Decoder(self, number)
        self._record(
            number,
            C2S,
            "tcp",
            Layer.TCP,
            f"client connected, relayed to {self.target[0]}:{self.target[1]}",
            b"",
            None,
        )
        try:
            await asyncio.gather(
                self._pump(client_in, server_out, C2S, decoder),
                self._pump(server_in, client_out, S2C, decoder),
            )
        finally:
            for writer in (client_out, server_out):
                writer.close()
                self._writers.discard(writer)
                with contextlib.suppress(Exception):
                    await writer.wait_closed()

    async def _pump(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        direction: Direction,
        decoder: _Decoder,
    ) -> None:
        who = "client" if direction is C2S else "server"
        try:
            while data := await source.read(READ_SIZE):
                decoder.feed(direction, data)  # record first, so the event exists before
                sink.write(data)  # the other side can react to these bytes
                await sink.drain()
            self._record(
                decoder.number,
                direction,
                decoder.transport,
                Layer.TCP,
                f"{who} closed the connection",
                b"",
                None,
            )
            if sink.can_write_eof():
                sink.write_eof()  # pass the half-close on
        except (ConnectionError, OSError) as exc:
            self._record(
                decoder.number,
                direction,
                decoder.transport,
                Layer.TCP,
                f"{who} connection lost: {exc}",
                b"",
                None,
            )
            sink.close()


def _matches(
    event: WireEvent,
    match: str | Callable[[WireEvent], bool] | None,
    layer: Layer | str | None,
    direction: Direction | str | None,
) -> bool:
    if layer is not None and event.layer is not as_layer(layer):
        return False
    way = as_direction(direction)  # None: both ways
    if way is not None and event.direction is not way:
        return False
    if match is None:
        return True
    return match(event) if callable(match) else match in event.summary


class Tap:
    """A running wire tap: connect clients to :attr:`url`, read :attr:`events`.

    Attributes:
        url, ws_url, port: where clients connect instead of the server.
        target: ``host:port`` of the server behind the tap.
    """

    def __init__(self, server: Server, relay: TapRelay) -> None:
        self._server, self._relay = server, relay
        self.url, self.ws_url, self.port = server.url, server.ws_url, server.port
        self.target = f"{relay.target[0]}:{relay.target[1]}"

    @property
    def events(self) -> list[WireEvent]:
        """Everything recorded so far, oldest first (a snapshot)."""
        with self._relay._cond:
            return list(self._relay.events)

    def subscribe(self, callback: Callable[[WireEvent], object]) -> Callable[[], None]:
        """Call ``callback(event)`` for every new event (on the kit's runtime thread)."""
        with self._relay._cond:
            self._relay._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._relay._cond, contextlib.suppress(ValueError):
                self._relay._subscribers.remove(callback)

        return unsubscribe

    def clear(self) -> None:
        """Forget what was recorded (new events are numbered from 0 again)."""
        with self._relay._cond:
            self._relay.events.clear()

    def select(
        self,
        match: str | Callable[[WireEvent], bool] | None = None,
        *,
        layer: Layer | str | None = None,
        direction: Direction | str | None = None,
    ) -> list[WireEvent]:
        """The recorded events whose summary contains ``match`` (or that it accepts)."""
        return [e for e in self.events if _matches(e, match, layer, direction)]

    def wait_for(
        self,
        match: str | Callable[[WireEvent], bool] | None = None,
        *,
        layer: Layer | str | None = None,
        direction: Direction | str | None = None,
        count: int = 1,
        timeout: float = 5.0,
    ) -> WireEvent:
        """Block until ``count`` matching events were recorded; return the last of them."""
        deadline = time.monotonic() + timeout
        with cells.waiting(), self._relay._cond:
            while True:
                found = [e for e in self._relay.events if _matches(e, match, layer, direction)]
                if len(found) >= count:
                    return found[count - 1]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    what = f"{match!r}" if match is not None else "an event"
                    where = f" at layer {as_layer(layer).value}" if layer is not None else ""
                    raise TimeoutError(
                        f"the tap saw {len(found)} of {count} x {what}{where} within "
                        f"{timeout:g} s ({len(self._relay.events)} events in all)"
                    )
                self._relay._cond.wait(remaining)

    def settle(self, quiet: float = 0.2, timeout: float = 5.0) -> int:
        """Wait until nothing new was recorded for ``quiet`` seconds; return the count.

        The quiet spell is counted from the call at the earliest, so bytes already on
        their way when it is called (an answer to what the cell just sent) are waited for.
        """
        asked = time.monotonic()
        deadline = asked + timeout
        with cells.waiting(), self._relay._cond:
            while True:
                now = time.monotonic()
                idle = now - max(self._relay.last_activity, asked)
                if idle >= quiet:
                    return len(self._relay.events)
                if now >= deadline:
                    raise TimeoutError(f"the tap kept recording for {timeout:g} s")
                self._relay._cond.wait(min(quiet - idle, deadline - now))

    def text(
        self,
        layers: Iterable[Layer | str] | None = None,
        *,
        direction: Direction | str | None = None,
        times: bool = False,
    ) -> str:
        """The capture as plain text, one line per event (stable: no times by default)."""
        wanted = as_layers(layers)
        return "\n".join(
            event.line(times=times)
            for event in self.events
            if event.layer in wanted and _matches(event, None, None, direction)
        )

    def stop(self) -> None:
        """Stop relaying; open connections through the tap are closed."""
        self._server.stop()

    def __enter__(self) -> Tap:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self._server.running else "stopped"
        return f"<Tap {self.url} -> {self.target} {len(self._relay.events)} events {state}>"


def tap(server: Server | str, *, name: str | None = None) -> Tap:
    """Put a recording relay in front of ``server`` and return it.

    Args:
        server: a running kit server, or the ``http://host:port`` of any local server.
        name: the relay's server name (default ``"tap <server name>"``): starting a
            tap of the same name again replaces the old one, as for ``kit.serve``.
    """
    if isinstance(server, Server):
        host, port = server.host, server.port
        name = name or f"tap {server.name}"
    else:
        parts = urlsplit(server)
        if not parts.hostname or not parts.port:
            raise ValueError(f"{server!r}: pass a kit Server or an http://host:port URL")
        host, port = parts.hostname, parts.port
        name = name or f"tap {host}:{port}"
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    relay = TapRelay(host, port)
    return Tap(serve(relay, name=name), relay)


def _register() -> None:
    from kit.runtime.apps import register_adapter

    def adapter(app: Any, options: dict[str, Any]) -> Any:
        if options:
            from kit.runtime.errors import UnsupportedAppError

            raise UnsupportedAppError(app, "a tap takes no server options")
        return app

    register_adapter(lambda app: isinstance(app, TapRelay), adapter)


_register()
