"""environment.yml and pyproject.toml must name the same packages, part by part."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


CONDA_NAMES = {"redis-py": "redis"}
"""conda-forge names that differ from PyPI's: PyPI's Redis client ``redis`` is ``redis-py``
on conda-forge."""


def _name(requirement: str) -> str:
    name = re.split(r"[<>=!~;\[ ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")
    return CONDA_NAMES.get(name, name)


def pyproject_parts() -> dict[str, set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    parts = {"kit": {_name(r) for r in project["dependencies"]}}
    for extra, requirements in project["optional-dependencies"].items():
        parts[extra] = {_name(r) for r in requirements}
    return parts


def environment_parts() -> dict[str, set[str]]:
    """Packages under each `# part: NAME` comment of environment.yml's dependencies."""
    parts: dict[str, set[str]] = {}
    current = None
    for line in (ROOT / "environment.yml").read_text().splitlines():
        marker = re.match(r"\s*#\s*part:\s*(\S+)", line)
        if marker:
            current = parts.setdefault(marker.group(1), set())
            continue
        if re.match(r"\s+-\s+pip:", line):
            break  # pip's own list installs the kit itself, not a dependency
        item = re.match(r"\s+-\s+([A-Za-z0-9_.\-]+)", line)
        if item and current is not None:
            current.add(_name(item.group(1)))
    return parts


def test_environment_yml_and_pyproject_name_the_same_packages():
    parts = environment_parts()
    tools = parts.pop("tools")
    assert parts == pyproject_parts()
    assert "nodejs" in tools


def test_the_parser_sees_every_part():
    parts = environment_parts()
    assert {"kit", "lessons", "slides", "hub", "tests", "dev", "tools"} <= set(parts)
    assert "jupyterlab" in parts["lessons"] and "jupyterlab" in parts["tests"]
    assert "nbval" in parts["tests"]


def _pip_section() -> list[str]:
    """The items under `- pip:` in environment.yml, as conda writes them to a file."""
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(r"\s+-\s+pip:", line))
    items = []
    for line in lines[start + 1 :]:
        item = re.match(r"\s+-\s+(.+)", line)
        if item is None:
            break
        items.append(item.group(1).strip())
    return items


def test_pip_accepts_the_conda_pip_section(tmp_path):
    """conda writes the pip items, one per line, to a requirements file for pip.

    A line pip's requirements parser refuses ("no such option: --no-deps") breaks
    `conda env create`; parse the same lines with pip's own parser.
    """
    from pip._internal.network.session import PipSession
    from pip._internal.req.req_file import parse_requirements

    items = _pip_section()
    assert items == ["--editable ."]
    requirements = tmp_path / "condaenv.requirements.txt"
    requirements.write_text("\n".join(items) + "\n")
    parsed = list(parse_requirements(str(requirements), session=PipSession()))
    assert [(r.requirement, r.is_editable) for r in parsed] == [(".", True)]


def test_pip_refuses_what_the_old_pip_section_held(tmp_path):
    """The parser used above does catch a bad line: the one the conda file once held."""
    from pip._internal.exceptions import RequirementsFileParseError
    from pip._internal.network.session import PipSession
    from pip._internal.req.req_file import parse_requirements

    requirements = tmp_path / "condaenv.requirements.txt"
    requirements.write_text("--no-deps --editable .\n")
    with pytest.raises((RequirementsFileParseError, SystemExit)):
        list(parse_requirements(str(requirements), session=PipSession()))


def _readme_commands() -> list[str]:
    """The shell commands in the README's quick start section."""
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", quick_start)


def test_the_quick_start_has_exactly_two_commands_that_make_a_virtualenv():
    commands = _readme_commands()
    assert len(commands) == 2
    lessons, tests = commands
    assert all(c.startswith("python3 -m venv .venv && ") for c in commands)
    assert '".[lessons]"' in lessons and "jupyter lab" in lessons
    assert "--allow-root" not in lessons
    assert '".[tests]"' in tests and tests.endswith("-m pytest")


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert _readme_commands()[1] in ci
