"""The chat page over https:// and wss:// in Chromium, chatting with a notebook panel.

Chromium trusts the kit's local certificate authority the way a learner would make it:
the CA certificate (``tls.local_ca().ca_file``, no key) imported with NSS's certutil
into a fresh NSS database in a temporary HOME (the ``nss_chromium`` fixture in
tests/conftest.py). It runs with no certificate-error flag and no pinned key, so it
checks the chain and the name itself: the same page is refused without the import, and a
certificate for another name or from another CA is refused with it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import kit
from kit.runtime import tls
from tests.conftest import CHROMIUM_FLAGS, _certutil

pytestmark = pytest.mark.usefixtures("no_leaks")


def test_chromium_runs_without_any_certificate_flag() -> None:
    assert not [flag for flag in CHROMIUM_FLAGS if "certificate" in flag]


def test_a_missing_certutil_skips_with_the_install_command_and_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no certutil on it
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install libnss3-tools"):
        _certutil()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="apt-get install libnss3-tools"):
        _certutil()


def test_the_wss_page_chats_with_a_notebook_panel(nss_chromium, socketio_client_js: Path) -> None:
    from playwright.sync_api import expect

    server = kit.serve(kit.chat_app(client_js=socketio_client_js), name="secure chat", tls=True)
    panel = kit.ChatPanel(server, user="alice", room="room one")
    context = nss_chromium(trust_local_ca=True).new_context()
    try:
        page = context.new_page()
        page.goto(server.url + "/")
        assert page.evaluate("location.protocol") == "https:"
        expect(page.locator("#status")).to_have_text("connected over websocket")
        assert page.evaluate("socket.io.engine.transport.ws.url").startswith("wss://")
        page.fill("#nickname", "visitor")
        page.click("#login-button")
        expect(page.locator("#me")).to_have_text("visitor")
        page.fill("#message", "hello over wss")
        page.click("#send")
        assert panel.wait_message().text == "hello over wss"
        page.fill("#room", "room one")
        page.click("#join")
        expect(page.locator("#my-rooms li")).to_have_text(["room one"])
        panel.send("and back over wss")
        expect(page.locator("li.message", has_text="and back over wss")).to_have_count(1)
    finally:
        context.close()


def test_without_the_ca_import_the_same_page_is_refused(
    nss_chromium, socketio_client_js: Path
) -> None:
    """Two Chromiums, each with a fresh NSS database: only the import differs."""
    from playwright.sync_api import expect

    server = kit.serve(kit.chat_app(client_js=socketio_client_js), name="secure chat", tls=True)
    trusting = nss_chromium(trust_local_ca=True).new_context()
    untrusting = nss_chromium(trust_local_ca=False).new_context()
    try:
        page = trusting.new_page()
        page.goto(server.url + "/")
        expect(page.locator("#status")).to_have_text("connected over websocket")
        with pytest.raises(Exception, match="ERR_CERT_AUTHORITY_INVALID"):
            untrusting.new_page().goto(server.url + "/")
    finally:
        trusting.close()
        untrusting.close()


def test_a_certificate_from_the_trusted_ca_for_another_name_is_refused(nss_chromium) -> None:
    certificate = tls.local_ca().issue(["chat.wire-to-room.test"])
    server = kit.serve(kit.chat_app(), name="wrong name", tls=certificate)
    context = nss_chromium(trust_local_ca=True).new_context()
    try:
        with pytest.raises(Exception, match="ERR_CERT_COMMON_NAME_INVALID"):
            context.new_page().goto(server.url + "/")
    finally:
        context.close()


def test_a_certificate_from_another_ca_is_refused(nss_chromium) -> None:
    stranger = tls.LocalCA()  # a second authority, never imported
    server = kit.serve(kit.chat_app(), name="other ca", tls=stranger.issue())
    context = nss_chromium(trust_local_ca=True).new_context()
    try:
        with pytest.raises(Exception, match="ERR_CERT_AUTHORITY_INVALID"):
            context.new_page().goto(server.url + "/")
    finally:
        context.close()
