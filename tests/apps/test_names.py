"""kit.apps.names: the look-alike names the issue found accepted, each refused with a reason."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kit.apps.names import (
    NameRefused,
    check_name,
    check_room_name,
    name_key,
    scripts,
    skeleton,
)

# The names a probe of kit.chat_app() found accepted next to a logged-in "victim".
IMPOSTORS = {
    "Victim": "is taken: it is the same name as 'victim'",
    "VICTIM": "is taken",
    "\uff56\uff49\uff43\uff54\uff49\uff4d": "is taken",  # full-width letters
    "vic\u200btim": "has an invisible format character at position 3 (U+200B ZERO WIDTH SPACE)",
    "vict\u0456m": "mixes the Cyrillic and Latin scripts",
    "victim (private)": "ends in '(private)'",
    "victim(PRIVATE)": "ends in '(private)'",
    "\u0443\u0456\u0441\u0442\u0456m": "mixes",  # Cyrillic with a Latin m
    "\u0455\u0441\u043e\u0440\u0435": None,  # all Cyrillic "scope": fine, nobody is "scope"
}


@pytest.mark.parametrize(("name", "says"), list(IMPOSTORS.items()))
def test_each_impostor_of_a_logged_in_victim_is_refused_with_the_reason(
    name: str, says: str | None
) -> None:
    if says is None:
        assert check_name(name, taken=["victim"]) == name
        return
    with pytest.raises(NameRefused) as caught:
        check_name(name, taken=["victim"])
    assert says in str(caught.value)


def test_a_single_script_look_alike_of_a_name_in_use_is_refused_and_free_otherwise() -> None:
    cyrillic_scope = "\u0455\u0441\u043e\u0440\u0435"
    with pytest.raises(NameRefused, match="looks like 'scope', who is online"):
        check_name(cyrillic_scope, taken=["ann", "scope"])
    assert check_name("scope", taken=["ann"]) == "scope"
    assert skeleton(cyrillic_scope) == skeleton("SCOPE") == "scope"


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("ann\u0000", "a control character"),
        ("\u202eann", "an invisible format character"),  # right-to-left override
        ("a\u3164b", "a character drawn as nothing"),  # Hangul filler (a letter!)
        ("ann\ufe0f", "a character drawn as nothing"),  # variation selector
        ("a\u2800", "a character drawn as nothing"),  # braille blank
        ("\ue000", "a private-use character"),
        ("a\u2028b", "a line separator"),
        ("   ", "the name is empty"),
        ("anonymous", "is reserved"),
        ("Anonymous", "is reserved"),
        ("ann (server)", "ends in '(server)'"),
    ],
)
def test_invisible_reserved_and_empty_names_are_refused(name: str, says: str) -> None:
    with pytest.raises(NameRefused, match=says.replace("(", r"\(").replace(")", r"\)")):
        check_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "ann",
        "Ann Lee",
        "小明",
        "小明abc",
        "さくら",
        "김민준",
        "Zoë",
        "José",
        "Ελένη",
        "Юлия",
        "d'Arc",
    ],
)
def test_real_names_in_one_script_or_an_allowed_mix_pass(name: str) -> None:
    assert check_name(name, taken=["bob"]) == name


def test_normalisation_spaces_and_keys() -> None:
    assert check_name("  ann   lee  ") == "ann lee"
    assert check_name("\u2003ann\u00a0lee") == "ann lee"  # NFKC turns odd spaces into plain ones
    assert name_key("\uff21\uff2e\uff2e") == name_key("ann") == "ann"
    assert name_key("Straße") == name_key("STRASSE")  # full case folding
    assert scripts("vict\u0456m") == {"LATIN", "CYRILLIC"}
    assert scripts("小明abc") == {"CJK", "LATIN"}


def test_room_names_refuse_invisible_characters() -> None:
    assert check_room_name("room  one") == "room one"
    with pytest.raises(NameRefused, match="the room name"):
        check_room_name("room\u200bone")


@given(st.text(max_size=20))
def test_any_text_is_accepted_as_itself_normalised_or_refused_with_a_reason(text: str) -> None:
    try:
        shown = check_name(text, taken=["victim"])
    except NameRefused as error:
        assert str(error)
    else:
        assert shown == shown.strip() and name_key(shown) != "victim"
        assert skeleton(shown) != "victim"
