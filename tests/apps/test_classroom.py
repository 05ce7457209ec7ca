"""Classroom mode: only when asked, only a private address, and then defended on every side.

The live tests listen on 127.0.0.2, a loopback address: classroom mode treats it like a
classroom network's (TLS, join token, origins, Host check) while the test still talks to
loopback only.
"""

from __future__ import annotations

import hashlib
import http.client
import socket
import ssl

import pytest
import socketio

import kit
from kit.apps.admission import Admission
from kit.apps.classroom import check_classroom_host, local_addresses
from kit.runtime.tls import client_context

pytestmark = pytest.mark.usefixtures("no_leaks")

HOST = "127.0.0.2"


@pytest.mark.parametrize("host", ["192.168.1.20", "10.0.0.5", "172.16.3.4", "fd00::1"])
def test_private_addresses_are_accepted(host: str) -> None:
    assert check_classroom_host(host) == host


@pytest.mark.parametrize(
    ("host", "why"),
    [
        (None, "given explicitly: kit.classroom_chat(host='192.168.1.20')"),
        ("0.0.0.0", "every network interface"),
        ("::", "every network interface"),
        ("8.8.8.8", "not an address of a private network"),
        ("2001:4860::1", "not an address of a private network"),
        ("chat.example", "is not an IP address"),
        (8080, "an IP address as text"),
    ],
)
def test_no_host_or_a_public_one_is_refused_saying_why(host: object, why: str) -> None:
    with pytest.raises(ValueError) as caught:
        kit.classroom_chat(host=host)  # type: ignore[arg-type]
    assert why in str(caught.value)


def test_without_a_host_the_error_lists_this_machines_local_addresses() -> None:
    with pytest.raises(ValueError) as caught:
        kit.classroom_chat()
    for address in local_addresses():
        assert address in str(caught.value)


def test_a_join_token_is_long_enough_and_not_mixed_with_user_tokens() -> None:
    with pytest.raises(ValueError, match="at least 16 characters"):
        kit.chat_app(join_token="letmein")
    with pytest.raises(ValueError, match="not both"):
        Admission(tokens=kit.TokenSigner(), join_token="a" * 22)


def test_the_classroom_chat_lets_in_only_the_join_token_over_tls(capsys) -> None:
    room = kit.classroom_chat(host=HOST, name="class")
    printed = capsys.readouterr().out
    assert printed.startswith("WARNING: classroom mode: the chat at https://127.0.0.2:")
    assert f"#join={room.join_token}" in printed and str(room.ca_file) in printed
    assert room.ca_fingerprint in printed and len(room.ca_fingerprint) == 95
    assert room.url == f"https://{HOST}:{room.port}"
    assert len(room.join_token) >= 22

    member = kit.SocketIOClient(room.url, auth={"token": room.join_token})
    assert member.wait_for("new message")[0]["mess"] == "welcome to the chat"
    assert member.call("add user", "ann")["users"] == ["ann"]
    for auth, why in [
        (None, "wants the join token"),
        ({"token": "x" * 22}, "not this chat's join token"),
        ({"token": room.join_token[:-1]}, "not this chat's join token"),
        ({"token": 42}, "wants the join token"),
    ]:
        with pytest.raises(ConnectionRefusedError, match=why):
            kit.SocketIOClient(room.url, auth=auth)
    # Another page's origin is refused; the page's own is the one allowed.
    with pytest.raises(socketio.exceptions.ConnectionError, match="status code 400"):
        kit.SocketIOClient(
            room.url, auth={"token": room.join_token}, headers={"Origin": "https://evil.example"}
        )
    own = kit.SocketIOClient(
        room.url, auth={"token": room.join_token}, headers={"Origin": room.url}
    )
    assert own.wait_for("new message")
    # Everyone else is still served.
    assert member.call("recive message", {"message": "still here"}) == {"ok": True}
    # A learner's own Python trusts the handed-out CA file alone, and connects.
    handed_out = ssl.create_default_context(cafile=str(room.ca_file))
    learner = kit.SocketIOClient(room.url, auth={"token": room.join_token}, ssl=handed_out)
    assert learner.wait_for("new message")
    with (
        socket.create_connection((HOST, room.port), timeout=5) as raw,
        handed_out.wrap_socket(raw, server_hostname=HOST) as secure,
    ):
        der = secure.getpeercert(binary_form=True)
    assert der is not None
    shown = hashlib.sha256(der).hexdigest().upper()
    assert room.server_fingerprint.replace(":", "") == shown
    assert room.server_fingerprint in printed


def _https_status(port: int, host_header: str) -> int:
    context = client_context()
    connection = http.client.HTTPSConnection(HOST, port, timeout=5, context=context)
    try:
        connection.putrequest("GET", "/", skip_host=True)
        connection.putheader("Host", host_header)
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


def test_the_classroom_chat_checks_host_and_speaks_only_tls() -> None:
    room = kit.classroom_chat(host=HOST, name="class", allowed_hosts=["chat.lan"])
    assert _https_status(room.port, f"{HOST}:{room.port}") == 200
    assert _https_status(room.port, f"chat.lan:{room.port}") == 200
    assert _https_status(room.port, "evil.example") == 403
    # Plain HTTP to the TLS port gets no answer, and the server keeps serving.
    with socket.create_connection((HOST, room.port), timeout=5) as plain:
        plain.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.2\r\n\r\n")
        assert plain.recv(1000) == b""
    # The certificate names the address (and the extra name), from the kit's local CA.
    context = client_context()
    with (
        socket.create_connection((HOST, room.port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="chat.lan") as secure,
    ):
        assert secure.version() in ("TLSv1.2", "TLSv1.3")
    with (
        socket.create_connection((HOST, room.port), timeout=5) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        context.wrap_socket(raw, server_hostname="evil.example")
    assert _https_status(room.port, HOST) == 200


def test_re_running_replaces_the_classroom_and_stop_ends_it() -> None:
    first = kit.classroom_chat(host=HOST, name="class")
    second = kit.classroom_chat(host=HOST, name="class", join_token="a-token-of-our-own-22")
    assert not first.server.running and second.server.running
    assert second.join_token == "a-token-of-our-own-22"
    second.stop()
    assert not second.server.running
    with pytest.raises(OSError):
        socket.create_connection((HOST, second.port), timeout=2).close()
