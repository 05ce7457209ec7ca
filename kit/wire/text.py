"""Text that can go on the wire: Unicode scalar values only.

A WebSocket TEXT message, a socket.io JSON payload and a web page all carry UTF-8, and
UTF-8 can encode every Unicode *scalar value* but not a lone surrogate (``"\\ud800"``,
half of a UTF-16 pair). Python strings may hold lone surrogates, and so may JavaScript
strings: a browser's ``WebSocket.send()`` converts its argument to a ``USVString``
first, replacing each lone surrogate with U+FFFD (WHATWG WebIDL, "USVString"; the
WebSocket ``send(USVString)`` signature), and ``JSON.stringify`` escapes one as
``"\\ud800"``, which a JSON decoder in Python turns back into a lone surrogate.

>>> usv("ok \\ud83d\\ude00 \\ud800!")   # a pair becomes its character, a lone half U+FFFD
'ok 😀 �!'
>>> is_usv("\\ud800")
False
"""

from __future__ import annotations

__all__ = ["is_usv", "usv"]


def is_usv(text: str) -> bool:
    """True when ``text`` encodes as UTF-8 as it is (it holds no surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def usv(text: str) -> str:
    """``text`` as a browser would send it: surrogate pairs joined, lone ones U+FFFD."""
    if is_usv(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
