"""Shared fixtures: every test that touches the runtime is checked for leaks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from hypothesis import is_hypothesis_test, settings

import kit

# Property tests are bounded by their example counts, not by the clock: a loaded CI
# machine must not turn a slow example into a failure. "kit" is the complete run's
# profile (hypothesis's 100 examples, or what a test asks for); "kit-fast" is the inner
# loop's (`-m fast`): a tenth of the examples, so the codec fuzzers still run on every
# change. `--hypothesis-profile=kit` gives a fast-tier run the full count.
FAST_EXAMPLES = 10
settings.register_profile("kit", deadline=None, print_blob=True)
settings.register_profile("kit-fast", deadline=None, print_blob=True, max_examples=FAST_EXAMPLES)
settings.load_profile("kit")


def profile_for(markexpr: str) -> str:
    """The hypothesis profile for a run selected with ``-m markexpr``."""
    return "kit-fast" if markexpr.strip() == "fast" else "kit"


def pytest_configure(config: pytest.Config) -> None:
    """Load the fast profile for `-m fast`, unless --hypothesis-profile chose one."""
    if config.getoption("hypothesis_profile", None) is None:
        settings.load_profile(profile_for(config.option.markexpr or ""))


def examples(full: int) -> int:
    """A test's own example count, scaled like the loaded profile (``full`` in "kit")."""
    return max(1, full * settings.default.max_examples // 100)


_KERNEL_FILES = (
    "tests/notebooks/",
    "tests/runtime/test_cells.py",
    "tests/hostile/test_panels_in_a_kernel.py",
)
_PROCESS_FILES = (
    "tests/apps/test_cluster.py",
    "tests/apps/test_balancer.py",
    "tests/runtime/test_processes.py",
    "tests/conformance/test_suites.py::test_the_command_",  # python -m kit.conformance
)
_BROWSER_FIXTURES = {"browser", "page", "lab", "hub_lab", "nss_chromium"}
_INTEROP_FIXTURES = {"socketio_client_js", "node"}
TIERS = ("fast", "e2e", "kernel", "process", "browser", "interop", "bench", "typecheck")
_E2E_FIXTURES = {"no_leaks"}
"""A test that starts servers, clients or threads checks for leaks: it runs end to end."""


def _is_fuzzer(item: pytest.Item) -> bool:
    """A hypothesis test, or a test in a ``*fuzz*`` file (whose @given runs inside it)."""
    in_fuzz_file = "fuzz" in item.nodeid.split("::")[0].rsplit("/", 1)[-1]
    return in_fuzz_file or is_hypothesis_test(getattr(item, "function", None))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put every test in one tier: fast, e2e, kernel, process, browser, interop, bench or
    typecheck (README, "For maintainers", says what each holds)."""
    for item in items:
        path = item.nodeid.replace("\\", "/")
        fixtures = set(getattr(item, "fixturenames", ()))
        if path.startswith("tests/jupyterlab/") or fixtures & _BROWSER_FIXTURES:
            tier = "browser"
        elif path.startswith("tests/test_typing.py"):
            tier = "typecheck"
        elif path.startswith("tests/bench/"):
            tier = "bench"
        elif fixtures & _INTEROP_FIXTURES or "node" in item.name:
            tier = "interop"
        elif path.startswith(_KERNEL_FILES) or path.endswith(".ipynb") or ".ipynb::" in path:
            tier = "kernel"
        elif path.startswith(_PROCESS_FILES):
            tier = "process"
        elif fixtures & _E2E_FIXTURES:
            tier = "e2e"
        else:
            tier = "fast"
        item.add_marker(getattr(pytest.mark, tier))
        if _is_fuzzer(item):
            item.add_marker(pytest.mark.fuzz)  # a label across tiers, not a tier


def _sockets() -> set[tuple[int, object]]:
    """The process's open inet sockets, by file descriptor and local address."""
    return {(c.fd, c.laddr) for c in psutil.Process().net_connections(kind="inet")}


@pytest.fixture
def no_leaks() -> Iterator[None]:
    """After the test and kit.stop_all(): no new thread, socket or kit server is left."""
    threads = set(threading.enumerate())
    sockets = _sockets()
    yield
    kit.stop_all()
    new_threads = [t for t in threading.enumerate() if t not in threads and t.is_alive()]
    assert new_threads == [], f"threads left running: {new_threads}"
    assert _sockets() - sockets == set(), "sockets left open"
    assert kit.running_servers() == []


@pytest.fixture
def echo_handler():
    """A websockets handler that sends every message back."""

    async def echo(websocket):
        async for message in websocket:
            await websocket.send(message)

    return echo


CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def _chromium() -> str | None:
    for candidate in (
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def _missing(reason: str) -> None:
    """Skip a browser test with a reason; under CI a skip is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests must run in CI: {reason}")
    pytest.skip(reason)


def _playwright_and_chromium() -> tuple[Callable[[], Any], str]:
    """Playwright's ``sync_playwright`` and Debian's Chromium, or a skip (a failure in CI)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright for Python is not installed (pip install -e '.[tests]')")
    executable = _chromium()
    if executable is None:
        _missing("no Chromium found; install Debian's package: apt-get install chromium")
    return sync_playwright, executable


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by Playwright (no browser download).

    Module-scoped: Playwright's sync API keeps an event loop marked as running on the
    main thread while it is open, which other modules' asyncio.run() would trip over.
    """
    sync_playwright, executable = _playwright_and_chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    """A fresh page in a fresh browser context, closed after the test."""
    context = browser.new_context()
    yield context.new_page()
    context.close()


LOCAL_CA_NICKNAME = "wire-to-room local CA"
"""The name the kit's local CA is imported under in a test's NSS database."""


def _certutil() -> str:
    """NSS's certutil (Debian's libnss3-tools); skip without it, fail under CI."""
    found = shutil.which("certutil")
    if found is None:
        _missing("NSS's certutil is not installed (Debian: apt-get install libnss3-tools)")
    return str(found)


def nss_home(folder: Path, trusted_ca: Path | None) -> Path:
    """Make ``folder`` a HOME whose NSS database trusts ``trusted_ca`` (a PEM file), or
    nothing at all when it is None; returns ``folder``.

    Chromium on Linux takes the authorities a user added from ``$HOME/.pki/nssdb``: a
    fresh database there (``certutil -N --empty-password``) plus one
    ``certutil -A -t "C,,"`` ("a CA trusted to issue server certificates") is what a
    learner would do by hand, and it leaves the machine's own trust untouched.
    """
    certutil = _certutil()
    database = folder / ".pki" / "nssdb"
    database.mkdir(parents=True)
    steps = [["-N", "--empty-password"]]
    if trusted_ca is not None:
        steps.append(["-A", "-n", LOCAL_CA_NICKNAME, "-t", "C,,", "-i", str(trusted_ca)])
    for step in steps:
        done = subprocess.run(
            [certutil, "-d", f"sql:{database}", *step],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"certutil {' '.join(step)} failed in {database}: {done.stderr.strip()}"
            )
    return folder


@pytest.fixture(scope="module")
def nss_chromium(tmp_path_factory: pytest.TempPathFactory):
    """``launch(trust_local_ca)``: a headless Chromium whose HOME has a fresh NSS
    database that trusts the kit's local CA (its ``ca_file`` imported with certutil), or
    trusts nothing. No certificate-error flag and no pinned key: Chromium checks the
    chain and the name itself. One browser per answer, for the module.
    """
    sync_playwright, executable = _playwright_and_chromium()
    _certutil()
    from kit.runtime import tls

    with sync_playwright() as playwright:
        launched = {}

        def launch(trust_local_ca: bool):
            if trust_local_ca not in launched:
                trusted = tls.local_ca().ca_file if trust_local_ca else None
                home = nss_home(tmp_path_factory.mktemp("chromium-home"), trusted)
                launched[trust_local_ca] = playwright.chromium.launch(
                    executable_path=executable,
                    args=CHROMIUM_FLAGS,
                    env={**os.environ, "HOME": str(home)},
                )
            return launched[trust_local_ca]

        yield launch
        for browser in launched.values():
            browser.close()


JS_CLIENTS = Path(__file__).resolve().parent / "js"


@pytest.fixture(scope="session")
def socketio_client_js() -> Path:
    """The official socket.io JavaScript client bundle, pinned in tests/js/package.json.

    Installed from npm on first use (no lock file is written); tests that need it skip
    with the reason when npm is missing or fails, and fail instead under CI.
    """
    pinned = json.loads((JS_CLIENTS / "package.json").read_text())["dependencies"]
    package = JS_CLIENTS / "node_modules" / "socket.io-client"
    installed = package / "package.json"
    version = json.loads(installed.read_text())["version"] if installed.exists() else None
    if version != pinned["socket.io-client"]:
        npm = shutil.which("npm")
        if npm is None:
            _missing("npm is not installed (Debian: apt-get install npm)")
        done = subprocess.run(
            [npm, "install", "--no-package-lock", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=JS_CLIENTS,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            _missing(f"npm install in tests/js failed: {done.stderr[-800:]}")
    return package / "dist" / "socket.io.min.js"


@pytest.fixture(scope="session")
def node() -> str:
    """The Node.js executable; tests that need it skip without it, and fail under CI."""
    found = shutil.which("node")
    if found is None:
        _missing("Node.js is not installed (Debian: apt-get install nodejs npm)")
    return str(found)
