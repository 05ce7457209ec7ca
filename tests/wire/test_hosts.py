"""kit.wire.hosts: reading a Host header and deciding whether a server answers it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kit.wire.errors import ForbiddenHost, InvalidHost
from kit.wire.hosts import HostAllowList, normalise_host, parse_host


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1:8000", ("127.0.0.1", 8000)),
        ("127.0.0.1", ("127.0.0.1", None)),
        ("127.0.0.1:", ("127.0.0.1", None)),  # RFC 3986: an empty port is no port
        ("LocalHost:80", ("localhost", 80)),
        ("localhost.:80", ("localhost", 80)),  # the fully qualified form of the same name
        ("[::1]:8000", ("::1", 8000)),
        ("[::1]", ("::1", None)),
        ("[::FFFF:127.0.0.1]:1", ("::ffff:127.0.0.1", 1)),
        ("evil.example:65535", ("evil.example", 65535)),
        (" chat.lan ", ("chat.lan", None)),
    ],
)
def test_parse_host_splits_name_and_port(value: str, expected: tuple[str, int | None]) -> None:
    assert parse_host(value) == expected


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (None, "Host header is missing"),
        ("", "the name is empty"),
        ("::1", "must be written in brackets"),
        ("::1:8000", "must be written in brackets"),
        ("[::1", "never closed"),
        ("[evil]:80", "is not an IPv6 address"),
        ("[::1]8000", "is not ':port'"),
        ("127.0.0.1:99999", "'99999' is not a number from 0 to 65535"),
        ("127.0.0.1:-1", "'-1' is not a number"),
        ("127.0.0.1:\uff18\uff10", "is not a number"),  # full-width 80: isdigit() says yes
        ("127.0.0.1:http", "'http' is not a number"),
        ("evil example", "is not a host name"),
        ("a/b:80", "is not a host name"),
    ],
)
def test_malformed_host_values_are_400_with_the_reason(value: str | None, says: str) -> None:
    with pytest.raises(InvalidHost) as caught:
        parse_host(value)
    assert caught.value.status == 400
    assert says in str(caught.value)


def test_loopback_names_and_addresses_are_always_answered_on_any_port() -> None:
    hosts = HostAllowList.loopback()
    for value in ("127.0.0.1:1", "127.5.6.7:8000", "localhost", "[::1]:9", "[::ffff:127.0.0.1]"):
        assert hosts.check(value) == parse_host(value)[0]


@pytest.mark.parametrize(
    "value",
    ["evil.example:8000", "evil.example", "localhost.evil.example", "127.0.0.1.nip.io", "0.0.0.0"],
)
def test_any_other_name_is_forbidden_and_the_error_says_how_to_allow_it(value: str) -> None:
    with pytest.raises(ForbiddenHost) as caught:
        HostAllowList.loopback().check(value)
    error = caught.value
    assert error.status == 403
    assert "DNS-rebinding" in str(error)
    assert f"allowed_hosts=[{parse_host(value)[0]!r}]" in str(error)
    assert "'127.0.0.1', 'localhost', '::1'" in str(error)


def test_extra_names_widen_the_list_and_star_turns_the_check_off() -> None:
    hosts = HostAllowList.loopback(["Chat.LAN", "::2", "[fe80::1]", "192.168.1.20"])
    assert hosts.check("chat.lan:443") == "chat.lan"
    assert hosts.check("[::2]:80") == "::2"
    assert hosts.check("[fe80::1]") == "fe80::1"
    assert hosts.check("192.168.1.20:5000") == "192.168.1.20"
    with pytest.raises(ForbiddenHost):
        hosts.check("192.168.1.21")
    anything = HostAllowList.loopback(["*"])
    assert anything.any_name and anything.check("evil.example:1") == "evil.example"
    with pytest.raises(InvalidHost):  # still a Host value, even when any name is fine
        anything.check("evil example")


@pytest.mark.parametrize("entry", ["", "   ", "evil example", "a:b:c", 42])
def test_an_allow_list_entry_that_is_no_host_name_is_a_value_error(entry: object) -> None:
    with pytest.raises(ValueError, match=r"not a host name|like 'chat\.lan'"):
        HostAllowList.loopback([entry])  # type: ignore[list-item]


def test_normalise_host() -> None:
    assert normalise_host(" [::1] ") == "::1"
    assert normalise_host("EXAMPLE.org.") == "example.org"


@given(st.text(max_size=40))
def test_any_text_is_a_name_and_port_or_invalid_host(value: str) -> None:
    try:
        name, port = parse_host(value)
    except InvalidHost as error:
        assert error.status == 400 and str(error)
    else:
        assert name == normalise_host(name)
        assert port is None or 0 <= port <= 65535
