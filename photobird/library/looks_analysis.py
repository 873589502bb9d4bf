"""Perceptual hashes as an analyzer: the index writes them from the decode it already does (``write_batch``), and
photos indexed before they existed get them once in the analyzer phase, at a small decode."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image
from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from photobird.library.analyses import LaterAnalyzer
from photobird.library.schema import AnalyzerKind, PhotoAnalysis, PhotoLooks, utcnow
from photobird.media import looks


def write_batch(s: Session, rows: Sequence[tuple[int, np.ndarray]]) -> None:
    """Replace these photos' hashes and record them as analysed by the current version, in the caller's
    transaction (the index's batch: a photo becomes indexed with its hashes, or neither)."""
    if not rows:
        return
    ids = [pid for pid, _ in rows]
    s.execute(delete(PhotoLooks).where(PhotoLooks.photo_id.in_(ids)))
    s.execute(
        delete(PhotoAnalysis).where(PhotoAnalysis.photo_id.in_(ids), PhotoAnalysis.analyzer == AnalyzerKind.LOOKS.value)
    )
    s.execute(insert(PhotoLooks), [{"photo_id": pid, "hashes": looks.to_bytes(h)} for pid, h in rows])
    now = utcnow()
    s.execute(
        insert(PhotoAnalysis),
        [
            {"photo_id": pid, "analyzer": AnalyzerKind.LOOKS.value, "version": looks.VERSION, "analysed_at": now}
            for pid in ids
        ],
    )


def copy(s: Session, from_photo_id: int, to_photo_id: int) -> bool:
    """A copy of a picture gets its twin's hashes (same bytes, same looks); False when the twin has none."""
    data = s.get(PhotoLooks, from_photo_id)
    if data is None:
        return False
    write_batch(s, [(to_photo_id, looks.from_bytes(data.hashes))])
    return True


class LooksAnalyzer(LaterAnalyzer):
    """For photos indexed before the hashes existed (or by another version of them): a JPEG is draft-decoded
    at about an eighth of its size, so this costs a fraction of indexing."""

    kind = AnalyzerKind.LOOKS
    version = looks.VERSION
    decode_side = looks.GREY_SIDE

    def analyze(self, image: Image.Image) -> np.ndarray:
        return looks.hashes(image)

    def write(self, s: Session, photo_id: int, content_hash: str | None, result: np.ndarray) -> None:
        write_batch(s, [(photo_id, result)])

    def copy(self, s: Session, from_photo_id: int, to_photo_id: int) -> bool:
        return copy(s, from_photo_id, to_photo_id)
