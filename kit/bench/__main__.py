"""``python -m kit.bench NAME [options]``: run one benchmark and print its table."""

from __future__ import annotations

import argparse
import sys

from kit.bench import fanout, startup

BENCHES = {"startup": startup, "fanout": fanout}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kit.bench", description=__doc__)
    commands = parser.add_subparsers(dest="name", required=True, metavar="NAME")
    for name, module in BENCHES.items():
        module.add_arguments(commands.add_parser(name, help=module.__doc__.splitlines()[0]))
    args = parser.parse_args(argv)
    return BENCHES[args.name].run(args)


if __name__ == "__main__":
    sys.exit(main())
