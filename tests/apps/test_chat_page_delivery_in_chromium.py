"""The chat page (kit/apps/static/index.html) in Chromium: its delivery options.

The page resumes from the last offset it showed, sends each chat message with an id of
its own and sends it again when no ack comes (see the page's "outbox").

Through a real tap that cuts the page's connection every 300 ms, the page sends 1,000
messages through its own send form (the test fills ``#message`` and submits
``#send-form`` with ``requestSubmit()``, the path a click on Send takes; typing them key
by key would only make the test slower) while a python
``kit.SocketIOChatClient(resume=True, retries=5, message_ids=True)``, connected straight
to the server, sends 1,000 of its own: both see all 2,000 exactly once, each sender's in
order, and the store holds each once. Against a
server with a store, what was sent while the page was cut off arrives once, in order;
against one without a store, none of that changes what anyone sees.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

import kit

pytestmark = pytest.mark.usefixtures("no_leaks")


# The figure, each way.
COUNT = 1000

# The page's own send path, COUNT times: the form's submit handler does the rest.
SEND_FROM_THE_PAGE = """(count) => {
  const input = document.getElementById("message");
  const form = document.getElementById("send-form");
  for (let n = 0; n < count; n += 1) {
    input.value = `page #${n}`;
    form.requestSubmit();
  }
}"""

SHOWN = """() => [...document.querySelectorAll("#messages li.message")].map(
  (item) => [item.textContent, item.dataset.offset ?? null])"""


def log_in(page: Any, url: str, name: str) -> None:
    from playwright.sync_api import expect

    page.goto(url)
    expect(page.locator("#status")).to_have_text(re.compile("^connected over "))
    page.fill("#nickname", name)
    page.click("#login-button")
    expect(page.locator("#me")).to_have_text(name)


def wait_until(what: str, done: Any, timeout: float, state: Any = None) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            more = f" ({state()})" if state is not None else ""
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}{more}")
        time.sleep(0.25)


def in_order(lines: list[str], prefix: str) -> list[str]:
    return [line for line in lines if line.startswith(prefix)]


def test_the_page_through_cuts_loses_and_doubles_nothing_with_a_store(
    no_leaks, page, socketio_client_js: Path, tmp_path: Path
) -> None:
    chat = kit.chat_app(client_js=socketio_client_js, store=tmp_path / "chat.sqlite")
    server = kit.serve(chat, name="page delivery")
    tap = kit.tap(server, decode=False)
    python = kit.SocketIOChatClient(server, user="py", resume=True, retries=5, message_ids=True)
    try:
        log_in(page, f"{tap.url}/", "page")
        cuts = tap.schedule("cut", every=0.3, duration=600)
        page.evaluate(SEND_FROM_THE_PAGE, COUNT)
        for n in range(COUNT):
            python.send(f"py #{n}")

        def page_has_all() -> bool:
            return len(page.evaluate(SHOWN)) >= 2 * COUNT

        def page_state() -> str:
            shown = len(page.evaluate(SHOWN))
            status = page.locator("#status").text_content()
            return f"shown {shown}, status {status!r}, python got {len(python.received)}"

        wait_until("the page to show every message", page_has_all, 480, page_state)
        python.wait_sent(120)
        wait_until("python to get every message", lambda: len(python.received) >= 2 * COUNT, 60)
        cuts.stop()
        shown = page.evaluate(SHOWN)
        # A name still held by a session the server has not seen go is asked for again.
        errors = [
            line
            for line in page.locator("li.error").all_text_contents()
            if not re.fullmatch(r"add user: the name 'page' is taken", line)
        ]
        reconnects = page.locator("li.system", has_text="reconnected: logged in as page").count()
    finally:
        python.close()

    assert tap.faults.cuts >= 10, "the tap hardly cut: this test proved little"
    assert reconnects >= 3, f"the page reconnected only {reconnects} times"
    assert errors == []
    page_lines = [text for text, _ in shown]
    expected = {f"{who}: {who} #{n}" for who in ("page", "py") for n in range(COUNT)}
    assert len(page_lines) == 2 * COUNT, "the page showed a message twice"
    assert set(page_lines) == expected, f"lost: {sorted(expected - set(page_lines))[:5]}"
    for who in ("page", "py"):
        assert in_order(page_lines, f"{who}: ") == [f"{who}: {who} #{n}" for n in range(COUNT)]
    offsets = [int(offset) for _, offset in shown]
    assert offsets == sorted(offsets) and len(set(offsets)) == 2 * COUNT

    heard = [f"{m.user}: {m.text}" for m in python.received if m.user]
    assert len(heard) == 2 * COUNT and set(heard) == expected
    assert in_order(heard, "page: ") == [f"page: page #{n}" for n in range(COUNT)]
    # Up: each message stored once, though the cuts made the page send some again.
    assert chat.store.count == 2 * COUNT
    chat.store.close()


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
