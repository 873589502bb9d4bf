"""The indexing pipeline: every new or changed photo through the models once, results into the catalogue.

Shape of the work (``Indexer.run`` is a generator of ``Progress`` records; the CLI iterates it and draws a bar,
the app runs it on a worker thread; not pulling pauses it, ``close()`` cancels it):

1. ``scan.scan`` reconciles the catalogue with the disk (new/changed -> pending, gone -> missing).
   Photos whose words an older labeller wrote are re-labelled from their stored embeddings and positions
   (``labelling.relabel``): new word heads reach the whole library without decoding a photo.
2. A pool of decode threads reads each pending file once: content hash, reduced-size decode with EXIF
   orientation, thumbnail, perceptual hashes (``media.looks``) and the networks' inputs from that single
   decode. A file whose content is already known (moved, renamed, duplicated) is re-linked or copied instead of
   decoded.
3. Meanwhile this thread batches decoded photos through the networks (decoding and inference overlap).
4. Results are written in batched transactions. A photo's row becomes *indexed* in the same transaction as its
   results, so a crash at any point loses nothing committed and the next run resumes without duplicates. Its
   bird score is the model active *in that transaction* (a version may be activated while a pass runs), and
   progress counts a photo as done once it is committed, so a cancel never takes back what was reported done.
5. Missing photos nobody re-linked are purged.
6. The analyzers after recognition (``analyses.run``: faces, and looks for photos indexed before hashes were
   kept) go over the photos they have not seen, as their own phase: a new folder is searchable by content before
   its faces are found, and a library indexed before an analyzer existed runs only that analyzer.

A file that cannot be read is recorded with its reason (``photobird errors``) and the worker goes on.

On PostgreSQL any number of indexers, on any number of computers, work through one catalogue together: one at a
time scans and re-labels (``db.locks``; the others wait for it, then share what it found), and each claims the
pending photos it indexes a batch at a time (``db.claims``: ``FOR UPDATE SKIP LOCKED``), writing their results in
the claim's transaction, so no photo is indexed twice; one that dies leaves its claimed photos to the others,
which wait for the last photos others hold rather than stop before them. On SQLite one indexer at a time holds
the library (``Library.indexer_lock``) and reads every pending photo at the start.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Generator
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Select, delete, func, insert, select, update

from photobird.library import analyses, looks_analysis, versions
from photobird.library import labelling as labelling_mod
from photobird.library import scan as scan_mod
from photobird.library.db import claims, locks
from photobird.library.db.engines import EngineKind
from photobird.library.face_analysis import FacesAnalyzer
from photobird.library.labelling import Labelling, PhotoWords
from photobird.library.looks_analysis import LooksAnalyzer
from photobird.library.progress import IndexSummary, Phase, Progress
from photobird.library.schema import (
    BirdScore,
    Embedding,
    ModelVersion,
    Photo,
    PhotoLabel,
    PhotoState,
    utcnow,
)
from photobird.library.store import DiskFull, Library, SettingKey, is_disk_full
from photobird.media import looks
from photobird.media.decode import Decoded, DecodeError, decode
from photobird.media.thumbs import make_thumbnail, write_atomic
from photobird.models.faces.analyzer import FaceAnalyzer
from photobird.models.files import LoadedModel
from photobird.models.runner import DECODE_SIDE, Analysis, Models, Prepared

#: Files larger than this are refused without reading them (no photo is this big; a disk image might be).
MAX_FILE_BYTES = 512 * 1024 * 1024


@dataclass
class Job:
    photo_id: int
    path: str
    size: int
    mtime_ns: int


@dataclass
class Outcome:
    job: Job
    kind: str  # "decoded" | "known" | "failed" | "gone"
    content_hash: str | None = None
    error: str | None = None
    decoded: Decoded | None = None
    prepared: Prepared | None = None
    #: The perceptual hashes (``media.looks``), from the same decode.
    looks: np.ndarray | None = None
    size: int = 0
    mtime_ns: int = 0


def read_one(job: Job, library: Library, prepare: Callable[[Any], Prepared], known: set[str]) -> Outcome:
    """Everything for one file that needs no database and no network: runs in a decode thread."""
    try:
        st = os.stat(job.path)
        if st.st_size > MAX_FILE_BYTES:
            return Outcome(job, "failed", error=f"file too large ({st.st_size / 2**20:.0f} MB)")
        with open(job.path, "rb") as f:
            data = f.read()
        after = os.stat(job.path)
    except FileNotFoundError:
        return Outcome(job, "gone")
    except IsADirectoryError:
        return Outcome(job, "gone")
    except OSError as e:
        return Outcome(job, "failed", error=f"cannot be read: {e.strerror or e}")
    if after.st_size != len(data) or after.st_mtime_ns != st.st_mtime_ns:
        return Outcome(
            job,
            "failed",
            error="file was still being written; it will be indexed once complete",
            size=after.st_size,
            mtime_ns=after.st_mtime_ns,
        )
    digest = hashlib.sha256(data).hexdigest()
    common = {"content_hash": digest, "size": len(data), "mtime_ns": st.st_mtime_ns}
    if not data:
        return Outcome(job, "failed", error="empty file (0 bytes)", **common)
    if digest in known:
        return Outcome(job, "known", **common)
    try:
        decoded = decode(data, min_side=DECODE_SIDE)
        thumb = library.thumb_path(digest)
        if not thumb.exists():
            write_atomic(thumb, make_thumbnail(decoded.image))
        prepared = prepare(decoded.image)
        hashes = looks.hashes(decoded.image)
    except DecodeError as e:
        return Outcome(job, "failed", error=str(e), **common)
    except Exception as e:  # never let one file stop the worker
        if is_disk_full(e):  # the library's disk, not this file: the run stops, and the photo stays to do
            raise
        return Outcome(job, "failed", error=f"could not process ({type(e).__name__}: {e})", **common)
    decoded.image = None  # type: ignore[assignment]  # the pixels are no longer needed: free them early
    return Outcome(job, "decoded", decoded=decoded, prepared=prepared, looks=hashes, **common)


#: Analysed photos' words, and their rows for ``photo_labels``.
_Labels = tuple[list[PhotoWords], list[dict[str, Any]]]


def _analysed(rows: list[tuple[Outcome, Analysis | None]]) -> list[tuple[Outcome, Analysis]]:
    return [(o, a) for o, a in rows if o.kind == "decoded" and a is not None]


@dataclass
class _Claimed:
    """Photos claimed together (``db.claims``). On PostgreSQL their results are written, and the claim given up,
    in the claim's own transaction once every one of them is through the networks; on SQLite, where nothing is
    held, they are written as they come, in transactions of their own."""

    claim: claims.Claim
    #: Its photos not yet with the writer (being decoded, in the networks, or sent back to be decoded).
    left: int
    rows: list[tuple[Outcome, Analysis | None]] = field(default_factory=list)
    #: What was written in the claim's transaction and is not committed yet (photos sent back to be decoded
    #: keep it open): into the run's summary, and progress, once it is.
    written: IndexSummary = field(default_factory=IndexSummary)
    settled: int = 0

    @property
    def held(self) -> bool:
        return self.claim.session is not None


@dataclass
class _Writer:
    """Accumulates finished photos and writes them in one transaction per batch (on PostgreSQL: per claim, in
    the claim's transaction)."""

    library: Library
    embedder_id: int
    labelling: Labelling
    models: Models
    #: The bird model the last batch was scored by, and its head (reloaded when another version is active).
    version_id: int
    head: LoadedModel
    #: The claims whose photos are not all written yet.
    claimed: list[_Claimed] = field(default_factory=list)
    #: Jobs whose content looked known but had nothing to re-use after all: they must be decoded.
    retry: list[tuple[Job, _Claimed]] = field(default_factory=list)
    #: Photos left pending on purpose (their drive went offline while they were read): not claimed again.
    left_pending: set[int] = field(default_factory=set)
    #: A batch was not written (a full disk): the words it added went with it, so the next reads them again.
    words_unsure: bool = False

    def load_words(self) -> None:
        with self.library.session() as s:
            self.labelling.load_words(s)

    def add(self, claimed: _Claimed, outcome: Outcome, analysis: Analysis | None = None) -> None:
        claimed.rows.append((outcome, analysis))
        claimed.left -= 1

    def ready(self) -> int:
        """How many photos a flush would write now: all those finished (SQLite), those of the claims whose
        photos are all finished (PostgreSQL)."""
        return sum(len(c.rows) for c in self.claimed if not c.held or c.left == 0)

    def claim_complete(self) -> bool:
        """Whether some claim has all its photos finished: written and committed at once, to give it up."""
        return any(c.held and c.left == 0 and c.rows for c in self.claimed)

    def flush(self, summary: IndexSummary, final: bool = False) -> int:
        """Write the finished photos; returns how many it settled (committed), which progress counts as done (a
        photo sent back to be decoded after all is not). ``final``: the run ends, every claim is written with
        what it has and given up (its other photos stay pending for the next run)."""
        settled = 0
        for c in list(self.claimed):
            if not c.held:
                settled += self._flush_unheld(c, summary)
                if c.left == 0 or final:
                    self.claimed.remove(c)
                continue
            if c.left and not final:
                continue
            if c.rows:
                settled += self._flush_claim(c, summary, final)
            if final or not c.held:  # committed, or the run ends: given up
                c.claim.close()
                self.claimed.remove(c)
        return settled

    def close(self) -> None:
        """Give up every claim still open, writing nothing more (a run stopped by an error)."""
        for c in self.claimed:
            c.claim.close()
        self.claimed.clear()

    def _flush_unheld(self, c: _Claimed, summary: IndexSummary) -> int:
        """SQLite: the finished photos in one transaction of their own."""
        if not c.rows:
            return 0
        rows, c.rows = c.rows, []
        counted = IndexSummary()  # into ``summary`` once committed: what it says was indexed is kept
        with self.library.session() as s:
            if self.words_unsure:
                self.labelling.load_words(s)
            self.words_unsure = True
            retry = self._write(s, rows, counted)
        self.words_unsure = False
        self._add(summary, counted)
        self._send_back(c, retry)
        return len(rows) - len(retry)

    def _flush_claim(self, c: _Claimed, summary: IndexSummary, final: bool) -> int:
        """PostgreSQL: the claim's photos in its transaction; committed (which gives the claim up) unless some
        are sent back to be decoded, which keeps it open until they are written too."""
        rows, c.rows = c.rows, []
        s = c.claim.session
        assert s is not None
        # new words in a short transaction of their own, one process at a time: two claims finding the same new
        # word must not both insert it, nor wait for each other's commit
        with self.library.session() as words:
            locks.hold_for_transaction(words.connection(), locks.Key.WORDS)
            labelled = self._labels(words, _analysed(rows))
        retry = self._write(s, rows, c.written, labelled)
        c.settled += len(rows) - len(retry)
        if retry and not final:
            s.flush()
            self._send_back(c, retry)
            return 0
        self.left_pending.update(j.photo_id for j in retry)
        c.claim.commit()
        self._add(summary, c.written)
        return c.settled

    def _send_back(self, c: _Claimed, jobs: list[Job]) -> None:
        c.left += len(jobs)
        self.retry.extend((j, c) for j in jobs)

    @staticmethod
    def _add(summary: IndexSummary, counted: IndexSummary) -> None:
        summary.indexed += counted.indexed
        summary.failed += counted.failed
        summary.relinked += counted.relinked

    def _write(
        self,
        s: Any,
        rows: list[tuple[Outcome, Analysis | None]],
        counted: IndexSummary,
        labelled: _Labels | None = None,
    ) -> list[Job]:
        """Write finished photos in ``s`` (``labels``: their label rows, when their words were added apart);
        returns the jobs to decode after all."""
        retry: list[Job] = []
        now = utcnow()
        folders = [(f_id, path) for f_id, path in s.execute(select(scan_mod.Folder.id, scan_mod.Folder.path))]
        analysed = _analysed(rows)
        self._write_analysed(s, analysed, self._labels(s, analysed) if labelled is None else labelled, now)
        counted.indexed += len(analysed)
        written = [o.job.photo_id for o, _ in analysed]
        # a drive unplugged while it was read: its photos stay pending for when it is back, not gone or failed
        unread = any(o.kind in ("gone", "failed") for o, _ in rows)
        offline = scan_mod.offline_folder_ids(s) if unread else set()
        for outcome, _analysis in rows:
            job = outcome.job
            if outcome.kind in ("gone", "failed") and scan_mod.folder_for(folders, job.path) in offline:
                self.left_pending.add(job.photo_id)
                continue
            if outcome.kind == "gone":
                s.execute(
                    update(Photo).where(Photo.id == job.photo_id).values(state=PhotoState.MISSING, missing_since=now)
                )
            elif outcome.kind == "failed":
                s.execute(
                    update(Photo)
                    .where(Photo.id == job.photo_id)
                    .values(
                        state=PhotoState.FAILED,
                        error=outcome.error,
                        content_hash=outcome.content_hash,
                        size=outcome.size or job.size,
                        mtime_ns=outcome.mtime_ns or job.mtime_ns,
                        indexed_at=now,
                    )
                )
                counted.failed += 1
            elif outcome.kind == "known":
                if self._reuse(s, outcome, folders, now):
                    counted.relinked += 1
                    written.append(job.photo_id)
                else:
                    retry.append(job)
        self._score(s, written)
        return retry

    def _score(self, s: Any, photo_ids: list[int]) -> None:
        """Give the photos this batch made indexed the score of the model active now, from their stored embeddings
        (copies and moved photos keep theirs when they have it).

        The active model is read after the batch's first write, so SQLite's write lock is held from that read to
        the commit: an activation (another thread, or ``photobird models use`` in another process) commits either
        before it, and this batch is scored by the new model, or after it, and re-scores this batch itself
        (``versions.activate_steps``). Scores computed by the networks at the start of the pass are not used:
        they may be of a model that is no longer active.
        """
        if not photo_ids:
            return
        active = s.scalar(select(ModelVersion).where(ModelVersion.active.is_(True)))
        if active is None:
            raise versions.VersionError("no active bird model")
        if active.id != self.version_id:
            head = versions.load_head(self.library, active)
            self.models.check_head(head)
            self.version_id, self.head = active.id, head
        scored = set(
            s.scalars(
                select(BirdScore.photo_id).where(BirdScore.model_id == active.id, BirdScore.photo_id.in_(photo_ids))
            )
        )
        todo = [pid for pid in photo_ids if pid not in scored]
        rows = versions.score_stored(s, self.models, self.head, active.id, self.embedder_id, todo)
        if rows:
            s.execute(insert(BirdScore), rows)

    def _labels(self, s: Any, analysed: list[tuple[Outcome, Analysis]]) -> _Labels:
        """The analysed photos' words and label rows, adding the words the catalogue has not seen yet in ``s``."""
        exif = [o.decoded.exif for o, _ in analysed if o.decoded is not None]
        words = self.labelling.words_for([a.labels for _, a in analysed], [(e.latitude, e.longitude) for e in exif])
        ids = [o.job.photo_id for o, _ in analysed]
        return words, self.labelling.rows(s, ids, words, [e.taken for e in exif]) if analysed else []

    def _write_analysed(self, s: Any, analysed: list[tuple[Outcome, Analysis]], labelled: _Labels, now: Any) -> None:
        """A batch of analysed photos in a few statements (executemany), not seven per photo: on a CPU the
        writing thread shares the cores with decoding and the networks."""
        if not analysed:
            return
        ids = [o.job.photo_id for o, _ in analysed]
        for table in (Embedding, PhotoLabel, BirdScore):
            s.execute(delete(table).where(table.photo_id.in_(ids)))
        words, labels = labelled
        photos, embeddings = [], []
        for (outcome, a), pw in zip(analysed, words, strict=True):
            d = outcome.decoded
            assert d is not None
            info = d.exif
            pid = outcome.job.photo_id
            photos.append(
                {
                    "id": pid,
                    "state": PhotoState.INDEXED,
                    "error": None,
                    "content_hash": outcome.content_hash,
                    "size": outcome.size,
                    "mtime_ns": outcome.mtime_ns,
                    "format": d.format,
                    "width": d.width,
                    "height": d.height,
                    "taken_at": info.taken,
                    "camera_make": info.make,
                    "camera_model": info.model,
                    "latitude": info.latitude,
                    "longitude": info.longitude,
                    "orientation": info.orientation,
                    "embedder_id": self.embedder_id,
                    "labels_key": self.labelling.key,
                    "place": pw.place,
                    "indexed_at": now,
                    "missing_since": None,
                }
            )
            embeddings.append(
                {
                    "photo_id": pid,
                    "embedder_id": self.embedder_id,
                    "vector": np.asarray(a.embedding, dtype="<f2").tobytes(),
                }
            )
        s.execute(update(Photo), photos)  # bulk UPDATE by primary key
        s.execute(insert(Embedding), embeddings)
        looks_analysis.write_batch(s, [(o.job.photo_id, o.looks) for o, _ in analysed if o.looks is not None])
        if labels:
            s.execute(insert(PhotoLabel), labels)

    def _reuse(self, s: Any, outcome: Outcome, folders: list[tuple[int, str]], now: Any) -> bool:
        """Same content as a photo the catalogue already analysed: re-link a moved one, or copy results."""
        job = outcome.job
        h = outcome.content_hash
        moved = s.scalar(
            select(Photo)
            .where(Photo.content_hash == h, Photo.state == PhotoState.MISSING, Photo.embedder_id == self.embedder_id)
            .limit(1)
            .with_for_update(skip_locked=True)  # (PostgreSQL: another indexer re-linking it to another copy)
        )
        if moved is not None:
            # the file moved (or was renamed): keep the old row, with its id and results, at the new path
            s.execute(delete(Photo).where(Photo.id == job.photo_id))
            s.flush()
            name, d = scan_mod._text(job.path)
            fid = scan_mod.folder_for(folders, job.path) or moved.folder_id
            s.execute(
                update(Photo)
                .where(Photo.id == moved.id)
                .values(
                    path=job.path,
                    name=name,
                    dir=d,
                    folder_id=fid,
                    size=outcome.size,
                    mtime_ns=outcome.mtime_ns,
                    state=PhotoState.INDEXED,
                    missing_since=None,
                    error=None,
                )
            )
            return True
        twin = s.scalar(
            select(Photo)
            .where(
                Photo.content_hash == h,
                Photo.state == PhotoState.INDEXED,
                Photo.embedder_id == self.embedder_id,
                Photo.id != job.photo_id,
            )
            .limit(1)
        )
        if twin is None:
            return False
        # a duplicate copy: same picture, same results; no need to decode it again
        s.execute(
            update(Photo)
            .where(Photo.id == job.photo_id)
            .values(
                state=PhotoState.INDEXED,
                error=None,
                content_hash=h,
                size=outcome.size,
                mtime_ns=outcome.mtime_ns,
                format=twin.format,
                width=twin.width,
                height=twin.height,
                taken_at=twin.taken_at,
                camera_make=twin.camera_make,
                camera_model=twin.camera_model,
                latitude=twin.latitude,
                longitude=twin.longitude,
                orientation=twin.orientation,
                embedder_id=self.embedder_id,
                labels_key=twin.labels_key,
                place=twin.place,
                indexed_at=now,
                missing_since=None,
            )
        )
        for table in (Embedding, PhotoLabel, BirdScore):
            s.execute(delete(table).where(table.photo_id == job.photo_id))
        vec = s.scalar(select(Embedding.vector).where(Embedding.photo_id == twin.id))
        if vec is not None:
            s.execute(insert(Embedding), [{"photo_id": job.photo_id, "embedder_id": self.embedder_id, "vector": vec}])
        labels = s.execute(select(PhotoLabel.word_id, PhotoLabel.p).where(PhotoLabel.photo_id == twin.id)).all()
        if labels:
            s.execute(
                insert(PhotoLabel),
                [{"photo_id": job.photo_id, "word_id": w, "p": p, "taken_at": twin.taken_at} for w, p in labels],
            )
        scores = s.execute(select(BirdScore.model_id, BirdScore.score).where(BirdScore.photo_id == twin.id)).all()
        if scores:
            s.execute(insert(BirdScore), [{"photo_id": job.photo_id, "model_id": m, "score": sc} for m, sc in scores])
        looks_analysis.copy(s, twin.id, job.photo_id)  # the looks analyzer hashes it later if the twin has none
        return True


class Indexer:
    """Runs the pipeline over a library. ``models`` may be a factory, so the app can start before they load."""

    def __init__(
        self,
        library: Library,
        models: Models | Callable[[], Models],
        workers: int | None = None,
        model_threads: int | None = None,
        batch_size: int = 16,
        commit_every: int = 64,
        commit_seconds: float = 1.0,
        decode_timeout: float = 60.0,
        faces: FaceAnalyzer | Callable[[], FaceAnalyzer] | None = None,
    ) -> None:
        """``faces``: the face networks (or a factory); by default they are loaded when the library wants faces
        (``SettingKey.FACES``) and some photo has not been through them. ``commit_every``: photos written in one
        transaction (on PostgreSQL, the photos this indexer claims at a time, written in the claim's
        transaction)."""
        self.library = library
        self._models = models
        self._faces = faces
        self.workers = workers or max(1, os.cpu_count() or 1)
        self.model_threads = model_threads
        self.batch_size = batch_size
        self.commit_every = commit_every
        self.commit_seconds = commit_seconds
        self.decode_timeout = decode_timeout

    @property
    def models(self) -> Models:
        if not isinstance(self._models, Models):
            self._models = self._models()
        return self._models

    @property
    def faces(self) -> FaceAnalyzer:
        if self._faces is None:
            self._faces = FaceAnalyzer(self.models.device)
        elif not isinstance(self._faces, FaceAnalyzer):
            self._faces = self._faces()
        return self._faces

    def run(
        self, scan_first: bool = True, folder_paths: list[str] | None = None, purge: bool = True
    ) -> Generator[Progress, None, IndexSummary]:
        """Bring the library up to date. A full disk (a thumbnail or a batch that does not fit) stops the run
        with ``DiskFull``: every batch committed before it is kept, and the next run goes on from there."""
        summary = IndexSummary()
        try:
            return (yield from self._run(summary, scan_first, folder_paths, purge))
        except Exception as e:
            if not is_disk_full(e):
                raise
            kept = summary.indexed + summary.relinked
            photos = "1 photo was" if kept == 1 else f"{kept} photos were"
            raise DiskFull(
                f"The disk holding the library is full ({self.library.root}): indexing stopped; {photos} indexed "
                "and kept; free some space and index again."
            ) from e

    def _run(
        self, summary: IndexSummary, scan_first: bool, folder_paths: list[str] | None, purge: bool
    ) -> Generator[Progress, None, IndexSummary]:
        t0 = time.perf_counter()
        yield Progress(Phase.SCANNING, 0, 0)
        models = self.models
        # on PostgreSQL one indexer at a time registers the networks, scans and re-labels; the others wait for it
        # (to find its new photos pending: one that went on at once would find nothing to do and stop) and then
        # share the photos it found instead of scanning again
        with locks.first_or_wait(self.library.engine, locks.Key.SCANNING) as first:
            embedder_id = versions.ensure_embedder(self.library, models)
            version, head = versions.active_head(self.library, models)
            models.set_head(head)
            if models.labeller is None:
                raise RuntimeError("indexing needs the label heads (Models(with_labels=True))")
            labelling = Labelling(models.labeller, models.lexicon)
            if scan_first and first:
                result = scan_mod.scan(self.library, folder_paths)
                summary.failed += result.failed
            if first:
                summary.relabelled = yield from self._relabel(labelling, embedder_id)
            with self.library.session() as s:
                # a drive that is not connected cannot be read: its photos wait, as they are, until it is
                offline = scan_mod.offline_folder_ids(s)
                if first:  # photos indexed by other networks (an update shipped new ones) are indexed again
                    s.execute(
                        update(Photo)
                        .where(
                            Photo.state == PhotoState.INDEXED,
                            Photo.embedder_id != embedder_id,
                            Photo.folder_id.not_in(list(offline)),
                        )
                        .values(state=PhotoState.PENDING)
                    )
        pending = select(Photo.id, Photo.path, Photo.size, Photo.mtime_ns).where(
            Photo.state == PhotoState.PENDING, Photo.folder_id.not_in(list(offline))
        )
        with self.library.session() as s:
            known = set(
                s.scalars(
                    select(Photo.content_hash).where(
                        Photo.state.in_([PhotoState.INDEXED, PhotoState.MISSING]),
                        Photo.embedder_id == embedder_id,
                        Photo.content_hash.is_not(None),
                    )
                )
            )
            indexed_before = s.query(Photo).filter(Photo.state == PhotoState.INDEXED).count()
            total = s.scalar(select(func.count()).select_from(pending.subquery())) or 0
        summary.unchanged = indexed_before
        writer = _Writer(self.library, embedder_id, labelling, models, version.id, head)
        writer.load_words()
        yield Progress(Phase.INDEXING, 0, total)
        work = _Work(self.library, pending, writer, self.commit_every)
        yield from self._pipeline(work, total, models, known, writer, summary)
        if purge:
            yield Progress(Phase.FINISHING, total, total)
            summary.removed = purge_missing(self.library)
        # after the main index: the photos are searchable by content before their faces are found; the looks
        # analyzer has work only in a library indexed before photos' hashes were kept
        later: list[analyses.LaterAnalyzer] = [LooksAnalyzer()]
        if self.library.get_setting(SettingKey.FACES):
            later.append(FacesAnalyzer(self.faces))
        summary.analysed = yield from analyses.run(self.library, later, models.device.type)
        summary.seconds = time.perf_counter() - t0
        yield Progress(
            Phase.DONE, total, total, rate=total / max(summary.seconds, 1e-9), failed=summary.failed, summary=summary
        )
        return summary

    def _relabel(self, labelling: Labelling, embedder_id: int) -> Generator[Progress, None, int]:
        relabel = labelling_mod.relabel(self.library, labelling, embedder_id)
        while True:
            try:
                step = next(relabel)
            except StopIteration as stop:
                return stop.value
            yield Progress(Phase.LABELLING, step.done, step.total, rate=step.rate)

    def _pipeline(
        self, work: _Work, total: int, models: Models, known: set[str], writer: _Writer, summary: IndexSummary
    ) -> Generator[Progress, None, None]:
        """Decode threads feed batches to model threads; this thread claims and hands out work and writes
        results.

        On a CPU every core both decodes and runs the networks (``Models.batch_threads``: a model thread per
        core, torch single-threaded in each), so while one batch is in the networks the next is being decoded
        and no core waits; on a GPU one thread feeds the device.
        """
        with models.batch_threads(self.model_threads) as model_threads:
            yield from self._run_pipeline(work, total, models, known, writer, summary, model_threads)

    def _run_pipeline(
        self,
        work: _Work,
        total: int,
        models: Models,
        known: set[str],
        writer: _Writer,
        summary: IndexSummary,
        model_threads: int,
    ) -> Generator[Progress, None, None]:
        done = 0
        batch: list[tuple[Outcome, _Claimed]] = []
        in_flight: dict[Future[Outcome], tuple[Job, _Claimed, float]] = {}
        # on a CPU smaller batches: each is one thread's work, and a thread waiting for a full one is idle
        batch_size = min(self.batch_size, 8) if models.device.type == "cpu" else self.batch_size
        analysing: dict[Future[list[Analysis]], list[tuple[Outcome, _Claimed]]] = {}
        window = self.workers * 2 + batch_size * (model_threads + 1)
        feeder = claims.Feeder(work.claim)
        last_yield = 0.0
        t_start = last_commit = time.perf_counter()
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="photobird-decode")
        model_pool = ThreadPoolExecutor(model_threads, thread_name_prefix="photobird-model")
        current: str | None = None
        retry_ids: set[int] = set()

        def submit_batch() -> None:
            nonlocal batch
            if batch:
                chunk, batch = batch[:batch_size], batch[batch_size:]
                analysing[model_pool.submit(models.analyze, [o.prepared for o, _ in chunk])] = chunk  # type: ignore[misc]

        def collect(block: bool) -> None:
            """Hand finished analyses to the writer (all of them when ``block``)."""
            if not analysing:
                return
            finished, _ = wait(
                list(analysing), timeout=None if block else 0, return_when=ALL_COMPLETED if block else FIRST_COMPLETED
            )
            for fut in finished:
                chunk = analysing.pop(fut)
                for (o, claimed), a in zip(chunk, fut.result(), strict=True):
                    o.prepared = None
                    writer.add(claimed, o, a)

        try:
            while True:
                if writer.retry:  # looked known, but nothing to re-use: decode after all
                    retry_ids |= {j.photo_id for j, _ in writer.retry}
                    feeder.put_back(writer.retry)
                    writer.retry = []
                pending = len(in_flight) + len(batch) + sum(len(c) for c in analysing.values())
                while pending < window and (handed := feeder.next()) is not None:
                    job, claimed_by = handed
                    hint = set() if job.photo_id in retry_ids else known
                    fut = pool.submit(read_one, job, self.library, models.prepare, hint)
                    in_flight[fut] = (job, claimed_by, time.perf_counter())
                    pending += 1
                idle = not in_flight and not batch and not analysing
                if idle and feeder.exhausted:
                    break
                if idle and not writer.ready():  # others hold the photos left: theirs, unless they stop
                    yield Progress(Phase.INDEXING, done, max(total, done), current, 0.0, summary.failed)
                    time.sleep(claims.CLAIM_AGAIN_SECONDS)
                    continue
                waiting = list(in_flight) + list(analysing)
                finished, _ = wait(waiting, timeout=0.5, return_when=FIRST_COMPLETED)
                now = time.perf_counter()
                for fut in finished:
                    if fut not in in_flight:
                        continue
                    job, claimed_by, _ = in_flight.pop(fut)
                    outcome = fut.result()
                    current = job.path
                    if outcome.kind == "decoded":
                        batch.append((outcome, claimed_by))
                    else:
                        writer.add(claimed_by, outcome)
                for fut, (job, claimed_by, started) in list(in_flight.items()):
                    if now - started > self.decode_timeout:  # a pathological file: give up on it
                        in_flight.pop(fut)
                        fut.cancel()
                        writer.add(
                            claimed_by,
                            Outcome(job, "failed", error=f"took longer than {self.decode_timeout:.0f} s to decode"),
                        )
                # a model thread that is free takes what is decoded (up to a batch); none waits in a queue, so
                # a cancel finishes only what is already in the networks
                collect(block=False)
                while batch and len(analysing) < model_threads:
                    submit_batch()
                ready = writer.ready()
                due = ready and now - last_commit > self.commit_seconds
                end = not in_flight and feeder.exhausted and not batch
                committed = 0
                if ready >= self.commit_every or due or end or writer.claim_complete():
                    if end:
                        collect(block=True)
                    committed = writer.flush(summary)
                    done += committed
                    last_commit = time.perf_counter()
                # done is what is committed (a cancel keeps it), and each commit is reported as it lands
                if committed or now - last_yield > 0.2 or (not in_flight and feeder.exhausted):
                    last_yield = now
                    rate = done / max(now - t_start, 1e-9)
                    yield Progress(Phase.INDEXING, done, max(total, done), current, rate, summary.failed)
        finally:
            # cancelled or finished: what the networks already hold is finished and written, decoded photos
            # still waiting are dropped (the next run picks them up again), nothing half-done is written
            try:
                collect(block=True)
                writer.flush(summary, final=True)
            finally:
                writer.close()
                pool.shutdown(wait=False, cancel_futures=True)
                model_pool.shutdown(wait=True, cancel_futures=True)


class _Work:
    """Where the pipeline's photos come from: claims of the pending photos (``db.claims``). On SQLite the one
    indexer reads them all at once; on PostgreSQL each claim locks a few for this process alone."""

    def __init__(self, library: Library, pending: Select[Any], writer: _Writer, size: int) -> None:
        self.library = library
        self.pending = pending.order_by(Photo.id)
        self.writer = writer
        self.size = size
        self.all_read = False

    def claim(self) -> list[tuple[Job, _Claimed]] | None:
        """The next photos to index, each with its claim; [] when every photo left is held by other indexers
        for now (they may stop: look again later), None when none is left."""
        if self.library.kind is EngineKind.SQLITE:
            if self.all_read:
                return None
            self.all_read = True
            got = claims.claim(self.library, self.pending, Photo)
        else:
            mine = self.writer.left_pending
            query = self.pending.where(Photo.id.not_in(list(mine))) if mine else self.pending
            got = claims.claim(self.library, query.limit(self.size), Photo)
            if not got.rows:
                return [] if claims.any_left(self.library, query) else None
        if not got.rows:
            return None
        claimed = _Claimed(got, len(got.rows))
        self.writer.claimed.append(claimed)
        return [(Job(pid, path, size, mtime), claimed) for pid, path, size, mtime in got.rows]


def purge_missing(library: Library, older_than_seconds: float = 0.0) -> int:
    """Delete missing photos that nothing re-linked (their user labels stay: they belong to the content).
    Not in an offline folder: whatever its rows say, what is on a drive that is not connected is not decided."""
    with library.session() as s:
        due = [Photo.state == PhotoState.MISSING]
        if older_than_seconds > 0:
            import datetime as dt

            due.append(Photo.missing_since < utcnow() - dt.timedelta(seconds=older_than_seconds))
        if s.scalar(select(Photo.id).where(*due).limit(1)) is None:
            return 0  # the watcher asks often: the folders' drives are looked at only when there is something to do
        offline = scan_mod.offline_folder_ids(s)
        return s.execute(delete(Photo).where(*due, Photo.folder_id.not_in(list(offline)))).rowcount or 0


def index(library: Library, models: Models | Callable[[], Models], **kw: Any) -> IndexSummary:
    """Run the whole pipeline to the end (the headless convenience the tests and benchmarks use)."""
    gen = Indexer(library, models, **kw).run()
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value
