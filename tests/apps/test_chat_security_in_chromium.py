"""Who may connect, seen from a real browser: Chromium against kit.chat_app().

- the article's page from a second origin is refused (HTTP 400 on the wire, connect_error
  in the page), then allowed with exactly that origin;
- a page on another origin cannot frame the chat page, but frames an unprotected one;
- hostile names and messages are shown as text and never run;
- a plain websockets server that checks no Origin lets any site's page in (cross-site
  WebSocket hijacking), which the from-scratch server's origins= list stops.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import kit
from kit.apps.pages import article_page, framing_page

pytestmark = pytest.mark.usefixtures("no_leaks")


def chat_and_tap(client_js: Path, **options) -> tuple[kit.Server, kit.Tap]:
    server = kit.serve(kit.chat_app(client_js=client_js, **options), name="chat")
    return server, kit.tap(server)


def test_the_articles_page_from_another_origin_is_refused_then_allowed(
    page, socketio_client_js: Path
) -> None:
    from playwright.sync_api import expect

    server, tap = chat_and_tap(socketio_client_js)
    preview = kit.serve(kit.page_app(article_page(tap.url)), name="preview")
    page_origin = f"http://127.0.0.1:{preview.port}"
    page.goto(preview.url + "/")
    expect(page.locator("#origin")).to_have_text(page_origin)
    expect(page.locator("#status")).to_have_text("refused")
    expect(page.locator("#error")).to_have_text("xhr poll error")  # all the page is told
    answer = tap.wait_for("400", layer="http", direction="server->client")
    assert "Bad Request" in answer.summary
    request = tap.select("/socket.io/", layer="http", direction="client->server")[0]
    assert f"Origin: {page_origin}".encode() in request.raw
    assert any(b"is not an accepted origin" in e.raw for e in tap.select(layer="http"))

    # The same page, the chat server now told that exactly this origin is fine.
    server, tap = chat_and_tap(socketio_client_js, origins=[page_origin])
    # The page server again, on the same port (the article's 5500): the same origin.
    preview = kit.serve(kit.page_app(article_page(tap.url)), name="preview", port=preview.port)
    page.goto(preview.url + "/")
    expect(page.locator("#status")).to_have_text("connected")
    listener = kit.SocketIOClient(server.url)
    page.fill("#message", "hello from the preview server")
    page.click("#send")
    heard = [listener.wait_for("new message")[0] for _ in range(2)]
    assert heard[-1]["mess"] == "hello from the preview server"
    # python-socketio answered the page's requests naming exactly that origin.
    answers = tap.select(layer="http", direction="server->client")
    assert any(f"Access-Control-Allow-Origin: {page_origin}".encode() in e.raw for e in answers), [
        e.raw[:300] for e in answers
    ]
    assert not any(b"is not an accepted origin" in e.raw for e in answers)


def test_a_page_on_another_origin_cannot_frame_the_chat_but_can_frame_a_bare_page(
    page, socketio_client_js: Path
) -> None:
    server = kit.serve(kit.chat_app(client_js=socketio_client_js), name="chat")
    bare = kit.serve(kit.page_app("<p id='inside'>a page without headers</p>"), name="bare")
    refusals: list[str] = []
    page.on("console", lambda message: refusals.append(message.text))
    framer = kit.serve(kit.page_app(framing_page(server.url + "/")), name="framer")
    page.goto(framer.url + "/")
    framed = page.frame_locator("#framed")
    page.wait_for_timeout(1000)
    assert framed.locator("#status").count() == 0  # the chat page never rendered in it
    assert any("frame-ancestors 'self'" in text for text in refusals), refusals
    bare_framer = kit.serve(kit.page_app(framing_page(bare.url + "/")), name="framer")
    page.goto(bare_framer.url + "/")
    assert page.frame_locator("#framed").locator("#inside").inner_text() == (
        "a page without headers"
    )


HOSTILE = [
    '<img src=x onerror="window.pwned=1">',
    "<svg onload=window.pwned=2>",
    "<script>window.pwned=3</script>",
    '"><img src=x onerror=window.pwned=4>',
    "javascript:window.pwned=5",
]


def test_hostile_names_and_messages_are_shown_as_text_and_never_run(
    page, socketio_client_js: Path
) -> None:
    from playwright.sync_api import expect

    server = kit.serve(kit.chat_app(client_js=socketio_client_js), name="chat")
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text))
    page.goto(server.url + "/")
    page.fill("#nickname", "reader")
    page.click("#login-button")
    expect(page.locator("#me")).to_have_text("reader")
    attacker = kit.SocketIOClient(server.url)
    name = "<img src=x onerror=window.p=0>"
    assert name in attacker.call("add user", name)["users"]
    for text in HOSTILE:
        assert attacker.call("recive message", {"message": text}) == {"ok": True}
    assert attacker.call("private message", {"to": "reader", "message": HOSTILE[0]})["ok"]
    expect(page.locator("li.message")).to_have_count(len(HOSTILE))
    assert page.locator("li.message").all_inner_texts() == [f"{name}: {t}" for t in HOSTILE]
    expect(page.locator("li.private")).to_have_text([f"{name} (private): {HOSTILE[0]}"])
    expect(page.locator("#online li.user")).to_have_text(["reader", name])
    page.wait_for_timeout(300)  # give an injected handler every chance to run
    assert page.evaluate("[window.pwned, window.p]") == [None, None]
    assert page.locator("#messages img, #messages svg, #messages script").count() == 0
    assert page.locator("#online img").count() == 0


def test_cross_site_websocket_hijacking_against_a_server_that_checks_no_origin(page) -> None:
    """A page from any site opens a WebSocket to a loopback server and reads its secrets."""
    from playwright.sync_api import expect

    async def secrets(websocket):
        await websocket.send("the secret is 42")

    open_server = kit.serve(secrets, name="no origin check")
    guarded = kit.serve(
        kit.ScratchServer(handler=None, origins=["http://127.0.0.1:1"]), name="origins"
    )
    evil = kit.serve(
        kit.page_app(
            "<p id='stolen'></p><p id='refused'></p><script>"
            f"const a = new WebSocket('{open_server.ws_url}');"
            "a.onmessage = (e) => { document.getElementById('stolen').textContent = e.data; };"
            f"const b = new WebSocket('{guarded.ws_url}');"
            "b.onclose = (e) => { document.getElementById('refused').textContent = "
            "'closed ' + e.code; };"
            "</script>"
        ),
        name="evil",
    )
    page.goto(evil.url + "/")
    expect(page.locator("#stolen")).to_have_text("the secret is 42")
    expect(page.locator("#refused")).to_have_text("closed 1006")  # a 403 answer: no socket
