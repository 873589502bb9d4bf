"""The ``photobird`` command: the desktop app with no arguments, the library from the command line otherwise."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
import time
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


@command("gui")
def cmd_gui(args: argparse.Namespace) -> int:
    try:
        from photobird.gui.app import run
    except ImportError as e:  # a headless install without Qt
        print(f"photobird: the desktop app needs PySide6 ({e})", file=sys.stderr)
        return 2
    return run(args.library, args.device)


def _library(args: argparse.Namespace):
    from photobird.library.store import Library

    return Library(args.library)


def _models(args: argparse.Namespace):
    from photobird.models.runner import Models

    return Models(device=args.device)


@command("folders")
def cmd_folders(args: argparse.Namespace) -> int:
    from photobird.library import scan

    lib = _library(args)
    if args.action == "add":
        for d in args.dirs:
            try:
                scan.add_folder(lib, d)
                print(f"watching {os.path.abspath(d)}")
            except scan.FolderError as e:
                print(f"photobird: {e}", file=sys.stderr)
                return 2
    elif args.action == "remove":
        for d in args.dirs:
            try:
                n = scan.remove_folder(lib, d)
                print(f"stopped watching {os.path.abspath(d)} ({n} photos left the catalogue)")
            except scan.FolderError as e:
                print(f"photobird: {e}", file=sys.stderr)
                return 2
    else:
        folders = scan.list_folders(lib)
        if args.json:
            for f in folders:
                _print_json(dataclasses.asdict(f))
        elif not folders:
            print("no watched folders (add one with: photobird folders add DIR)")
        for f in folders if not args.json else []:
            missing = "" if f.exists else "  (not found)"
            print(f"{f.path}  {f.photos} photos, {f.indexed} indexed, {f.failed} failed, "
                  f"{f.pending} pending{missing}")
    return 0


class _Bar:
    """A one-line progress bar on a terminal; silent otherwise."""

    def __init__(self, stream=sys.stderr) -> None:
        self.stream = stream
        self.enabled = stream.isatty()
        self.last = 0.0

    def update(self, p) -> None:
        if not self.enabled or time.monotonic() - self.last < 0.1:
            return
        self.last = time.monotonic()
        if p.phase == "indexing" and p.total:
            width = 30
            filled = int(width * p.done / p.total)
            name = os.path.basename(os.fsdecode(p.current or ""))[:30]
            line = (f"[{'#' * filled}{'.' * (width - filled)}] {p.done}/{p.total} "
                    f"{p.rate:.1f}/s  {p.failed} failed  {name}")
        elif p.phase == "watching":
            line = "watching for changes (Ctrl-C to stop)"
        else:
            line = f"{p.phase}..."
        self.stream.write("\r\033[K" + line)
        self.stream.flush()

    def done(self) -> None:
        if self.enabled:
            self.stream.write("\r\033[K")
            self.stream.flush()


@command("index")
def cmd_index(args: argparse.Namespace) -> int:
    from photobird.library.index import Indexer
    from photobird.library.store import LibraryBusy
    from photobird.library.watch import watch

    lib = _library(args)
    bar = _Bar()
    summary = None
    try:
        with lib.indexer_lock():
            indexer = Indexer(lib, lambda: _models(args))
            gen = watch(lib, indexer) if args.watch else indexer.run()
            try:
                for p in gen:
                    bar.update(p)
                    if p.summary is not None:
                        summary = p.summary
                        if args.watch and args.json:
                            _print_json(p.summary.as_dict())
            except KeyboardInterrupt:
                gen.close()
    except LibraryBusy as e:
        print(f"photobird: {e}", file=sys.stderr)
        return 3
    bar.done()
    if summary is not None and not args.watch:
        if args.json:
            _print_json(summary.as_dict())
        else:
            print(f"indexed {summary.indexed}, unchanged {summary.unchanged}, removed {summary.removed}, "
                  f"failed {summary.failed} (see: photobird errors), {summary.seconds:.1f} s")
    return 0


@command("search")
def cmd_search(args: argparse.Namespace) -> int:
    from photobird.library import catalogue
    from photobird.library.search import search

    lib = _library(args)
    hits = search(lib, " ".join(args.query), limit=args.limit)
    briefs = catalogue.briefs(lib, [h.photo_id for h in hits])
    for h in hits:
        b = briefs[h.photo_id]
        labels = catalogue.labels_of(lib, h.photo_id, min_p=0.05)
        top = dict(list(labels.items())[:8])
        if args.json:
            _print_json({"path": b.path, "score": round(h.score, 6), "labels": top})
        else:
            words = ", ".join(f"{w} {p:.0%}" for w, p in list(top.items())[:4])
            print(f"{h.score:6.1%}  {b.path}  ({words})")
    if not args.json and not hits:
        print("no photos match", file=sys.stderr)
    return 0


@command("label")
def cmd_label(args: argparse.Namespace) -> int:
    from photobird.library import catalogue

    lib = _library(args)
    label = None if args.label == "clear" else args.label
    status = 0
    for path in args.paths:
        pid = catalogue.photo_id_for_path(lib, path)
        if pid is None:
            print(f"photobird: {path} is not in the library (is its folder watched and indexed?)", file=sys.stderr)
            status = 2
            continue
        try:
            catalogue.set_user_label(lib, [pid], label)
        except catalogue.CatalogueError as e:
            print(f"photobird: {e}", file=sys.stderr)
            status = 2
    return status


@command("info")
def cmd_info(args: argparse.Namespace) -> int:
    from photobird.library import catalogue

    lib = _library(args)
    pid = catalogue.photo_id_for_path(lib, args.path)
    if pid is None:
        print(f"photobird: {args.path} is not in the library", file=sys.stderr)
        return 2
    data = catalogue.info(lib, pid)
    if args.json:
        _print_json(data)
    else:
        for k, v in data.items():
            if k == "labels":
                v = ", ".join(f"{w} {p:.0%}" for w, p in list(v.items())[:10])
            print(f"{k:>13}: {v}")
    return 0


@command("errors")
def cmd_errors(args: argparse.Namespace) -> int:
    from photobird.library import catalogue

    rows = catalogue.errors(_library(args))
    for path, err in rows:
        if args.json:
            _print_json({"path": path, "error": err})
        else:
            print(f"{path}: {err}")
    if not rows and not args.json:
        print("no files failed")
    return 0


@command("stats")
def cmd_stats(args: argparse.Namespace) -> int:
    from photobird.library import catalogue

    lib = _library(args)
    st = catalogue.stats(lib)
    if args.json:
        _print_json(st.as_dict())
        return 0
    print(f"library      {lib.root}")
    print(f"folders      {st.folders}")
    print(f"photos       {st.photos} ({st.indexed} indexed, {st.failed} failed, {st.pending} pending)")
    print(f"birds        {st.birds} (model {st.model})")
    print(f"your labels  {st.user_bird} bird, {st.user_not_bird} not bird")
    print(f"catalogue    {st.catalogue_bytes / 2**20:.1f} MB")
    top = catalogue.label_counts(lib, limit=12)
    if top:
        print("most seen    " + ", ".join(f"{w} ({n})" for w, n in top))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="photobird", description="Find what is in your photos, offline. With no command, opens the app."
    )
    parser.add_argument("--library", type=Path, default=None,
                        help="library folder (default: $PHOTOBIRD_LIBRARY, else the platform's data folder)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: $PHOTOBIRD_DEVICE, else auto)")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("gui", help="open the desktop app (the default with no command)")

    p = sub.add_parser("classify", help="run the models on image files, without any library")
    p.add_argument("files", nargs="+", help="image files (folders are searched for images)")
    p.add_argument("--json", action="store_true", help="one JSON object per file")
    p.add_argument("--batch-size", type=int, default=32)

    p = sub.add_parser("folders", help="watched folders")
    fsub = p.add_subparsers(dest="action", required=True)
    fa = fsub.add_parser("add", help="watch a folder (and everything below it)")
    fa.add_argument("dirs", nargs="+")
    fr = fsub.add_parser("remove", help="stop watching a folder")
    fr.add_argument("dirs", nargs="+")
    fl = fsub.add_parser("list", help="watched folders with their counts")
    fl.add_argument("--json", action="store_true")

    p = sub.add_parser("index", help="bring the catalogue up to date with the watched folders")
    p.add_argument("--watch", action="store_true", help="keep watching for changes until interrupted")
    p.add_argument("--json", action="store_true", help="print a JSON summary")

    p = sub.add_parser("search", help="find photos: words, -word, not word, 2019, june 2021, camera, names")
    p.add_argument("query", nargs="*", default=[])
    p.add_argument("--json", action="store_true", help="one JSON object per photo")
    p.add_argument("--limit", type=int, default=None)

    p = sub.add_parser("label", help="mark photos as bird or not bird (or clear the mark)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("label", choices=["bird", "not-bird", "clear"])

    p = sub.add_parser("info", help="everything the catalogue knows about a photo")
    p.add_argument("path")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("errors", help="files that could not be indexed, and why")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("stats", help="library statistics")
    p.add_argument("--json", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        if args.command == "search":  # "-cat" in a query excludes cats; it is not an option
            args.query = [*args.query, *unknown]
        else:
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command is None:
        args.command = "gui"
    try:
        return COMMANDS[args.command](args)
    except BrokenPipeError:  # photobird search bird | head
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 0


if __name__ == "__main__":
    sys.exit(main())
