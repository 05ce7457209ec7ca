"""kit.apps.tokens: signed, expiring tokens, refused for every way they can be wrong."""

from __future__ import annotations

import base64
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kit.apps.tokens import (
    MAX_TOKEN,
    BadSignature,
    ExpiredToken,
    MalformedToken,
    TokenError,
    TokenSigner,
)

SECRET = b"0123456789abcdef0123456789abcdef"


def signer(**options) -> TokenSigner:
    return TokenSigner(SECRET, lifetime=60, **options)


def test_a_token_names_its_user_until_it_expires() -> None:
    token = signer().issue("ann", now=1000)
    claims = signer().verify(token, now=1059.9)
    assert (claims.user, claims.expires) == ("ann", 1060)
    assert claims.seconds_left(1000) == 60
    with pytest.raises(ExpiredToken, match=r"the token for 'ann' expired 0 s ago") as caught:
        signer().verify(token, now=1060)
    assert caught.value.claims.user == "ann"
    assert signer().issue("ann", now=1000, lifetime=5) != token


def test_the_clock_is_the_signers_own() -> None:
    now = [1000.0]
    clocked = TokenSigner(SECRET, lifetime=10, clock=lambda: now[0])
    token = clocked.issue("ann")
    now[0] = 1011
    with pytest.raises(ExpiredToken):
        clocked.verify(token)


def tamper(token: str, **payload) -> str:
    version, body, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims.update(payload)
    raw = json.dumps(claims).encode()
    return f"{version}.{base64.urlsafe_b64encode(raw).rstrip(b'=').decode()}.{signature}"


@pytest.mark.parametrize(
    ("make", "error", "says"),
    [
        (lambda t: tamper(t, sub="admin"), BadSignature, "not issued by this server"),
        (lambda t: tamper(t, exp=9e12), BadSignature, "signature is wrong"),
        (lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"), BadSignature, "signature"),
        (
            lambda t: TokenSigner(b"another secret of 32 bytes......").issue("ann"),
            BadSignature,
            "signature",
        ),
        (lambda t: "", MalformedToken, "expected v1.<payload>.<signature>"),
        (lambda t: "v1..", MalformedToken, "expected v1"),
        (lambda t: "v2" + t[2:], MalformedToken, "expected v1"),
        (lambda t: t + ".extra", MalformedToken, "4 part(s)"),
        (lambda t: "x" * (MAX_TOKEN + 1), MalformedToken, f"at most {MAX_TOKEN}"),
        (lambda t: 12345, MalformedToken, "a token is text, not int"),
        (lambda t: None, MalformedToken, "not NoneType"),
    ],
)
def test_forged_altered_and_malformed_tokens_are_refused_with_the_reason(
    make, error: type[TokenError], says: str
) -> None:
    token = signer().issue("ann")
    with pytest.raises(error, match=re.escape(says)):
        signer().verify(make(token))


def test_a_genuinely_signed_but_unreadable_payload_is_malformed() -> None:
    issuer = signer()
    part = "v1." + base64.urlsafe_b64encode(b"not json").rstrip(b"=").decode()
    forged_properly = f"{part}.{issuer._sign(part)}"
    with pytest.raises(MalformedToken, match="payload cannot be read"):
        issuer.verify(forged_properly)


def test_weak_secrets_and_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 random bytes"):
        TokenSigner(b"short")
    with pytest.raises(ValueError, match="at least 32 random bytes"):
        TokenSigner("a string secret of enough length...")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="above 0"):
        TokenSigner(SECRET, lifetime=0)
    with pytest.raises(ValueError, match="for a user name"):
        signer().issue("")
    random_one, other = TokenSigner(), TokenSigner()
    with pytest.raises(BadSignature):
        other.verify(random_one.issue("ann"))


@given(st.text(max_size=200))
def test_any_text_is_refused_as_a_token_error(text: str) -> None:
    with pytest.raises(TokenError):
        signer().verify(text)
