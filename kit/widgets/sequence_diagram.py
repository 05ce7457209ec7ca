"""``sequence_diagram``: a capture drawn as arrows between a client and a server.

Each :class:`~kit.wiretap.records.WireEvent` becomes one horizontal arrow, top to
bottom in capture order: left to right for ``client->server``, right to left for
``server->client``, labelled with the event's summary. A socket.io session then reads
like the diagrams in the protocol documentation::

    client                                   server
      |  GET /socket.io/?EIO=4&transport=polling  |
      |------------------------------------------>|
      |  OPEN {"sid":"lv_VI97HAXpY6yYWAAAC",...}  |
      |<------------------------------------------|

The result is SVG text written by hand (no plotting library), identical for identical
input, so a notebook's saved output only changes when the capture does. Show it with
``FrameInspector.diagram()``, which returns a :class:`SequenceDiagram`: displayed, it
carries the SVG *and* a PNG drawn the same way with matplotlib (when it is installed, as
the ``lessons`` extra does). Why both: JupyterLab shows SVG only from a notebook you have
run or trusted, and GitHub does not render it reliably; a PNG renders everywhere, so a
saved lesson shows its diagrams before anyone runs it.

Stable CSS classes for browser tests and styling: ``kit-sequence-diagram`` (the
``<svg>``), ``kit-lifeline``, ``kit-arrow`` (one ``<g>`` per event, plus
``kit-layer-<layer>`` and ``kit-client-to-server`` / ``kit-server-to-client``),
``kit-elided``, ``kit-legend``.
"""

from __future__ import annotations

import base64
import io
import re
import warnings
from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from kit.wiretap.records import Direction, Layer, WireEvent

__all__ = [
    "LAYER_COLOURS",
    "SequenceDiagram",
    "direction_css_class",
    "layer_css_class",
    "sequence_diagram",
    "sequence_png",
]

LAYER_COLOURS: dict[Layer, str] = {
    Layer.TCP: "#a0a0a0",
    Layer.HTTP: "#8d6e63",
    Layer.WEBSOCKET: "#607d8b",
    Layer.ENGINEIO: "#1f6fd1",
    Layer.SOCKETIO: "#d9480f",
    Layer.REDIS: "#b71c1c",
}
"""Arrow colour per layer: greys and browns for the transport, strong colours for the
protocols the lessons are about."""

_STROKE_WIDTH = {layer: 1 for layer in (Layer.TCP, Layer.HTTP, Layer.WEBSOCKET)} | {
    Layer.ENGINEIO: 2,
    Layer.SOCKETIO: 2,
    Layer.REDIS: 2,
}

ROW_HEIGHT = 22
"""Vertical space per arrow, in pixels."""

_FONT_SIZE = 11
_CHAR_WIDTH = 6.7  # a monospace character at 11 px, so labels can be cut to fit
_MARGIN = 12
_HEADER_HEIGHT = 34  # the "client" / "server" boxes
_TITLE_HEIGHT = 24
_BOX_WIDTH = 64
_ARROW_HEAD = 7

# Characters XML 1.0 forbids even when escaped (NUL, most C0 controls, lone surrogates).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def layer_css_class(layer: Layer) -> str:
    """The CSS class for a layer: ``kit-layer-engineio`` for ``engine.io``."""
    return "kit-layer-" + layer.value.replace(".", "")


def direction_css_class(direction: Direction) -> str:
    """The CSS class for a direction: ``kit-client-to-server`` or ``kit-server-to-client``."""
    return "kit-" + direction.value.replace("->", "-to-")


def _text(value: str) -> str:
    """``value`` safe as XML character data."""
    return escape(_NOT_XML.sub("\ufffd", value))


def _fit(value: str, max_chars: int) -> str:
    """``value`` cut to ``max_chars`` characters, ending in an ellipsis if it was cut."""
    value = " ".join(value.split())  # one line, whatever the summary held
    if len(value) <= max_chars:
        return value
    return value[: max(max_chars - 1, 0)] + "\u2026"


def sequence_diagram(
    events: Sequence[WireEvent],
    *,
    title: str | None = None,
    max_events: int = 60,
    width: int = 720,
    times: bool = False,
) -> str:
    """Draw ``events`` as a client/server sequence diagram and return the SVG text.

    Args:
        events: the events to draw, in order (a capture, or a filtered part of one).
        title: an optional heading above the diagram.
        max_events: draw at most this many arrows (the first ones); a note row says how
            many more were left out.
        width: the drawing's width in pixels; labels are cut to fit between the
            lifelines.
        times: also write each event's time (seconds since the tap started) in the left
            margin. Off by default, so the same exchange always draws the same picture.

    Returns:
        A standalone ``<svg xmlns="http://www.w3.org/2000/svg" ...>`` document.
    """
    if max_events < 1:
        raise ValueError(f"max_events must be at least 1, not {max_events}")
    events = list(events)
    shown, elided = events[:max_events], len(events) - max_events
    gutter = 96 if times else 40  # left margin: "#1" or "  0.012s #1"
    width = max(width, gutter + 2 * _BOX_WIDTH + 160)
    client_x = gutter + _BOX_WIDTH // 2
    server_x = width - _MARGIN - _BOX_WIDTH // 2
    max_chars = int((server_x - client_x - 2 * _ARROW_HEAD) / _CHAR_WIDTH)

    parts: list[str] = []
    y = _MARGIN
    if title is not None:
        parts.append(
            f'<text class="kit-title" x="{width // 2}" y="{y + 14}" text-anchor="middle" '
            f'font-size="14" font-weight="bold">{_text(title)}</text>'
        )
        y += _TITLE_HEIGHT
    boxes_y = y
    y += _HEADER_HEIGHT
    lifeline_top = y

    for event in shown:
        y += ROW_HEIGHT
        parts.append(_arrow(event, y, client_x, server_x, max_chars, gutter, times))
    if not shown:
        y += ROW_HEIGHT
        parts.append(
            f'<text class="kit-elided" x="{width // 2}" y="{y - 6}" text-anchor="middle" '
            f'fill="#777" font-style="italic">no events</text>'
        )
    if elided > 0:
        y += ROW_HEIGHT
        more = "1 more event" if elided == 1 else f"{elided} more events"
        parts.append(
            f'<text class="kit-elided" x="{width // 2}" y="{y - 6}" text-anchor="middle" '
            f'fill="#777" font-style="italic">\u2026 {more} not shown '
            f"(max_events={max_events})</text>"
        )
    lifeline_bottom = y + 8

    lifelines = []
    for name, x in (("client", client_x), ("server", server_x)):
        lifelines.append(
            f'<line class="kit-lifeline" x1="{x}" y1="{lifeline_top}" x2="{x}" '
            f'y2="{lifeline_bottom}" stroke="#bbb" stroke-dasharray="4 3"/>'
            f'<rect x="{x - _BOX_WIDTH // 2}" y="{boxes_y}" width="{_BOX_WIDTH}" '
            f'height="{_HEADER_HEIGHT - 8}" rx="4" fill="#f4f4f4" stroke="#888"/>'
            f'<text x="{x}" y="{boxes_y + 17}" text-anchor="middle" '
            f'font-weight="bold">{name}</text>'
        )

    y = lifeline_bottom + 8
    legend = _legend([event.layer for event in shown], client_x - _BOX_WIDTH // 2, y + 12)
    height = y + (24 if legend else 0) + _MARGIN

    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" class="kit-sequence-diagram" '
            f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'font-family="monospace" font-size="{_FONT_SIZE}">',
            f"<title>{_text(title or 'client/server sequence diagram')}</title>",
            f'<rect width="{width}" height="{height}" fill="white"/>',
            *lifelines,
            *parts,
            *([legend] if legend else []),
            "</svg>",
        ]
    )


def _arrow(
    event: WireEvent,
    y: int,
    client_x: int,
    server_x: int,
    max_chars: int,
    gutter: int,
    times: bool,
) -> str:
    """One event: a ``<g>`` holding its line, its arrowhead and its label."""
    colour = LAYER_COLOURS.get(event.layer, "#000")
    stroke = _STROKE_WIDTH.get(event.layer, 1)
    if event.direction is Direction.CLIENT_TO_SERVER:
        x1, x2, head = client_x, server_x - 1, -_ARROW_HEAD
    else:
        x1, x2, head = server_x, client_x + 1, _ARROW_HEAD
    classes = f"kit-arrow {layer_css_class(event.layer)} {direction_css_class(event.direction)}"
    margin = f"#{event.connection}"
    if times:
        margin = f"{event.time:.3f}s {margin}"
    tip = f"{event.layer.value} {event.direction.value}: {event.summary}"
    return (
        f'<g class="{classes}">'
        f"<title>{_text(tip)}</title>"
        f'<text x="{gutter - 6}" y="{y + 4}" text-anchor="end" fill="#999" '
        f'font-size="10">{_text(margin)}</text>'
        f'<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke={quoteattr(colour)} '
        f'stroke-width="{stroke}"/>'
        f'<polygon points="{x2},{y} {x2 + head},{y - 4} {x2 + head},{y + 4}" '
        f"fill={quoteattr(colour)}/>"
        f'<text x="{(client_x + server_x) // 2}" y="{y - 4}" text-anchor="middle" '
        f"fill={quoteattr(colour)}>{_text(_fit(event.summary, max_chars))}</text>"
        "</g>"
    )


def _legend(layers: list[Layer], x: int, y: int) -> str:
    """A row of coloured swatches, one per layer drawn, lowest layer first."""
    drawn = [layer for layer in Layer if layer in set(layers)]
    if not drawn:
        return ""
    items = []
    for layer in drawn:
        colour = quoteattr(LAYER_COLOURS[layer])
        items.append(
            f'<line x1="{x}" y1="{y - 4}" x2="{x + 18}" y2="{y - 4}" stroke={colour} '
            f'stroke-width="{_STROKE_WIDTH[layer]}"/>'
            f'<text x="{x + 22}" y="{y}" fill="#333">{_text(layer.value)}</text>'
        )
        x += 22 + int(_CHAR_WIDTH * len(layer.value)) + 18
    return f'<g class="kit-legend">{"".join(items)}</g>'


def sequence_png(
    events: Sequence[WireEvent],
    *,
    title: str | None = None,
    max_events: int = 60,
    width: int = 720,
) -> bytes | None:
    """The same diagram as :func:`sequence_diagram`, as PNG bytes; None without matplotlib.

    Drawn in the SVG's own pixel coordinates (one unit is one pixel at 100 dpi), with the
    same rows, colours and labels, so the two pictures match.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    if max_events < 1:
        raise ValueError(f"max_events must be at least 1, not {max_events}")
    events = list(events)
    shown, elided = events[:max_events], len(events) - max_events
    gutter = 40
    width = max(width, gutter + 2 * _BOX_WIDTH + 160)
    client_x = gutter + _BOX_WIDTH // 2
    server_x = width - _MARGIN - _BOX_WIDTH // 2
    max_chars = int((server_x - client_x - 2 * _ARROW_HEAD) / _CHAR_WIDTH)
    rows = max(len(shown), 1) + (1 if elided > 0 else 0)
    top = _MARGIN + (_TITLE_HEIGHT if title is not None else 0)
    height = top + _HEADER_HEIGHT + rows * ROW_HEIGHT + 16 + 24 + _MARGIN

    figure = Figure(figsize=(width / 100, height / 100), dpi=100)
    ax = figure.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.axis("off")
    font: dict[str, Any] = {"family": "monospace", "size": _FONT_SIZE * 0.75}  # px -> pt
    if title is not None:
        ax.text(width / 2, _MARGIN + 14, title, ha="center", weight="bold", **font)
    lifeline_top = top + _HEADER_HEIGHT
    lifeline_bottom = lifeline_top + rows * ROW_HEIGHT + 8
    for name, x in (("client", client_x), ("server", server_x)):
        ax.plot([x, x], [lifeline_top, lifeline_bottom], color="#bbb", linestyle=(0, (4, 3)))
        ax.add_patch(_box(x - _BOX_WIDTH / 2, top, _BOX_WIDTH, _HEADER_HEIGHT - 8))
        ax.text(x, top + 17, name, ha="center", va="baseline", weight="bold", **font)
    y = lifeline_top
    for event in shown:
        y += ROW_HEIGHT
        colour = LAYER_COLOURS.get(event.layer, "#000")
        going_up = event.direction is Direction.CLIENT_TO_SERVER
        x1, x2 = (client_x, server_x - 1) if going_up else (server_x, client_x + 1)
        ax.annotate(
            "",
            xy=(x2, y),
            xytext=(x1, y),
            arrowprops={"arrowstyle": "-|>", "color": colour, "lw": _STROKE_WIDTH[event.layer]},
        )
        label = _NOT_XML.sub("\ufffd", _fit(event.summary, max_chars))
        ax.text((client_x + server_x) / 2, y - 4, label, ha="center", color=colour, **font)
        ax.text(gutter - 6, y + 4, f"#{event.connection}", ha="right", color="#999", **font)
    if elided > 0:
        y += ROW_HEIGHT
        more = "1 more event" if elided == 1 else f"{elided} more events"
        ax.text(width / 2, y - 6, f"\u2026 {more} not shown", ha="center", color="#777", **font)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # Glyphs the default font lacks (CJK in a message) are drawn as boxes; say nothing.
        warnings.simplefilter("ignore")
        figure.savefig(buffer, format="png", facecolor="white")
    return buffer.getvalue()


def _box(x: float, y: float, width: float, height: float) -> Any:
    from matplotlib.patches import FancyBboxPatch

    return FancyBboxPatch(
        (x, y), width, height, boxstyle="round,pad=0,rounding_size=4", fc="#f4f4f4", ec="#888"
    )


class SequenceDiagram:
    """A sequence diagram to display: SVG, plus PNG when matplotlib is installed.

    ``data`` is the SVG text (as with ``IPython.display.SVG``); ``png`` the PNG bytes.
    """

    def __init__(
        self,
        events: Sequence[WireEvent],
        *,
        title: str | None = None,
        max_events: int = 60,
        width: int = 720,
        times: bool = False,
    ) -> None:
        self.events = list(events)
        self.title = title
        self.data = sequence_diagram(
            self.events, title=title, max_events=max_events, width=width, times=times
        )
        self._png_args = {"title": title, "max_events": max_events, "width": width}
        self._png: bytes | None = None

    @property
    def png(self) -> bytes | None:
        """The diagram as PNG bytes (drawn on first use), or None without matplotlib."""
        if self._png is None:
            self._png = sequence_png(self.events, **self._png_args)  # type: ignore[arg-type]
        return self._png

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle: dict[str, Any] = {"image/svg+xml": self.data, "text/plain": repr(self)}
        png = self.png
        if png is not None:
            bundle["image/png"] = base64.b64encode(png).decode("ascii")
        return bundle

    def __repr__(self) -> str:
        name = f" {self.title!r}" if self.title else ""
        return f"<sequence diagram{name}: {len(self.events)} events>"
