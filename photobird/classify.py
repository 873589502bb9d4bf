"""Run the models over image files without touching any library: ``photobird classify``.

Files are decoded at reduced size in a pool of threads (Pillow releases the GIL while it decodes) while earlier
batches are in the networks, so decoding and inference overlap; results come back in input order.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from photobird.media.decode import IMAGE_EXTENSIONS, DecodeError, decode
from photobird.models.runner import DECODE_SIDE, Models, Prepared, SeedScorer
from photobird.models.words import BIRD_WORD


@dataclass
class Classified:
    path: str
    bird: float | None = None
    is_bird: bool | None = None
    labels: dict[str, float] | None = None
    error: str | None = None

    def as_json(self, top: int = 10) -> dict:
        if self.error is not None:
            return {"path": self.path, "error": self.error}
        labels = dict(list((self.labels or {}).items())[:top])
        return {
            "path": self.path,
            "bird": round(float(self.bird or 0.0), 6),
            "is_bird": bool(self.is_bird),
            "labels": labels,
        }


def expand(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Files as given; folders are walked (sorted) for image files."""
    for p in paths:
        p = Path(p)
        if p.is_dir():
            for root, dirs, names in os.walk(p):
                dirs.sort()
                for n in sorted(names):
                    if Path(n).suffix.lower() in IMAGE_EXTENSIONS:
                        yield Path(root) / n
        else:
            yield p


def _prepare(models: Models, path: Path) -> Prepared | str:
    try:
        return models.prepare(decode(path, min_side=DECODE_SIDE).image)  # as the indexer decodes, so both agree
    except DecodeError as e:
        return str(e)


def classify(
    paths: Iterable[str | Path],
    models: Models,
    batch_size: int = 32,
    workers: int | None = None,
    seed: SeedScorer | None = None,
) -> Iterator[Classified]:
    """Classify files in input order. With ``seed``, the bird verdict comes from the article's network.

    Decode threads read files ahead; on a CPU each core also runs a batch through the networks with torch
    single-threaded inside it (as the indexer does), on a GPU one thread feeds the device.
    """
    workers = workers or max(1, min(4, os.cpu_count() or 1))
    threshold = seed.threshold if seed else models.threshold
    lexicon = models.lexicon
    shown_at = models.labeller.threshold if models.labeller else 1.0

    def run(items: list[tuple[Path, Future]]) -> list[Classified]:
        ready = [(p, f.result()) for p, f in items]
        ok = [r for _, r in ready if isinstance(r, Prepared)]
        analyses = iter(models.analyze(ok))
        seed_scores = iter(seed.score(ok) if seed and ok else [])
        out = []
        for p, r in ready:
            if isinstance(r, Prepared):
                a = next(analyses)
                bird = float(next(seed_scores)) if seed else a.bird
                labels = lexicon.shown(a.labels, shown_at)
                if bird >= threshold:  # the bird model answers "bird", as a search for it would
                    labels = {BIRD_WORD: round(bird, 4), **labels}
                out.append(Classified(str(p), bird, bird >= threshold, labels))
            else:
                out.append(Classified(str(p), error=r))
        return out

    with (
        models.batch_threads() as model_threads,
        ThreadPoolExecutor(workers, thread_name_prefix="decode") as pool,
        ThreadPoolExecutor(model_threads, thread_name_prefix="model") as model_pool,
    ):
        running: collections.deque[Future[list[Classified]]] = collections.deque()
        items: list[tuple[Path, Future]] = []
        for path in expand(paths):
            items.append((path, pool.submit(_prepare, models, path)))
            if len(items) >= batch_size:
                running.append(model_pool.submit(run, items))
                items = []
                # keep every model thread busy and one batch decoding ahead, results in input order
                while len(running) > model_threads + 1:
                    yield from running.popleft().result()
        if items:
            running.append(model_pool.submit(run, items))
        while running:
            yield from running.popleft().result()
