"""The address a *browser* should open to reach a kit server, wherever the kernel runs.

A kit server listens on the kernel machine's ``127.0.0.1``. When JupyterLab runs on your
own computer, the browser is on that machine too and ``http://127.0.0.1:PORT/`` works. On
JupyterHub or Binder the kernel is on a server far away: its ``127.0.0.1`` is not yours,
and the only way in is through the Jupyter server itself. The
`jupyter-server-proxy <https://jupyter-server-proxy.readthedocs.io/>`_ extension makes
``<Jupyter base URL>proxy/PORT/`` forward HTTP and WebSockets to ``127.0.0.1:PORT`` on the
kernel's machine, after Jupyter's own login. So:

==================================================  ==========================================
where the kernel runs                               the link
==================================================  ==========================================
``KIT_PUBLIC_URL`` set (say ``https://hub.example   that template, ``{port}`` filled in
/user/ann/proxy/{port}/``)
JupyterHub or Binder (``JUPYTERHUB_SERVICE_PREFIX``  ``/user/ann/proxy/PORT/`` on the hub's own
set) with jupyter-server-proxy installed            host (a path: the browser is already there)
anywhere else                                       ``http://127.0.0.1:PORT/``
==================================================  ==========================================

The chat page of :func:`kit.chat_app` works under such a prefix: it loads its script and
opens its socket.io connection relative to its own address.
"""

from __future__ import annotations

import html
import importlib.util
import os
from dataclasses import dataclass

__all__ = ["PUBLIC_URL_ENV", "Link", "browser_url", "proxy_available"]

PUBLIC_URL_ENV = "KIT_PUBLIC_URL"
"""An environment variable with the browser's address of a kit server, ``{port}`` for the port."""
HUB_PREFIX_ENV = "JUPYTERHUB_SERVICE_PREFIX"


def proxy_available() -> bool:
    """True when jupyter-server-proxy is installed next to the kernel."""
    return importlib.util.find_spec("jupyter_server_proxy") is not None


def browser_url(port: int, host: str = "127.0.0.1", *, scheme: str = "http") -> str:
    """Where a browser reaches the kit server on ``port`` (see the module docstring)."""
    template = os.environ.get(PUBLIC_URL_ENV)
    if template:
        return template.replace("{port}", str(port))
    prefix = os.environ.get(HUB_PREFIX_ENV)
    if prefix and proxy_available():
        return f"{prefix.rstrip('/')}/proxy/{port}/"
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}/"


@dataclass(frozen=True)
class Link:
    """A link to show in a cell: clickable in JupyterLab, plain text elsewhere."""

    text: str
    href: str
    note: str = ""

    def __str__(self) -> str:
        note = f"\n{self.note}" if self.note else ""
        return f"{self.text}: {self.href}{note}"

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        note = f"<br><small>{html.escape(self.note)}</small>" if self.note else ""
        href = html.escape(self.href, quote=True)
        return (
            f"{html.escape(self.text)}: <a href='{href}' target='_blank' rel='noopener'>"
            f"{html.escape(self.href)}</a>{note}"
        )


def link_for(port: int, text: str, host: str = "127.0.0.1", *, scheme: str = "http") -> Link:
    """A :class:`Link` to the server on ``port``, with a note where it cannot work."""
    href = browser_url(port, host, scheme=scheme)
    note = ""
    if (
        os.environ.get(HUB_PREFIX_ENV)
        and not os.environ.get(PUBLIC_URL_ENV)
        and not proxy_available()
    ):
        note = (
            "This kernel runs on JupyterHub, where 127.0.0.1 is the hub's machine, not yours: "
            "install jupyter-server-proxy (pip install 'wire-to-room[hub]') and restart the "
            "server to get a link that works from your browser."
        )
    return Link(text, href, note)
