"""JupyterHub and Binder: the chat page reaches the in-kernel server through the Jupyter server.

On a hub the browser cannot reach the kernel machine's 127.0.0.1. This starts JupyterLab the
way a hub starts a user's server (under ``/user/NAME/``, with ``JUPYTERHUB_SERVICE_PREFIX``
set) with jupyter-server-proxy installed, runs lesson 06, and checks that:

- the link the lesson prints is the proxied one, ``/user/NAME/proxy/PORT/``;
- the chat page loads through it, connects over a WebSocket (also proxied), and chats with
  the notebook's panels both ways.
"""

from __future__ import annotations

import importlib.util
import re
import uuid

import pytest

from tests.conftest import _missing
from tests.jupyterlab.harness import (
    MESSAGE_TIMEOUT,
    lesson,
    open_notebook,
    panel,
    received,
    run_all,
    save_artifacts,
    start_lab,
    stderr_outputs,
    type_and_enter,
)

PREFIX = "/user/kit-test/"


@pytest.fixture(scope="module")
def hub_lab(browser, tmp_path_factory, pytestconfig, socketio_client_js):
    if importlib.util.find_spec("jupyter_server_proxy") is None:
        _missing("jupyter-server-proxy is not installed (pip install -e '.[hub]')")
    home = tmp_path_factory.mktemp("hub")
    env = {"JUPYTERHUB_SERVICE_PREFIX": PREFIX, "KIT_SOCKETIO_JS": str(socketio_client_js)}
    with start_lab(home, [lesson("06")], pytestconfig, base_url=PREFIX, env=env) as running:
        yield running


def test_the_chat_page_chats_with_a_panel_through_the_proxy(page, hub_lab) -> None:
    from playwright.sync_api import expect

    name = lesson("06").name
    token = uuid.uuid4().hex[:8]
    chat = None
    try:
        open_notebook(page, hub_lab, name)
        run_all(page, name)
        assert stderr_outputs(page) == []
        link = page.locator(".jp-OutputArea-output a[target='_blank']", has_text="/proxy/")
        href = link.first.get_attribute("href")
        assert href and re.fullmatch(rf"{PREFIX}proxy/\d+/", href), href
        chat = page.context.new_page()  # the same browser session: logged in to Jupyter
        chat.goto(hub_lab.root_url + href)
        expect(chat.locator("#client-source")).to_contain_text("local copy")
        expect(chat.locator("#status")).to_have_text("connected over websocket")
        chat.fill("#nickname", f"hubvisitor{token}")
        chat.click("#login-button")
        expect(chat.locator("#me")).to_have_text(f"hubvisitor{token}")
        bob = panel(page, "bob")
        chat.fill("#message", f"through the proxy {token}")
        chat.click("#send")
        expect(received(bob, f"through the proxy {token}")).to_contain_text(
            f"hubvisitor{token}", timeout=MESSAGE_TIMEOUT
        )
        chat.fill("#room", "room one")
        chat.click("#join")
        expect(chat.locator("#my-rooms li")).to_have_text(["room one"])
        type_and_enter(panel(page, "alice"), f"back through the proxy {token}")
        expect(
            chat.locator("li.message", has_text=f"back through the proxy {token}")
        ).to_have_count(1)
    except Exception as error:
        saved = save_artifacts(chat or page, hub_lab, "hub")
        raise AssertionError(f"{name} behind the proxy: {error}\nsaved: {saved}") from error
    finally:
        if chat is not None:
            chat.close()
        hub_lab.shut_down_kernels()
