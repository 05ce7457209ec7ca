"""``kit.PushRace``: four clients hear the same news server, live, side by side.

One column per way of hearing news: short polling, long-polling, server-sent events and
WebSocket. Each column is a real client (:mod:`kit.clients.push`) connected through its
own byte-counting wire tap, and shows, as it happens, the requests it has sent, the bytes
its connection carried both ways, and the last news items it heard with how late::

    news = kit.NewsServer(rate=0.2)                  # a news item every 5 s or so
    server = kit.serve(news, name="news")
    race = kit.PushRace(server, interval=1.0)        # short polling every second
    race                                             # the widget; press "publish news"
    race.publish()                                   # or publish from code
    race.wait_heard()                                # until all four heard it

Leave it running and watch the short-polling column: its requests and bytes keep
climbing while nothing happens, the two streams' stand still.

Updates come from the kit's runtime thread and only change the columns' ``value``
traits, at most every :data:`REFRESH` seconds. The saved notebook shows a static picture
of the four columns (no numbers, no times), so that its output is the same on every run.
"""

from __future__ import annotations

import asyncio
import html
import threading
import time
from typing import Any

import ipywidgets as widgets

from kit.apps.push import News, NewsServer, PushMethod
from kit.clients.push import Delivery, NewsClient, news_client
from kit.runtime import cells
from kit.runtime.loop import runtime
from kit.runtime.servers import Server
from kit.widgets.static import with_static_fallback
from kit.wiretap import Tap, tap

__all__ = ["REFRESH", "PushRace"]

REFRESH = 0.25
"""Seconds between two redraws of the columns while the race runs."""

_HOW = {
    PushMethod.SHORT_POLLING: "GET /poll every {interval}",
    PushMethod.LONG_POLLING: "GET /long-poll, held by the server",
    PushMethod.SERVER_SENT_EVENTS: "one GET /events, never ending",
    PushMethod.WEBSOCKET: "one WebSocket to /ws",
}
_STYLE = "font-family:monospace;font-size:90%;line-height:1.5"


class PushRace(widgets.VBox):
    """Four news clients, one per method, on one :class:`~kit.apps.push.NewsServer`.

    Args:
        server: a running kit server whose app is a ``NewsServer``.
        interval: seconds between two polls of the short-polling client.
        show: how many of the latest news items each column lists.

    Attributes:
        clients: the client of each method (:class:`~kit.clients.push.NewsClient`).
        taps: the byte-counting tap in front of each client.
    """

    def __init__(
        self, server: Server, *, interval: float = 1.0, show: int = 5, **kwargs: Any
    ) -> None:
        if not isinstance(server, Server) or not isinstance(server.app, NewsServer):
            raise TypeError(
                f"PushRace needs a running kit server of a NewsServer, not {server!r}: "
                "kit.PushRace(kit.serve(kit.NewsServer()))"
            )
        self.server, self.news, self.interval, self.show = server, server.app, interval, show
        self._lock = threading.Lock()
        self._closed = False
        self.taps: dict[PushMethod, Tap] = {
            method: tap(server, name=f"{server.name} race {method.short}", decode=False)
            for method in PushMethod
        }
        self.clients: dict[PushMethod, NewsClient] = {}
        for method in PushMethod:
            options = {"interval": interval} if method is PushMethod.SHORT_POLLING else {}
            self.clients[method] = news_client(method, self.taps[method], **options)
        self._button = widgets.Button(description="publish news", icon="bullhorn")
        self._button.on_click(lambda _: runtime.submit(self.news.publish_async()))
        self._status = widgets.HTML()
        self._columns = {
            method: widgets.HTML(layout=widgets.Layout(flex="1", padding="0 6px"))
            for method in PushMethod
        }
        for method, column in self._columns.items():
            column.add_class("kit-race-column")
            column.add_class(f"kit-race-{method.name.lower().replace('_', '-')}")
        row = widgets.HBox(list(self._columns.values()), layout=widgets.Layout(width="100%"))
        super().__init__([widgets.HBox([self._button, self._status]), row], **kwargs)
        self.add_class("kit-race")
        self._redraw()
        runtime.submit(self._follow())
        try:
            for client in self.clients.values():  # ready when shown: news from now on is heard
                client.wait_open()
        except BaseException:
            self.close()  # nothing half-started is left running
            raise

    # -- from a cell -------------------------------------------------------------------

    def publish(self, text: str | None = None) -> News:
        """Publish a news item on the server now (as the button does); return it."""
        return self.news.publish(text)

    def wait_heard(
        self, seq: int | None = None, timeout: float = 5.0
    ) -> dict[PushMethod, Delivery]:
        """Block until every client heard news ``seq`` (default: the latest published).

        Returns each method's delivery of it. Raises :class:`TimeoutError` naming the
        methods still waiting, or a client's error if one failed.
        """
        wanted = self.news.published if seq is None else seq
        deadline = time.monotonic() + timeout
        with cells.waiting():
            while True:
                heard = {m: _delivery_of(c, wanted) for m, c in self.clients.items()}
                missing = [m for m, found in heard.items() if found is None]
                if not missing:
                    return heard  # type: ignore[return-value]
                for method in missing:
                    error = self.clients[method].error
                    if error is not None:
                        raise error
                if time.monotonic() > deadline:
                    names = ", ".join(m.value for m in missing)
                    raise TimeoutError(f"news #{wanted} not heard within {timeout:g} s by {names}")
                time.sleep(0.005)

    def close(self) -> None:
        """Stop the four clients and their taps, and close the widget."""
        if "_lock" not in self.__dict__:  # __init__ refused its arguments: nothing to undo
            super().close()
            return
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for client in self.clients.values():
            client.close()
        for opened in self.taps.values():
            opened.stop()
        super().close()

    # -- drawing ----------------------------------------------------------------------------

    def _column(self, method: PushMethod) -> str:
        client, wire = self.clients[method], self.taps[method].bytes
        how = _HOW[method].format(interval=f"{self.interval:g} s")
        lines = [
            f"<b>{html.escape(method.value)}</b>",
            f"<span style='color:#777'>{html.escape(how)}</span>",
            f"requests sent: <b>{client.requests:,}</b>",
            f"bytes on the wire: <b>{wire.total:,}</b>",
            f"news heard: <b>{len(client.deliveries):,}</b>",
        ]
        for delivery in reversed(client.deliveries[-self.show :]):
            lines.append(f"#{delivery.news.seq} after {delivery.delay * 1000:,.1f} ms")
        if client.error is not None:
            lines.append(f"<span style='color:#c00'>{html.escape(client.error.problem)}</span>")
        return f"<div style='{_STYLE}'>" + "<br>".join(lines) + "</div>"

    def _redraw(self) -> None:
        for method, column in self._columns.items():
            column.value = self._column(method)
        self._status.value = (
            f"<span style='{_STYLE}'>&nbsp;{self.news.published} news published on "
            f"{html.escape(self.server.url)}</span>"
        )

    async def _follow(self) -> None:
        """Redraw every REFRESH s until the widget is closed or every client has ended."""
        while not self._closed:
            self._redraw()
            if all(client.state in ("closed", "failed") for client in self.clients.values()):
                return
            await asyncio.sleep(REFRESH)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        columns = "".join(
            f"<div style='flex:1;{_STYLE}'><b>{html.escape(method.value)}</b><br>"
            f"{html.escape(_HOW[method].format(interval=f'{self.interval:g} s'))}</div>"
            for method in PushMethod
        )
        note = (
            f"<p><i>{html.escape(repr(self))}: the live race appears when the notebook "
            "runs.</i></p>"
        )
        return with_static_fallback(
            super()._repr_mimebundle_(**kwargs),
            note + f"<div style='display:flex;gap:8px'>{columns}</div>",
        )

    def __repr__(self) -> str:
        return f"PushRace({self.server.name!r}, interval={self.interval:g})"


def _delivery_of(client: NewsClient, seq: int) -> Delivery | None:
    return next((d for d in reversed(client.deliveries) if d.news.seq == seq), None)
