"""Tests for the kit.wire package: the public names lessons and other layers rely on."""

from __future__ import annotations

import kit.wire
from kit.wire import (
    engineio,
    errors,
    eventstream,
    frames,
    handshake,
    messages,
    resp,
    socketio,
    text,
)

# The names lessons and outside checks rely on: keep them stable once they exist.
DESIGN_NAMES = ["accept_key", "generate_key", "Frame", "Opcode", "CloseCode", "ProtocolError"]


def test_design_names_are_exported() -> None:
    for name in DESIGN_NAMES:
        assert name in kit.wire.__all__
        assert getattr(kit.wire, name) is not None


def test_every_exported_name_exists_and_comes_from_a_module_all() -> None:
    public = set(errors.__all__) | set(frames.__all__) | set(handshake.__all__)
    public |= set(messages.__all__) | set(engineio.__all__) | set(socketio.__all__)
    public |= set(text.__all__)
    public |= set(eventstream.__all__)
    public |= set(resp.__all__)
    for name in kit.wire.__all__:
        assert name in public, name
        assert hasattr(kit.wire, name), name


def test_every_error_is_exported() -> None:
    assert set(errors.__all__) <= set(kit.wire.__all__)


def test_the_package_docstring_example_holds() -> None:
    assert kit.wire.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    frame = kit.wire.Frame.parse(bytes.fromhex("810548656c6c6f"))
    assert str(frame) == "TEXT 'Hello' [5 bytes]"
