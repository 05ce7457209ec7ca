"""FrameInspector, headless: filters, text, HTML table and live updates from other threads."""

from __future__ import annotations

import asyncio
import base64
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable

import pytest

from kit.widgets import FrameInspector, SequenceDiagram, hex_dump
from kit.widgets.frame_inspector import REDRAW_INTERVAL
from kit.wiretap.records import Direction, Layer, WireEvent

C2S, S2C = Direction.CLIENT_TO_SERVER, Direction.SERVER_TO_CLIENT
SID = "lv_VI97HAXpY6yYWAAAC"
MASK = bytes.fromhex("37fa213d")  # RFC 6455 section 5.7's masking key


def ws_frame(text: str, *, masked: bool) -> bytes:
    """A short (< 126 bytes) TEXT frame, masked as a client sends it."""
    payload = text.encode()
    if not masked:
        return bytes([0x81, len(payload)]) + payload
    body = bytes(byte ^ MASK[i % 4] for i, byte in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + MASK + body


def socketio_session() -> list[WireEvent]:
    """A realistic socket.io v5 / engine.io v4 session, as a wire tap decodes it.

    Connection #1 long-polls (open, then socket.io CONNECT), connection #2 upgrades to
    WebSocket (probe, upgrade) and carries one chat message each way.
    """
    handshake = f'{{"sid":"{SID}","upgrades":["websocket"],"pingInterval":25000}}'
    polling = f"/socket.io/?EIO=4&transport=polling&sid={SID}"
    upgrade_head = (
        f"GET /socket.io/?EIO=4&transport=websocket&sid={SID} HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    sent = '42["new message","hi"]'
    received = '42["new message",{"username":"alice","message":"hi"}]'
    rows: list[tuple[int, Direction, str, Layer, str, bytes]] = [
        (1, C2S, "polling", Layer.HTTP, "GET /socket.io/?EIO=4&transport=polling",
         b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
        (1, S2C, "polling", Layer.HTTP, "200 OK text/plain [79 bytes]",
         b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"),
        (1, S2C, "polling", Layer.ENGINEIO, f"OPEN {handshake}", f"0{handshake}".encode()),
        (1, C2S, "polling", Layer.HTTP, f"POST {polling}", f"POST {polling}".encode()),
        (1, C2S, "polling", Layer.ENGINEIO, "MESSAGE '0'", b"40"),
        (1, C2S, "polling", Layer.SOCKETIO, "CONNECT /", b"0"),
        (1, S2C, "polling", Layer.SOCKETIO, 'CONNECT / {"sid":"eE3vTZ0YmR1bV9tpAAAD"}',
         b'0{"sid":"eE3vTZ0YmR1bV9tpAAAD"}'),
        (2, C2S, "websocket", Layer.HTTP, f"GET /socket.io/?EIO=4&transport=websocket&sid={SID}",
         upgrade_head.encode()),
        (2, S2C, "websocket", Layer.HTTP, "101 Switching Protocols",
         b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"),
        (2, C2S, "websocket", Layer.WEBSOCKET, "TEXT '2probe' [6 bytes, masked]",
         ws_frame("2probe", masked=True)),
        (2, C2S, "websocket", Layer.ENGINEIO, "PING 'probe'", b"2probe"),
        (2, S2C, "websocket", Layer.WEBSOCKET, "TEXT '3probe' [6 bytes]",
         ws_frame("3probe", masked=False)),
        (2, S2C, "websocket", Layer.ENGINEIO, "PONG 'probe'", b"3probe"),
        (2, C2S, "websocket", Layer.WEBSOCKET, "TEXT '5' [1 byte, masked]",
         ws_frame("5", masked=True)),
        (2, C2S, "websocket", Layer.ENGINEIO, "UPGRADE", b"5"),
        (2, C2S, "websocket", Layer.WEBSOCKET, f"TEXT '{sent}' [22 bytes, masked]",
         ws_frame(sent, masked=True)),
        (2, C2S, "websocket", Layer.ENGINEIO, f"MESSAGE '{sent[1:]}'", sent.encode()),
        (2, C2S, "websocket", Layer.SOCKETIO, 'EVENT / ["new message","hi"]', sent[1:].encode()),
        (2, S2C, "websocket", Layer.WEBSOCKET, f"TEXT '{received}' [53 bytes]",
         ws_frame(received, masked=False)),
        (2, S2C, "websocket", Layer.ENGINEIO, f"MESSAGE '{received[1:]}'", received.encode()),
        (2, S2C, "websocket", Layer.SOCKETIO,
         'EVENT / ["new message",{"username":"alice","message":"hi"}]', received[1:].encode()),
    ]  # fmt: skip
    return [
        WireEvent(seq, 0.001 + 0.02 * seq, conn, direction, transport, layer, summary, raw)
        for seq, (conn, direction, transport, layer, summary, raw) in enumerate(rows)
    ]


SESSION = socketio_session()
TOTAL = len(SESSION)


def event(seq: int, summary: str, *, layer: Layer = Layer.SOCKETIO, raw: bytes = b"") -> WireEvent:
    return WireEvent(seq, seq / 10, 2, S2C, "websocket", layer, summary, raw)


class FakeTap:
    """Shaped like kit.tap(): ``subscribe(on_event, replay=..., on_clear=...)``."""

    def __init__(self, events: Iterable[WireEvent] = ()) -> None:
        self.events = list(events)
        self.callbacks: list[tuple[Callable[[WireEvent], object], Callable[[], object] | None]] = []

    def subscribe(self, on_event, *, replay=True, on_clear=None) -> Callable[[], None]:
        if replay:
            for old in self.events:
                on_event(old)
        entry = (on_event, on_clear)
        self.callbacks.append(entry)
        return lambda: self.callbacks.remove(entry)

    def publish(self, new: WireEvent) -> None:
        self.events.append(new)
        for on_event, _ in list(self.callbacks):
            on_event(new)

    def clear(self) -> None:
        self.events.clear()
        for _, on_clear in list(self.callbacks):
            if on_clear is not None:
                on_clear()


def table_rows(inspector: FrameInspector) -> list[tuple[set[str], list[str]]]:
    """The table's body rows as (CSS classes, cell texts); the HTML must be well formed."""
    root = ET.fromstring(f"<div>{inspector._table.value}</div>")
    return [
        (set(tr.get("class", "").split()), ["".join(td.itertext()) for td in tr])
        for tr in root.iter("tr")
        if tr.get("class")
    ]


# -- filters ----------------------------------------------------------------------------


def test_all_layers_and_both_directions_by_default():
    inspector = FrameInspector(SESSION)
    assert inspector.events == SESSION
    assert inspector._count.value == f"{TOTAL} of {TOTAL} events"
    assert repr(inspector) == f"FrameInspector({TOTAL} of {TOTAL} events)"
    assert len(table_rows(inspector)) == TOTAL


def test_filters_by_layer():
    inspector = FrameInspector(SESSION, layers=["socket.io", Layer.ENGINEIO])
    assert {e.layer for e in inspector.events} == {Layer.SOCKETIO, Layer.ENGINEIO}
    assert len(inspector.events) == 11
    assert inspector._count.value == f"11 of {TOTAL} events"
    assert [cells[4] for _, cells in table_rows(inspector)].count("http") == 0
    # Names are forgiving: "socketio", "SOCKETIO" and "socket.io" are the same layer.
    assert FrameInspector(SESSION, layers=["SOCKETIO"]).text() == (
        FrameInspector(SESSION, layers="socketio").text()
    )


def test_filters_by_direction():
    inspector = FrameInspector(SESSION, layers=["socket.io"], direction="server->client")
    assert inspector.text() == (
        '#1 <- polling   socket.io CONNECT / {"sid":"eE3vTZ0YmR1bV9tpAAAD"}\n'
        '#2 <- websocket socket.io EVENT / ["new message",{"username":"alice","message":"hi"}]'
    )
    assert repr(inspector) == f"FrameInspector(2 of {TOTAL} events)"
    assert FrameInspector(SESSION, direction=C2S).events == [
        e for e in SESSION if e.direction is C2S
    ]
    assert all(cells[2] == "->" for _, cells in table_rows(FrameInspector(SESSION, direction="->")))


def test_clicking_the_filters_updates_count_and_table():
    inspector = FrameInspector(SESSION)
    for layer, toggle in inspector._layer_toggles.items():
        toggle.value = layer is Layer.ENGINEIO  # what clicking the toggle buttons does
    inspector._direction.value = "client->server"
    assert inspector._count.value == f"4 of {TOTAL} events"
    assert {cells[5] for _, cells in table_rows(inspector)} == {
        "MESSAGE '0'",
        "PING 'probe'",
        "UPGRADE",
        'MESSAGE \'2["new message","hi"]\'',
    }
    inspector.set_filters(layers=["http"], direction="both")
    assert [cells[5] for _, cells in table_rows(inspector)][-1] == "101 Switching Protocols"
    assert inspector._count.value == f"5 of {TOTAL} events"


def test_text_arguments_override_the_widget_filters_without_changing_them():
    inspector = FrameInspector(SESSION, layers=["http"])
    assert inspector.text(layers=["engine.io"], direction="<-") == (
        '#1 <- polling   engine.io OPEN {"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],'
        '"pingInterval":25000}\n'
        "#2 <- websocket engine.io PONG 'probe'\n"
        '#2 <- websocket engine.io MESSAGE \'2["new message",{"username":"alice","message":"hi"}]\''
    )
    assert {e.layer for e in inspector.events} == {Layer.HTTP}


def test_bad_filters_are_refused_clearly():
    with pytest.raises(ValueError, match="unknown layer 'ip': choose among 'tcp'"):
        FrameInspector(SESSION, layers=["ip"])
    with pytest.raises(ValueError, match="unknown direction 'up'"):
        FrameInspector(SESSION, direction="up")
    with pytest.raises(ValueError, match="max_rows must be at least 1"):
        FrameInspector(SESSION, max_rows=0)


# -- text -------------------------------------------------------------------------------


def test_text_is_exact_and_has_no_times_by_default():
    capture = SESSION[9:13]
    inspector = FrameInspector(capture)
    assert inspector.text() == (
        "#2 -> websocket websocket TEXT '2probe' [6 bytes, masked]\n"
        "#2 -> websocket engine.io PING 'probe'\n"
        "#2 <- websocket websocket TEXT '3probe' [6 bytes]\n"
        "#2 <- websocket engine.io PONG 'probe'"
    )
    assert inspector.text(times=True).splitlines()[0] == (
        "   0.181s #2 -> websocket websocket TEXT '2probe' [6 bytes, masked]"
    )
    assert inspector.text(raw=True, layers=["websocket"]) == (
        "#2 -> websocket websocket TEXT '2probe' [6 bytes, masked]\n"
        "    81 86 37 fa 21 3d 05 8a 53 52 55 9f\n"
        "#2 <- websocket websocket TEXT '3probe' [6 bytes]\n"
        "    81 06 33 70 72 6f 62 65"
    )
    assert FrameInspector([]).text() == ""
    assert FrameInspector([event(0, "CONNECT /")]).text(raw=True).endswith("\n    (no bytes)")


# -- HTML table -------------------------------------------------------------------------


def test_raw_bytes_column_shows_at_most_64_bytes():
    inspector = FrameInspector(SESSION, layers=["http"])
    assert "bytes (hex)" not in inspector._table.value
    inspector._raw.value = True  # ticking "raw bytes"
    assert "<th>bytes (hex)</th>" in inspector._table.value
    rows = table_rows(inspector)
    upgrade = rows[3][1]  # the upgrade request head, far longer than 64 bytes
    assert upgrade[6].startswith("47 45 54 20 2f")  # "GET /"
    assert upgrade[6].endswith(" ...") and len(upgrade[6].split()) == 64 + 1
    assert rows[0][1][6] == hex_dump(SESSION[0].raw) != SESSION[0].raw.hex(" ")
    assert hex_dump(b"2probe") == "32 70 72 6f 62 65"
    assert hex_dump(bytes(64)) == " ".join(["00"] * 64)  # exactly 64: nothing elided
    inspector.set_filters(raw=False)
    assert "bytes (hex)" not in inspector._table.value


def test_every_text_is_escaped():
    hostile = event(0, "MESSAGE '<script>alert(\"x\")</script>' & more")
    inspector = FrameInspector([hostile], raw=True)
    table = inspector._table.value
    assert "<script>" not in table
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#x27; &amp; more" in table
    assert "<-" not in table and "&lt;-" in table
    assert table_rows(inspector)[0][1][5] == hostile.summary  # escaped, not mangled


def test_css_classes_are_stable():
    inspector = FrameInspector(SESSION[9:13])
    filters, _, table = inspector.children
    classes = {
        css for widget in (inspector, *inspector.children, *filters.children)
        for css in widget._dom_classes
    }  # fmt: skip
    assert {"kit-inspector", "kit-inspector-filters", "kit-inspector-count"} <= classes
    assert {"kit-inspector-layer", "kit-inspector-direction", "kit-inspector-raw"} <= classes
    assert [toggle.description for toggle in inspector._layer_toggles.values()] == [
        "tcp", "tls", "http", "websocket", "engine.io", "socket.io", "fault",
    ]  # fmt: skip
    assert "<table class='kit-inspector-table'>" in table.value
    assert [css for css, _ in table_rows(inspector)] == [
        {"kit-inspector-row", "kit-layer-websocket", "kit-client-to-server"},
        {"kit-inspector-row", "kit-layer-engineio", "kit-client-to-server"},
        {"kit-inspector-row", "kit-layer-websocket", "kit-server-to-client"},
        {"kit-inspector-row", "kit-layer-engineio", "kit-server-to-client"},
    ]
    # Rows are coloured lightly by layer, through the CSS classes.
    assert ".kit-inspector-row.kit-layer-engineio{background:" in table.value


def test_table_columns_time_connection_direction_transport_layer_summary():
    inspector = FrameInspector(SESSION[:1])
    assert table_rows(inspector)[0][1] == [
        "0.001",
        "#1",
        "->",
        "polling",
        "http",
        "GET /socket.io/?EIO=4&transport=polling",
    ]


def test_the_table_keeps_the_last_max_rows_and_text_keeps_all():
    inspector = FrameInspector(SESSION, max_rows=5)
    rows = table_rows(inspector)
    assert [cells[5] for _, cells in rows] == [e.summary for e in SESSION[-5:]]
    assert inspector._count.value == f"{TOTAL} of {TOTAL} events (the last 5 shown)"
    assert len(inspector.text().splitlines()) == TOTAL


# -- sources ----------------------------------------------------------------------------


def test_sources_may_be_lists_generators_or_taps():
    assert FrameInspector(iter(SESSION)).events == SESSION
    assert FrameInspector(FakeTap(SESSION)).events == SESSION
    capture = list(SESSION[:3])
    inspector = FrameInspector(capture)
    capture.append(SESSION[3])  # a list is a finished capture: read once
    assert inspector.events == SESSION[:3]


def test_a_real_capture_replays_then_follows_without_a_gap_or_a_duplicate():
    from kit.wire.decoder import Record
    from kit.wiretap.capture import Capture

    capture = Capture()
    for n in range(3):
        capture.add(1, Record(S2C, "websocket", Layer.SOCKETIO, f"EVENT / [{n}]"))
    adder = threading.Thread(
        target=lambda: [
            capture.add(1, Record(S2C, "websocket", Layer.SOCKETIO, f"EVENT / [{n}]"))
            for n in range(3, 200)
        ]
    )
    adder.start()  # rows keep coming while the inspector subscribes
    inspector = FrameInspector(capture)
    adder.join()
    assert [e.seq for e in inspector.all_events] == list(range(200))


def test_a_cleared_tap_clears_the_table():
    tap = FakeTap(SESSION[:3])
    inspector = FrameInspector(tap)
    tap.clear()
    assert repr(inspector) == "FrameInspector(0 of 0 events)"
    fresh = event(0, "CONNECT /")
    tap.publish(fresh)
    assert inspector.events == [fresh]
    assert inspector._count.value == "1 of 1 events"


# -- live updates -----------------------------------------------------------------------


def test_events_published_on_another_thread_appear_in_the_table():
    tap = FakeTap(SESSION[:3])
    inspector = FrameInspector(tap, layers=["socket.io", "engine.io"])
    assert inspector._count.value == "1 of 3 events"
    hostile = event(3, "EVENT / <b>bold</b>")
    publisher = threading.Thread(target=tap.publish, args=(hostile,))
    publisher.start()
    publisher.join()
    assert "EVENT / &lt;b&gt;bold&lt;/b&gt;" in inspector._table.value
    assert inspector._count.value == "2 of 4 events"
    assert repr(inspector) == "FrameInspector(2 of 4 events)"
    # A row of a hidden layer counts in the total but adds no row.
    threading.Thread(target=tap.publish, args=(event(4, "TEXT", layer=Layer.WEBSOCKET),)).start()
    deadline = time.monotonic() + 2
    while inspector._count.value != "2 of 5 events" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert inspector._count.value == "2 of 5 events"
    assert len(table_rows(inspector)) == 2


@pytest.fixture
def runtime_loop():
    """An asyncio loop in its own thread, standing in for the kit's runtime thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fake-kit-runtime")
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=2)
    loop.close()
    assert not thread.is_alive()


def test_a_burst_on_the_runtime_loop_is_drawn_a_few_times_not_once_per_event(runtime_loop):
    tap = FakeTap()
    inspector = FrameInspector(tap)
    redraws = []
    inspector._table.observe(redraws.append, "value")

    async def burst():
        for seq in range(200):
            tap.publish(event(seq, f"EVENT / [{seq}]"))

    asyncio.run_coroutine_threadsafe(burst(), runtime_loop).result(timeout=2)
    deadline = time.monotonic() + 2
    while inspector._count.value != "200 of 200 events" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert inspector._count.value == "200 of 200 events"
    assert table_rows(inspector)[-1][1][5] == "EVENT / [199]"  # the last one is drawn too
    assert 1 <= len(redraws) <= 3


def test_close_unsubscribes_cancels_a_pending_redraw_and_leaves_no_thread(runtime_loop):
    threads = set(threading.enumerate())
    tap = FakeTap(SESSION[:2])
    inspector = FrameInspector(tap)
    publisher = threading.Thread(target=tap.publish, args=(SESSION[2],))
    publisher.start()
    publisher.join()
    assert inspector._count.value == "3 of 3 events"

    async def publish_twice():
        tap.publish(SESSION[3])
        tap.publish(SESSION[4])  # within REDRAW_INTERVAL: its redraw waits on the loop

    asyncio.run_coroutine_threadsafe(publish_twice(), runtime_loop).result(timeout=2)
    pending = inspector._pending
    assert pending is not None
    table = inspector._table.value
    inspector.close()
    assert tap.callbacks == []
    time.sleep(REDRAW_INTERVAL * 2)
    assert pending.cancelled()
    assert inspector._table.value == table
    tap.publish(SESSION[5])  # after close: nothing happens
    assert inspector._table.value == table
    assert [t for t in threading.enumerate() if t not in threads] == []
    inspector.close()  # twice is harmless


# -- diagram ----------------------------------------------------------------------------


def test_diagram_draws_the_filtered_events():
    inspector = FrameInspector(SESSION, layers=["engine.io"])
    diagram = inspector.diagram(title="engine.io")
    assert isinstance(diagram, SequenceDiagram)
    root = ET.fromstring(diagram.data)
    arrows = [
        g for g in root.iter("{http://www.w3.org/2000/svg}g") if "kit-arrow" in g.get("class")
    ]
    assert len(arrows) == len(inspector.events) == 7
    only_up = inspector.diagram(layers=["socket.io"], direction="->").data
    assert only_up.count('class="kit-arrow') == 2


def test_a_diagram_displays_as_svg_and_png_and_says_what_it_is():
    diagram = FrameInspector(SESSION, layers=["engine.io"]).diagram(title="engine.io")
    bundle = diagram._repr_mimebundle_()
    assert bundle["image/svg+xml"] == diagram.data
    png = base64.b64decode(bundle["image/png"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")  # renders on GitHub and untrusted JupyterLab
    assert bundle["text/plain"] == "<sequence diagram 'engine.io': 7 events>"


def test_saved_output_has_a_static_table_without_times():
    inspector = FrameInspector(SESSION)
    bundle = inspector._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle  # the live widget
    static = bundle["text/html"]
    assert "kit-static" in static and "kit-inspector-table" in static
    assert "time (s)" not in static  # the same on every run: nbval compares it
    assert static.count("<tr class='kit-inspector-row") == len(SESSION)
