"""kit.NewsServer and the four news clients: the wire formats, and what bad clients get."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import aiohttp
import pytest
from aiohttp import web

import kit
from kit.apps.push import News, NewsServer, PushMethod
from kit.clients.push import (
    EventSourceClient,
    LongPollingClient,
    NewsClientError,
    ServerUnreachable,
    ServerWentAway,
    ShortPollingClient,
    UnexpectedAnswer,
    WebSocketNewsClient,
    news_client,
)
from kit.runtime.loop import runtime
from kit.wire import EventStreamParser

pytestmark = pytest.mark.usefixtures("no_leaks")

ALL_CLIENTS = [
    lambda url: ShortPollingClient(url, interval=0.05),
    LongPollingClient,
    EventSourceClient,
    WebSocketNewsClient,
]


def serve_news(**options) -> tuple[NewsServer, kit.Server]:
    news = NewsServer(**options)
    return news, kit.serve(news, name="test news")


async def get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as answer:
        return answer.status, dict(answer.headers), await answer.read()


def fetch(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    return runtime.run(get(url, **headers), timeout=10)


def wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


# -- the wire formats ------------------------------------------------------------------------


def test_a_news_item_is_json_of_exactly_the_servers_size() -> None:
    news, _ = serve_news(size=100)
    for _ in range(12):  # seq 1 to 12: the padding absorbs the extra digit
        item = news.publish()
        assert len(item.to_json().encode()) == 100
        assert News.from_json(item.to_json()) == item
    assert news.publish("hello").text.startswith("hello.")
    with pytest.raises(ValueError, match="does not fit in a news item of 100 bytes"):
        news.publish("x" * 100)
    with pytest.raises(ValueError, match="size=20 is too small"):
        NewsServer(size=20)


@pytest.mark.parametrize("make", ALL_CLIENTS, ids=["short", "long", "sse", "ws"])
def test_each_client_hears_every_news_item_in_order_and_times_it(make) -> None:
    news, server = serve_news(hold=5.0)
    client = make(server)
    client.wait_open()
    published = [news.publish() for _ in range(3)]
    heard = [client.wait_news(timeout=5) for _ in range(3)]
    assert heard == published
    assert all(0 <= delay < 5 for delay in client.delays)
    assert client.error is None and client.state == "open"
    client.close()
    assert client.state == "closed"


def test_a_poll_starts_with_a_cursor_and_then_lists_what_came_after_it() -> None:
    news, server = serve_news()
    status, headers, body = fetch(server.url + "/poll")
    assert (status, json.loads(body)) == (200, {"after": 0, "news": []})
    assert headers["Content-Type"].startswith("application/json")
    first, second = news.publish(), news.publish()
    answer = json.loads(fetch(server.url + "/poll?after=1")[2])
    assert answer == {"after": 2, "news": [json.loads(second.to_json())]}
    assert json.loads(fetch(server.url + "/poll?after=2")[2]) == {"after": 2, "news": []}
    assert first.seq == 1
    status, _, body = fetch(server.url + "/poll?after=soon")
    assert status == 400 and "the cursor is a news seq" in json.loads(body)["error"]


def test_a_long_poll_is_held_until_news_or_until_hold_runs_out() -> None:
    news, server = serve_news(hold=0.3)
    started = time.monotonic()
    assert json.loads(fetch(server.url + "/long-poll?after=0")[2]) == {"after": 0, "news": []}
    assert time.monotonic() - started >= 0.29  # held for the whole hold
    waiting = runtime.submit(get(server.url + "/long-poll?after=0"))
    wait_until(lambda: news.open_streams[PushMethod.LONG_POLLING] == 1)
    item = news.publish()
    assert json.loads(waiting.result(5)[2])["news"] == [json.loads(item.to_json())]


def test_an_event_stream_is_text_event_stream_with_the_seq_as_id_and_resumes() -> None:
    news, server = serve_news()
    for _ in range(3):
        news.publish()

    async def first_events(last_id: str | None, count: int) -> tuple[str, list]:
        headers = {"Last-Event-ID": last_id} if last_id is not None else {}
        async with (
            aiohttp.ClientSession() as session,
            session.get(server.url + "/events", headers=headers) as answer,
        ):
            parser, events = EventStreamParser(), []
            async for chunk in answer.content.iter_any():
                events += parser.feed(chunk)
                if len(events) >= count:
                    return answer.headers["Content-Type"], events
        raise AssertionError("the stream ended")

    kind, events = runtime.run(first_events("1", 2), timeout=5)
    assert kind == "text/event-stream"
    assert [(e.id, News.from_json(e.data).seq) for e in events] == [("2", 2), ("3", 3)]
    # Without Last-Event-ID only news published after connecting arrives.
    wait_until(lambda: news.open_streams[PushMethod.SERVER_SENT_EVENTS] == 0)
    waiting = runtime.submit(first_events(None, 1))
    wait_until(lambda: news.open_streams[PushMethod.SERVER_SENT_EVENTS] == 1)
    news.publish()
    assert [e.id for e in waiting.result(5)[1]] == ["4"]


def test_the_server_counts_every_request_as_the_tap_sees_them() -> None:
    news, server = serve_news(hold=0.2)
    tap = kit.tap(server)
    clients = [ShortPollingClient(tap, interval=0.05), LongPollingClient(tap)]
    clients += [EventSourceClient(tap), WebSocketNewsClient(tap)]
    for client in clients:
        client.wait_open()
    for _ in range(3):
        news.publish()
        time.sleep(0.1)
    for client in clients:
        client.close()
    tap.settle(quiet=0.1)
    requests = [e.summary.split()[1] for e in tap.select(layer="http", direction="->")]
    for method in PushMethod:
        on_the_wire = sum(path.split("?")[0] == method.path for path in requests)
        assert news.requests[method] == on_the_wire > 0, method
        client = next(c for c in clients if c.method is method)
        assert client.requests == on_the_wire, method
    assert news.requests[PushMethod.SERVER_SENT_EVENTS] == 1
    assert news.requests[PushMethod.WEBSOCKET] == 1


def test_methods_have_names_aliases_and_a_clear_refusal() -> None:
    assert PushMethod.parse("SSE") is PushMethod.SERVER_SENT_EVENTS
    assert PushMethod.parse("long polling") is PushMethod.LONG_POLLING
    assert PushMethod.parse("websocket") is PushMethod.WEBSOCKET
    assert PushMethod.parse("short_polling") is PushMethod.SHORT_POLLING
    with pytest.raises(ValueError, match="unknown push method 'carrier pigeon'"):
        PushMethod.parse("carrier pigeon")
    with pytest.raises(ValueError, match="an int 'seq'"):
        News.from_json('{"seq": "one"}')


def test_produce_publishes_at_seeded_random_moments() -> None:
    counts = []
    for _ in range(2):
        news, server = serve_news(seed=7)
        produced = runtime.run(news.produce(40, 0.3), timeout=5)
        counts.append(len(produced))
        assert [item.seq for item in produced] == list(range(1, len(produced) + 1))
        server.stop()
    assert counts[0] == counts[1] > 3  # the same moments, so the same number of news
    with pytest.raises(ValueError, match="rate > 0"):
        runtime.run(news.produce(0, 1), timeout=1)


def test_a_news_server_publishing_by_itself() -> None:
    news, server = serve_news(rate=50.0)
    client = WebSocketNewsClient(server)
    client.wait_news(timeout=5)
    assert news.published >= 1
    server.stop()
    with pytest.raises(ServerWentAway):
        while True:
            client.wait_news(timeout=5)


# -- bad clients and bad servers ---------------------------------------------------------------


def test_clients_that_leave_mid_stream_or_mid_poll_leave_nothing_behind() -> None:
    news, server = serve_news(hold=30.0)
    tap = kit.tap(server)  # through a relay, as a browser behind a proxy would be
    clients = [LongPollingClient(tap, timeout=60), EventSourceClient(tap), WebSocketNewsClient(tap)]
    for client in clients:
        client.wait_open()
    news.publish()
    for client in clients:
        client.wait_news()
    wait_until(lambda: sum(news.open_streams.values()) == 3)
    for client in clients:
        client.close()  # mid-stream, and with a long-poll held for 30 s
    wait_until(lambda: sum(news.open_streams.values()) == 0, timeout=3)
    news.publish()  # nobody to send it to: no error either
    assert server.errors == [] and news.dropped == []


def test_a_reader_that_does_not_read_is_dropped_and_the_others_keep_up() -> None:
    news, server = serve_news(size=64 * 1024, max_queue=8, keepalive=None)
    steady = WebSocketNewsClient(server)
    slow = EventSourceClient(server, pause=0.05)  # reads 20 items a second, at most
    steady.wait_open()
    slow.wait_open()
    with socket.create_connection(("127.0.0.1", server.port)) as stuck:  # never reads
        stuck.sendall(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        wait_until(lambda: news.open_streams[PushMethod.SERVER_SENT_EVENTS] == 2)
        for _ in range(300):  # about 20 MB: more than any socket buffer holds
            news.publish()
        wait_until(lambda: len(news.dropped) == 2, timeout=20)
    assert all("reads too slowly" in why for why in news.dropped)
    assert any("server-sent events client" in why for why in news.dropped)
    wait_until(lambda: steady.last_seq == 300, timeout=20)
    assert len(steady.deliveries) == 300 and steady.error is None
    wait_until(lambda: slow.state == "failed", timeout=10)
    assert isinstance(slow.error, ServerWentAway)
    assert "dropped this client for reading too slowly" in str(slow.error)
    assert any("reads too slowly" in entry.message for entry in server.log)


@pytest.mark.parametrize("make", ALL_CLIENTS, ids=["short", "long", "sse", "ws"])
def test_a_server_stopped_under_its_clients_ends_each_with_a_clear_error(make) -> None:
    news, server = serve_news(hold=30.0)
    client = make(server)
    client.wait_open()
    news.publish()
    client.wait_news()
    server.stop()
    with pytest.raises(NewsClientError) as caught:
        client.wait_news(timeout=5)
    error = caught.value
    assert client.state == "failed" and client.error is error
    assert isinstance(error, (ServerWentAway, ServerUnreachable)), error
    assert str(error).startswith(f"{client.method.value} client, {server.url}: ")
    if client.method is not PushMethod.SHORT_POLLING:  # the others were told why
        assert "the news server is stopping" in str(error)
    else:
        assert "was the server stopped?" in str(error) or "closed before the answer" in str(error)


def test_a_stopped_server_through_a_tap_and_a_closed_port_are_unreachable_or_gone() -> None:
    _, server = serve_news()
    port = server.port
    server.stop()
    for make in ALL_CLIENTS:
        client = make(f"http://127.0.0.1:{port}")
        with pytest.raises(ServerUnreachable, match=r"cannot connect .* was the server stopped"):
            client.wait_open()


def test_a_server_that_is_not_a_news_server_is_named_as_such() -> None:
    app = web.Application()

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello")

    app.router.add_get("/poll", hello)
    server = kit.serve(app, name="not news")
    for method in PushMethod:
        client = news_client(method, server, timeout=5)
        with pytest.raises(UnexpectedAnswer) as caught:
            client.wait_open()
        assert "404" in str(caught.value) or "not news" in str(caught.value), caught.value


def test_news_client_options_are_checked() -> None:
    with pytest.raises(ValueError, match="interval is seconds between polls"):
        ShortPollingClient("http://127.0.0.1:1", interval=0)
    with pytest.raises(ValueError, match="url must be a kit Server"):
        EventSourceClient("ws://127.0.0.1:1")
    with pytest.raises(ValueError, match="hold is how long"):
        NewsServer(hold=0)


def test_kit_stop_all_ends_every_client_and_the_server() -> None:
    news, server = serve_news(hold=30.0)
    clients = [make(server) for make in ALL_CLIENTS]
    for client in clients:
        client.wait_open()
    kit.stop_all()
    assert {client.state for client in clients} == {"closed"} or all(
        client.state in ("closed", "failed") for client in clients
    )
    assert asyncio.iscoroutinefunction(news.stop)


def test_every_answer_names_the_same_server_and_a_date() -> None:
    _, server = serve_news()
    for path in ("/", "/poll"):
        status, headers, _ = fetch(server.url + path)
        assert status == 200 and headers["Server"] == "kit-news/0.1"
        assert len(headers["Date"]) == len("Sun, 06 Nov 1994 08:49:37 GMT")  # fixed width
    assert "new EventSource" in fetch(server.url + "/")[2].decode()


def test_the_page_button_publishes() -> None:
    news, server = serve_news()

    async def post() -> bytes:
        async with (
            aiohttp.ClientSession() as session,
            session.post(server.url + "/publish") as answer,
        ):
            return await answer.read()

    assert News.from_json(runtime.run(post(), timeout=5)) == news.news[-1]


def test_an_answer_can_flow_while_its_request_is_still_arriving() -> None:
    """HTTP/1.1 over TCP is full duplex: the echo comes back before the request ends."""
    _, server = serve_news()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
        conn.sendall(
            b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n"
        )
        received = b""
        while b"hello" not in received:  # the request has not ended: no 0-length chunk yet
            received += conn.recv(4096)
        assert received.startswith(b"HTTP/1.1 200 OK\r\n")
        conn.sendall(b"5\r\nworld\r\n0\r\n\r\n")  # now the request ends
        while not received.endswith(b"0\r\n\r\n"):
            received += conn.recv(4096)
    assert b"world" in received


# -- a browser: its own fetch, EventSource and WebSocket hear the same news -----------------------


def test_a_browser_hears_the_news_all_four_ways_with_its_own_apis(page) -> None:
    """Chromium has WebSocket and EventSource built in: no library, no fallback needed."""
    from playwright.sync_api import expect

    news, server = serve_news(hold=5.0)
    tap = kit.tap(server)
    page.goto(f"{tap.url}/?interval=200")
    assert page.evaluate("typeof WebSocket === 'function' && typeof EventSource === 'function'")
    for key in ("short", "long", "sse", "ws"):
        expect(page.locator(f"#method-{key} .state")).to_have_text("open")
    page.click("#publish")
    for key in ("short", "long", "sse", "ws"):
        expect(page.locator(f"#method-{key} .item").first).to_contain_text("#1 after")
    assert news.published == 1
    rows = [event.summary for event in tap.events]
    assert any(row.startswith("event id=1 ") for row in rows)  # the browser's EventSource
    assert "101 Switching Protocols" in rows
    server.stop()  # every column learns why
    expect(page.locator("#method-sse .state")).to_have_text("failed: the news server is stopping")
    expect(page.locator("#method-ws .state")).to_contain_text("failed: closed 1001")
    expect(page.locator("#method-long .state")).to_contain_text("failed")
    page.close()
