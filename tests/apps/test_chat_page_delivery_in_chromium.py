"""The chat page (kit/apps/static/index.html) in Chromium: its delivery options.

The page resumes from the last offset it showed, sends each chat message with an id of
its own and sends it again when no ack comes (see the page's "outbox"). Here: against a
server with a store, what was sent while the page was cut off arrives once, in order;
against one without a store, none of that changes what anyone sees.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import kit

pytestmark = pytest.mark.usefixtures("no_leaks")


SHOWN = """() => [...document.querySelectorAll("#messages li.message")].map(
  (item) => [item.textContent, item.dataset.offset ?? null])"""


def log_in(page: Any, url: str, name: str) -> None:
    from playwright.sync_api import expect

    page.goto(url)
    expect(page.locator("#status")).to_have_text(re.compile("^connected over "))
    page.fill("#nickname", name)
    page.click("#login-button")
    expect(page.locator("#me")).to_have_text(name)


def test_the_page_resumes_from_its_offset_after_a_cut(
    no_leaks, page, socketio_client_js: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    chat = kit.chat_app(client_js=socketio_client_js, store=tmp_path / "chat.sqlite")
    server = kit.serve(chat, name="chat with a store")
    tap = kit.tap(server)
    bob = kit.SocketIOChatClient(server, user="bob", resume=True, retries=5, message_ids=True)
    try:
        log_in(page, f"{tap.url}/", "ann")
        page.fill("#message", "before")
        page.click("#send")
        expect(page.locator("li.message")).to_have_text(["ann: before"])
        tap.refuse(duration=2.0)  # the page stays away while bob talks
        tap.cut()
        expect(page.locator("#status")).to_have_text(re.compile("reconnecting"), timeout=5000)
        for n in range(5):
            bob.send(f"while away #{n}")
        bob.wait_sent(10)
        expect(page.locator("#status")).to_have_text(re.compile("^connected over "), timeout=15000)
        page.fill("#message", "back")
        page.click("#send")
        missed = [f"bob: while away #{n}" for n in range(5)]
        expect(page.locator("li.message")).to_have_text(["ann: before", *missed, "ann: back"])
        replayed = page.locator("li.message[data-replay='yes']").all_text_contents()
        assert replayed == missed
        offsets = [int(offset) for _, offset in page.evaluate(SHOWN)]
        assert offsets == list(range(1, 8))
        # The CONNECT after the cut sent the offset the page had shown, with the store id.
        connects = tap.select("CONNECT", layer="socket.io", direction="client->server")
        assert len(connects) >= 2
        assert "offset" not in connects[0].summary
        assert "'offset': 1" in connects[-1].summary or '"offset":1' in connects[-1].summary
        assert chat.store.id in connects[-1].summary
        assert chat.store.count == 7
        assert page.locator("li.error").count() == 0
    finally:
        bob.close()
        chat.store.close()


def test_the_page_without_a_store_chats_as_before(no_leaks, page, socketio_client_js: Path) -> None:
    from playwright.sync_api import expect

    chat = kit.chat_app(client_js=socketio_client_js)
    server = kit.serve(chat, name="chat without a store")
    tap = kit.tap(server)
    listener = kit.SocketIOClient(server, transports=["websocket"])
    assert listener.wait_for("new message") == [
        {"mess": "welcome to the chat", "rooms": ["room one", "room two"]}
    ]
    log_in(page, f"{tap.url}/", "ann")
    expect(page.locator("li.system").first).to_have_text("welcome to the chat")
    for text in ("one", "two", "three"):
        page.fill("#message", text)
        page.click("#send")
    expect(page.locator("li.message")).to_have_text(["ann: one", "ann: two", "ann: three"])
    # The page shows no offsets (none came) and the others get what they always got.
    assert page.evaluate(SHOWN) == [[f"ann: {t}", None] for t in ("one", "two", "three")]
    got = [listener.wait_for("new message")[0] for _ in range(3)]
    assert [sorted(data) for data in got] == [["mess", "room", "time", "user"]] * 3
    assert [data["mess"] for data in got] == ["one", "two", "three"]
    # On the wire: the CONNECT carried no offset, and the message's ack is the old one.
    connects = tap.select("CONNECT", layer="socket.io", direction="client->server")
    assert connects and all("offset" not in event.summary for event in connects)
    acks = tap.select("ACK", layer="socket.io", direction="server->client")
    assert any("'ok': True" in event.summary or '"ok":true' in event.summary for event in acks)
    assert page.locator("li.error").count() == 0
    listener.disconnect()
