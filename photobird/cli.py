"""The ``photobird`` command: the desktop app with no arguments, the library from the command line otherwise."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(name: str) -> Callable[[Callable[[argparse.Namespace], int]], Callable[[argparse.Namespace], int]]:
    def register(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        COMMANDS[name] = fn
        return fn

    return register


def _print_json(obj: object) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


@command("classify")
def cmd_classify(args: argparse.Namespace) -> int:
    from photobird.classify import classify
    from photobird.models.files import ModelFileError
    from photobird.models.runner import Models

    try:
        models = Models(device=args.device)
    except ModelFileError as e:
        print(f"photobird: {e}", file=sys.stderr)
        return 2
    classified = 0
    for result in classify(args.files, models, batch_size=args.batch_size):
        if result.error is None:
            classified += 1
        if args.json:
            _print_json(result.as_json())
        elif result.error is not None:
            print(f"{result.path}: error: {result.error}")
        else:
            words = ", ".join(f"{w} {p:.0%}" for w, p in list((result.labels or {}).items())[:5])
            verdict = "BIRD" if result.is_bird else "not bird"
            print(f"{result.path}: {verdict} ({result.bird:.1%})  {words}")
    return 0 if classified else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="photobird", description="Find what is in your photos, offline. With no command, opens the app."
    )
    parser.add_argument("--library", type=Path, default=None,
                        help="library folder (default: $PHOTOBIRD_LIBRARY, else the platform's data folder)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: $PHOTOBIRD_DEVICE, else auto)")
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("classify", help="run the models on image files, without any library")
    p.add_argument("files", nargs="+", help="image files (folders are searched for images)")
    p.add_argument("--json", action="store_true", help="one JSON object per file")
    p.add_argument("--batch-size", type=int, default=32)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return COMMANDS[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
