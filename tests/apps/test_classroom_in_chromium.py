"""Classroom mode in Chromium: the link's #join= token lets the chat page in.

Chromium trusts the classroom's own certificate by its key hash
(``--ignore-certificate-errors-spki-list``), as in test_chat_over_tls_in_chromium.py;
the server listens on 127.0.0.2, a loopback address classroom mode treats like a LAN's.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import kit
from tests.conftest import CHROMIUM_FLAGS, _chromium, _missing

pytestmark = pytest.mark.usefixtures("no_leaks")


@pytest.fixture(scope="module")
def pinning_playwright():
    """(Playwright, Chromium's path): each test launches Chromium pinned to its server."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright for Python is not installed (pip install -e '.[tests]')")
    executable = _chromium()
    if executable is None:
        _missing("no Chromium found; install Debian's package: apt-get install chromium")
    with sync_playwright() as playwright:
        yield playwright, executable


def test_the_classroom_link_carries_the_join_token_and_the_bare_address_is_refused(
    pinning_playwright, socketio_client_js: Path
) -> None:
    """The chat page sends what follows #join= as its auth; without it, it says why."""
    from playwright.sync_api import expect

    room = kit.classroom_chat(host="127.0.0.2", name="class", client_js=socketio_client_js)
    assert room.server.certificate is not None
    pin = f"--ignore-certificate-errors-spki-list={room.server.certificate.spki_sha256}"
    teacher = kit.SocketIOClient(room.url, auth={"token": room.join_token})
    playwright, executable = pinning_playwright
    browser = playwright.chromium.launch(executable_path=executable, args=[*CHROMIUM_FLAGS, pin])
    try:
        page = browser.new_page()
        page.goto(room.url + "/")
        expect(page.locator("#status")).to_have_text(
            "refused: this chat wants the join token your instructor handed out: connect "
            "with auth={'token': '...'} (the chat page reads it from the #join= part of "
            "its link)"
        )
        page.goto(room.link)  # only the #... part changes: the page reloads itself
        expect(page.locator("#status")).to_have_text("connected over websocket")
        page.fill("#nickname", "learner")
        page.click("#login-button")
        expect(page.locator("#me")).to_have_text("learner")
        page.fill("#message", "hello from a laptop")
        page.click("#send")
        heard = teacher.wait_for("new message")  # the greeting
        heard = teacher.wait_for("new message")[0]
        assert (heard["user"], heard["mess"]) == ("learner", "hello from a laptop")
    finally:
        browser.close()
