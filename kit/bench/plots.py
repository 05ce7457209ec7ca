"""The push measurements drawn with matplotlib: what lesson 00 and the README show.

A figure here is a :class:`Plot`: displayed in a notebook it is a PNG *and* a plain-text
summary of what it draws (the panels, their units, the methods, the numbers of
clients), never the measured values. The values differ from run to run; the summary
does not, so a saved lesson's output can be compared by nbval (which compares text and
skips PNGs) while the picture shows the run that was saved.

Figures are drawn on ``matplotlib.figure.Figure`` directly, not through ``pyplot``: no
global state, no second copy shown by the inline backend, and no display needed.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kit.apps.push import PushMethod

if TYPE_CHECKING:
    from kit.bench.push import PushComparison, PushRun

__all__ = ["COLOURS", "Plot", "delay_distribution", "growth"]

COLOURS = {
    PushMethod.SHORT_POLLING: "#d9480f",
    PushMethod.LONG_POLLING: "#f08c00",
    PushMethod.SERVER_SENT_EVENTS: "#1f6fd1",
    PushMethod.WEBSOCKET: "#2b8a3e",
}
"""One colour per method, the same in every figure."""

_MARKERS = {
    PushMethod.SHORT_POLLING: "o",
    PushMethod.LONG_POLLING: "s",
    PushMethod.SERVER_SENT_EVENTS: "^",
    PushMethod.WEBSOCKET: "D",
}


class Plot:
    """A figure to display: PNG for the eye, a text summary for everything else.

    Attributes:
        figure: the ``matplotlib.figure.Figure`` (change it, then display it again).
        summary: what the figure draws, without the measured values.
    """

    def __init__(self, figure: Any, summary: str) -> None:
        self.figure, self.summary = figure, summary

    def png(self, dpi: int = 110) -> bytes:
        """The figure as PNG bytes."""
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=dpi, facecolor="white")
        return buffer.getvalue()

    def save(self, path: str | Path, dpi: int = 110) -> Path:
        """Write the figure as a PNG file; returns the path."""
        target = Path(path)
        target.write_bytes(self.png(dpi))
        return target

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {
            "image/png": base64.b64encode(self.png()).decode("ascii"),
            "text/plain": self.summary,
        }

    def __repr__(self) -> str:
        return self.summary


def _figure(width: float, height: float) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - the lessons extra installs it
        raise ImportError(
            "plots need matplotlib: pip install matplotlib (or the kit's lessons extra)"
        ) from None
    return Figure(figsize=(width, height), layout="constrained")


def _plain_numbers(axis: Any) -> None:
    """Tick labels as plain numbers (``300``, not ``3 x 10^2``) on a log axis."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 3.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def growth(comparison: PushComparison) -> Plot:
    """Delay, bytes per news item and idle requests per second against clients per method."""
    figure = _figure(12, 4.2)
    delay, size, idle = figure.subplots(1, 3)
    clients = comparison.clients
    methods = [m for m in PushMethod if any(m in run.results for run in comparison.runs)]
    for method in methods:
        runs = [run for run in comparison.runs if method in run.results]
        xs = [run.clients for run in runs]
        style = {"color": COLOURS[method], "marker": _MARKERS[method], "label": method.value}
        p50 = [run[method].delay_ms(0.5) or float("nan") for run in runs]
        p95 = [run[method].delay_ms(0.95) or float("nan") for run in runs]
        delay.plot(xs, p50, **style)
        delay.plot(xs, p95, color=COLOURS[method], linestyle=":", linewidth=1)
        per_news = [run[method].bytes_per_news or float("nan") for run in runs]
        size.plot(xs, per_news, **style)
        quiet = [run[method].idle_requests_per_second for run in runs]
        idle.plot(xs, [q if q is not None else float("nan") for q in quiet], **style)
    first = comparison.runs[0]
    delay.set_title("delivery delay (median; dotted: 95th pct.)", fontsize=10)
    delay.set_ylabel("delay (ms)")
    delay.set_yscale("log")
    size.set_title("bytes on the wire per news item (headers included)", fontsize=10)
    size.set_ylabel("bytes per news item (B)")
    size.set_yscale("log")
    idle.set_title("requests while nothing happens", fontsize=10)
    idle.set_ylabel("requests per second, all clients (req/s)")
    if any(run.idle for run in comparison.runs):
        idle.set_yscale("symlog", linthresh=1.0)
        idle.set_ylim(bottom=0)
    else:
        idle.text(
            0.5, 0.5, "no quiet time measured (idle=0)", ha="center", transform=idle.transAxes
        )
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

    for axes in (delay, size, idle):
        axes.set_xlabel("clients per method")
        axes.set_xscale("log")
        axes.set_xlim(min(clients) / 1.3, max(clients) * 1.3)
        axes.xaxis.set_major_locator(FixedLocator(clients))
        axes.xaxis.set_major_formatter(FixedFormatter([str(n) for n in clients]))
        axes.xaxis.set_minor_locator(NullLocator())
        axes.grid(True, which="major", alpha=0.3)
    for axis in (delay.yaxis, size.yaxis):
        _plain_numbers(axis)
    handles, labels = size.get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncol=len(labels), fontsize=9)
    if any(run.idle for run in comparison.runs):
        idle.text(
            0.98, 0.04, "SSE and WebSocket: 0", ha="right", fontsize=8, transform=idle.transAxes
        )
    figure.suptitle(
        f"{first.rate:g} news/s at random moments, short polling every "
        f"{first.interval * 1000:g} ms, long-polls held {first.hold * 1000:g} ms",
        fontsize=10,
    )
    names = ", ".join(method.value for method in methods)
    summary = (
        f"Plot: 3 panels against clients per method ({', '.join(map(str, clients))}), "
        f"one line per method ({names}):\n"
        "  delivery delay, median and 95th percentile (ms, log scale)\n"
        "  bytes on the wire per news item, both ways, headers included (B, log scale)\n"
        "  requests per second while nothing happens, all clients (req/s, symlog scale)"
    )
    return Plot(figure, summary)


def delay_distribution(run: PushRun) -> Plot:
    """How late each news item arrived: one cumulative curve per method."""
    figure = _figure(7, 3.8)
    axes = figure.subplots()
    methods = list(run.results)
    for method in methods:
        delays = sorted(d * 1000 for d in run[method].delays)
        if not delays:
            continue
        fractions = [(i + 1) / len(delays) for i in range(len(delays))]
        axes.step(
            delays, fractions, where="post", color=COLOURS[method], label=method.value, linewidth=2
        )
    if PushMethod.SHORT_POLLING in run.results:
        axes.axvline(run.interval * 1000, color=COLOURS[PushMethod.SHORT_POLLING], linestyle=":")
        axes.text(
            run.interval * 1000,
            0.5,
            "poll interval ",
            rotation=90,
            fontsize=8,
            color=COLOURS[PushMethod.SHORT_POLLING],
            ha="right",
            va="center",
        )
    axes.set_xscale("log")
    _plain_numbers(axes.xaxis)
    axes.set_xlabel("delay from publication to arrival (ms, log scale)")
    axes.set_ylabel("share of news items arrived")
    axes.set_ylim(0, 1.02)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8, loc="lower right")
    axes.set_title(run.settings(), fontsize=8, wrap=True)
    names = ", ".join(method.value for method in methods)
    summary = (
        f"Plot: delivery delay distribution, {run.clients} client"
        f"{'s' * (run.clients != 1)} per method, one cumulative curve per method ({names}):\n"
        "  x: delay from publication to arrival (ms, log scale); y: share of news items"
    )
    return Plot(figure, summary)
