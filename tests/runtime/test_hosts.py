"""Every kind of kit server answers only to its own names: the Host check against DNS rebinding.

Each test sends raw requests (a browser cannot be made to lie about Host, which is the
point), checks the refusal, and checks that the server still serves a normal client.
"""

from __future__ import annotations

import socket

import pytest
from aiohttp import web

import kit
from kit.runtime import hosts, links

pytestmark = pytest.mark.usefixtures("no_leaks")

UPGRADE = (
    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
)


@pytest.fixture(autouse=True)
def no_proxy_settings(monkeypatch):
    monkeypatch.delenv(links.PUBLIC_URL_ENV, raising=False)
    monkeypatch.delenv(links.HUB_PREFIX_ENV, raising=False)


def raw(port: int, host: str | None, path: str = "/", extra: str = "") -> tuple[int, str]:
    """(status, body) of one request with ``Host: host`` (no Host line when None)."""
    head = f"GET {path} HTTP/1.1\r\n" + (f"Host: {host}\r\n" if host is not None else "")
    head += extra + "Connection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(head.encode())
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
            if b"\r\n\r\n" in answer and b" 101 " in answer.split(b"\r\n")[0]:
                break
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2].decode()


async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)


def hello_app() -> web.Application:
    async def hello(request):
        return web.Response(text="hello")

    app = web.Application()
    app.router.add_get("/", hello)
    return app


KINDS = {
    "chat": (kit.chat_app, "/socket.io/?EIO=4&transport=polling", ""),
    "aiohttp": (hello_app, "/", ""),
    "websockets": (lambda: echo, "/", UPGRADE),
    "scratch": (kit.ScratchServer, "/", UPGRADE),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_rebinding_host_is_refused_with_403_and_loopback_names_are_served(kind: str) -> None:
    make, path, extra = KINDS[kind]
    server = kit.serve(make(), name=kind)
    status, body = raw(server.port, f"evil.example:{server.port}", path, extra)
    assert status == 403, body
    assert f"Host header is 'evil.example:{server.port}'" in body
    assert "DNS-rebinding" in body and "allowed_hosts=['evil.example']" in body
    for name in (f"127.0.0.1:{server.port}", f"localhost:{server.port}", "127.0.0.1:1"):
        assert raw(server.port, name, path, extra)[0] in (101, 200), name
    assert server.allowed_hosts == ["127.0.0.1", "localhost", "::1"]


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize(
    ("host", "status", "says"),
    [
        (None, 400, "Host header is missing"),
        ("127.0.0.1:99999", 400, "not a number from 0 to 65535"),
        ("::1", 400, "in brackets"),
        ("[::1", 400, "never closed"),
        ("[::1]:8000", None, ""),
        ("[::1]", None, ""),
    ],
)
def test_odd_host_values_get_a_clear_answer_and_the_server_goes_on(
    kind: str, host: str | None, status: int | None, says: str
) -> None:
    make, path, extra = KINDS[kind]
    server = kit.serve(make(), name=kind)
    got, body = raw(server.port, host, path, extra)
    if status is None:
        assert got in (101, 200), body
    else:
        if host is None:  # each HTTP parser insists on Host before the kit looks
            assert got == 400 and "Host" in body, body
        else:
            assert (got, says in body) == (status, True), body
    assert raw(server.port, f"127.0.0.1:{server.port}", path, extra)[0] in (101, 200)


def test_allowed_hosts_widens_the_list_and_star_answers_any_name() -> None:
    server = kit.serve(hello_app(), name="wide", allowed_hosts=["chat.lan"])
    assert server.allowed_hosts == ["127.0.0.1", "localhost", "::1", "chat.lan"]
    assert raw(server.port, "chat.lan:8000") == (200, "hello")
    assert raw(server.port, "Chat.Lan.")[0] == 200
    assert raw(server.port, "evil.example")[0] == 403
    anything = kit.serve(hello_app(), name="any", allowed_hosts="*")
    assert anything.allowed_hosts == ["*"]
    assert raw(anything.port, "evil.example") == (200, "hello")
    with pytest.raises(ValueError, match="not a host name"):
        kit.serve(hello_app(), name="bad", allowed_hosts=["evil example"])


def test_the_host_of_kit_public_url_is_allowed(monkeypatch) -> None:
    monkeypatch.setenv(links.PUBLIC_URL_ENV, "https://lab.example/proxy/{port}/")
    server = kit.serve(hello_app(), name="public")
    assert "lab.example" in server.allowed_hosts
    assert raw(server.port, "lab.example")[0] == 200


def test_on_a_hub_only_requests_the_proxy_forwarded_to_this_port_skip_the_check(
    monkeypatch,
) -> None:
    monkeypatch.setenv(links.HUB_PREFIX_ENV, "/user/ann/")
    monkeypatch.setattr(links, "proxy_available", lambda: True)
    server = kit.serve(hello_app(), name="hub")
    forwarded = f"{hosts.FORWARDED_CONTEXT}: /user/ann/proxy/{server.port}\r\n"
    assert raw(server.port, "hub.example", extra=forwarded) == (200, "hello")
    other_port = f"{hosts.FORWARDED_CONTEXT}: /user/ann/proxy/{server.port + 1}\r\n"
    assert raw(server.port, "hub.example", extra=other_port)[0] == 403
    assert raw(server.port, "hub.example")[0] == 403


def test_without_the_proxy_installed_the_forwarded_header_counts_for_nothing(monkeypatch) -> None:
    monkeypatch.setenv(links.HUB_PREFIX_ENV, "/user/ann/")
    monkeypatch.setattr(links, "proxy_available", lambda: False)
    server = kit.serve(hello_app(), name="hub")
    forwarded = f"{hosts.FORWARDED_CONTEXT}: /user/ann/proxy/{server.port}\r\n"
    assert raw(server.port, "evil.example", extra=forwarded)[0] == 403


def test_a_server_bound_to_every_interface_answers_to_this_machines_names() -> None:
    with pytest.warns(RuntimeWarning, match="other machines on your network"):
        server = kit.serve(hello_app(), name="wide", host="0.0.0.0", allow_remote=True)
    assert socket.gethostname().lower() in server.allowed_hosts
    assert raw(server.port, socket.gethostname())[0] == 200
    assert raw(server.port, "evil.example")[0] == 403


def test_a_websockets_handlers_own_process_request_still_runs_after_the_check() -> None:
    seen = []

    def process_request(connection, request):
        seen.append(request.path)
        if request.path == "/private":
            return connection.respond(401, "no\n")
        return None

    server = kit.serve(echo, name="own", process_request=process_request)
    assert raw(server.port, "evil.example", "/", UPGRADE)[0] == 403
    assert raw(server.port, "127.0.0.1", "/private", UPGRADE) == (401, "no\n")
    assert raw(server.port, "127.0.0.1", "/", UPGRADE)[0] == 101
    assert seen == ["/private", "/"]  # the refused request never reached it


def test_the_kits_clients_and_the_tap_pass_the_check() -> None:
    server = kit.serve(kit.chat_app(), name="chat")
    tap = kit.tap(server)
    for url in (server.url, tap.url):
        client = kit.SocketIOClient(url)
        assert client.wait_for("new message")[0]["mess"] == "welcome to the chat"
        client.disconnect()
