"""The package's shape: layers import downwards only, long modules say why, internals in compat."""

from __future__ import annotations

import ast
import re
from pathlib import Path

KIT = Path(__file__).resolve().parent.parent / "kit"
LAYER = {"wire": 0, "runtime": 1, "clients": 2, "apps": 2, "wiretap": 2, "widgets": 3}
"""Lower numbers are lower layers; a module may import its own layer and those below."""


def modules() -> list[Path]:
    return sorted(KIT.rglob("*.py"))


def kit_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("kit."):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("kit.")}
    return found


def test_layers_import_only_downwards() -> None:
    upward = []
    for path in modules():
        package = path.relative_to(KIT).parts[0]
        if package not in LAYER:
            continue
        for name in kit_imports(path):
            target = name.split(".")[1]
            if target in LAYER and LAYER[target] > LAYER[package]:
                upward.append(f"{path.relative_to(KIT)} imports {name}")
    assert upward == []


def test_a_module_over_500_lines_says_why_at_its_top() -> None:
    unexplained = []
    for path in modules():
        text = path.read_text(encoding="utf-8")
        doc = ast.get_docstring(ast.parse(text)) or ""
        if len(text.splitlines()) > 500 and "Why this module is long:" not in doc:
            unexplained.append(str(path.relative_to(KIT)))
    assert unexplained == []


# Private names reached through another package's objects: `obj._name` where the kit's
# names for python-socketio, python-engineio, ipykernel and aiohttp objects are `eio`,
# `sio`, `shell`, `runner`... (a kit object's own `_name`s are not third-party internals).
_PRIVATE = re.compile(
    r"\b(eio|sio|engineio|socketio|shell|runner|site|displayhook|display_pub|stdout|stderr)"
    r"\._(?!_)[a-z]\w*"
    r"|\b_handle_event_internal\b|\b_parent_header\b"
)


def test_third_party_private_names_are_used_in_kit_compat_only() -> None:
    offenders = []
    for path in modules():
        if path.name == "compat.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            for match in _PRIVATE.finditer(code):
                offenders.append(f"{path.relative_to(KIT)}:{number}: {match.group(0)}")
    assert offenders == []
