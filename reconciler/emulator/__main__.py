"""``python -m reconciler.emulator``: the emulator without the rest of the CLI."""

from __future__ import annotations

import argparse
import sys

from reconciler.emulator.cli import PROG, configure_parser, run


class _Parser(argparse.ArgumentParser):
    """Usage errors end with one line on stderr and status 1, like every bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)
        raise SystemExit(1)


def main() -> int:
    parser = _Parser(prog="python -m reconciler.emulator", description="Local TRTC API emulator.")
    configure_parser(parser)
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
