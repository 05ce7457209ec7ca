"""The chat page's security headers: who may frame it, and what may run in it.

Two headers on ``GET /``:

- **framing**: ``X-Frame-Options: SAMEORIGIN`` (RFC 7034) and CSP's
  ``frame-ancestors 'self'``: a page from another origin cannot put the chat inside an
  ``<iframe>`` and trick a user into clicking in it (clickjacking). Browsers that know
  CSP obey ``frame-ancestors``; older ones obey ``X-Frame-Options``.
- **what may run**: a Content-Security-Policy (W3C CSP Level 3) that allows scripts from
  the page's own origin, from the socket.io client's origin (the CDN when the page uses
  it), and the one inline script that carries this response's **nonce**, a random value
  made for each response. Injected markup (``<img onerror=...>``, an inline
  ``<script>`` without the nonce) does not run even if it reached the page, and the page
  may only connect back to its own origin (``connect-src 'self'``, which covers ``ws:``
  and ``wss:`` to the same host in CSP Level 3).

The kit's page asks for the nonce with the placeholder ``__CSP_NONCE__``; a page of
your own (``kit.chat_app(page=...)``) without it gets the framing headers only, so its
inline scripts keep working.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

__all__ = ["NONCE_PLACEHOLDER", "content_security_policy", "new_nonce", "page_headers"]

NONCE_PLACEHOLDER = "__CSP_NONCE__"


def new_nonce() -> str:
    """A fresh nonce: 16 random bytes, URL-safe base64 (CSP Level 3 section 2.3.1)."""
    return secrets.token_urlsafe(16)


def content_security_policy(nonce: str, client_src: str) -> str:
    """The policy for a page whose inline script carries ``nonce``.

    ``client_src`` is where the page loads the socket.io client from: a relative path
    (covered by ``'self'``) or an ``https://`` address whose origin is added.
    """
    scripts = ["'self'", f"'nonce-{nonce}'"]
    if client_src.startswith("https://"):
        parts = urlsplit(client_src)
        scripts.append(f"https://{parts.netloc}")
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {' '.join(scripts)}",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'self'",
        ]
    )


def page_headers(html: str, client_src: str) -> tuple[str, dict[str, str]]:
    """The page with its nonce filled in, and the headers to send with it."""
    headers = {"X-Frame-Options": "SAMEORIGIN", "X-Content-Type-Options": "nosniff"}
    if NONCE_PLACEHOLDER in html:
        nonce = new_nonce()
        html = html.replace(NONCE_PLACEHOLDER, nonce)
        headers["Content-Security-Policy"] = content_security_policy(nonce, client_src)
    else:
        headers["Content-Security-Policy"] = "frame-ancestors 'self'"
    return html, headers
