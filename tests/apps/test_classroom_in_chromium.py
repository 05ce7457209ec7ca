"""Classroom mode in Chromium: the link's #join= token lets the chat page in.

Chromium trusts the CA certificate file the classroom hands out, imported with NSS's
certutil as a learner would (the ``nss_chromium`` fixture, as in
test_chat_over_tls_in_chromium.py), with no certificate-error flag; the server listens
on 127.0.0.2, a loopback address classroom mode treats like a LAN's.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import kit
from kit.runtime import tls

pytestmark = pytest.mark.usefixtures("no_leaks")


def test_the_classroom_link_carries_the_join_token_and_the_bare_address_is_refused(
    nss_chromium, socketio_client_js: Path
) -> None:
    """The chat page sends what follows #join= as its auth; without it, it says why."""
    from playwright.sync_api import expect

    room = kit.classroom_chat(host="127.0.0.2", name="class", client_js=socketio_client_js)
    assert room.ca_file == tls.local_ca().ca_file  # the handed-out file is what Chromium trusts
    teacher = kit.SocketIOClient(room.url, auth={"token": room.join_token})
    context = nss_chromium(trust_local_ca=True).new_context()
    try:
        page = context.new_page()
        page.goto(room.url + "/")
        expect(page.locator("#status")).to_have_text(
            "refused: this chat wants the join token your instructor handed out: connect "
            "with auth={'token': '...'} (the chat page reads it from the #join= part of "
            "its link)"
        )
        page.goto(room.link)  # only the #... part changes: the page reloads itself
        expect(page.locator("#status")).to_have_text("connected over websocket")
        page.fill("#nickname", "learner")
        page.click("#login-button")
        expect(page.locator("#me")).to_have_text("learner")
        page.fill("#message", "hello from a laptop")
        page.click("#send")
        heard = teacher.wait_for("new message")  # the greeting
        heard = teacher.wait_for("new message")[0]
        assert (heard["user"], heard["mess"]) == ("learner", "hello from a laptop")
    finally:
        context.close()
