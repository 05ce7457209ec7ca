"""permessage-deflate between Chromium and the from-scratch server, both directions."""

from __future__ import annotations

import pytest

import kit
from kit.wire.deflate import DeflateSettings

pytestmark = pytest.mark.usefixtures("no_leaks")

PAGE = """<p id="extensions"></p><p id="echoes"></p><script>
const socket = new WebSocket(new URLSearchParams(location.search).get("ws"));
const sent = ["the chat says hello to everyone in the room. ".repeat(40), "short",
              "the chat says hello to everyone in the room. ".repeat(40)];
const echoes = [];
socket.onopen = () => {
  document.getElementById("extensions").textContent = socket.extensions;
  for (const text of sent) socket.send(text);
};
socket.onmessage = (event) => {
  echoes.push(event.data === sent[echoes.length] ? "same" : "different");
  document.getElementById("echoes").textContent = echoes.join(" ");
};
</script>"""


@pytest.mark.parametrize(
    ("settings", "agreed"),
    [
        (DeflateSettings(), "permessage-deflate"),
        (
            DeflateSettings(server_no_context_takeover=True, client_no_context_takeover=True),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
        ),
    ],
    ids=["context takeover", "no context takeover"],
)
def test_chromium_and_the_scratch_server_compress_both_ways(page, settings, agreed) -> None:
    from playwright.sync_api import expect

    server = kit.serve(kit.ScratchServer("echo", compression=settings), name="deflate")
    tap = kit.tap(server)
    pages = kit.serve(kit.page_app(PAGE), name="deflate page")
    page.goto(f"{pages.url}/?ws={tap.ws_url}")
    expect(page.locator("#echoes")).to_have_text("same same same")
    assert page.locator("#extensions").inner_text() == agreed
    tap.settle()
    upgrade = tap.select(layer="http", direction="client->server")[0].raw.decode()
    assert "Sec-WebSocket-Extensions: permessage-deflate" in upgrade
    inflated = [e for e in tap.select(layer="websocket") if e.summary.startswith("inflated")]
    # Chromium compressed all three messages; the server the two long ones (min_size).
    assert [e.direction.arrow for e in inflated].count("->") == 3
    assert [e.direction.arrow for e in inflated].count("<-") == 2
