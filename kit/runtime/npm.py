"""Node.js packages installed once into the kit's cache folder, for the tools that need them.

The official conformance suites (:mod:`kit.conformance`) and Node's reference socket.io
server (:mod:`kit.bench.node`) are small npm projects shipped inside the kit. Each is
installed the same way, by :func:`install_once`:

- the folder is named after a digest of the project's files, so a changed file gets a
  fresh install and an unchanged one is reused for good;
- npm runs in a temporary folder beside it, which is renamed into place only when the
  install succeeded: a failed or interrupted install leaves nothing half-made behind, and
  two runs installing at once both end with a whole folder;
- the cache folder is ``$KIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/wire-to-room``, else
  ``~/.cache/wire-to-room``. npm needs its registry the first time only.

A missing ``node`` or ``npm``, or a failed install, raises the caller's own error type
with what to install or what npm said: never a hang (npm gets ten minutes at most).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

__all__ = ["cache_dir", "find_tool", "install_once"]

INSTALL_TIMEOUT = 600.0
"""Seconds npm may take to install a project."""


def cache_dir() -> Path:
    """Where installed projects are kept: ``$KIT_CACHE_DIR`` or ``~/.cache/wire-to-room``."""
    configured = os.environ.get("KIT_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "wire-to-room"


def find_tool(name: str, error: type[Exception], needed_for: str) -> str:
    """The path of ``node`` or ``npm``; raise ``error`` saying how to install it if missing.

    ``needed_for`` ends the sentence "... is not installed: ...", e.g. "the official
    suites run under Node.js".
    """
    path = shutil.which(name)
    if path is None:
        raise error(
            f"{name} is not installed: {needed_for} "
            "(Debian: apt-get install nodejs npm; conda: conda install nodejs)"
        )
    return path


def install_once(
    files: Sequence[Path],
    *,
    folder: str,
    name: str,
    ready: str,
    npm_args: Sequence[str],
    error: type[Exception],
    needed_for: str,
) -> Path:
    """Install the npm project made of ``files`` under ``cache_dir()/folder``, once.

    Args:
        files: the project's files (``package.json`` and what runs); they are copied
            flat into the install folder, in this order into its digest.
        folder, name: the install lands in ``cache_dir()/folder/name-DIGEST``.
        ready: a path inside the install that exists once it is complete, e.g.
            ``"node_modules/mocha"``.
        npm_args: what follows ``npm``, e.g. ``["ci"]``.
        error, needed_for: the error type raised, and the reason given when ``node``
            or ``npm`` is missing.

    Returns:
        The install folder.
    """
    find_tool("node", error, needed_for)
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + path.read_bytes())
    target = cache_dir() / folder / f"{name}-{digest.hexdigest()[:12]}"
    if (target / ready).exists():
        return target
    npm = find_tool("npm", error, needed_for)
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=target.parent))
    try:
        for path in files:
            shutil.copy2(path, building / path.name)
        try:
            done = subprocess.run(
                [npm, *npm_args, "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=building,
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            raise error(
                f"npm {npm_args[0]} of {name} took longer than {INSTALL_TIMEOUT:g} s "
                "(is the npm registry reachable?)"
            ) from None
        if done.returncode != 0:
            raise error(f"npm {npm_args[0]} of {name} failed: {done.stderr[-600:]}")
        try:
            building.rename(target)
        except OSError:  # another run installed it meanwhile
            if not (target / ready).exists():
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return target
