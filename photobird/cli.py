"""The ``photobird`` command: the desktop app with no arguments, the library from the command line otherwise."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import faulthandler
import json
import os
import shlex
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # a command imports what it needs when it runs: `photobird --help` stays quick
    from photobird.library.store import Library

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(name: str) -> Callable[[Callable[[argparse.Namespace], int]], Callable[[argparse.Namespace], int]]:
    def register(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        COMMANDS[name] = fn
        return fn

    return register


class Refused(Exception):
    """A command that cannot run as asked (a device that is not here); ``main`` prints the one sentence."""


def _print_json(obj: object) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


@command("classify")
def cmd_classify(args: argparse.Namespace) -> int:
    from photobird.classify import classify
    from photobird.models.files import ModelFileError
    from photobird.models.runner import SeedScorer

    try:
        models = _models(args)
        seed = SeedScorer(models.device) if args.model == "seed" else None
    except ModelFileError as e:
        print(f"photobird: {e}", file=sys.stderr)
        return 2
    classified = 0
    for result in classify(args.files, models, batch_size=args.batch_size, seed=seed):
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
    # a device asked for is checked before the window opens (the models load in a worker, where "tpu" would
    # only fail later); "auto" and "cpu" need no check, and no torch import before the first paint
    if (args.device or os.environ.get("PHOTOBIRD_DEVICE") or "auto") not in ("auto", "cpu"):
        _device(args)
    if args.database:  # the app opens its library itself: it reads the address where every process would
        from photobird.library.db.engines import DATABASE_ENV

        os.environ[DATABASE_ENV] = args.database
    return run(args.library, args.device)


def _library(args: argparse.Namespace):
    from photobird.library.store import Library

    return Library(args.library, database=args.database)


def _device(args: argparse.Namespace) -> None:
    """Refuse an unknown or missing device before any work (``index`` loads the models only for new photos)."""
    from photobird.models.runner import DeviceError, choose_device

    try:
        choose_device(args.device)
    except DeviceError as e:
        raise Refused(str(e)) from None


def _models(args: argparse.Namespace):
    from photobird.models.runner import Models

    _device(args)
    return Models(device=args.device)


@command("folders")
def cmd_folders(args: argparse.Namespace) -> int:
    from photobird.library import scan

    lib = _library(args)
    if args.action != "list":
        lib.require_writable("changing the watched folders")
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
            offline = "  (offline: its drive is not connected; its photos are kept)"
            offline = offline if f.state is scan.FolderState.OFFLINE else ""
            print(f"{f.path}  {f.photos} photos, {f.indexed} indexed, {f.failed} failed, {f.pending} pending{offline}")
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
            line = (
                f"[{'#' * filled}{'.' * (width - filled)}] {p.done}/{p.total} {p.rate:.1f}/s  {p.failed} failed  {name}"
            )
        elif p.phase == "labelling" and p.total:
            line = f"re-labelling from stored data (no photo decoded): {p.done}/{p.total}"
        elif p.phase == "analysing" and p.total:
            line = f"finding faces: {p.done}/{p.total} {p.rate:.1f}/s (the photos are searchable meanwhile)"
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


@contextlib.contextmanager
def _indexer_turn(lib, mode):
    """The indexer lock. A second watcher of a shared (PostgreSQL) catalogue says, once, that another computer
    watches it, and asks again every few seconds: it takes over when that one stops."""
    from photobird.library.store import WATCH_POLL_SECONDS, LibraryBusy

    said = False
    with contextlib.ExitStack() as held:
        while True:
            try:
                held.enter_context(lib.indexer_lock(mode))
                break
            except LibraryBusy as e:
                if not e.takes_over:
                    raise
                if not said:
                    print(f"photobird: {e}.", file=sys.stderr, flush=True)
                    said = True
                time.sleep(WATCH_POLL_SECONDS)
        yield


@command("index")
def cmd_index(args: argparse.Namespace) -> int:
    from photobird.library.index import Indexer
    from photobird.library.store import DiskFull, LibraryBusy, LockMode
    from photobird.library.watch import watch
    from photobird.models.files import ModelFileError

    lib = _library(args)
    _device(args)
    bar = _Bar()
    summary = None
    try:
        with _indexer_turn(lib, LockMode.WATCHING if args.watch else LockMode.INDEXING):
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
    except KeyboardInterrupt:  # stopped while waiting for its turn to watch
        return 0
    # a model file missing or damaged, or the disk full: what is committed stays, the run stops, in one sentence
    except (ModelFileError, DiskFull) as e:
        bar.done()
        print(f"photobird: {e}", file=sys.stderr)
        return 2
    bar.done()
    if summary is not None and not args.watch:
        if args.json:
            _print_json(summary.as_dict())
        else:
            print(
                f"indexed {summary.indexed}, unchanged {summary.unchanged}, removed {summary.removed}, "
                f"failed {summary.failed} (see: photobird errors), faces and looks analysed in {summary.analysed}, "
                f"{summary.seconds:.1f} s"
            )
    return 0


@command("repair")
def cmd_repair(args: argparse.Namespace) -> int:
    """Rebuild a damaged catalogue from the keepsake, then index the photos again (as ``index`` does)."""
    from photobird import config
    from photobird.library import repair
    from photobird.library.store import LibraryBusy

    _device(args)  # refused before anything is set aside, not after
    root = args.library or config.default_library_dir()
    try:
        repaired = repair.repair(root, args.database)
    except LibraryBusy as e:
        print(f"photobird: {e}", file=sys.stderr)
        return 3
    if repaired is None:
        print(f"The catalogue of the library at {root} is sound (every page was checked): nothing to repair.")
        return 0
    for line in repaired.report():
        print(line, flush=True)
    if not repaired.restored.folders:
        return 0
    args.watch = args.json = False
    return cmd_index(args)


@command("search")
def cmd_search(args: argparse.Namespace) -> int:
    from photobird.library import catalogue
    from photobird.library.search import search

    lib = _library(args)
    hits = search(lib, " ".join(args.query), limit=args.limit)
    briefs = catalogue.briefs(lib, [h.photo_id for h in hits])
    for h in hits:
        b = briefs[h.photo_id]
        labels = catalogue.labels_of(lib, h.photo_id)
        top = dict(list(labels.items())[:8])
        if args.json:
            _print_json({"path": b.path, "score": round(h.score, 6), "labels": top, "offline": b.offline})
        else:
            words = ", ".join(f"{w} {p:.0%}" for w, p in list(top.items())[:4])
            print(f"{h.score:6.1%}  {b.path}  ({words}){'  offline' if b.offline else ''}")
    if not args.json and not hits:
        print("no photos match", file=sys.stderr)
    return 0


@command("label")
def cmd_label(args: argparse.Namespace) -> int:
    from photobird.library import catalogue

    lib = _library(args)
    lib.require_writable("labelling photos")
    label = None if args.label == "clear" else args.label
    status = 0
    ids = []
    for path in args.paths:
        pid = catalogue.photo_id_for_path(lib, path)
        if pid is None:
            print(f"photobird: {path} is not in the library (is its folder watched and indexed?)", file=sys.stderr)
            status = 2
        else:
            ids.append(pid)
    result = catalogue.set_user_label(lib, ids, label)
    for refusal in result.refused:
        print(f"photobird: {refusal.path} was not labelled: {refusal.reason}", file=sys.stderr)
        status = 2
    photos = "photo" if result.labelled == 1 else "photos"
    if label is None:
        print(f"Cleared the mark of {result.labelled} {photos}.")
    else:
        print(f"Marked {result.labelled} {photos} {label.replace('-', ' ')}.")
    return status


@command("info")
def cmd_info(args: argparse.Namespace) -> int:
    from photobird.library import catalogue

    lib = _library(args)
    data = catalogue.info(lib, _photo_id(lib, args.path))
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
    top = catalogue.word_counts(lib, limit=12)
    if top:
        print("most seen    " + ", ".join(f"{c.word} ({c.count})" for c in top))
    return 0


def _print_table(result) -> None:
    """The article's table: the current and the new model on the same held-out photos."""
    b, a = result.before, result.after
    ev = result.evaluation
    print(
        f"Both models {result.mode.describe(len(ev.hashes))}: "
        f"{int(ev.is_bird.sum())} birds, {int((~ev.is_bird).sum())} not birds"
    )
    print(f"{'':22}{'current (' + result.before_version + ')':>28}{'new (' + result.version + ')':>22}")
    rows = [
        ("true positives", b.tp, a.tp),
        ("false negatives", b.fn, a.fn),
        ("false positives", b.fp, a.fp),
        ("true negatives", b.tn, a.tn),
    ]
    for name, x, y in rows:
        print(f"{name:22}{x:>28}{y:>22}")
    print(f"{'precision':22}{b.precision:>28.1%}{a.precision:>22.1%}")
    print(f"{'recall':22}{b.recall:>28.1%}{a.recall:>22.1%}")
    print(f"{'threshold':22}{ev.before_threshold:>28.3f}{ev.after_threshold:>22.3f}")
    print(result.verdict)


@command("train")
def cmd_train(args: argparse.Namespace) -> int:
    from photobird.learn import train as train_mod
    from photobird.library import versions

    lib = _library(args)
    lib.require_writable("retraining the bird model")
    models = _models(args)
    config = (
        train_mod.TrainConfig(recipe=train_mod.head_mod.HeadRecipe(epochs=args.epochs))
        if args.epochs
        else train_mod.TrainConfig()
    )
    gen = train_mod.train_steps(lib, models, config)
    bar = _Bar()
    try:
        while True:
            p = next(gen)
            if args.progress:
                print(
                    json.dumps({"phase": p.phase, "fit": p.fit, "done": p.done, "total": p.total, "loss": p.loss}),
                    file=sys.stderr,
                    flush=True,
                )
            elif bar.enabled and time.monotonic() - bar.last > 0.1:
                bar.last = time.monotonic()
                loss = f" loss {p.loss:.4f}" if p.loss is not None else ""
                bar.stream.write(f"\r\033[K{p.phase} {p.fit} {p.done}/{p.total}{loss} {p.message}")
                bar.stream.flush()
    except StopIteration as stop:
        result = stop.value
    except train_mod.NotEnoughLabels as e:
        bar.done()
        if args.json:
            _print_json({"error": str(e)})
        else:
            print(f"photobird: {e}", file=sys.stderr)
        return 4
    except KeyboardInterrupt:
        gen.close()
        bar.done()
        print("photobird: training cancelled; the active model is unchanged", file=sys.stderr)
        return 130
    bar.done()
    if args.keep:
        versions.activate(lib, models, versions.get_version(lib, result.version_id))
    if args.json:
        out = result.as_json()
        out["kept"] = bool(args.keep)
        _print_json(out)
    else:
        _print_table(result)
        if args.keep:
            print(f"{result.version} is now the active model; the library was re-scored.")
        else:
            print(f"Saved as {result.version} (not active). Keep it with: photobird models use {result.version}")
    return 0


@command("models")
def cmd_models(args: argparse.Namespace) -> int:
    from photobird.library import versions

    lib = _library(args)
    if args.action == "use":
        lib.require_writable("changing the active model")
        models = _models(args)
        versions.ensure_shipped(lib, models)
        try:
            version = versions.get_version(lib, args.version)
            n = versions.activate(lib, models, version)
        except (versions.VersionError, Exception) as e:
            print(f"photobird: {e}", file=sys.stderr)
            return 2
        print(f"{version.name} is now the active bird model ({n} photos re-scored)")
        return 0
    rows = versions.list_versions(lib)
    for v in rows:
        m = (v.info or {}).get("metrics", {})
        after = m.get("after") or {}
        entry = {
            "version": v.name,
            "id": v.id,
            "active": v.active,
            "threshold": v.threshold,
            "created": v.created_at.isoformat(timespec="seconds"),
            "held_out": m.get("held_out"),
            "precision": after.get("precision"),
            "recall": after.get("recall"),
        }
        if args.json:
            _print_json(entry)
        else:
            star = "*" if v.active else " "
            pr = (
                f"precision {after['precision']:.1%} recall {after['recall']:.1%} on {m.get('held_out')} photos checked"
                if after
                else "shipped"
            )
            print(f"{star} {v.name:28} {entry['created']}  threshold {v.threshold:.3f}  {pr}")
    if not rows and not args.json:
        print("no model versions yet (the shipped one is registered on first index)")
    return 0


def _people_error(fn: Callable[[], None]) -> int:
    from photobird.library.people import PeopleError

    try:
        fn()
    except PeopleError as e:
        print(f"photobird: {e}", file=sys.stderr)
        return 2
    return 0


@command("faces")
def cmd_faces(args: argparse.Namespace) -> int:
    from photobird.library import people
    from photobird.library.store import SettingKey

    lib = _library(args)
    if args.action == "move":
        lib.require_writable("moving a face")
        target = None if args.person.lower() == "none" else _int(args.person, "a person id or none")
        status = _people_error(lambda: people.move_face(lib, _int(args.face, "a face id"), target))
        if not status:
            print(f"Face {args.face} " + ("taken out of its person." if target is None else f"is now person {target}."))
        return status
    if args.action in ("on", "off"):
        lib.require_writable("turning faces " + args.action)
        lib.set_setting(SettingKey.FACES, args.action == "on")
        if args.action == "off":
            people.forget_faces(lib)
            print("Faces are off: every face, person and name was deleted.")
        else:
            print("Faces are on: the next index finds them (photobird index).")
        return 0
    for face in people.faces(lib):
        row = {
            "id": face.id,
            "path": face.path,
            "box": face.pixel_box(),
            "score": round(face.score, 4),
            "person": face.person,
            "name": face.name,
        }
        if args.json:
            _print_json(row)
        else:
            who = face.name or (f"person {face.person}" if face.person is not None else "nobody yet")
            print(f"{face.id:6d}  {face.path}  {row['box']}  {who}")
    return 0


@command("people")
def cmd_people(args: argparse.Namespace) -> int:
    from photobird.library import people

    lib = _library(args)
    if args.action == "name":
        lib.require_writable("naming a person")
        status = _people_error(lambda: people.name_person(lib, _int(args.id, "a person id"), " ".join(args.name)))
        if not status:
            print(f"Person {args.id} is now {' '.join(' '.join(args.name).split())}.")
        return status
    if args.action == "merge":
        lib.require_writable("merging people")
        keep, other = _int(args.keep, "a person id"), _int(args.other, "a person id")
        status = _people_error(lambda: people.merge_people(lib, keep, other))
        if not status:
            print(f"Person {other} merged into person {keep}.")
        return status
    found = people.people(lib)
    for person in found:
        if args.json:
            _print_json(dataclasses.asdict(person))
        else:
            print(f"{person.id:6d}  {person.name or '(no name)'}  {person.photos} photos, {person.faces} faces")
    if not found and not args.json:
        print("no people yet (faces are grouped into people as photos are indexed)", file=sys.stderr)
    return 0


@command("duplicates")
def cmd_duplicates(args: argparse.Namespace) -> int:
    from photobird.library import duplicates

    lib = _library(args)
    waiting = duplicates.unhashed(lib)
    if waiting:  # said first, on stderr: the JSON on stdout stays one object per group
        photos = "1 photo has" if waiting == 1 else f"{waiting:,} photos have"
        print(
            f"photobird: {photos} not been looked at for similar photos yet (only exact copies of them are found): "
            "run photobird index, or open the app",
            file=sys.stderr,
        )
    groups = duplicates.find_groups(lib)
    for group in groups:
        paths = [p.path for p in group.photos]
        if args.json:
            _print_json({"kind": group.kind.value, "photos": paths})
        else:
            print(f"{group.kind.value} ({len(paths)} photos):")
            for k, photo in enumerate(group.photos):
                size = f"{photo.width}x{photo.height}" if photo.width else "?"
                print(f"  {'keep' if k == 0 else '    '}  {photo.path}  ({size}, {photo.size / 1e6:.1f} MB)")
    if not groups and not args.json:
        print("no duplicates or similar photos")
    return 0


@command("similar")
def cmd_similar(args: argparse.Namespace) -> int:
    from photobird.library import catalogue, duplicates

    lib = _library(args)
    pid = _photo_id(lib, args.path)
    index = duplicates.SimilarIndex.build(lib)
    if pid not in index:
        print(f"photobird: {args.path} is not indexed yet (photobird index)", file=sys.stderr)
        return 2
    found = index.query(lib, pid, args.limit)
    briefs = catalogue.briefs(lib, [i for i, _ in found])
    for photo_id, cosine in found:
        if args.json:
            _print_json({"path": briefs[photo_id].path, "similarity": round(cosine, 4)})
        else:
            print(f"{cosine:5.2f}  {briefs[photo_id].path}")
    return 0


@command("library")
def cmd_library(args: argparse.Namespace) -> int:
    """``library copy``: the catalogue into another engine (a server, or a folder's own file), checked by counts."""
    from photobird.library import transfer
    from photobird.library.db.engines import EngineKind

    source = _library(args)
    target = transfer.open_target(source, args.to, args.folder)
    bar = _Bar()

    def show(p: transfer.CopyProgress) -> None:
        if bar.enabled and time.monotonic() - bar.last > 0.1:
            bar.last = time.monotonic()
            bar.stream.write(f"\r\033[Kcopying {p.table}: {p.done:,} of {p.total:,} rows")
            bar.stream.flush()

    try:
        copied = transfer.copy(source, target, show)
    finally:
        bar.done()
        target.close()
    if args.json:
        _print_json(copied.as_dict())
    else:
        print(f"{'table':24}{'source':>12}{'copy':>12}")
        for name, (before, after) in copied.counts.items():
            print(f"{name:24}{before:>12,}{after:>12,}{'' if before == after else '  differs'}")
    if not copied.verified:
        print(
            f"photobird: the copy at {copied.target} does not hold as many rows as the source (above).", file=sys.stderr
        )
        return 1
    if not args.json:
        if target.kind is EngineKind.POSTGRESQL:
            opens = f"photobird --library {shlex.quote(str(copied.folder))} --database {shlex.quote(copied.target)}"
        else:
            opens = f"photobird --library {shlex.quote(str(copied.folder))}"
        rows = sum(before for before, _ in copied.counts.values())
        moved = (
            f" ({copied.model_files} model file(s) and {copied.thumbnails:,} thumbnails copied there)"
            if copied.folder != source.root
            else ""
        )
        print(
            f"Copied {rows:,} rows from {copied.source} to {copied.target} in {copied.seconds:.1f} s and checked "
            f"every table's count; its models and thumbnails are in {copied.folder}{moved}: open it with {opens}"
        )
    return 0


def _photo_id(library: Library, path: str) -> int:
    """The catalogue's id of the photo at ``path``; refused in one sentence when it is not in the library."""
    from photobird.library import catalogue

    pid = catalogue.photo_id_for_path(library, path)
    if pid is None:
        raise Refused(f"{path} is not in the library")
    return pid


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise Refused(f"{text!r} is not {what}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="photobird", description="Find what is in your photos, offline. With no command, opens the app."
    )
    parser.add_argument(
        "--library",
        type=Path,
        default=None,
        help="library folder (default: $PHOTOBIRD_LIBRARY, else the platform's data folder)",
    )
    parser.add_argument(
        "--database",
        metavar="URL",
        default=None,
        help="keep the catalogue on a PostgreSQL server, shared by several computers: postgresql://user@host/db "
        "(default: $PHOTOBIRD_DATABASE, else the SQLite file in the library folder)",
    )
    parser.add_argument(
        "--device",
        default=None,
        help="where the models run: auto, cpu, cuda or cuda:N (default: $PHOTOBIRD_DEVICE, else auto)",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="print the log on stderr too (it always goes to <library>/photobird.log)"
    )
    sub = parser.add_subparsers(dest="command", help="what to do (with none, the app opens)")
    sub.add_parser("gui", help="open the desktop app (the default with no command)")

    p = sub.add_parser("classify", help="run the models on image files, without any library")
    p.add_argument("files", nargs="+", help="image files (folders are searched for images)")
    p.add_argument("--json", action="store_true", help="one JSON object per file")
    p.add_argument("--batch-size", type=int, default=32, help="files the models look at together (default: 32)")
    p.add_argument(
        "--model",
        choices=["shipped", "seed"],
        default="shipped",
        help="bird model: PhotoBird's (default) or the article's network, for comparison",
    )

    p = sub.add_parser("folders", help="watched folders")
    fsub = p.add_subparsers(dest="action", required=True, help="add, remove or list")
    fa = fsub.add_parser("add", help="watch a folder (and everything below it)")
    fa.add_argument("dirs", nargs="+", metavar="DIR", help="folders to watch")
    fr = fsub.add_parser("remove", help="stop watching a folder")
    fr.add_argument("dirs", nargs="+", metavar="DIR", help="watched folders to stop watching (their photos leave)")
    fl = fsub.add_parser("list", help="watched folders with their counts")
    fl.add_argument("--json", action="store_true", help="one JSON object per folder")

    p = sub.add_parser("index", help="bring the catalogue up to date with the watched folders")
    p.add_argument("--watch", action="store_true", help="keep watching for changes until interrupted")
    p.add_argument("--json", action="store_true", help="print a JSON summary")

    sub.add_parser(
        "repair",
        help="rebuild a damaged catalogue: your labels, names, folders and models from keepsake.json beside it, "
        "the rest by indexing the photos again (the damaged file is kept, renamed)",
    )

    p = sub.add_parser("search", help="find photos: words, -word, not word, 2019, june 2021, camera, names")
    p.add_argument("query", nargs="*", default=[], help="what to look for (nothing: every photo)")
    p.add_argument("--json", action="store_true", help="one JSON object per photo")
    p.add_argument("--limit", type=int, default=None, help="at most this many photos, the best first")

    p = sub.add_parser("label", help="mark photos as bird or not bird (or clear the mark)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="photos in the library")
    p.add_argument("label", choices=["bird", "not-bird", "clear"], help="the mark (clear: remove it)")

    p = sub.add_parser("info", help="everything the catalogue knows about a photo")
    p.add_argument("path", help="a photo in the library")
    p.add_argument("--json", action="store_true", help="as one JSON object")

    p = sub.add_parser("errors", help="files that could not be indexed or analysed (faces), and why")
    p.add_argument("--json", action="store_true", help="one JSON object per file and problem")

    p = sub.add_parser("duplicates", help="groups of exact copies and similar photos, the suggested keeper first")
    p.add_argument("--json", action="store_true", help='one JSON object per group: {"kind": ..., "photos": [...]}')

    p = sub.add_parser("similar", help="the photos most like a photo (more like this), the most alike first")
    p.add_argument("path", help="a photo in the library")
    p.add_argument("--limit", type=int, default=20, help="at most this many photos (default 20)")
    p.add_argument("--json", action="store_true", help="one JSON object per photo: path, similarity (cosine)")

    p = sub.add_parser("stats", help="library statistics")
    p.add_argument("--json", action="store_true", help="as one JSON object")

    p = sub.add_parser("train", help="retrain the bird model on your labelled photos")
    p.add_argument("--json", action="store_true", help="the result as one JSON object")
    p.add_argument("--keep", action="store_true", help="make the new model active (re-scores the library)")
    p.add_argument("--progress", action="store_true", help="one JSON progress line per step on stderr")
    p.add_argument("--epochs", type=int, default=None, help=argparse.SUPPRESS)

    p = sub.add_parser("models", help="bird model versions")
    msub = p.add_subparsers(dest="action", required=True, help="list or use")
    ml = msub.add_parser("list", help="all versions, the active one starred")
    ml.add_argument("--json", action="store_true", help="one JSON object per version")
    mu = msub.add_parser("use", help="make a version active (re-scores the library)")
    mu.add_argument("version", help="name (v1, shipped-...) or id")

    p = sub.add_parser("faces", help="the faces found in the photos (one line, or JSON object, per face)")
    p.add_argument("--json", action="store_true", help="one JSON object per face: path, box in pixels, person")
    p.set_defaults(action="list")
    fsub = p.add_subparsers(dest="action", help="move a face, or turn faces on or off")
    fm = fsub.add_parser("move", help="put a face in another person, or take it out of its person (none)")
    fm.add_argument("face", metavar="FACE_ID", help="the face (its id in: photobird faces)")
    fm.add_argument("person", metavar="PERSON_ID|none", help="the person it belongs to, or none: not this person")
    fsub.add_parser("on", help="find faces and group them into people (the default)")
    fsub.add_parser("off", help="stop finding faces and delete every face, person and name")

    p = sub.add_parser("people", help="people (groups of faces), named ones first")
    p.add_argument("--json", action="store_true", help="one JSON object per person")
    p.set_defaults(action="list")
    psub = p.add_subparsers(dest="action", help="name or merge people")
    pn = psub.add_parser("name", help="name (or rename) a person; the name becomes a search word")
    pn.add_argument("id", metavar="ID", help="the person (its id in: photobird people)")
    pn.add_argument("name", nargs="+", metavar="NAME", help="their name")
    pm = psub.add_parser("merge", help="put every face of the second person into the first")
    pm.add_argument("keep", metavar="ID", help="the person who stays")
    pm.add_argument("other", metavar="ID", help="the person merged into them")

    p = sub.add_parser("library", help="the library's catalogue as a whole")
    lsub = p.add_subparsers(dest="action", required=True, help="copy")
    lc = lsub.add_parser(
        "copy",
        help="copy the catalogue, every table, to a PostgreSQL server or a new library folder (its SQLite file), "
        "and check the copy's counts",
    )
    lc.add_argument(
        "--to", required=True, metavar="TARGET", help="postgresql://user@host/db (an empty database), or a folder"
    )
    lc.add_argument(
        "--folder",
        type=Path,
        default=None,
        help="with a server: the library folder that will open the copy, where its models and thumbnails are "
        "copied (default: this library's folder)",
    )
    lc.add_argument("--json", action="store_true", help="the counts as one JSON object")
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
    if hasattr(signal, "SIGUSR1") and sys.__stderr__ is not None:
        # kill -USR1 PID: what a process that seems stuck is doing, every thread, on the terminal it started from
        faulthandler.register(signal.SIGUSR1, file=sys.__stderr__, all_threads=True)
    from photobird import config, logs

    library_root = None if args.command == "classify" else args.library or config.default_library_dir()
    logs.setup(library_root, verbose=args.verbose, command=args.command)
    from photobird.library.store import LibraryError

    try:
        return COMMANDS[args.command](args)
    except (LibraryError, Refused) as e:  # one sentence the user can act on, not a traceback
        print(f"photobird: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # photobird search bird | head
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 0


if __name__ == "__main__":
    sys.exit(main())
