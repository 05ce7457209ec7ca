"""Pages from *another* origin: the article's set-up, a framing page, a page server.

The article opened its chat page from an editor's preview server
(``http://127.0.0.1:5500``) while its socket.io server ran on another port: two origins
(scheme, host and port together, RFC 6454). This module makes that situation on purpose:

- :func:`page_app` serves one HTML page at ``/`` with no security headers at all, the way
  an editor's preview server does; ``kit.serve(kit.page_app(html))`` runs it on a port of
  its own, so its pages have an origin of their own;
- :func:`article_page` is the article's chat page, pointed at a chat server elsewhere: it
  loads the socket.io client from that server and connects with ``io(url)``, so every
  request it makes is a cross-origin one, carrying ``Origin: http://127.0.0.1:PAGE_PORT``;
- :func:`framing_page` puts another page in an ``<iframe>``: what a clickjacking site does.

Every value put into these pages is escaped (``html.escape`` for markup; in a script, a
JSON string whose ``<``, ``>`` and ``&`` are written as ``\\u003c``... so that even
``</script>`` inside it cannot end the script), so a URL cannot break out of its
attribute or string.
"""

from __future__ import annotations

import html
import json
from typing import Any

__all__ = ["article_page", "framing_page", "page_app"]


def page_app(page: str) -> Any:
    """An aiohttp app answering ``GET /`` with ``page`` (text/html), and nothing else.

    No ``Content-Security-Policy``, no ``X-Frame-Options``: a page server that protects
    nothing, to play the other origin in a lesson.
    """
    from aiohttp import web

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", index)
    return app


def _js_string(value: str) -> str:
    """``value`` as a JavaScript string literal that is safe inside ``<script>``.

    ``json.dumps`` alone is not: the HTML parser ends a script at the first ``</script>``,
    whatever string it is in, before JavaScript ever sees it.
    """
    text = json.dumps(value)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def article_page(chat_url: str, *, client_src: str | None = None) -> str:
    """The article's chat page, served from elsewhere, talking to the server at ``chat_url``.

    Args:
        chat_url: the chat server (``server.url`` or ``tap.url``), e.g.
            ``http://127.0.0.1:8000``.
        client_src: where to load ``socket.io.min.js`` from; by default the chat server's
            own copy (``chat_url + "/socket.io.min.js"``).

    The page shows ``#status`` (``connecting``, ``connected``, or ``refused``), the
    client's error message in ``#error`` (a browser hides the server's answer to a
    refused cross-origin request from the page: the client only knows that polling
    failed), and each ``new message`` as a ``li.message``. ``#message`` and ``#send``
    send ``recive message``.
    """
    src = client_src or f"{chat_url.rstrip('/')}/socket.io.min.js"
    return f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>the article's page, from another origin</title></head>
<body>
  <h1>the article's chat page</h1>
  <p>this page: <code id="origin"></code>, its chat server: <code>{html.escape(chat_url)}</code></p>
  <p>connection: <span id="status">connecting</span> <span id="error"></span></p>
  <ul id="messages"></ul>
  <input id="message" type="text" autocomplete="off"> <button id="send">Send</button>
  <script src="{html.escape(src, quote=True)}"></script>
  <script>
    "use strict";
    const $ = (id) => document.getElementById(id);
    $("origin").textContent = location.origin;
    const socket = io({_js_string(chat_url)}, {{ reconnectionAttempts: 2 }});
    socket.on("connect", () => {{
      $("status").textContent = "connected";
      $("error").textContent = "";
    }});
    socket.on("connect_error", (error) => {{
      $("status").textContent = "refused";
      $("error").textContent = error.message;
    }});
    socket.on("new message", (data) => {{
      const item = document.createElement("li");
      item.className = data.user ? "message" : "system";
      item.textContent = data.user ? `${{data.user}}: ${{data.mess}}` : data.mess;
      $("messages").appendChild(item);
    }});
    $("send").addEventListener("click", () => {{
      socket.emit("recive message", {{ message: $("message").value, time: new Date() }});
      $("message").value = "";
    }});
  </script>
</body>
</html>
"""


def framing_page(target_url: str) -> str:
    """A page that shows ``target_url`` in an ``<iframe id="framed">``."""
    return f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>a page that frames another</title></head>
<body>
  <h1>win a prize: click below!</h1>
  <iframe id="framed" src="{html.escape(target_url, quote=True)}" width="600" height="400">
  </iframe>
</body>
</html>
"""
