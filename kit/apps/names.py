"""Names nobody can fake: how ``kit.chat_app()`` tells one user's name from another's.

Comparing names character by character lets impostors in next to ``victim``; here:

- ``Victim``, or ``victim`` in full-width letters: the same name (case, NFKC);
- ``vic\\u200btim``: a zero-width space in the middle: refused;
- ``vict\\u0456m``: a Cyrillic i among Latin letters: refused;
- the whole name in Cyrillic look-alikes: refused while ``victim`` is online;
- ``victim (private)``: the suffix the chat page writes after a private message's
  sender: refused.

The rules, each from a Unicode or chat practice:

1. **Normalise** with NFKC (Unicode Standard Annex #15): full-width and other
   compatibility forms become their plain letters; runs of spaces become one.
2. **Compare by key**: the NFKC form, case-folded (``str.casefold``, Unicode's full case
   folding), so ``Victim`` and ``VICTIM`` are the name ``victim``.
3. **Refuse what cannot be seen**: control and format characters (zero-width space,
   bidirectional overrides), Unicode's default-ignorable code points (Hangul fillers,
   variation selectors), private-use and unassigned ones.
4. **Refuse mixed scripts**: Latin, Cyrillic and Greek letters in one name (UTS #39's
   "highly restrictive" level still allows Latin with Han, kana, Hangul or Bopomofo:
   ``\\u5c0f\\u660eabc`` is fine).
5. **Refuse look-alikes of a name in use**: two names with the same *skeleton*
   (UTS #39 section 4: each letter replaced by the letter it is confused with) are one
   name, so an all-Cyrillic look-alike cannot log in while ``victim`` is online.
6. **Refuse reserved names and suffixes**: ``anonymous`` (who did not log in) and
   names ending in ``(private)`` or ``(server)``, which the page writes itself.

The skeleton table here covers the Cyrillic and Greek letters that look like Latin ones
(the part of UTS #39's ``confusables.txt`` that matters for Latin names); the full table
is the place to go for more.

    >>> check_name("  Ann  ", taken=[])
    'Ann'
    >>> check_name("ANN", taken=["ann"])          # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    kit.apps.names.NameRefused: the name 'ANN' is taken: it is the same name as 'ann' ...
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

__all__ = [
    "RESERVED_NAMES",
    "RESERVED_SUFFIXES",
    "NameRefused",
    "check_name",
    "check_room_name",
    "name_key",
    "scripts",
    "skeleton",
]

RESERVED_NAMES = ("anonymous",)
"""Names nobody may log in as (``anonymous`` is who did not log in)."""
RESERVED_SUFFIXES = ("(private)", "(server)")
"""Endings the chat page writes after a name itself (``ann (private): psst``)."""

# Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt), plus the braille
# blank: characters a font draws as nothing.
_IGNORABLE = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x2800, 0x2800),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)
_HIDDEN_CATEGORIES = {"Cc": "a control character", "Cf": "an invisible format character",
                      "Co": "a private-use character", "Cn": "an unassigned code point",
                      "Cs": "a lone surrogate", "Zl": "a line separator",
                      "Zp": "a paragraph separator"}  # fmt: skip

# Letters of other scripts that look like Latin ones (after case folding), from UTS #39's
# confusables: Cyrillic and Greek.
_LOOK_ALIKES = str.maketrans(
    {
        "\u0430": "a", "\u0432": "b", "\u0435": "e", "\u0450": "e", "\u0451": "e", "\u04bb": "h",
        "\u0456": "i", "\u0457": "i", "\u0458": "j", "\u043a": "k", "\u04cf": "l", "\u043c": "m",
        "\u043d": "h", "\u043e": "o", "\u0440": "p", "\u0441": "c", "\u0442": "t", "\u0443": "y",
        "\u0445": "x", "\u0455": "s", "\u0501": "d", "\u051b": "q", "\u051d": "w", "\u04af": "y",
        "\u0261": "g", "\u03b1": "a", "\u03b2": "b", "\u03b5": "e", "\u03b7": "n", "\u03b9": "i",
        "\u03ba": "k", "\u03bd": "v", "\u03bf": "o", "\u03c1": "p", "\u03c4": "t", "\u03c5": "u",
        "\u03c7": "x", "\u03c9": "w", "\u03f2": "c", "\u03f3": "j",
    }
)  # fmt: skip
_RESTRICTIVE_SETS = (
    {"LATIN", "CJK", "HIRAGANA", "KATAKANA"},
    {"LATIN", "CJK", "HANGUL"},
    {"LATIN", "CJK", "BOPOMOFO"},
)


class NameRefused(ValueError):
    """A name the chat server will not accept; ``str()`` says why, for the user."""


def _ignorable(code: int) -> bool:
    return any(low <= code <= high for low, high in _IGNORABLE)


def _hidden(ch: str) -> str | None:
    """What ``ch`` is, if nobody can see it; None for a visible character or a space."""
    if ch == " ":
        return None
    category = unicodedata.category(ch)
    if category in _HIDDEN_CATEGORIES:
        return _HIDDEN_CATEGORIES[category]
    if _ignorable(ord(ch)):
        return "a character drawn as nothing"
    if category == "Zs":
        return "a space other than the plain one"
    return None


def normalise(name: str) -> str:
    """NFKC, with runs of spaces made one and the ends stripped: the name as shown."""
    return " ".join(part for part in unicodedata.normalize("NFKC", name).split(" ") if part)


def name_key(name: str) -> str:
    """What two names are compared by: NFKC, case-folded (``Victim`` -> ``victim``)."""
    return unicodedata.normalize("NFKC", normalise(name).casefold())


def skeleton(name: str) -> str:
    """The key with every Cyrillic or Greek look-alike letter replaced by its Latin twin."""
    return name_key(name).translate(_LOOK_ALIKES)


def scripts(name: str) -> set[str]:
    """The scripts of the letters in ``name``: ``{"LATIN", "CYRILLIC"}`` for ``vict\\u0456m``."""
    found = set()
    for ch in name:
        if unicodedata.category(ch).startswith("L"):
            found.add(unicodedata.name(ch, "UNKNOWN").split(" ")[0])
    return found


def _check_visible(name: str, what: str) -> None:
    for index, ch in enumerate(name):
        hidden = _hidden(ch)
        if hidden is not None:
            raise NameRefused(
                f"{what} {name!r} has {hidden} at position {index} (U+{ord(ch):04X} "
                f"{unicodedata.name(ch, 'unnamed')}): a name must be made of what people "
                "can see"
            )


def check_name(name: str, taken: Iterable[str] = ()) -> str:
    """The name as it will be shown, if nobody else can be mistaken for it.

    Args:
        name: what the user asked for.
        taken: the names in use now (logged-in users).

    Raises:
        NameRefused: why not (invisible characters, mixed scripts, a reserved name or
            suffix, or the same name or skeleton as one in ``taken``).
    """
    _check_visible(unicodedata.normalize("NFKC", name), "the name")
    shown = normalise(name)
    key = name_key(shown)
    if not key:
        raise NameRefused("the name is empty")
    used = scripts(shown)
    if len(used) > 1 and not any(used <= allowed for allowed in _RESTRICTIVE_SETS):
        raise NameRefused(
            f"the name {shown!r} mixes the {' and '.join(sorted(s.title() for s in used))} "
            "scripts: letters from different alphabets can look alike, so use one"
        )
    if key in RESERVED_NAMES:
        raise NameRefused(f"the name {shown!r} is reserved")
    for suffix in RESERVED_SUFFIXES:
        if key.replace(" ", "").endswith(suffix):
            raise NameRefused(
                f"the name {shown!r} ends in {suffix!r}, which the chat page writes after "
                "names itself: choose another"
            )
    for other in taken:
        if name_key(other) == key:
            raise NameRefused(
                f"the name {shown!r} is taken: it is the same name as {other!r} (names are "
                "compared without case and after Unicode NFKC normalisation)"
            )
        if skeleton(other) == skeleton(shown):
            raise NameRefused(
                f"the name {shown!r} looks like {other!r}, who is online (their letters "
                "can be confused, UTS #39): choose another"
            )
    return shown


def check_room_name(room: str) -> str:
    """A room name as shown (NFKC); refused when it holds characters nobody can see.

    Raises:
        NameRefused: an invisible or control character.
    """
    _check_visible(unicodedata.normalize("NFKC", room), "the room name")
    return normalise(room)
