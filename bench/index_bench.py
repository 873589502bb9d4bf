"""Indexing and search benchmark (not a test): ratios against a naive pipeline, printed in one run.

Builds a corpus of 12-megapixel camera-like JPEGs (real photos from ../shared/data/real-photos upscaled to
4000x3000 with sensor-like grain, saved as a camera would) and takes the 250 real photos as they are, then
measures, in the same run:

- decode only: PhotoBird's reduced-size decode (Pillow ``draft`` + EXIF orientation), one thread;
- model only: the networks on prepared inputs, one thread and all threads;
- the machine's limit for the end-to-end pipeline: cores / (decode time + model time) per photo;
- a naive pipeline: full-size decode, resize, one photo at a time through the networks;
- PhotoBird's end-to-end indexing into a fresh library (hashing, thumbnails, database writes included);
- the faces phase on 12 MP JPEGs of people (four LFW photos from ../shared/data/faces-dev side by side, upscaled
  with grain: four faces each) and on the camera-like JPEGs above: its limit (reduced-size decode + detection +
  descriptors, one thread, per core), a naive version (full-size decode, one photo at a time) and PhotoBird's
  phase over a library whose main index is done;
- search latency p50/p95 over a generated catalogue of 100,000 photos: the first page of results (what the user
  waits for), the count, and all the results; in the SQLite file, and with ``--database`` also in a database of
  its own on a PostgreSQL server (created and dropped by the run);
- duplicates over a generated catalogue of 100,000 photos with embeddings and perceptual hashes (``--duplicates-only``
  for this alone): the time to find every group, and "more like this" p50/p95.

    python bench/index_bench.py                 # CPU
    python bench/index_bench.py --faces-only    # the faces phase alone (a few minutes)
    python bench/index_bench.py --duplicates-only
    python bench/index_bench.py --search-only --catalogue 1000000 --database postgresql://user@host/postgres
    PHOTOBIRD_DEVICE=cuda python bench/index_bench.py
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import math
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps
from sqlalchemy import create_engine, make_url, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from photobird import config
from photobird.library import catalogue, duplicates, folder_tree, scan
from photobird.library.db import sequences
from photobird.library.db.engines import EngineKind
from photobird.library.index import Indexer
from photobird.library.schema import (
    BirdScore,
    Embedding,
    Folder,
    ModelVersion,
    Photo,
    PhotoAnalysis,
    PhotoLabel,
    PhotoLooks,
    Word,
)
from photobird.library.search import PAGE_SIZE, Searcher
from photobird.library.store import Library, SettingKey
from photobird.library.versions import ensure_embedder, ensure_shipped
from photobird.media import looks
from photobird.media.decode import decode, fit_long, fit_square
from photobird.models.faces.analyzer import FaceAnalyzer
from photobird.models.faces.found import DECODE_SIDE as FACE_DECODE_SIDE
from photobird.models.runner import DECODE_SIDE, Models, Prepared
from photobird.models.words import WordKind, load_lexicon


def _people_photo(sources: list[Path], i: int) -> Image.Image:
    """Four LFW photos side by side (2 x 2): a photo of four people."""
    grid = Image.new("RGB", (500, 500))
    for k in range(4):
        grid.paste(Image.open(sources[(i * 4 + k) * 7 % len(sources)]).convert("RGB"), ((k % 2) * 250, (k // 2) * 250))
    return grid


def make_camera_jpegs(out: Path, n: int, size: tuple[int, int] = (4000, 3000), people: bool = False) -> list[Path]:
    """12 MP JPEGs that decode like camera files: real content, fine grain, 4:2:0, quality 92, EXIF. ``people``:
    of four people each (faces-dev photos), else of the real photos."""
    out.mkdir(parents=True, exist_ok=True)
    if people:
        sources = sorted((config.shared_data_dir() / "faces-dev").glob("face_*.jpg"))
    else:
        sources = sorted(config.real_photos_dir().glob("*.JPEG"))
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        src = _people_photo(sources, i) if people else Image.open(sources[(i * 37) % len(sources)]).convert("RGB")
        big = src.resize(size, Image.BICUBIC)
        grain = rng.normal(0, 6, (size[1] // 4, size[0] // 4, 1)).astype(np.float32)
        grain = np.kron(grain, np.ones((4, 4, 1), np.float32))[: size[1], : size[0]]
        arr = np.clip(np.asarray(big, np.float32) + grain, 0, 255).astype(np.uint8)
        exif = Image.Exif()
        exif[0x010F] = "BenchCam"
        exif[0x0110] = "Model 12"
        exif[0x0112] = 1
        path = out / f"IMG_{i:04d}.JPG"
        Image.fromarray(arr).save(path, "JPEG", quality=92, subsampling=2, exif=exif.tobytes())
        paths.append(path)
    return paths


def timed(fn, *args) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def decode_only(paths: list[Path], models: Models) -> float:
    """Seconds per photo: reduced-size decode and preparing the networks' inputs, one thread."""
    t = time.perf_counter()
    for p in paths:
        models.prepare(decode(p, min_side=DECODE_SIDE).image)
    return (time.perf_counter() - t) / len(paths)


def model_only(paths: list[Path], models: Models, threads: int, batch: int = 16) -> float:
    prepared = [models.prepare(decode(p, min_side=DECODE_SIDE).image) for p in paths[:batch]]
    torch.set_num_threads(threads)
    models.analyze(prepared[:2])  # warm up
    n, t = 0, time.perf_counter()
    while time.perf_counter() - t < 4.0:
        models.analyze(prepared)
        n += len(prepared)
    return (time.perf_counter() - t) / n


def side_by_side(work, items: list, streams: int, seconds: float = 4.0) -> float:
    """Seconds per item and stream when ``streams`` threads run ``work(items)`` at once, torch single-threaded in
    each (as the indexer runs it on a CPU): what one core delivers while every core is busy."""
    torch.set_num_threads(1)
    counts = [0] * streams

    def loop(i: int) -> None:
        t = time.perf_counter()
        while time.perf_counter() - t < seconds:
            work(items)
            counts[i] += len(items)

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(streams)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return (time.perf_counter() - t) * streams / sum(counts)


def naive(paths: list[Path], models: Models) -> float:
    """Full decode, resize, one photo at a time through the networks (what a first version would do)."""
    t = time.perf_counter()
    for p in paths:
        with Image.open(p) as im:
            im = ImageOps.exif_transpose(im).convert("RGB")  # full 12 MP decode
            bb = np.asarray(fit_long(im, models.input_size))
            small = np.asarray(fit_square(im, 32))
            side = min(im.size)
        models.analyze([Prepared(bb, small, side)])
    return (time.perf_counter() - t) / len(paths)


def end_to_end(folder: Path, models: Models, workers: int | None) -> tuple[float, int]:
    """Seconds per photo of the main index (faces off: they are measured on their own, ``faces_phase``)."""
    with tempfile.TemporaryDirectory() as tmp:
        lib = Library(Path(tmp) / "lib")
        lib.set_setting(SettingKey.FACES, False)
        scan.add_folder(lib, folder)
        indexer = Indexer(lib, models, workers=workers)
        t = time.perf_counter()
        summary = None
        for p in indexer.run():
            summary = p.summary or summary
        took = time.perf_counter() - t
        lib.close()
    assert summary is not None
    return took / max(summary.indexed, 1), summary.indexed


# --------------------------------------------------------------------------------------------------------------
# the faces phase


def faces_limit(paths: list[Path], faces: FaceAnalyzer) -> tuple[float, float, int]:
    """Seconds per photo, one thread: the faces phase's reduced-size decode, and the networks (detection,
    alignment, descriptors); and how many faces they found."""
    torch.set_num_threads(1)
    images = []
    t = time.perf_counter()
    for p in paths:
        images.append(decode(p, min_side=FACE_DECODE_SIDE).image)
    d = (time.perf_counter() - t) / len(paths)
    faces.analyze(images[0])  # warm up
    t = time.perf_counter()
    found = sum(len(faces.analyze(im)) for im in images)
    return d, (time.perf_counter() - t) / len(paths), found


def faces_naive(paths: list[Path], faces: FaceAnalyzer) -> float:
    """Full-size decode, then the faces of one photo at a time, torch on every core."""
    torch.set_num_threads(os.cpu_count() or 1)
    t = time.perf_counter()
    for p in paths:
        with Image.open(p) as im:
            faces.analyze(ImageOps.exif_transpose(im).convert("RGB"))
    return (time.perf_counter() - t) / len(paths)


def faces_phase(folder: Path, models: Models, faces: FaceAnalyzer) -> float:
    """Seconds per photo of PhotoBird's faces phase over a library whose main index is done."""
    with tempfile.TemporaryDirectory() as tmp:
        lib = Library(Path(tmp) / "lib")
        lib.set_setting(SettingKey.FACES, False)
        scan.add_folder(lib, folder)
        for _ in Indexer(lib, models, faces=faces).run():
            pass
        lib.set_setting(SettingKey.FACES, True)
        t = time.perf_counter()
        summary = None
        for p in Indexer(lib, models, faces=faces).run():
            summary = p.summary or summary
        took = time.perf_counter() - t
        lib.close()
    assert summary is not None
    return took / max(summary.analysed, 1)


def faces_section(work: Path, cam: list[Path], models: Models, n: int) -> None:
    """Print the faces phase's figures on ``n`` 12 MP JPEGs of four people each and on the camera JPEGs ``cam``."""
    cores = os.cpu_count() or 1
    faces = FaceAnalyzer(models.device)
    people_dir = work / "people"
    shots = make_camera_jpegs(people_dir, n, people=True)
    print(f"faces phase ({len(shots)} 12 MP JPEGs of four people each; {len(cam)} camera JPEGs):")
    frows = {}
    for name, paths, folder in (("people", shots, people_dir), ("cam", cam, cam[0].parent)):
        d, a, found = faces_limit(paths[:20], faces)
        nv = faces_naive(paths[:10], faces)
        phase = faces_phase(folder, models, faces)
        torch.set_num_threads(cores)
        frows[name] = (d, a, found / min(len(paths), 20), cores / (d + a), nv, phase)

    def fline(label: str, fn) -> None:
        print(f"{label:44}{fn(frows['people']):>14}{fn(frows['cam']):>14}")

    print(f"{'':44}{'people':>14}{'camera':>14}")
    fline("faces per photo", lambda r: f"{r[2]:.1f}")
    fline("decode (faces' reduced size), ms, 1 thread", lambda r: f"{r[0] * 1000:.1f}")
    fline("detect + align + describe, ms, 1 thread", lambda r: f"{r[1] * 1000:.1f}")
    fline("limit, photos/s", lambda r: f"{r[3]:.1f}")
    fline("naive (full-size decode), photos/s", lambda r: f"{1 / r[4]:.1f}")
    fline("PhotoBird faces phase, photos/s", lambda r: f"{1 / r[5]:.1f}")
    fline("  vs naive", lambda r: f"{r[4] / r[5]:.2f}x")
    fline("  vs limit", lambda r: f"{(1 / r[5]) / r[3]:.0%}")
    print()


# --------------------------------------------------------------------------------------------------------------
# search over a generated catalogue


#: Places given to a share of the generated photos, as the labeller writes them (city, region, country).
PLACES = [
    ("paris", "ile-de-france", "france"),
    ("london", "england", "united kingdom"),
    ("tokyo", "tokyo", "japan"),
    ("san francisco", "california", "united states"),
    ("rome", "lazio", "italy"),
    ("arezzo", "tuscany", "italy"),
]


def real_labels(models: Models) -> list[tuple[dict[str, float], float]]:
    """(words, bird score) of the real and the sample photos as the app labels them: what the generated
    catalogue's photos draw from, so its words are as many and as spread as a real library's."""
    paths = sorted(config.real_photos_dir().glob("*.JPEG")) + sorted(config.sample_photos_dir().glob("*.jpg"))
    out = []
    for i in range(0, len(paths), 16):
        prepared = [models.prepare(decode(p, min_side=DECODE_SIDE).image) for p in paths[i : i + 16]]
        out += [(a.labels, a.bird) for a in models.analyze(prepared)]
    return out


def _jittered(p: float, shift: float) -> float:
    """A source photo's probability, varied by ``shift`` in log-odds: a value in (0, 1) as a network gives, each
    photo its own (scaling and clipping tied thousands of "animal" photos at their source's value, which no real
    library does). A value of exactly 1.0 stays: the label heads give it for the broad words (a quarter of
    "animal"), and those ties are real."""
    if not 0.0 < p < 1.0:
        return float(p)
    return float(1.0 / (1.0 + math.exp(-(math.log(p / (1.0 - p)) + shift))))


def bulk_insert(lib: Library, batches: list[tuple[Any, list[dict[str, Any]]]]) -> None:
    """Rows of mapped classes, in one transaction: on PostgreSQL by COPY (a generated million photos load in
    minutes, not an hour), on SQLite by executemany."""
    if lib.kind is EngineKind.SQLITE:
        with lib.session() as s:
            for mapped, rows in batches:
                s.execute(mapped.__table__.insert(), rows)
        return
    raw = lib.engine.raw_connection()
    try:
        with raw.cursor() as cur:
            for mapped, rows in batches:
                columns = list(rows[0])
                with cur.copy(f"COPY {mapped.__tablename__} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row([os.fsencode(v) if c == "path" else v for c, v in row.items()])
        raw.commit()
    finally:
        raw.close()


def generate_catalogue(lib: Library, n: int, models: Models) -> None:
    lexicon = load_lexicon()
    sources = real_labels(models)
    rng = np.random.default_rng(1)
    ensure_shipped(lib, models)
    words: dict[str, int] = {}
    with lib.session() as s:
        folder = Folder(path="/photos")
        s.add(folder)
        s.flush()
        model_id = s.query(ModelVersion.id).filter(ModelVersion.active.is_(True)).scalar()
        rows = []
        for w in sorted({w for labels, _ in sources for w in labels}):
            words[w] = len(words) + 1
            rows.append(
                {
                    "id": words[w],
                    "word": w,
                    "kind": lexicon.kinds.get(w, WordKind.THING).value,
                    "hidden": not lexicon.is_shown(w),
                }
            )
        for w in sorted({w for place in PLACES for w in place}):
            words[w] = len(words) + 1
            rows.append({"id": words[w], "word": w, "kind": WordKind.PLACE.value, "hidden": False})
        s.execute(Word.__table__.insert(), rows)
    makes = ["Canon", "NIKON CORPORATION", "Apple", "SONY", "FUJIFILM", "samsung", "OLYMPUS", None]
    start = dt.datetime(2005, 1, 1)
    batch_photos, batch_labels, batch_scores = [], [], []
    for pid in range(1, n + 1):
        labels, bird = sources[int(rng.integers(len(sources)))]
        jitter = rng.uniform(-0.6, 0.6, len(labels))
        taken = start + dt.timedelta(seconds=int(rng.integers(0, 20 * 365 * 86400)))
        make = makes[pid % len(makes)]
        name = f"img_{pid:06d}.jpg"
        batch_photos.append(
            {
                "id": pid,
                "folder_id": 1,
                "path": f"/photos/{taken.year}/{name}",
                "name": name,
                "dir": f"/photos/{taken.year}",
                "size": 3_000_000,
                "mtime_ns": pid,
                "content_hash": f"{pid:064x}",
                "state": "indexed",
                "taken_at": taken,
                "camera_make": make,
                "added_at": start,
            }
        )
        batch_labels.extend(
            {"photo_id": pid, "word_id": words[w], "p": _jittered(p, j), "taken_at": taken}
            for (w, p), j in zip(labels.items(), jitter, strict=True)
        )
        if rng.random() < 0.3:
            batch_labels.extend(
                {"photo_id": pid, "word_id": words[w], "p": 1.0, "taken_at": taken}
                for w in dict.fromkeys(PLACES[int(rng.integers(len(PLACES)))])
            )
        batch_scores.append({"photo_id": pid, "model_id": model_id, "score": _jittered(bird, rng.uniform(-0.3, 0.3))})
        if len(batch_photos) >= 5000 or pid == n:
            bulk_insert(lib, [(Photo, batch_photos), (PhotoLabel, batch_labels), (BirdScore, batch_scores)])
            batch_photos, batch_labels, batch_scores = [], [], []
    with lib.engine.connect() as c:
        sequences.catch_up(c)
        c.commit()
    # the statistics the planner needs, and on PostgreSQL the visibility map its index-only scans need: what
    # autovacuum does after a bulk load, done at once rather than some minutes later
    with lib.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("ANALYZE" if lib.kind is EngineKind.SQLITE else "VACUUM ANALYZE"))


QUERIES = [
    "bird",
    "birds",
    "dog",
    "cat",
    "dog -terrier",
    "not bird",
    "vehicle",
    "food",
    "person",
    "people",
    "car",
    "cell phone",
    "beach",
    "kitchen -person",
    "paris",
    "italy dog",
    "2019",
    "june 2021",
    "canon",
    "bird 2015",
    "img_0001",
    "golden retriever",
    "flower",
    "animal -bird",
    "boat",
    "nikon dog",
]


def search_latency(lib: Library, rounds: int = 5) -> tuple[dict[str, tuple[float, float]], dict[str, list[float]]]:
    """Per query and round, in ms: the first page (``PAGE_SIZE`` results: what the user waits for), the count
    (the GUI shows it next) and the ids of every result (what the GUI fetches in the background after the first
    page). Returns {kind: (p50, p95)} and, per query, [matches, worst first page, worst count, worst all]."""
    searcher = Searcher(lib)
    kinds = {
        "first page": lambda q: searcher.page(q, 0, PAGE_SIZE),
        "count": searcher.count,
        "all ids": lambda q: searcher.ids_and_scores(q, 0, None)[0],
    }
    samples: dict[str, list[float]] = {k: [] for k in kinds}
    per_query: dict[str, list[float]] = {q: [0, 0.0, 0.0, 0.0] for q in QUERIES}
    for q in QUERIES:  # warm the page cache and the camera list
        for fn in kinds.values():
            fn(q)
    for _ in range(rounds):
        for q in QUERIES:
            for i, (kind, fn) in enumerate(kinds.items(), 1):
                t = time.perf_counter()
                result = fn(q)
                ms = (time.perf_counter() - t) * 1000
                samples[kind].append(ms)
                per_query[q][i] = max(per_query[q][i], ms)
                if kind == "all ids":
                    assert len(result) == per_query[q][0], q  # the count agrees with the results
                elif kind == "count":
                    per_query[q][0] = result
    stats = {k: (float(np.percentile(v, 50)), float(np.percentile(v, 95))) for k, v in samples.items()}
    return stats, per_query


def generate_looks_catalogue(lib: Library, n: int, models: Models, planted: int) -> list[list[int]]:
    """``n`` photos with embeddings and perceptual hashes drawn from the real and sample photos, as the index
    writes them, and ``planted`` groups of 2-4 variants (a hash a few bits off the whole picture or one of its
    crop windows, features a little off). Every other photo is a source photo's hash with a quarter of its bits
    flipped and its features with as much noise again: as unrelated as two photos of one kind of scene. Its hashes
    are about as unevenly spread as real ones: a photo's whole-picture hash shares a 16-bit quarter with one of
    another's window hashes for 0.0020 of the pairs here, 0.0033 among the real and everyday-dev photos: a real
    library of this size has up to 1.7 times as many candidate pairs to measure.
    Returns the planted groups' photo ids."""
    paths = sorted(config.real_photos_dir().glob("*.JPEG")) + sorted(config.sample_photos_dir().glob("*.jpg"))
    src_hashes, src_embs = [], []
    for i in range(0, len(paths), 16):
        images = [decode(p, min_side=DECODE_SIDE).image for p in paths[i : i + 16]]
        src_hashes += [looks.hashes(im) for im in images]
        src_embs += [a.embedding for a in models.analyze([models.prepare(im) for im in images])]
    hashes_src, embs_src = np.stack(src_hashes), np.stack(src_embs).astype(np.float32)
    rng = np.random.default_rng(2)
    embedder_id = ensure_embedder(lib, models)
    dim = embs_src.shape[1]
    scale = float(np.linalg.norm(embs_src, axis=1).mean()) / np.sqrt(dim)
    windows = len(looks.WINDOWS)

    def flips(shape: tuple[int, ...], p: float) -> np.ndarray:
        bits = rng.random((*shape, 64)) < p
        return np.packbits(bits, axis=-1, bitorder="little").view("<u8")[..., 0].astype(np.uint64)

    groups: list[list[int]] = []
    with lib.session() as s:
        s.add(Folder(path="/photos"))
    pid = 0
    while pid < n:
        chunk = min(5000, n - pid)
        src = rng.integers(len(hashes_src), size=chunk)
        # a quarter of the bits flipped alike in every window (a photo's windows stay as alike as a real photo's),
        # and a few more in each
        hashes = hashes_src[src] ^ flips((chunk, 1), 0.25) ^ flips((chunk, windows), 0.03)
        embs = embs_src[src] + rng.standard_normal((chunk, dim)).astype(np.float32) * scale
        ids = list(range(pid + 1, pid + chunk + 1))
        k = 0
        while k + 4 < chunk:
            if len(groups) < planted and rng.random() < 0.05:
                size = int(rng.integers(2, 5))
                for v in range(1, size):
                    window = int(rng.integers(windows)) if rng.random() < 0.3 else 0
                    hashes[k + v] = hashes[k] ^ flips((windows,), 0.02)
                    hashes[k + v, 0] = hashes[k, window] ^ flips((), 0.04)
                    embs[k + v] = embs[k] + rng.standard_normal(dim).astype(np.float32) * scale * 0.3
                groups.append(ids[k : k + size])
                k += size
            else:
                k += 1
        now = dt.datetime(2020, 1, 1)
        with lib.session() as s:
            s.execute(
                Photo.__table__.insert(),
                [
                    {
                        "id": i,
                        "folder_id": 1,
                        "path": f"/photos/img_{i:06d}.jpg",
                        "name": f"img_{i:06d}.jpg",
                        "dir": "/photos",
                        "size": 3_000_000,
                        "mtime_ns": i,
                        "content_hash": f"{i:064x}",
                        "state": "indexed",
                        "width": 4000,
                        "height": 3000,
                        "embedder_id": embedder_id,
                        "added_at": now,
                    }
                    for i in ids
                ],
            )
            s.execute(
                Embedding.__table__.insert(),
                [
                    {"photo_id": i, "embedder_id": embedder_id, "vector": e.astype("<f2").tobytes()}
                    for i, e in zip(ids, embs, strict=True)
                ],
            )
            s.execute(
                PhotoLooks.__table__.insert(),
                [{"photo_id": i, "hashes": looks.to_bytes(h)} for i, h in zip(ids, hashes, strict=True)],
            )
            s.execute(
                PhotoAnalysis.__table__.insert(),
                [{"photo_id": i, "analyzer": "looks", "version": looks.VERSION, "analysed_at": now} for i in ids],
            )
        pid += chunk
    return groups


def duplicates_section(n: int, models: Models) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        lib = Library(Path(tmp) / "lib")
        t = time.perf_counter()
        planted = generate_looks_catalogue(lib, n, models, planted=1000)
        print(
            f"duplicates over a generated catalogue of {n:,} photos with embeddings and perceptual hashes "
            f"(built in {time.perf_counter() - t:.0f} s, {lib.db_path.stat().st_size / 2**20:.0f} MB, "
            f"{len(planted)} planted groups):"
        )
        t = time.perf_counter()
        groups = duplicates.find_groups(lib)
        took = time.perf_counter() - t
        found = {frozenset(p.id for p in g.photos) for g in groups}
        hit = sum(frozenset(g) in found for g in planted)
        print(
            f"  every group found in {took:.1f} s (target under 10 s): {len(groups)} groups, "
            f"{hit} of the planted exactly"
        )
        t = time.perf_counter()
        index = duplicates.SimilarIndex.build(lib)
        print(
            f"  more like this: index built in {time.perf_counter() - t:.1f} s "
            f"({index.projected.nbytes / 2**20:.0f} MB in memory)"
        )
        rng = np.random.default_rng(3)
        times = []
        for pid in rng.integers(1, n + 1, size=200).tolist():
            t = time.perf_counter()
            index.query(lib, int(pid), limit=50)
            times.append((time.perf_counter() - t) * 1000)
        print(
            f"  more like this (50 photos): p50 {np.percentile(times, 50):.1f} ms, "
            f"p95 {np.percentile(times, 95):.1f} ms (target p95 under 100 ms)"
        )
        lib.close()


@contextlib.contextmanager
def bench_library(folder: Path, server: str | None) -> Iterator[Library]:
    """A new library in ``folder``: its SQLite catalogue, or (``server``: a PostgreSQL URL whose user may create
    databases) a database of its own on that server, dropped at the end."""
    if server is None:
        lib = Library(folder)
        try:
            yield lib
        finally:
            lib.close()
        return
    url = make_url(server).set(drivername="postgresql+psycopg")
    name = f"photobird_bench_{os.getpid()}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        lib = Library(folder, database=url.set(database=name).render_as_string(hide_password=False))
        try:
            yield lib
        finally:
            lib.close()
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def search_section(n: int, models: Models, server: str | None) -> None:
    """Search latency over a generated catalogue of ``n`` photos, in the library folder's SQLite file or (``server``)
    in a database on a PostgreSQL server."""
    with tempfile.TemporaryDirectory() as tmp, bench_library(Path(tmp) / "lib", server) as lib:
        t = time.perf_counter()
        generate_catalogue(lib, n, models)
        built = time.perf_counter() - t
        size = catalogue.stats(lib).catalogue_bytes
        engine = "SQLite" if lib.kind is EngineKind.SQLITE else "PostgreSQL"
        print(
            f"search over a generated catalogue of {n:,} photos in {engine} "
            f"(built in {built:.0f} s, {size / 2**20:.0f} MB):"
        )
        stats, per_query = search_latency(lib)
        print(f"  over {len(QUERIES)} queries x 5 rounds:")
        for kind, (p50, p95) in stats.items():
            what = f"{kind} ({PAGE_SIZE} results)" if kind == "first page" else kind
            print(f"    {what:26} p50 {p50:6.1f} ms, p95 {p95:6.1f} ms")
        print(f"    {'':22} {'photos':>7}  worst: {'first page':>11} {'count':>10} {'all ids':>10}")
        for q, (found, page_ms, count_ms, all_ms) in per_query.items():
            print(f"    {q!r:22} {int(found):>7,} {page_ms:18.1f} ms {count_ms:7.1f} ms {all_ms:7.1f} ms")
        fresh = Searcher(lib)
        timings = []
        for fn in (
            lambda: fresh.page("", 0, PAGE_SIZE),
            lambda: fresh.count(""),
            lambda: fresh.ids_and_scores("", 0, None),
        ):
            t = time.perf_counter()
            fn()
            timings.append((time.perf_counter() - t) * 1000)
        print(
            f"  the app's opening view (everything): first page in {timings[0]:.1f} ms, count in "
            f"{timings[1]:.1f} ms, the ids of all {fresh.count(''):,} photos in {timings[2]:.0f} ms"
        )
        t = time.perf_counter()
        tree = folder_tree.subfolders(lib)
        print(
            f"  the sidebar's folder tree ({sum(len(nodes) for nodes in tree.values())} folders) read in "
            f"{(time.perf_counter() - t) * 1000:.0f} ms"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--camera", type=int, default=100, help="12 MP JPEGs to generate")
    p.add_argument("--catalogue", type=int, default=100_000, help="photos in the generated search catalogue")
    p.add_argument("--workers", type=int, default=None, help="decode threads (default: one per core)")
    p.add_argument("--skip-index", action="store_true")
    p.add_argument("--faces-only", action="store_true", help="only the faces phase (on --camera JPEGs of each kind)")
    p.add_argument("--duplicates-only", action="store_true", help="only duplicates and more like this (--catalogue)")
    p.add_argument("--search-only", action="store_true", help="only search latency (--catalogue)")
    p.add_argument(
        "--database",
        metavar="URL",
        help="also measure search in a database of its own on this PostgreSQL server (its user may create databases), "
        "and 1, 2 and 4 indexer processes sharing one catalogue there (bench/indexers_bench.py)",
    )
    args = p.parse_args()

    cores = os.cpu_count() or 1
    models = Models()
    device = models.device
    print(
        f"PhotoBird index benchmark, {dt.date.today()}: {platform.processor() or platform.machine()}, {cores} "
        f"cores, device {device}"
        + (f" ({torch.cuda.get_device_name()})" if device.type == "cuda" else "")
        + f", torch {torch.__version__}"
    )
    work = Path(tempfile.mkdtemp(prefix="photobird-bench-"))
    try:
        if args.faces_only:
            faces_section(work, make_camera_jpegs(work / "camera", args.camera), models, args.camera)
            return
        if args.duplicates_only:
            duplicates_section(args.catalogue, models)
            return
        if not args.skip_index and not args.search_only:
            cam = make_camera_jpegs(work / "camera", args.camera)
            real_dir = work / "real"
            shutil.copytree(config.real_photos_dir(), real_dir, ignore=shutil.ignore_patterns("*.csv", "*.txt"))
            real = sorted(real_dir.glob("*.JPEG"))
            mb = sum(p.stat().st_size for p in cam) / len(cam) / 2**20
            print(f"corpus: {len(cam)} camera-like 12 MP JPEGs ({mb:.1f} MB each), {len(real)} real photos\n")
            print(f"{'':44}{'12 MP JPEGs':>14}{'real photos':>14}")
            rows = {}
            for name, paths, folder in (("cam", cam, work / "camera"), ("real", real, real_dir)):
                torch.set_num_threads(1)
                d = decode_only(paths, models)
                m1 = model_only(paths, models, threads=1)
                mall = model_only(paths, models, threads=cores)
                torch.set_num_threads(cores)
                limit = cores / (d + m1) if device.type == "cpu" else 1 / max(d / cores, mall)
                busy = None
                if device.type == "cpu":
                    data = [p.read_bytes() for p in paths[:8]]
                    d_busy = side_by_side(
                        lambda xs: [models.prepare(decode(x, min_side=DECODE_SIDE).image) for x in xs], data, cores
                    )
                    prepared = [models.prepare(decode(x, min_side=DECODE_SIDE).image) for x in data]
                    m_busy = side_by_side(models.analyze, prepared, cores)
                    busy = (d_busy, m_busy, cores / (d_busy + m_busy))
                nv = naive(paths[: min(len(paths), 20)], models)
                torch.set_num_threads(cores)
                e2e, _ = end_to_end(folder, models, args.workers)
                rows[name] = (d, m1, mall, limit, nv, e2e, busy)

            def line(label: str, fn) -> None:
                print(f"{label:44}{fn(rows['cam']):>14}{fn(rows['real']):>14}")

            line("decode (reduced size), ms/photo, 1 thread", lambda r: f"{r[0] * 1000:.1f}")
            line("model (all recognition), ms/photo, 1 thread", lambda r: f"{r[1] * 1000:.1f}")
            line("  recognition / decode", lambda r: f"{r[1] / r[0]:.2f}x")
            line(f"model, ms/photo, {cores} threads", lambda r: f"{r[2] * 1000:.1f}")
            line("limit, photos/s", lambda r: f"{r[3]:.1f}")
            line("naive pipeline, photos/s", lambda r: f"{1 / r[4]:.1f}")
            line("PhotoBird end-to-end, photos/s", lambda r: f"{1 / r[5]:.1f}")
            line("  vs naive", lambda r: f"{(1 / r[5]) / (1 / r[4]):.2f}x")
            line("  vs limit", lambda r: f"{(1 / r[5]) / r[3]:.0%}")
            if rows["cam"][6]:
                print(f"with every core busy ({cores} streams side by side, torch single-threaded in each):")
                line("  decode, ms/photo per core", lambda r: f"{r[6][0] * 1000:.1f}")
                line("  model, ms/photo per core", lambda r: f"{r[6][1] * 1000:.1f}")
                line("  limit when all cores run, photos/s", lambda r: f"{r[6][2]:.1f}")
                line("  PhotoBird end-to-end vs that", lambda r: f"{(1 / r[5]) / r[6][2]:.0%}")
            print()

            faces_section(work, cam, models, args.camera)

        if not args.duplicates_only:
            search_section(args.catalogue, models, None)
            if args.database:
                search_section(args.catalogue, models, args.database)
        if not args.search_only:
            duplicates_section(args.catalogue, models)
        if args.database and not args.search_only and not args.duplicates_only:
            import indexers_bench  # (beside this script; it takes this one's bench_library)

            print()
            indexers_bench.section(args.database)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
