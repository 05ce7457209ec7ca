"""PushRace, headless: four real clients race for the same news, and stop when told."""

from __future__ import annotations

import re
import time

import pytest

import kit
from kit.apps.push import PushMethod

pytestmark = pytest.mark.usefixtures("no_leaks")


@pytest.fixture
def news_server():
    return kit.serve(kit.NewsServer(hold=5.0), name="race news")


def test_all_four_hear_the_news_and_the_columns_say_so(news_server) -> None:
    race = kit.PushRace(news_server, interval=0.05)
    for client in race.clients.values():
        client.wait_open()
    item = race.publish()
    heard = race.wait_heard()
    assert set(heard) == set(PushMethod)
    assert {delivery.news for delivery in heard.values()} == {item}
    time.sleep(kit.widgets.push_race.REFRESH * 2)  # a redraw or two on the runtime thread
    for method, column in race._columns.items():
        assert method.value in column.value
        assert f"#{item.seq} after" in column.value
        assert "requests sent: <b>" in column.value and "bytes on the wire: <b>" in column.value
    # Only the short-polling client keeps asking while nothing happens.
    before = {m: c.requests for m, c in race.clients.items()}
    time.sleep(0.3)
    assert race.clients[PushMethod.SHORT_POLLING].requests > before[PushMethod.SHORT_POLLING]
    for method in (PushMethod.SERVER_SENT_EVENTS, PushMethod.WEBSOCKET):
        assert race.clients[method].requests == before[method] == 1
    race.close()
    assert {client.state for client in race.clients.values()} == {"closed"}
    assert [s.name for s in kit.running_servers()] == ["race news"]


def test_the_saved_picture_holds_no_numbers_that_change(news_server) -> None:
    race = kit.PushRace(news_server, interval=1.0)
    race.publish()
    race.wait_heard()
    static = race._repr_mimebundle_()["text/html"]
    for method in PushMethod:
        assert method.value in static
    assert "GET /poll every 1 s" in static
    assert not re.search(r"\d+ ms|requests sent|#\d+ after", static)
    assert repr(race) == "PushRace('race news', interval=1)"


def test_a_race_needs_a_news_server(echo_handler) -> None:
    server = kit.serve(echo_handler, name="echo")
    with pytest.raises(TypeError, match="PushRace needs a running kit server of a NewsServer"):
        kit.PushRace(server)


def test_a_stopped_server_shows_each_clients_error(news_server) -> None:
    race = kit.PushRace(news_server, interval=0.05)
    for client in race.clients.values():
        client.wait_open()
    news_server.stop()
    deadline = time.monotonic() + 5
    while any(c.state != "failed" for c in race.clients.values()):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(kit.widgets.push_race.REFRESH * 2)
    assert "the news server is stopping" in race._columns[PushMethod.WEBSOCKET].value
    with pytest.raises(kit.NewsClientError):
        race.wait_heard(seq=99, timeout=1)
