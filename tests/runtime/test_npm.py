"""kit.runtime.npm: one npm install per project version, nothing half-made left behind.

The projects here have no dependencies, so real npm runs without the registry.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kit.runtime import npm


class Unavailable(RuntimeError):
    pass


def _project(folder: Path, body: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    package = folder / "package.json"
    package.write_text(body)
    script = folder / "main.mjs"
    script.write_text("console.log('hello');\n")
    return [package, script]


def _install(files: list[Path]) -> Path:
    return npm.install_once(
        files,
        folder="tests",
        name="tiny",
        ready="main.mjs",
        npm_args=["install", "--no-package-lock", "--offline"],
        error=Unavailable,
        needed_for="the test needs it",
    )


def test_a_project_is_installed_once_per_version_and_then_reused(
    node: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KIT_CACHE_DIR", str(tmp_path / "cache"))
    files = _project(tmp_path / "src", json.dumps({"name": "tiny", "version": "1.0.0"}))

    first = _install(files)
    assert first.parent == tmp_path / "cache" / "tests"
    assert first.name.startswith("tiny-") and (first / "main.mjs").read_text() == (
        files[1].read_text()
    )
    # Installed: the second call needs no npm at all.
    real_which = shutil.which
    monkeypatch.setattr(
        npm.shutil, "which", lambda name: None if name == "npm" else real_which(name)
    )
    assert _install(files) == first

    files[1].write_text("console.log('changed');\n")  # a new version of the project
    with pytest.raises(Unavailable, match="npm is not installed: the test needs it"):
        _install(files)
    monkeypatch.undo()
    monkeypatch.setenv("KIT_CACHE_DIR", str(tmp_path / "cache"))
    second = _install(files)
    assert second != first and sorted(p.name for p in second.parent.iterdir()) == sorted(
        [first.name, second.name]
    )


def test_a_failed_install_says_what_npm_said_and_leaves_nothing(
    node: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KIT_CACHE_DIR", str(tmp_path / "cache"))
    files = _project(tmp_path / "src", "{ this is not JSON")
    with pytest.raises(Unavailable, match=r"npm install of tiny failed: .*JSON"):
        _install(files)
    assert list((tmp_path / "cache" / "tests").iterdir()) == []


def test_without_node_the_error_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(npm.shutil, "which", lambda name: None)
    files = _project(tmp_path / "src", "{}")
    with pytest.raises(Unavailable, match=r"node is not installed: .*apt-get install nodejs"):
        _install(files)
    assert not (tmp_path / "cache").exists()


def test_the_suites_and_the_node_server_share_the_one_installer() -> None:
    from kit import conformance
    from kit.bench import node

    assert conformance.install_once is npm.install_once is node.install_once
