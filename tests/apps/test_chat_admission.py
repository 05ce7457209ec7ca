"""kit.chat_app()'s admission rules: origins, tokens on CONNECT, names, rooms, rate, headers.

Each refusal is checked for its reason as the client sees it, and each test checks that
the server goes on serving everyone else.
"""

from __future__ import annotations

import re
import socket
import time
import urllib.request

import pytest
import socketio

import kit
from kit.apps.ratelimit import RateLimit
from kit.apps.tokens import TokenSigner

pytestmark = pytest.mark.usefixtures("no_leaks")

SECRET = b"a lesson secret of 32 bytes.....!"


def client(server: kit.Server, **options) -> kit.SocketIOClient:
    made = kit.SocketIOClient(server.url, transports=["websocket"], **options)
    assert made.wait_for("new message")[0]["mess"] == "welcome to the chat"
    return made


def raw_get(port: int, path: str, origin: str | None) -> tuple[int, str]:
    head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
    head += f"Origin: {origin}\r\n" if origin else ""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall((head + "\r\n").encode())
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    return status, answer.partition(b"\r\n\r\n")[2].decode()


# -- names -------------------------------------------------------------------------------


IMPOSTORS = {
    "Victim": "is taken",
    "vic\u200btim": "invisible format character",
    "vict\u0456m": "mixes the Cyrillic and Latin scripts",
    "victim (private)": "ends in '(private)'",
    " victim ": "is taken",
    "victim": "is taken",
}


def test_names_that_could_pass_for_a_logged_in_user_are_refused() -> None:
    server = kit.serve(kit.chat_app(), name="chat")
    victim = client(server)
    assert victim.call("add user", "victim")["users"] == ["victim"]
    impostor = client(server)
    for name, says in IMPOSTORS.items():
        reply = impostor.call("add user", name)
        assert says in reply["error"], (name, reply)
    reply = impostor.call("recive message", {"message": "hi", "user": "VICTIM"})
    assert "is taken" in reply["error"]
    assert impostor.call("add user", "Vïctor") == {"users": ["victim", "Vïctor"], "numUsers": 2}


def test_without_strict_names_the_article_servers_comparison_lets_impostors_in() -> None:
    server = kit.serve(kit.chat_app(strict_names=False), name="chat")
    client(server).call("add user", "victim")
    impostors = [client(server) for _ in range(3)]
    for one, name in zip(impostors, ["Victim", "vic\u200btim", "vict\u0456m"], strict=True):
        assert "error" not in one.call("add user", name)
    assert len(impostors[0].call("users")["users"]) == 4


# -- tokens on CONNECT ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("auth", "says"),
    [
        (None, "this server wants a token: connect with auth={'token': '...'}"),
        ({"name": "ann"}, "auth has no 'token'"),
        (["token"], "auth must be an object like {'token': '...'}, not list"),
        ({"token": "letmein"}, "not a token: expected v1.<payload>.<signature>"),
        ({"token": 42}, "a token is text, not int"),
        ({"token": "x" * 3000}, "the token has 3000 characters; at most 1024"),
        ({"token": "t", "padding": "x" * 5000}, "the auth payload has 5"),
        ("forged", "the token's signature is wrong: it was not issued by this server"),
        ("expired", "the token for 'ann' expired"),
    ],
)
def test_a_connect_without_a_good_token_is_refused_with_the_reason(auth, says: str) -> None:
    signer = TokenSigner(SECRET)
    if auth == "forged":
        auth = {"token": TokenSigner(b"another secret of 32 bytes......").issue("ann")}
    elif auth == "expired":
        auth = {"token": signer.issue("ann", lifetime=-1)}
    server = kit.serve(kit.chat_app(tokens=signer), name="chat")
    with pytest.raises(ConnectionRefusedError) as caught:
        kit.SocketIOClient(server.url, auth=auth)
    assert str(caught.value).startswith("the server refused the connection to /: ")
    assert says in str(caught.value)
    good = client(server, auth={"token": signer.issue("bob")})  # everyone else still gets in
    assert good.call("add user", "bob")["users"] == ["bob"]


def test_an_auth_payload_over_the_servers_buffer_never_gets_in_and_others_do() -> None:
    signer = TokenSigner(SECRET)
    server = kit.serve(kit.chat_app(tokens=signer), name="chat")
    # python-engineio closes the connection (1009 over WebSocket) before any handler runs.
    with pytest.raises((ConnectionError, socketio.exceptions.ConnectionError)):
        kit.SocketIOClient(server.url, auth={"token": "x" * 2_000_000}, timeout=3)
    assert client(server, auth={"token": signer.issue("ann")}).connected


def test_a_token_binds_its_holder_to_its_name() -> None:
    signer = TokenSigner(SECRET)
    server = kit.serve(kit.chat_app(tokens=signer), name="chat")
    ann = client(server, auth={"token": signer.issue("ann")})
    assert ann.call("add user", "bob") == {
        "error": "your token is for 'ann': you cannot log in as 'bob'"
    }
    assert "error" in ann.call("recive message", {"message": "hi", "user": "bob"})
    assert ann.call("add user", "Ann")["users"] == ["Ann"]  # the same name, by its key


def test_a_token_that_expires_during_the_session_ends_it_and_cannot_reconnect() -> None:
    now = [1000.0]
    signer = TokenSigner(SECRET, lifetime=0.5, clock=lambda: now[0] + time.monotonic())
    server = kit.serve(kit.chat_app(tokens=signer), name="chat")
    token = signer.issue("ann")
    ann = client(server, auth={"token": token})
    assert ann.call("add user", "ann")["users"] == ["ann"]
    notice = ann.wait_for("error message", timeout=3)[0]
    assert notice == {"event": "connect", "error": "your token expired: reconnect with a new one"}
    assert ann.wait_for("disconnect", timeout=3) == ["server disconnect"]
    with pytest.raises(ConnectionRefusedError, match="the token for 'ann' expired"):
        kit.SocketIOClient(server.url, auth={"token": token})
    fresh = client(server, auth={"token": signer.issue("ann")})
    assert fresh.call("add user", "ann")["users"] == ["ann"]


# -- rooms -----------------------------------------------------------------------------------


def test_room_members_decide_who_may_join() -> None:
    chat = kit.chat_app(room_members={"room two": ["Ann", "bob"]})
    server = kit.serve(chat, name="chat")
    ann, eve, nobody = client(server), client(server), client(server)
    ann.call("add user", "ann")
    eve.call("add user", "eve")
    assert ann.call("join", "room two")["rooms"] == ["room two"]
    assert eve.call("join", "room two") == {
        "error": "room 'room two' is for its members only, not 'eve'"
    }
    assert "log in first" in nobody.call("join", "room two")["error"]
    assert eve.call("join", "room one")["rooms"] == ["room one"]  # not listed: open
    assert "no room" in eve.call("join", "room nine")["error"]
    with pytest.raises(ValueError, match="not one of the rooms"):
        kit.chat_app(room_members={"room nine": ["ann"]})
    with pytest.raises(ValueError, match="a list of names"):
        kit.chat_app(room_members={"room one": "ann"})


def test_with_any_room_allowed_invisible_room_names_are_still_refused() -> None:
    server = kit.serve(kit.chat_app(rooms=None), name="chat")
    one = client(server)
    assert "invisible" in one.call("join", "room\u200bone")["error"]
    assert one.call("join", "room   one")["rooms"] == ["room one"]


# -- rate ------------------------------------------------------------------------------------


def test_a_flooding_client_is_slowed_down_and_the_others_are_not() -> None:
    server = kit.serve(kit.chat_app(rate_limit=RateLimit(burst=5, per_second=2)), name="chat")
    flooder, quiet = client(server), client(server)
    replies = [flooder.call("recive message", {"message": f"m{i}"}) for i in range(8)]
    assert replies[:5] == [{"ok": True}] * 5
    assert all(r["error"].startswith("slow down: at most 5 events at once") for r in replies[5:])
    assert quiet.call("recive message", {"message": "me too"}) == {"ok": True}
    flooder.emit("typing")  # no ack asked: the refusal comes as an event
    refusal = flooder.wait_for("error message")[0]
    assert refusal["event"] == "typing" and refusal["error"].startswith("slow down")
    time.sleep(0.6)  # one token back (2 a second)
    assert flooder.call("recive message", {"message": "later"}) == {"ok": True}


# -- origins and page headers ----------------------------------------------------------------


def test_origins_allows_exactly_the_listed_pages() -> None:
    default = kit.serve(kit.chat_app(), name="default")
    path = "/socket.io/?EIO=4&transport=polling"
    own = f"http://127.0.0.1:{default.port}"
    assert raw_get(default.port, path, own)[0] == 200
    assert raw_get(default.port, path, None)[0] == 200  # no Origin: not a browser
    refused = raw_get(default.port, path, "http://127.0.0.1:5500")
    assert refused == (400, '"http://127.0.0.1:5500 is not an accepted origin."')
    listed = kit.serve(kit.chat_app(origins=["http://127.0.0.1:5500"]), name="listed")
    assert raw_get(listed.port, path, "http://127.0.0.1:5500")[0] == 200
    assert raw_get(listed.port, path, "http://127.0.0.1:5501")[0] == 400
    assert raw_get(listed.port, path, f"http://127.0.0.1:{listed.port}")[0] == 400  # exactly
    page = client(listed, headers={"Origin": "http://127.0.0.1:5500"})
    assert page.connected
    # An HTTP refusal comes before any socket.io packet: the kit's client raises
    # python-socketio's error, which names the status, not a connect_error's reason.
    with pytest.raises(socketio.exceptions.ConnectionError) as caught:
        kit.SocketIOClient(default.url, headers={"Origin": "http://127.0.0.1:5500"})
    assert str(caught.value) == "Unexpected status code 400 in server response"
    assert not isinstance(caught.value, ConnectionRefusedError)


@pytest.mark.parametrize(
    "origins", ["http://127.0.0.1:5500/", "127.0.0.1:5500", "http://x/index.html", "ftp://x"]
)
def test_an_origin_that_could_never_match_is_refused_at_once(origins: str) -> None:
    with pytest.raises(ValueError, match="scheme://host"):
        kit.chat_app(origins=[origins])


def test_the_page_refuses_framing_and_names_its_one_inline_script() -> None:
    server = kit.serve(kit.chat_app(client_js="https://cdn.socket.io/4.8.1/socket.io.min.js"))
    with urllib.request.urlopen(server.url, timeout=5) as answer:
        headers, page = answer.headers, answer.read().decode()
    assert headers["X-Frame-Options"] == "SAMEORIGIN"
    policy = headers["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in policy and "connect-src 'self'" in policy
    (nonce,) = re.findall(r"'nonce-([\w-]+)'", policy)
    assert page.count(f'<script nonce="{nonce}">') == 1
    assert "script-src 'self' 'nonce-" in policy and "https://cdn.socket.io" in policy
    with urllib.request.urlopen(server.url, timeout=5) as again:
        assert nonce not in again.headers["Content-Security-Policy"]  # fresh each time


def test_a_page_of_your_own_keeps_its_inline_scripts_and_is_not_framed(tmp_path) -> None:
    page = tmp_path / "index.html"
    page.write_text("<script>document.title = 'mine'</script>")
    server = kit.serve(kit.chat_app(page=page), name="mine")
    with urllib.request.urlopen(server.url, timeout=5) as answer:
        assert answer.headers["Content-Security-Policy"] == "frame-ancestors 'self'"
        assert answer.headers["X-Frame-Options"] == "SAMEORIGIN"
