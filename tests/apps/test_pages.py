"""kit.page_app() and the pages it serves from another origin: values cannot break out."""

from __future__ import annotations

import urllib.request

import pytest

import kit
from kit.apps.pages import article_page, framing_page

pytestmark = pytest.mark.usefixtures("no_leaks")

HOSTILE_URL = "http://127.0.0.1:1/\"></script><script>alert(1)</script>'"


def test_a_url_cannot_break_out_of_the_articles_page() -> None:
    page = article_page(HOSTILE_URL)
    assert "<script>alert(1)</script>" not in page
    assert page.count("<script") == 2  # the client's, and the page's own
    # In the script the URL is one string literal, its < and > written as escapes.
    assert 'io("http://127.0.0.1:1/\\"\\u003e\\u003c/script\\u003e' in page


def test_a_url_cannot_break_out_of_the_framing_page() -> None:
    page = framing_page(HOSTILE_URL)
    assert "<script" not in page
    assert 'src="http://127.0.0.1:1/&quot;&gt;&lt;/script&gt;' in page


def test_page_app_serves_its_page_with_no_security_headers() -> None:
    server = kit.serve(kit.page_app("<p>hi</p>"), name="bare page")
    with urllib.request.urlopen(server.url + "/", timeout=5) as response:
        assert response.read() == b"<p>hi</p>"
        assert response.headers["Content-Type"].startswith("text/html")
        assert response.headers["X-Frame-Options"] is None
        assert response.headers["Content-Security-Policy"] is None
