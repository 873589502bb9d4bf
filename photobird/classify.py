"""Run the models over image files without touching any library: ``photobird classify``.

Files are decoded at reduced size in a pool of threads (Pillow releases the GIL while it decodes) while the
previous batch is in the networks, so decoding and inference overlap; results come back in input order.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from photobird.media.decode import IMAGE_EXTENSIONS, DecodeError, decode
from photobird.models.runner import Models, Prepared, SeedScorer


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
        return models.prepare(decode(path).image)  # the size the indexer decodes at, so both agree
    except DecodeError as e:
        return str(e)


def classify(
    paths: Iterable[str | Path],
    models: Models,
    batch_size: int = 32,
    workers: int | None = None,
    seed: SeedScorer | None = None,
) -> Iterator[Classified]:
    """Classify files in input order. With ``seed``, the bird verdict comes from the article's network."""
    workers = workers or max(1, min(4, os.cpu_count() or 1))
    threshold = seed.threshold if seed else models.threshold
    vocab = models.vocabulary
    with ThreadPoolExecutor(workers, thread_name_prefix="decode") as pool:
        pending: list[tuple[Path, Future]] = []

        def flush(items: list[tuple[Path, Future]]) -> Iterator[Classified]:
            ready = [(p, f.result()) for p, f in items]
            ok = [r for _, r in ready if isinstance(r, Prepared)]
            analyses = iter(models.analyze(ok))
            seed_scores = iter(seed.score(ok) if seed and ok else [])
            for p, r in ready:
                if isinstance(r, Prepared):
                    a = next(analyses)
                    bird = float(next(seed_scores)) if seed else a.bird
                    yield Classified(str(p), bird, bird >= threshold, vocab.shown_labels(a.labels))
                else:
                    yield Classified(str(p), error=r)

        for path in expand(paths):
            pending.append((path, pool.submit(_prepare, models, path)))
            # keep one batch decoding ahead of the one in the network
            if len(pending) >= 2 * batch_size:
                yield from flush(pending[:batch_size])
                pending = pending[batch_size:]
        while pending:
            yield from flush(pending[:batch_size])
            pending = pending[batch_size:]
