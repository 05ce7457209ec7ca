"""``python -m kit.bench NAME [options]``: run one benchmark and print its table."""

from __future__ import annotations

import argparse
import sys

from kit.bench import chaos, codecs, deflate, fanout, hostile, push, startup

BENCHES = {
    "startup": startup,
    "fanout": fanout,
    "codecs": codecs,
    "deflate": deflate,
    "hostile": hostile,
    "push": push,
    "chaos": chaos,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kit.bench", description=__doc__)
    commands = parser.add_subparsers(dest="name", required=True, metavar="NAME")
    for name, module in BENCHES.items():
        summary = (module.__doc__ or name).splitlines()[0]
        module.add_arguments(commands.add_parser(name, help=summary))
    args = parser.parse_args(argv)
    module = BENCHES[args.name]
    # A bench whose run() is a function for cells (chaos) has its command apart.
    entry = getattr(module, "command", module.run)
    return int(entry(args))


if __name__ == "__main__":
    sys.exit(main())
