"""``python -m kit.conformance engine.io|socket.io``: the suite's server, by hand or run.

Without ``--run`` it serves the kit's server in the configuration the suite's README
expects on ``127.0.0.1:3000`` until Ctrl-C (or SIGTERM); run the suite from another shell (in a
writable copy of ``kit/conformance/suites/NAME``: ``npm ci && npx mocha test-suite.js
--exit``). With ``--run`` it serves on a free port, runs the suite against it, prints
one line per layer and exits with 0 only if every test passed.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

import kit
from kit.conformance import SUITES, SuiteUnavailable, run, suite_server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kit.conformance",
        description="Serve the kit's engine.io or socket.io server as an official suite expects.",
    )
    parser.add_argument("suite", choices=sorted(SUITES))
    parser.add_argument("--port", type=int, default=3000, help="port to serve on (default 3000)")
    parser.add_argument(
        "--run", action="store_true", help="run the suite against it, print the table, exit"
    )
    parser.add_argument("--grep", help="with --run: only the tests whose title contains this")
    options = parser.parse_args(argv)
    port = 0 if options.run else options.port
    try:
        server = kit.serve(
            suite_server(options.suite), name=f"conformance {options.suite}", port=port
        )
    except kit.PortInUseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    try:
        if options.run:
            try:
                result = run(options.suite, server, grep=options.grep)
            except (SuiteUnavailable, RuntimeError) as error:
                print(f"error: {error}", file=sys.stderr)
                return 1
            print(result.table())
            return 0 if result.total and not result.failures else 1
        print(
            f"serving the {options.suite} suite's configuration on {server.url} "
            f"(path /{options.suite}/, as the suite expects); Ctrl-C stops it.\n"
            f"Run the suite: in a writable copy of kit/conformance/suites/{SUITES[options.suite]}, "
            "npm ci && npx mocha test-suite.js --exit\n"
            "(where localhost resolves to ::1 first: NODE_OPTIONS=--dns-result-order=ipv4first)",
            flush=True,
        )
        stopped = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C, or kill
            signal.signal(signum, lambda *_: stopped.set())
        while not stopped.wait(0.5):
            pass
        print("stopped", flush=True)
        return 0
    finally:
        kit.stop_all()


if __name__ == "__main__":
    sys.exit(main())
