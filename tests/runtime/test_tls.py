"""kit.serve(..., tls=...): wss:// and https:// with certificates from the kit's local CA.

The certificates come from trustme (a real CA, in memory), never from a file in the repo.
Clients really verify: a client that does not trust the kit's CA is refused.
"""

from __future__ import annotations

import re
import socket
import ssl
import urllib.error
import urllib.request

import pytest

import kit
from kit.runtime import tls
from kit.runtime.errors import TLSSetupError
from kit.wire.decoder import Layer

pytestmark = pytest.mark.usefixtures("no_leaks")


async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)


def test_the_chat_app_over_https_with_polling_and_websocket() -> None:
    server = kit.serve(kit.chat_app(), name="secure", tls=True)
    assert server.tls and server.url.startswith("https://127.0.0.1:")
    assert server.ws_url.startswith("wss://127.0.0.1:")
    assert server.link().href == f"https://127.0.0.1:{server.port}/"
    assert server.certificate is not None and "::1" in server.certificate.names
    polling = kit.SocketIOClient(server.url, transports=["polling"])
    upgraded = kit.SocketIOClient(server.url)
    for client, name in ((polling, "ann"), (upgraded, "bob")):
        assert client.wait_for("new message")[0]["mess"] == "welcome to the chat"
        assert name in client.call("add user", name)["users"]
    polling.emit("recive message", {"message": "over TLS"})
    assert upgraded.wait_for("new message")[0]["mess"] == "over TLS"
    with urllib.request.urlopen(server.url, context=tls.client_context(), timeout=5) as page:
        assert b"wire-to-room chat" in page.read()


@pytest.mark.parametrize("kind", ["websockets", "scratch"])
def test_wss_to_a_websockets_handler_and_to_the_scratch_server(kind: str) -> None:
    app = echo if kind == "websockets" else kit.ScratchServer()
    server = kit.serve(app, name=kind, tls=True)
    ws = kit.WebSocket(server.ws_url)
    ws.wait_open()
    ws.send("hello over wss")
    assert ws.wait_message().data == "hello over wss"
    ws.close()
    assert ws.wait_closed().wasClean


def test_a_client_that_does_not_trust_the_local_ca_is_refused() -> None:
    server = kit.serve(echo, name="secure", tls=True)
    ws = kit.WebSocket(server.ws_url, ssl=ssl.create_default_context())  # system CAs only
    with pytest.raises(ConnectionError):
        ws.wait_open()
    assert isinstance(ws.failure, ssl.SSLCertVerificationError)
    assert "CERTIFICATE_VERIFY_FAILED" in str(ws.failure)
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(server.url.replace("wss", "https"), timeout=5)
    with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):
        kit.SocketIOClient(
            kit.serve(kit.chat_app(), name="chat", tls=True).url,
            ssl=ssl.create_default_context(),
            timeout=2,
        )


def test_a_certificate_for_other_names_fails_the_name_check() -> None:
    elsewhere = tls.local_ca().issue(["chat.example"])
    server = kit.serve(echo, name="misnamed", tls=elsewhere)
    ws = kit.WebSocket(server.ws_url)
    with pytest.raises(ConnectionError):
        ws.wait_open()
    assert "IP address mismatch" in str(ws.failure) or "doesn't match" in str(ws.failure)


def test_an_ssl_context_or_certificate_files_of_your_own(tmp_path) -> None:
    issued = tls.local_ca().issue()
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_bytes(issued.cert_pem)
    issued._issued.private_key_pem.write_to_path(str(key))  # trustme's own writer
    from_files = kit.serve(echo, name="files", tls=(cert, key))
    from_context = kit.serve(echo, name="context", tls=issued.server_context())
    for server in (from_files, from_context):
        ws = kit.WebSocket(server.ws_url)
        ws.wait_open()
        ws.close()


def test_bad_certificates_and_keys_are_refused_at_serve_with_the_reason(tmp_path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    other = tls.local_ca().issue()
    cert, wrong_key = tmp_path / "cert.pem", tmp_path / "wrong-key.pem"
    cert.write_bytes(tls.local_ca().issue().cert_pem)
    other._issued.private_key_pem.write_to_path(str(wrong_key))
    cases = [
        ((tmp_path / "missing.pem", garbage), "no certificate file at"),
        ((cert, tmp_path / "missing-key.pem"), "no private key file at"),
        ((garbage, garbage), "are both PEM files"),
        ((cert, wrong_key), "is the key the certificate's own?"),
        ("cert.pem", "is not understood"),
        (42, "is not understood"),
    ]
    for option, says in cases:
        with pytest.raises(TLSSetupError, match=re.escape(says)):
            kit.serve(echo, name="bad", tls=option)
    assert kit.running_servers() == []


def test_a_tls_client_on_a_plain_port_and_a_plain_client_on_a_tls_port() -> None:
    plain = kit.serve(kit.chat_app(), name="plain")
    secure = kit.serve(kit.chat_app(), name="secure", tls=True)
    context = tls.client_context()
    with pytest.raises(urllib.error.URLError, match=r"WRONG_VERSION_NUMBER|wrong version"):
        urllib.request.urlopen(f"https://127.0.0.1:{plain.port}/", context=context, timeout=5)
    with socket.create_connection(("127.0.0.1", secure.port), timeout=5) as connection:
        connection.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert connection.recv(1000) == b""  # no answer: the server hung up
    for server in (plain, secure):  # both still serve everyone else
        client = kit.SocketIOClient(server.url)
        assert client.wait_for("new message")[0]["mess"] == "welcome to the chat"
        client.disconnect()


def test_the_tap_in_front_of_a_tls_server_sees_records_not_messages() -> None:
    server = kit.serve(kit.chat_app(), name="secure", tls=True)
    tap = kit.tap(server)
    assert tap.url.startswith("https://") and tap.ws_url.startswith("wss://")
    client = kit.SocketIOClient(tap.url, transports=["websocket"])
    client.call("add user", "ann")
    client.call("recive message", {"message": "a secret in plain sight?"})
    client.disconnect()
    tap.settle()
    layers = {event.layer.value for event in tap.events}
    assert layers == {"tcp", "tls"}
    assert not tap.select(lambda event: event.carries("secret"))
    first = tap.select(layer="tls", direction="client->server")[0]
    assert first.summary.endswith("ClientHello")
    assert tap.select("APPLICATION_DATA", layer="tls", direction="server->client")
    # An inspector of this tap offers (and by default shows) the layers it records.
    inspector = kit.FrameInspector(tap)
    try:
        assert tap.layers == (Layer.TCP, Layer.TLS, Layer.FAULT)  # a TLS tap can break too
        assert len(inspector.events) == len(tap.events)
    finally:
        inspector.close()


def test_the_local_ca_is_one_per_process_and_its_file_holds_no_key() -> None:
    ca = tls.local_ca()
    assert tls.local_ca() is ca
    text = ca.ca_file.read_text()
    assert text.startswith("-----BEGIN CERTIFICATE-----") and "PRIVATE KEY" not in text
    assert _public_key(ca.issue()) != _public_key(ca.issue())  # a fresh key each time


def test_the_ca_file_goes_when_its_process_exits_or_is_swept_after_a_kill() -> None:
    """The CA file's folder must not pile up in the temp directory, one per kernel."""
    import subprocess
    import sys
    from pathlib import Path

    from kit.runtime import processes

    show = "from kit.runtime import tls; print(tls.local_ca().ca_file, flush=True)"
    ended = subprocess.run([sys.executable, "-c", show], capture_output=True, text=True)
    path = Path(ended.stdout.strip())
    assert ended.returncode == 0 and path.name == "kit-local-ca.pem", ended.stderr
    assert not path.parent.exists()  # removed at exit
    killed = subprocess.Popen(
        [sys.executable, "-c", show + "; import os; os.kill(os.getpid(), 9)"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert killed.stdout is not None
    left = Path(killed.stdout.readline().strip()).parent
    killed.wait(timeout=30)
    assert left.is_dir() and f"-pid{killed.pid}-" in left.name  # a kill skips atexit
    processes._sweep_directories_of_dead_kernels()
    assert not left.exists()


def _public_key(certificate: tls.ServerCertificate) -> bytes:
    """The DER SubjectPublicKeyInfo of the certificate's first (the server's) entry."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    key = x509.load_pem_x509_certificate(certificate.cert_pem).public_key()
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
