"""The chat page (kit/apps/static/index.html) in Chromium: its delivery options.

The page resumes from the last offset it showed, sends each chat message with an id of
its own and sends it again when no ack comes (see the page's "outbox"). Here: against a
server with a store, what was sent while the page was cut off arrives once, in order;
against one without a store, none of that changes what anyone sees.

The issue's interop figure: through a real tap that cuts the page's connection every
300 ms, the page sends 1,000 messages through its own send form (the test fills
``#message`` and submits ``#send-form`` with ``requestSubmit()``, the path a click on Send
takes) while a python ``kit.SocketIOChatClient(resume=True, retries=5,
message_ids=True)``, connected straight to the server, sends 1,000 of its own: both see
all 2,000 exactly once, each sender's in order, and the store holds each once. The link
gives the page the short reconnect backoff a client under such cuts wants
(``#reconnectionDelay=50&reconnectionDelayMax=200``, as tests/js/delivery.mjs does for
Node), and the server a short heartbeat (``ping_interval``/``ping_timeout``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import kit
from tests.waiting import eventually

pytestmark = pytest.mark.usefixtures("no_leaks")


SHOWN = """() => [...document.querySelectorAll("#messages li.message")].map(
  (item) => [item.textContent, item.dataset.offset ?? null])"""

# The figure, each way, and how long the whole exchange may take (it needs about
# a minute on a shared two-core machine; a failure says what was still missing).
COUNT = 1000
DEADLINE = 150.0

# The page's own send path, COUNT times: the form's submit handler does the rest.
SEND_FROM_THE_PAGE = """(count) => {
  const input = document.getElementById("message");
  const form = document.getElementById("send-form");
  for (let n = 0; n < count; n += 1) {
    input.value = `page #${n}`;
    form.requestSubmit();
  }
}"""
OUTBOX = "() => outbox.queue.length"


Stored = tuple["kit.apps.chat.ChatApp", kit.Server, Any]


@pytest.fixture
def stored(no_leaks, socketio_client_js: Path, tmp_path: Path) -> Iterator[Stored]:
    """A chat with a store in ``tmp_path``, served, and a tap in front of it (the page
    goes through the tap); the store is closed afterwards."""
    chat = kit.chat_app(client_js=socketio_client_js, store=tmp_path / "chat.sqlite")
    server = kit.serve(chat, name="chat with a store")
    try:
        yield chat, server, kit.tap(server)
    finally:
        assert chat.store is not None
        chat.store.close()


def log_in(page: Any, url: str, name: str) -> None:
    from playwright.sync_api import expect

    page.goto(url)
    expect(page.locator("#status")).to_have_text(re.compile("^connected over "))
    page.fill("#nickname", name)
    page.click("#login-button")
    expect(page.locator("#me")).to_have_text(name)


def test_the_page_resumes_from_its_offset_after_a_cut(page: Any, stored: Stored) -> None:
    from playwright.sync_api import expect

    chat, server, tap = stored
    bob = kit.SocketIOChatClient(server, user="bob", resume=True, retries=5, message_ids=True)
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
    bob.close()


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


# What a request the browser sends again after a cut delivers: the same CONNECT a second
# time, on an engine.io connection that is already in namespace "/".
CONNECT_AGAIN = "() => socket.io.engine.write('0' + JSON.stringify({}))"


def test_a_connect_that_came_twice_is_refused_with_its_reason_and_the_page_comes_back(
    page: Any, stored: Stored
) -> None:
    from playwright.sync_api import expect

    chat, _, tap = stored
    log_in(page, f"{tap.url}/", "ann")
    page.fill("#message", "before")
    page.click("#send")
    expect(page.locator("li.message")).to_have_text(["ann: before"])
    page.evaluate(CONNECT_AGAIN)
    # python-socketio refuses it with the bare string "Unable to connect", which the
    # official client reads as a refusal with an empty message; the kit's server
    # says what happened and that connecting again helps.
    refusal = tap.wait_for("CONNECT_ERROR", layer="socket.io", direction="server->client")
    assert refusal.carries("Unable to connect: this connection already has a session")
    assert refusal.carries('"data":{"retry":true}')
    # The client does not connect again after a refusal; the page does, after a while.
    expect(page.locator("li.system", has_text="refused: Unable to connect")).to_have_count(1)
    told = page.locator("li.system", has_text="refused: ").first.text_content() or ""
    assert re.search(r"already has a session in namespace '/'.*trying again in", told)
    expect(page.locator("li.system", has_text="reconnected: logged in as ann")).to_have_count(
        1, timeout=10000
    )
    expect(page.locator("#status")).to_have_text(re.compile("^connected over "))
    page.fill("#message", "after")
    page.click("#send")
    expect(page.locator("li.message")).to_have_text(["ann: before", "ann: after"])
    assert page.locator("li.error").count() == 0
    assert chat.store.count == 2


def in_order(lines: list[str], prefix: str) -> list[str]:
    return [line for line in lines if line.startswith(prefix)]


def test_the_page_through_cuts_loses_and_doubles_nothing_with_a_store(
    no_leaks, page, socketio_client_js: Path, tmp_path: Path
) -> None:
    chat = kit.chat_app(
        client_js=socketio_client_js,
        store=tmp_path / "chat.sqlite",
        ping_interval=5,
        ping_timeout=5,
    )
    server = kit.serve(chat, name="page delivery")
    tap = kit.tap(server, decode=False)
    python = kit.SocketIOChatClient(server, user="py", resume=True, retries=5, message_ids=True)
    expected = {f"{who}: {who} #{n}" for who in ("page", "py") for n in range(COUNT)}

    def missing() -> str:
        shown = {text for text, _ in page.evaluate(SHOWN)}
        heard = {f"{m.user}: {m.text}" for m in python.received if m.user}
        counts = ", ".join(
            f"{side} lacks {len({e for e in expected if e.startswith(who)} - seen)} of {who}'s"
            for side, seen in (("the page", shown), ("python", heard))
            for who in ("page", "py")
        )
        status = page.locator("#status").text_content()
        return (
            f"{counts}; the page's outbox holds {page.evaluate(OUTBOX)}, its status is "
            f"{status!r}; the store has {chat.store.count}; the tap cut {tap.faults.cuts} times"
        )

    try:
        log_in(page, f"{tap.url}/#reconnectionDelay=50&reconnectionDelayMax=200", "page")
        started = time.monotonic()
        cuts = tap.schedule("cut", every=0.3, duration=DEADLINE)
        page.evaluate(SEND_FROM_THE_PAGE, COUNT)
        for n in range(COUNT):
            python.send(f"py #{n}")

        def python_heard() -> int:
            return sum(1 for message in python.received if message.user)

        while len(page.evaluate(SHOWN)) < 2 * COUNT or python_heard() < 2 * COUNT:
            if time.monotonic() - started > DEADLINE:
                pytest.fail(f"not all through after {DEADLINE:g} s: {missing()}")
            time.sleep(0.25)
        cuts.stop()
        took = time.monotonic() - started
        python.wait_sent(10)
        shown = page.evaluate(SHOWN)
        # A name still held by a session the server has not seen go is asked for again.
        errors = [
            line
            for line in page.locator("li.error").all_text_contents()
            if line != "add user: the name 'page' is taken"
        ]
        reconnects = page.locator("li.system", has_text="reconnected: logged in as page").count()
    finally:
        python.close()
    print(f"{2 * COUNT} messages through {tap.faults.cuts} cuts in {took:.0f} s")

    assert tap.faults.cuts >= 10, "the tap hardly cut: this test proved little"
    assert reconnects >= 10, f"the page reconnected only {reconnects} times"
    assert errors == []
    page_lines = [text for text, _ in shown]
    assert len(page_lines) == 2 * COUNT, "the page showed a message twice"
    assert set(page_lines) == expected, f"lost: {sorted(expected - set(page_lines))[:5]}"
    for who in ("page", "py"):
        assert in_order(page_lines, f"{who}: ") == [f"{who}: {who} #{n}" for n in range(COUNT)]
    offsets = [int(offset) for _, offset in shown]
    assert offsets == sorted(offsets) and len(set(offsets)) == 2 * COUNT

    heard = [f"{m.user}: {m.text}" for m in python.received if m.user]
    assert len(heard) == 2 * COUNT and set(heard) == expected
    for who in ("page", "py"):
        assert in_order(heard, f"{who}: ") == [f"{who}: {who} #{n}" for n in range(COUNT)]
    # Up: each message stored once, though the cuts made the page send some again.
    assert chat.store.count == 2 * COUNT
    chat.store.close()


@pytest.mark.parametrize(
    ("link", "delays", "error"),
    [
        ("#reconnectionDelay=50&reconnectionDelayMax=200", [50, 200], None),
        ("", [1000, 5000], None),
        (
            "#reconnectionDelay=soon",
            [1000, 5000],
            "reconnectionDelay=soon in the link: not a number of milliseconds (1-999999); "
            "the client's default is used",
        ),
        ("#reconnectionDelayMax=0", [1000, 5000], "reconnectionDelayMax=0 in the link"),
    ],
)
def test_the_link_sets_the_reconnect_backoff_and_a_bad_value_is_named(
    no_leaks, page, socketio_client_js: Path, link: str, delays: list[int], error: str | None
) -> None:
    server = kit.serve(kit.chat_app(client_js=socketio_client_js), name="chat")
    log_in(page, f"{server.url}/{link}", "ann")
    used = "() => [socket.io.reconnectionDelay(), socket.io.reconnectionDelayMax()]"
    assert page.evaluate(used) == delays
    errors = page.locator("li.error").all_text_contents()
    if error is None:
        assert errors == []
    else:
        assert len(errors) == 1 and errors[0].startswith(error), errors


def test_the_page_takes_its_name_over_from_a_session_the_server_still_holds(
    page: Any, stored: Stored
) -> None:
    from playwright.sync_api import expect

    _, server, tap = stored
    page.goto(f"{tap.url}/")
    expect(page.locator("#status")).to_have_text(re.compile("^connected over "))
    tab = page.evaluate("() => tab")
    # The page's CONNECT carried its tab's id.
    connect = tap.wait_for("CONNECT", layer="socket.io", direction="client->server")
    assert connect.carries(f'"client":"{tab}"')
    # An old session of this tab that the server has not seen go (as after a cut of a
    # long-poll): it holds the name.
    old = kit.SocketIOClient(
        server, transports=["websocket"], auth={"client": tab}, reconnection=False
    )
    assert old.call("add user", "ann")["users"] == ["ann"]
    page.fill("#nickname", "ann")
    page.click("#login-button")
    expect(page.locator("#me")).to_have_text("ann")
    expect(page.locator("#login-error")).to_have_text("")
    eventually(lambda: not old.connected, what="the old session to be disconnected")
    page.fill("#message", "mine again")
    page.click("#send")
    expect(page.locator("li.message")).to_have_text(["ann: mine again"])
