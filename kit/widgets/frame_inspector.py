"""``FrameInspector``: every layer of a capture in one table, like DevTools' "Frames" tab.

A wire tap records the bytes between a client and a server and decodes them layer by
layer into :class:`~kit.wiretap.records.WireEvent` rows: HTTP requests and responses,
WebSocket frames, engine.io packets, socket.io packets. The inspector shows them as a
table with one filter per layer, a direction filter, and an optional hex dump::

    tap = kit.tap(server)
    inspector = kit.FrameInspector(tap, layers=["engine.io", "socket.io"])
    display(inspector)                     # grows while the client talks
    print(inspector.text())                # the same rows as plain, repeatable text
    #1 -> websocket engine.io PING 'probe'
    #1 <- websocket engine.io PONG 'probe'
    #1 -> websocket engine.io UPGRADE
    ...
    inspector.diagram()                    # the same rows as a sequence diagram

The source is a wire tap (anything with its ``subscribe(on_event, replay=True,
on_clear=...)``: the rows so far, then each new one, never one twice) or a plain list of
events (a finished capture). Callbacks arrive on the kit's runtime thread and only change
the table's ``value`` trait, under a lock. Bursts are coalesced without any thread of our own: on
the runtime loop, at most one redraw per :data:`REDRAW_INTERVAL`, the last one
scheduled with ``loop.call_later``; and each redraw formats only the last ``max_rows``
rows.

Stable CSS classes for browser tests and styling: ``kit-inspector`` (the widget),
``kit-inspector-filters``, ``kit-inspector-layer`` (each layer toggle),
``kit-inspector-direction``, ``kit-inspector-raw``, ``kit-inspector-count``,
``kit-inspector-table``, ``kit-inspector-row`` (each row, plus ``kit-layer-<layer>``
such as ``kit-layer-engineio``, and ``kit-client-to-server`` or
``kit-server-to-client``), ``kit-inspector-hex``.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

import ipywidgets as widgets

from kit.widgets.sequence_diagram import (
    SequenceDiagram,
    direction_css_class,
    layer_css_class,
)
from kit.widgets.static import with_static_fallback
from kit.wire.text import usv
from kit.wiretap.records import Direction, Layer, WireEvent, as_direction, as_layers

__all__ = ["REDRAW_INTERVAL", "EventSource", "FrameInspector", "hex_dump"]

REDRAW_INTERVAL = 0.1
"""Seconds between two redraws of a live table during a burst of events."""

HEX_BYTES = 64
"""How many bytes of ``event.raw`` the hex column shows."""

ROW_COLOURS: dict[Layer, str] = {
    Layer.TCP: "#f6f6f6",
    Layer.HTTP: "#f5efec",
    Layer.WEBSOCKET: "#eef2f4",
    Layer.ENGINEIO: "#eaf2fc",
    Layer.SOCKETIO: "#fdf0e8",
    Layer.REDIS: "#fbeaea",
}
"""A light background per layer, so the layers stand apart at a glance."""

HTTP_LAYERS = tuple(layer for layer in Layer if layer is not Layer.REDIS)
"""The layer toggles shown for a tap in front of an HTTP, WebSocket or socket.io server."""

_BOTH = "both"
_DIRECTION_CHOICES = [
    ("both", _BOTH),
    ("client -> server", Direction.CLIENT_TO_SERVER.value),
    ("server -> client", Direction.SERVER_TO_CLIENT.value),
]
_COLUMNS = ("time (s)", "conn", "dir", "transport", "layer", "summary")


class EventSource(Protocol):
    """What the inspector follows: a wire tap, or anything shaped like one.

    ``subscribe`` calls ``on_event(row)`` for every row already there (with ``replay``)
    and then for each new one, on any thread, and ``on_clear()`` when the source is
    cleared; it returns the function that stops following.
    """

    def subscribe(
        self,
        on_event: Callable[[WireEvent], object],
        *,
        replay: bool = True,
        on_clear: Callable[[], object] | None = None,
    ) -> Callable[[], None]: ...


def hex_dump(raw: bytes, limit: int = HEX_BYTES) -> str:
    """The first ``limit`` bytes as spaced hex, ``...`` if there are more.

    >>> hex_dump(b"2probe")
    '32 70 72 6f 62 65'
    """
    dump = raw[:limit].hex(" ")
    return dump + " ..." if len(raw) > limit else dump


class FrameInspector(widgets.VBox):
    """A filterable table of the events a wire tap saw, live while they arrive.

    Args:
        source: a wire tap (see :class:`EventSource`), or an iterable of
            :class:`~kit.wiretap.records.WireEvent` (a finished capture).
        layers: the layers shown at first (``Layer`` members or names such as
            ``"socket.io"``); all of them when None.
        direction: ``"client->server"``, ``"server->client"``, or None for both.
        raw: show the hex dump column at first.
        max_rows: the table shows at most the last ``max_rows`` matching rows
            (:meth:`text` and :attr:`events` always hold all of them).
    """

    def __init__(
        self,
        source: EventSource | Iterable[WireEvent],
        *,
        layers: Iterable[Layer | str] | None = None,
        direction: Direction | str | None = None,
        raw: bool = False,
        max_rows: int = 500,
        **kwargs: Any,
    ) -> None:
        if max_rows < 1:
            raise ValueError(f"max_rows must be at least 1, not {max_rows}")
        shown_layers = as_layers(layers)
        shown_direction = as_direction(direction)
        # A tap says which layers it can record (TCP and Redis in front of a Redis);
        # anything else is HTTP, WebSocket, engine.io and socket.io.
        offered = tuple(getattr(source, "layers", HTTP_LAYERS))
        self.max_rows = max_rows
        self._lock = threading.RLock()
        self._events: list[WireEvent] = []
        self._closed = False
        self._replaying = False
        self._last_redraw = float("-inf")
        self._pending: asyncio.TimerHandle | None = None
        self._pending_loop: asyncio.AbstractEventLoop | None = None
        self._unsubscribe: Callable[[], object] | None = None

        self._layer_toggles = {
            layer: widgets.ToggleButton(
                value=layer in shown_layers,
                description=layer.value,
                tooltip=f"show {layer.value} rows",
                layout=widgets.Layout(width="auto"),
            )
            for layer in offered
        }
        self._direction = widgets.Dropdown(
            options=_DIRECTION_CHOICES,
            value=shown_direction.value if shown_direction else _BOTH,
            layout=widgets.Layout(width="11em"),
        )
        self._raw = widgets.Checkbox(value=raw, description="raw bytes", indent=False)
        self._count = widgets.HTML()
        self._table = widgets.HTML(layout=widgets.Layout(max_height="30em", overflow="auto"))
        filters = widgets.HBox([*self._layer_toggles.values(), self._direction, self._raw])
        for widget, css in (
            *((toggle, "kit-inspector-layer") for toggle in self._layer_toggles.values()),
            (self._direction, "kit-inspector-direction"),
            (self._raw, "kit-inspector-raw"),
            (filters, "kit-inspector-filters"),
            (self._count, "kit-inspector-count"),
        ):
            widget.add_class(css)
        super().__init__([filters, self._count, self._table], **kwargs)
        self.add_class("kit-inspector")

        subscribe = getattr(source, "subscribe", None)
        if callable(subscribe):  # the rows so far, then each new one, in order
            self._replaying = True  # one redraw after the replay, not one per row
            self._unsubscribe = subscribe(self._on_event, replay=True, on_clear=self._on_clear)
            self._replaying = False
        else:
            self._events = list(source)  # type: ignore[arg-type]
        self._redraw()
        for widget in (*self._layer_toggles.values(), self._direction, self._raw):
            widget.observe(lambda _: self._redraw(), "value")

    # -- reading the capture --------------------------------------------------------

    @property
    def events(self) -> list[WireEvent]:
        """The events that match the current filters, in capture order."""
        return self._select(None, None)

    @property
    def all_events(self) -> list[WireEvent]:
        """Every event received, whatever the filters."""
        with self._lock:
            return list(self._events)

    def text(
        self,
        *,
        layers: Iterable[Layer | str] | None = None,
        direction: Direction | str | None = None,
        times: bool = False,
        raw: bool = False,
    ) -> str:
        """The matching events as plain text, one :meth:`WireEvent.line` per row.

        ``layers`` and ``direction`` default to the widget's current filters. Times are
        left out unless ``times=True``, so a lesson that prints this gets the same output
        on every run. With ``raw=True`` each row is followed by an indented hex dump of
        its bytes.
        """
        lines = []
        for event in self._select(layers, direction):
            lines.append(event.line(times=times))
            if raw:
                lines.append("    " + (hex_dump(event.raw) or "(no bytes)"))
        return "\n".join(lines)

    def diagram(
        self,
        *,
        layers: Iterable[Layer | str] | None = None,
        direction: Direction | str | None = None,
        title: str | None = None,
        max_events: int = 60,
        width: int = 720,
        times: bool = False,
    ) -> SequenceDiagram:
        """The matching events as a client/server sequence diagram (SVG, and PNG).

        Filters default to the widget's current ones; the other arguments are those of
        :func:`~kit.widgets.sequence_diagram.sequence_diagram`.
        """
        return SequenceDiagram(
            self._select(layers, direction),
            title=title,
            max_events=max_events,
            width=width,
            times=times,
        )

    # -- driving the widget from code -----------------------------------------------

    def set_filters(
        self,
        *,
        layers: Iterable[Layer | str] | None = None,
        direction: Direction | str | None = None,
        raw: bool | None = None,
    ) -> None:
        """Change the filters as clicking would; None leaves a filter as it is.

        ``direction="both"`` shows both directions again.
        """
        if layers is not None:
            wanted = as_layers(layers)
            for layer, toggle in self._layer_toggles.items():
                toggle.value = layer in wanted
        if direction is not None:
            chosen = as_direction(direction)
            self._direction.value = chosen.value if chosen else _BOTH
        if raw is not None:
            self._raw.value = raw

    def refresh(self) -> None:
        """Redraw the table (a live source needs no call: its rows arrive by themselves)."""
        self._redraw()

    def close(self) -> None:
        """Stop following the source and close the widget (and its filter widgets)."""
        if "_lock" not in self.__dict__:  # __init__ refused its arguments: nothing to undo
            super().close()
            return
        with self._lock:
            self._closed = True
            unsubscribe, self._unsubscribe = self._unsubscribe, None
            pending, loop = self._pending, self._pending_loop
            self._pending = self._pending_loop = None
        if unsubscribe is not None:
            unsubscribe()
        if pending is not None and loop is not None and not loop.is_closed():
            # RuntimeError: the loop closed in between, so nothing is left to cancel.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(pending.cancel)
        filters = self.children[0]
        for widget in (*filters.children, filters, self._count, self._table):
            widget.close()
        super().close()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """The live widget, plus a static table for where widgets cannot render.

        A saved notebook shows widgets only in a front end that runs it: JupyterLab before
        the kernel ran (an untrusted notebook), GitHub and nbviewer fall back to the
        richest *safe* output, which is this HTML table of the capture (without times,
        so that it is the same on every run).
        """
        with self._lock:
            shown = self.events[: self.max_rows]
        note = (
            f"<p><i>{html.escape(repr(self))}: the live inspector appears when the "
            "notebook runs.</i></p>"
        )
        return with_static_fallback(
            super()._repr_mimebundle_(**kwargs), note + _table_html(shown, raw=False, times=False)
        )

    def __repr__(self) -> str:
        with self._lock:
            total = len(self._events)
        return f"FrameInspector({len(self.events)} of {total} events)"

    # -- live updates (runtime thread) ----------------------------------------------

    def _on_event(self, event: WireEvent) -> None:
        """Called by the source, on its own thread, for each row."""
        with self._lock:
            if self._closed:
                return
            self._events.append(event)
            if self._replaying:
                return
        self._schedule_redraw()

    def _on_clear(self) -> None:
        """The source was cleared: so is the table."""
        with self._lock:
            self._events = []
        self._schedule_redraw()

    def _schedule_redraw(self) -> None:
        """Redraw now, or once at the end of the interval if a burst is under way."""
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        wait = self._last_redraw + REDRAW_INTERVAL - time.monotonic()
        if wait <= 0 or loop is None:
            # Quiet moment, or a thread without a loop to come back on: draw now.
            self._redraw()
        elif self._pending is None:
            # In a burst: draw once when the interval is over, with everything so far.
            self._pending = loop.call_later(wait, self._redraw_pending)
            self._pending_loop = loop

    def _redraw_pending(self) -> None:
        with self._lock:
            self._pending = self._pending_loop = None
            if not self._closed:
                self._redraw()

    # -- rendering ------------------------------------------------------------------

    def _select(
        self,
        layers: Iterable[Layer | str] | None,
        direction: Direction | str | None,
    ) -> list[WireEvent]:
        """The events in ``layers`` going ``direction``; None means the widget's filter."""
        if layers is None:
            wanted = {layer for layer, toggle in self._layer_toggles.items() if toggle.value}
        else:
            wanted = set(as_layers(layers))
        way = as_direction(self._direction.value) if direction is None else as_direction(direction)
        with self._lock:
            events = list(self._events)
        return [
            event
            for event in events
            if event.layer in wanted and (way is None or event.direction is way)
        ]

    def _redraw(self) -> None:
        """Redraw the count and the table (any thread; only traits change)."""
        with self._lock:
            if self._closed:
                return
            self._last_redraw = time.monotonic()
            matching = self.events
            total = len(self._events)
            shown = matching[-self.max_rows :]
            count = f"{len(matching)} of {total} events"
            if len(shown) < len(matching):
                count += f" (the last {len(shown)} shown)"
            self._count.value = html.escape(count)
            self._table.value = _table_html(shown, raw=self._raw.value)


def _table_style(layers: Sequence[Layer]) -> str:
    """One ``<style>`` block for a table: cell padding and a light colour per layer."""
    rules = [
        ".kit-inspector-table{border-collapse:collapse;font-family:monospace;font-size:12px}",
        ".kit-inspector-table th,.kit-inspector-table td"
        "{padding:1px 6px;text-align:left;white-space:pre;vertical-align:top}",
        ".kit-inspector-table td.kit-inspector-hex{white-space:normal;min-width:30em}",
        *(
            f".kit-inspector-row.{layer_css_class(layer)}{{background:{colour}}}"
            for layer, colour in ROW_COLOURS.items()
            if layer in layers
        ),
    ]
    return "<style>" + "".join(rules) + "</style>"


_STYLE = _table_style(HTTP_LAYERS)
_REDIS_STYLE = _table_style((Layer.TCP, Layer.REDIS))


def _table_html(events: Sequence[WireEvent], *, raw: bool, times: bool = True) -> str:
    """The rows as an HTML table, every text escaped."""
    columns = _COLUMNS if times else _COLUMNS[1:]
    head = "".join(
        f"<th>{html.escape(name)}</th>" for name in (*columns, *(("bytes (hex)",) if raw else ()))
    )
    rows = []
    for event in events:
        cells = [
            *([f"{event.time:.3f}"] if times else []),
            f"#{event.connection}",
            event.direction.arrow,
            event.transport,
            event.layer.value,
            event.summary,
        ]
        tds = "".join(f"<td>{html.escape(usv(cell))}</td>" for cell in cells)
        if raw:
            dump = html.escape(hex_dump(event.raw))
            tds += f"<td class='kit-inspector-hex'><code>{dump}</code></td>"
        layer, direction = layer_css_class(event.layer), direction_css_class(event.direction)
        css = f"kit-inspector-row {layer} {direction}"
        rows.append(f"<tr class='{css}'>{tds}</tr>")
    redis = any(event.layer is Layer.REDIS for event in events)
    style = _REDIS_STYLE if redis else _STYLE
    return (
        f"{style}<table class='kit-inspector-table'><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
