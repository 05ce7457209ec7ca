"""sequence_diagram: well-formed, deterministic SVG with one arrow per event."""

from __future__ import annotations

import dataclasses
import itertools
import xml.etree.ElementTree as ET

import pytest

from kit.widgets import sequence_diagram
from kit.widgets.sequence_diagram import LAYER_COLOURS
from kit.wiretap.records import Direction, Layer, WireEvent
from tests.widgets.test_frame_inspector import SESSION, event

SVG_NS = "{http://www.w3.org/2000/svg}"


def arrows(svg: str) -> list[ET.Element]:
    """The ``<g class="kit-arrow ...">`` groups, one per event drawn (the SVG must parse)."""
    root = ET.fromstring(svg)
    return [g for g in root.iter(f"{SVG_NS}g") if "kit-arrow" in g.get("class", "").split()]


def labels(svg: str) -> list[str]:
    """The label drawn above each arrow."""
    return [g.findall(f"{SVG_NS}text")[-1].text or "" for g in arrows(svg)]


def test_the_session_parses_as_svg_with_one_arrow_per_event_in_order():
    svg = sequence_diagram(SESSION, title="socket.io session")
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG_NS}svg" and root.get("class") == "kit-sequence-diagram"
    assert len(arrows(svg)) == len(SESSION)
    assert labels(svg) == [e.summary for e in SESSION]  # all fit in 720 px
    ys = [int(g.find(f"{SVG_NS}line").get("y1")) for g in arrows(svg)]
    assert ys == sorted(ys) and {b - a for a, b in itertools.pairwise(ys)} == {22}  # 22 px a row
    lifelines = {t.text for t in root.iter(f"{SVG_NS}text")} & {"client", "server"}
    assert lifelines == {"client", "server"}


def test_arrows_point_the_way_the_bytes_went():
    for g, e in zip(arrows(sequence_diagram(SESSION)), SESSION, strict=True):
        line = g.find(f"{SVG_NS}line")
        x1, x2 = int(line.get("x1")), int(line.get("x2"))
        assert (x1 < x2) == (e.direction is Direction.CLIENT_TO_SERVER), e
        assert line.get("y1") == line.get("y2")  # horizontal
        tip = g.find(f"{SVG_NS}polygon").get("points").split()[0]
        assert tip == f"{x2},{line.get('y2')}"  # the arrowhead sits at the receiving end
        css = g.get("class").split()
        assert f"kit-layer-{e.layer.value.replace('.', '')}" in css
        assert ("kit-client-to-server" in css) == (e.direction is Direction.CLIENT_TO_SERVER)


def test_colours_and_weights_follow_the_layer_with_a_legend():
    svg = sequence_diagram(SESSION)
    for g, e in zip(arrows(svg), SESSION, strict=True):
        line = g.find(f"{SVG_NS}line")
        assert line.get("stroke") == LAYER_COLOURS[e.layer]
        heavy = e.layer in (Layer.ENGINEIO, Layer.SOCKETIO)
        assert line.get("stroke-width") == ("2" if heavy else "1")
    legend = next(
        g for g in ET.fromstring(svg).iter(f"{SVG_NS}g") if g.get("class") == "kit-legend"
    )
    assert [t.text for t in legend.iter(f"{SVG_NS}text")] == [
        "http", "websocket", "engine.io", "socket.io",
    ]  # fmt: skip


def test_labels_are_escaped_and_cut_to_fit():
    hostile = event(0, '<script>alert("&")</script>')
    long = event(1, "EVENT / " + "x" * 300)
    control = event(2, "TEXT '\x00\x1b'")  # not even allowed escaped in XML 1.0
    svg = sequence_diagram([hostile, long, control])
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    drawn = labels(svg)
    assert drawn[0] == hostile.summary
    assert drawn[1].startswith("EVENT / xxx") and drawn[1].endswith("\u2026")
    assert len(drawn[1]) < len(long.summary)
    assert drawn[2] == "TEXT '\ufffd\ufffd'"
    narrow = labels(sequence_diagram([long], width=400))[0]
    assert len(narrow) < len(drawn[1])


def test_events_beyond_max_events_are_elided_with_a_note():
    many = [event(seq, f"EVENT / [{seq}]") for seq in range(100)]
    svg = sequence_diagram(many, max_events=60)
    assert labels(svg) == [f"EVENT / [{seq}]" for seq in range(60)]
    notes = [t.text for t in ET.fromstring(svg).iter(f"{SVG_NS}text") if t.get("class")]
    assert "\u2026 40 more events not shown (max_events=60)" in notes
    assert "more event" not in sequence_diagram(many[:60], max_events=60)
    assert "1 more event not shown" in sequence_diagram(many[:61], max_events=60)
    with pytest.raises(ValueError, match="max_events must be at least 1"):
        sequence_diagram(many, max_events=0)


def test_same_input_same_picture_and_no_times_unless_asked():
    assert sequence_diagram(SESSION) == sequence_diagram(list(SESSION))
    later = [dataclasses.replace(e, time=e.time + 5) for e in SESSION]
    assert sequence_diagram(later) == sequence_diagram(SESSION)  # times are not drawn
    assert sequence_diagram(SESSION[1:]) != sequence_diagram(SESSION)
    timed = sequence_diagram(SESSION, times=True)
    assert "0.001s #1" in timed and "0.001s" not in sequence_diagram(SESSION)
    assert sequence_diagram(SESSION, times=True) == timed


def test_an_empty_capture_still_draws_the_lifelines():
    svg = sequence_diagram([])
    texts = [t.text for t in ET.fromstring(svg).iter(f"{SVG_NS}text")]
    assert texts == ["client", "server", "no events"]
    assert arrows(svg) == []


def test_one_connection_per_margin_label():
    e = WireEvent(0, 0.0, 7, Direction.SERVER_TO_CLIENT, "tcp", Layer.TCP, "CLOSE")
    texts = [t.text for t in arrows(sequence_diagram([e]))[0].findall(f"{SVG_NS}text")]
    assert texts == ["#7", "CLOSE"]
