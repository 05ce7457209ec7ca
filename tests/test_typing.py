"""The type checker runs over kit/ in CI: zero errors, and no `type: ignore` it does not need."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_finds_nothing_in_kit() -> None:
    pytest.importorskip("mypy", reason="mypy is in the tests extra: pip install -e '.[tests]'")
    done = subprocess.run(
        [sys.executable, "-m", "mypy"],  # files and settings: [tool.mypy] in pyproject.toml
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
