"""What a saved lesson shows where its widgets cannot run: GitHub, or before the kernel ran.

A widget's output in a notebook is a reference to a live model in the kernel
(``application/vnd.jupyter.widget-view+json``) and a line of text. Without the kernel
there is no model: JupyterLab shows the text of an untrusted notebook's widget
(``FrameInspector(34 of 34 events)``), GitHub shows nothing useful. The kit does not save
widget state in the lessons (it cannot make a panel live without a kernel, and it is tens
of kilobytes of noise per notebook); instead each kit widget adds a static ``text/html``
picture of itself to its output. Front ends pick the richest output they trust: the live
widget after a run, the static HTML everywhere else.

The HTML never holds times or random ids, so the saved outputs are the same on every run
(nbval compares them).
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets

__all__ = ["SideBySide", "side_by_side", "with_static_fallback"]

_STATIC_STYLE = "border:1px dashed #bbb;padding:4px 8px;margin:2px;color:#555;font-size:90%"


def with_static_fallback(bundle: dict[str, Any], static_html: str) -> dict[str, Any]:
    """``bundle`` (a widget's mime bundle) with ``static_html`` added as ``text/html``."""
    bundle = dict(bundle)
    bundle["text/html"] = f"<div class='kit-static' style='{_STATIC_STYLE}'>{static_html}</div>"
    return bundle


def static_html_of(widget: widgets.Widget) -> str:
    """A widget's static picture: its own, if it has one, else its text."""
    bundle = widget._repr_mimebundle_() if hasattr(widget, "_repr_mimebundle_") else {}
    if isinstance(bundle, dict) and "text/html" in bundle:
        return str(bundle["text/html"])
    return f"<pre>{html.escape(repr(widget))}</pre>"


class SideBySide(widgets.HBox):
    """An ``HBox`` of panels whose saved output shows each panel's static picture."""

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        inside = "".join(
            f"<div style='flex:1'>{static_html_of(child)}</div>" for child in self.children
        )
        return with_static_fallback(
            super()._repr_mimebundle_(**kwargs),
            f"<div style='display:flex;flex-wrap:wrap;gap:4px'>{inside}</div>",
        )

    def __repr__(self) -> str:
        return f"side_by_side({', '.join(repr(child) for child in self.children)})"


def side_by_side(*children: widgets.Widget, wrap: bool = True) -> SideBySide:
    """Show widgets (chat panels) in a row: ``kit.side_by_side(alice, bob)``."""
    layout = widgets.Layout(flex_flow="row wrap" if wrap else "row")
    return SideBySide(list(children), layout=layout)
