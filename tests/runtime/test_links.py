"""Where a browser finds a kit server: loopback, a configured address, or JupyterHub's proxy."""

from __future__ import annotations

import pytest

import kit
from kit.runtime import links


@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.delenv(links.PUBLIC_URL_ENV, raising=False)
    monkeypatch.delenv(links.HUB_PREFIX_ENV, raising=False)
    return monkeypatch


def test_on_your_own_machine_it_is_loopback(clean_env) -> None:
    assert links.browser_url(4000) == "http://127.0.0.1:4000/"
    assert links.browser_url(4000, "::1") == "http://[::1]:4000/"


def test_a_configured_public_address_wins(clean_env) -> None:
    clean_env.setenv(links.PUBLIC_URL_ENV, "https://class.example/proxy/{port}/")
    assert links.browser_url(4000) == "https://class.example/proxy/4000/"


def test_on_jupyterhub_the_proxy_path_under_the_hub_prefix(clean_env) -> None:
    clean_env.setenv(links.HUB_PREFIX_ENV, "/user/ann/")
    clean_env.setattr(links, "proxy_available", lambda: True)
    assert links.browser_url(4000) == "/user/ann/proxy/4000/"
    link = links.link_for(4000, "open the chat page")
    assert str(link) == "open the chat page: /user/ann/proxy/4000/"
    assert "href='/user/ann/proxy/4000/'" in link._repr_html_()


def test_on_jupyterhub_without_the_proxy_the_link_says_what_to_install(clean_env) -> None:
    clean_env.setenv(links.HUB_PREFIX_ENV, "/user/ann/")
    clean_env.setattr(links, "proxy_available", lambda: False)
    link = links.link_for(4000, "open it")
    assert link.href == "http://127.0.0.1:4000/"
    assert "pip install 'wire-to-room[hub]'" in link.note
    assert "pip install" in str(link) and "<small>" in link._repr_html_()


@pytest.mark.usefixtures("no_leaks")
def test_a_server_links_to_itself(clean_env) -> None:
    async def echo(websocket):
        async for message in websocket:
            await websocket.send(message)

    server = kit.serve(echo, name="linked")
    assert server.browser_url == f"http://127.0.0.1:{server.port}/"
    assert str(server.link("open")) == f"open: http://127.0.0.1:{server.port}/"
