"""Presenting a lesson as slides in JupyterLab, with live widgets: the README's way.

jupyterlab-slideshow (the ``slides`` extra) turns the open notebook into slides *inside*
JupyterLab, from each cell's slide metadata, so widgets stay live: a chat panel on a slide
is the same panel, talking to the same kernel. This runs lesson 01, starts the deck, moves
forward until the slide with the two panels is on screen, types into alice's panel there,
and waits for the message in bob's; then shows that the exercise's check is on its own
slide, saying "not solved yet", and that no solution is in the notebook to reveal.
"""

from __future__ import annotations

import json
import uuid

import pytest

from tests.jupyterlab.harness import (
    MESSAGE_TIMEOUT,
    lesson,
    open_notebook,
    panel,
    received,
    run_all,
    save_artifacts,
    start_lab,
    type_and_enter,
)

MAX_SLIDES = 60


@pytest.fixture(scope="module")
def lab(browser, tmp_path_factory, pytestconfig):
    import importlib.util

    from tests.conftest import _missing

    if importlib.util.find_spec("jupyterlab_slideshow") is None:
        _missing("jupyterlab-slideshow is not installed (pip install -e '.[slides]')")
    home = tmp_path_factory.mktemp("slides")
    with start_lab(home, [lesson("01")], pytestconfig) as running:
        yield running


def _forward_until_visible(page, locator) -> int:
    """Press the deck's "forward" until ``locator`` is on screen; return the steps taken."""
    for step in range(MAX_SLIDES):
        if locator.is_visible() and locator.bounding_box() is not None:
            box = locator.bounding_box()
            if box and box["y"] >= 0 and box["y"] + 20 < page.viewport_size["height"]:
                return step
        page.evaluate("() => window.jupyterapp.commands.execute('deck:forward')")
        page.wait_for_timeout(150)
    raise AssertionError(f"not on any of the first {MAX_SLIDES} slides")


def test_a_panel_on_a_slide_chats_live(page, lab) -> None:
    from playwright.sync_api import expect

    name = lesson("01").name
    token = uuid.uuid4().hex[:8]
    try:
        open_notebook(page, lab, name)
        run_all(page, name)
        # Present from the first slide, as an instructor does after running the lesson.
        page.evaluate(
            "() => { window.jupyterapp.shell.currentWidget.content.activeCellIndex = 0; }"
        )
        page.evaluate("() => window.jupyterapp.commands.execute('deck:start')")
        expect(page.locator("body[data-jp-deck-mode]")).to_have_count(1)
        alice, bob = panel(page, "alice"), panel(page, "bob")
        _forward_until_visible(page, alice)
        expect(bob).to_be_visible()
        type_and_enter(alice, f"from a slide {token}")
        expect(received(bob, f"from a slide {token}")).to_contain_text(
            "alice", timeout=MESSAGE_TIMEOUT
        )
        verdict = page.locator(".jp-OutputArea-output", has_text="shout(): not solved yet")
        _forward_until_visible(page, verdict)
        page.evaluate("() => window.jupyterapp.commands.execute('deck:stop')")
        expect(page.locator("body[data-jp-deck-mode]")).to_have_count(0)
    except Exception as error:
        saved = save_artifacts(page, lab, "slides")
        raise AssertionError(f"slides of {name}: {error}\nsaved: {saved}") from error
    finally:
        lab.shut_down_kernels()


def test_no_lesson_holds_a_solution_to_reveal() -> None:
    """Solutions live in notebooks/solutions/, never in a (hidden) lesson cell."""
    from tests.jupyterlab.harness import NOTEBOOKS

    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb")):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        for cell in notebook["cells"]:
            tags = cell.get("metadata", {}).get("tags", [])
            assert "solution" not in tags, f"{path.name}: a cell tagged 'solution'"
            assert not cell.get("metadata", {}).get("jupyter", {}).get("source_hidden"), (
                f"{path.name}: a hidden cell"
            )
