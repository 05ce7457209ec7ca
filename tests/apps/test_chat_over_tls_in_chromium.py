"""The chat page over https:// and wss:// in Chromium, chatting with a notebook panel.

Chromium trusts the one server certificate the test issued from the kit's local CA:
``--ignore-certificate-errors-spki-list`` with that certificate's key hash (its SPKI
SHA-256). That pins the leaf: any other certificate, even from the same CA, is still
refused (checked below), so the flag does not turn certificate checks off. Importing
the CA into an NSS database would check the chain instead; it needs NSS's certutil,
which the test machine does not have.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import kit
from kit.runtime import tls
from tests.conftest import CHROMIUM_FLAGS, _chromium, _missing

pytestmark = pytest.mark.usefixtures("no_leaks")


@pytest.fixture(scope="module")
def tls_browser():
    """(Chromium that trusts one certificate, that certificate), for this module."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright for Python is not installed (pip install -e '.[tests]')")
    executable = _chromium()
    if executable is None:
        _missing("no Chromium found; install Debian's package: apt-get install chromium")
    certificate = tls.local_ca().issue()
    flags = [*CHROMIUM_FLAGS, f"--ignore-certificate-errors-spki-list={certificate.spki_sha256}"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=flags)
        yield browser, certificate
        browser.close()


def test_the_wss_page_chats_with_a_notebook_panel(tls_browser, socketio_client_js: Path) -> None:
    from playwright.sync_api import expect

    browser, certificate = tls_browser
    server = kit.serve(
        kit.chat_app(client_js=socketio_client_js), name="secure chat", tls=certificate
    )
    panel = kit.ChatPanel(server, user="alice", room="room one")
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(server.url + "/")
        assert page.evaluate("location.protocol") == "https:"
        expect(page.locator("#status")).to_have_text("connected over websocket")
        assert page.evaluate("socket.io.engine.transport.ws.url").startswith("wss://")
        page.fill("#nickname", "visitor")
        page.click("#login-button")
        expect(page.locator("#me")).to_have_text("visitor")
        page.fill("#message", "hello over wss")
        page.click("#send")
        assert panel.wait_message().text == "hello over wss"
        page.fill("#room", "room one")
        page.click("#join")
        expect(page.locator("#my-rooms li")).to_have_text(["room one"])
        panel.send("and back over wss")
        expect(page.locator("li.message", has_text="and back over wss")).to_have_count(1)
    finally:
        context.close()


def test_another_certificate_from_the_same_ca_is_still_refused(tls_browser) -> None:
    browser, _certificate = tls_browser
    other = kit.serve(kit.chat_app(), name="other certificate", tls=True)  # a fresh leaf
    context = browser.new_context()
    try:
        page = context.new_page()
        with pytest.raises(Exception, match="ERR_CERT_AUTHORITY_INVALID"):
            page.goto(other.url + "/")
    finally:
        context.close()
