"""After a plain Run All of a whole lesson in JupyterLab, its chat panels and links work.

A learner's first action is often Run All. This runs each lesson that has chat panels,
whole, in a real JupyterLab driven by headless Chromium, then does what the learner does
next: types into alice's panel and presses Enter (the message must appear in bob's panel;
in lesson 08 alice and bob are on two chat server processes that share a Redis),
types and leaves the box (nothing may be sent), clicks Send. For lesson 06 it also opens
the link the lesson printed: the chat page must load, chat with the notebook's panels over
a WebSocket, both ways. No cell may show an error or stderr output.
"""

from __future__ import annotations

import os
import re
import time
import uuid

import pytest

from tests.jupyterlab.harness import (
    MESSAGE_TIMEOUT,
    _say,
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

WITH_PANELS = ["01", "02", "05", "06", "07", "08", "09"]
RUNS = int(os.environ.get("KIT_LAB_RUNS", "1"))
"""Run All each lesson this many times (``KIT_LAB_RUNS=30 ... -k 01`` before a release)."""


@pytest.fixture(scope="module")
def lab(browser, tmp_path_factory, pytestconfig, socketio_client_js):
    # browser first: without Chromium the tests skip before JupyterLab is started. The
    # chat page loads the official client from the local copy (CI has no CDN).
    lessons = [lesson(prefix) for prefix in WITH_PANELS]
    env = {"KIT_SOCKETIO_JS": str(socketio_client_js)}
    home = tmp_path_factory.mktemp("jupyterlab")
    with start_lab(home, lessons, pytestconfig, env=env) as running:
        yield running


@pytest.mark.parametrize("run", range(RUNS), ids=lambda run: f"run{run}")
@pytest.mark.parametrize("prefix", WITH_PANELS)
def test_after_run_all_the_panels_chat_and_only_enter_or_send_sends(
    prefix, run, page, lab, pytestconfig
) -> None:
    from playwright.sync_api import expect

    name = lesson(prefix).name
    started = time.perf_counter()
    token = uuid.uuid4().hex[:8]
    try:
        open_notebook(page, lab, name)
        run_all(page, name)
        assert stderr_outputs(page) == []
        alice, bob = panel(page, "alice"), panel(page, "bob")
        expect(alice.locator(".kit-chat-state")).to_have_text("(online)")
        expect(bob.locator(".kit-chat-state")).to_have_text("(online)")

        type_and_enter(alice, f"hello bob {token}")
        message = received(bob, f"hello bob {token}")
        expect(message).to_contain_text("alice", timeout=MESSAGE_TIMEOUT)
        expect(message).not_to_have_class(re.compile(r"\bkit-chat-mine\b"))
        box = alice.locator(".kit-chat-input input")
        expect(box).to_have_value("")  # sent, cleared

        box.fill(f"half-typed {token}")
        bob.locator(".kit-chat-header").click()  # leave the box: nothing is sent
        page.wait_for_timeout(500)
        expect(received(bob, f"half-typed {token}")).to_have_count(0)
        expect(box).to_have_value(f"half-typed {token}")
        alice.locator(".kit-chat-send").click()
        expect(received(bob, f"half-typed {token}")).to_have_count(1, timeout=MESSAGE_TIMEOUT)

        if prefix == "06":
            _the_printed_link_serves_the_page_and_it_chats(page, alice, bob, token)
        assert stderr_outputs(page) == []
    except Exception as error:
        saved = save_artifacts(page, lab, prefix)
        raise AssertionError(
            f"{name} in JupyterLab: {error}\nsaved: {', '.join(map(str, saved))}"
        ) from error
    finally:
        lab.shut_down_kernels()
        _say(pytestconfig, f"\n{name}: Run All, then chat: {time.perf_counter() - started:.1f} s")


def _the_printed_link_serves_the_page_and_it_chats(page, alice, bob, token: str) -> None:
    from playwright.sync_api import expect

    link = page.locator(".jp-OutputArea-output a[target='_blank']", has_text="127.0.0.1")
    href = link.first.get_attribute("href")
    assert href and re.fullmatch(r"http://127\.0\.0\.1:\d+/", href), href
    chat = page.context.new_page()
    try:
        chat.goto(href)
        expect(chat.locator("#status")).to_have_text("connected over websocket")
        chat.fill("#nickname", f"visitor{token}")
        chat.click("#login-button")
        expect(chat.locator("#me")).to_have_text(f"visitor{token}")
        chat.fill("#message", f"from the page {token}")
        chat.click("#send")  # to everyone: the panels hear it
        expect(received(bob, f"from the page {token}")).to_contain_text(f"visitor{token}")
        chat.fill("#room", "room one")
        chat.click("#join")
        expect(chat.locator("#my-rooms li")).to_have_text(["room one"])
        type_and_enter(alice, f"to the page {token}")
        expect(chat.locator("li.message", has_text=f"to the page {token}")).to_have_count(1)
    finally:
        chat.close()
