"""Analyzers after recognition: each with its own key, version and tables, run over the photos it has not
analysed at its current version, as a phase after the main index (so a new folder is searchable by content
before its faces are found).

Recognition is the first analyzer (``index``): it makes a photo *indexed*. A later analyzer (``LaterAnalyzer``:
faces, and whatever comes next) records each photo it analysed in ``photo_analyses`` with its version, in the
same transaction as its results; adding one, or upgrading its weights, runs only that one over the library and
leaves every other analyzer's results as they are. A photo that several later analyzers need is read and
decoded once, at the largest size any of them asks for, and handed to each.

The phase has the shape of all long work: a generator of ``Progress`` records that commits each batch before it
reports it, so pausing is not pulling, cancelling is ``close()``, and a crash loses nothing committed (the next
run finds the photos without a row at the current version and carries on; results are replaced, not added, so
no photo gets its faces twice).
"""

from __future__ import annotations

import abc
import hashlib
import logging
import os
import time
from collections.abc import Generator, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image
from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from photobird.library.db import claims
from photobird.library.db.engines import EngineKind
from photobird.library.progress import Phase, Progress
from photobird.library.schema import AnalyzerKind, Photo, PhotoAnalysis, PhotoState
from photobird.library.store import Library
from photobird.media.decode import DecodeError, decode

log = logging.getLogger(__name__)


class LaterAnalyzer(abc.ABC):
    """One kind of analysis that runs on indexed photos: what it needs from the decoder, how it analyses one
    photo (in a worker thread, no database), and how it writes a photo's results (in the phase's transaction)."""

    kind: AnalyzerKind
    #: Changes whenever the analyzer would give other results; photos analysed by another version are redone.
    version: str
    #: The shorter side the decoder must give it (JPEGs are draft-decoded to the smallest size that fits).
    decode_side: int

    @abc.abstractmethod
    def analyze(self, image: Image.Image) -> Any:
        """The results for one photo (RGB, EXIF orientation applied, shorter side about ``decode_side``)."""

    @abc.abstractmethod
    def write(self, s: Session, photo_id: int, content_hash: str | None, result: Any) -> None:
        """Replace the photo's results with ``result``."""

    def copy(self, s: Session, from_photo_id: int, to_photo_id: int) -> bool:
        """Give a copy of a picture (same content hash) the results of the photo that has them, instead of
        analysing it again; False when this analyzer cannot, and the copy is analysed like any photo."""
        return False

    def finish(self, library: Library) -> None:  # noqa: B027  (a hook: most analyzers need none)
        """After the phase, also after one that found nothing to do (a cancelled or crashed run may have written
        results and not finished): faces group the faces that belong to nobody yet."""


@dataclass
class _Job:
    photo_id: int
    path: str
    content_hash: str | None
    analyzers: list[LaterAnalyzer]


@dataclass
class _Done:
    job: _Job
    results: dict[AnalyzerKind, Any] = field(default_factory=dict)
    error: str | None = None
    #: The file changed since it was indexed: leave it for the next scan, which indexes it again first.
    changed: bool = False


def pending(s: Session, analyzers: Sequence[LaterAnalyzer], ids: Sequence[int] | None = None) -> list[_Job]:
    """Indexed photos (of ``ids``, when given) that some analyzer has not analysed at its current version,
    oldest first."""
    need: dict[int, _Job] = {}
    for analyzer in analyzers:
        done = PhotoAnalysis.__table__.alias()
        query = (
            select(Photo.id, Photo.path, Photo.content_hash)
            .outerjoin(
                done,
                and_(
                    done.c.photo_id == Photo.id,
                    done.c.analyzer == analyzer.kind.value,
                    done.c.version == analyzer.version,
                ),
            )
            .where(Photo.state == PhotoState.INDEXED, done.c.photo_id.is_(None))
            .order_by(Photo.id)
        )
        rows = s.execute(query if ids is None else query.where(Photo.id.in_(list(ids))))
        for pid, path, h in rows:
            need.setdefault(pid, _Job(pid, path, h, [])).analyzers.append(analyzer)
    return [need[pid] for pid in sorted(need)]


def _unanalysed(analyzers: Sequence[LaterAnalyzer]) -> Select[Any]:
    """The indexed photos some analyzer has not analysed at its current version (one query, to claim them)."""
    missing = [
        ~exists().where(
            PhotoAnalysis.photo_id == Photo.id,
            PhotoAnalysis.analyzer == a.kind.value,
            PhotoAnalysis.version == a.version,
        )
        for a in analyzers
    ]
    return select(Photo.id).where(Photo.state == PhotoState.INDEXED, or_(*missing))


def _copy_twins(s: Session, jobs: list[_Job]) -> int:
    """Copies of a picture some photo already has results for (a duplicate, a backup folder) get those
    results instead of a decode; the analyzers that did so are taken off the job. Returns the photos done."""
    hashes = sorted({j.content_hash for j in jobs if j.content_hash})
    copied = 0
    analyzers = {a.kind: a for j in jobs for a in j.analyzers}
    for kind, analyzer in analyzers.items():
        twins: dict[str, int] = {}
        for start in range(0, len(hashes), 500):
            twins.update(
                s.execute(
                    select(Photo.content_hash, func.min(Photo.id))
                    .join(PhotoAnalysis, PhotoAnalysis.photo_id == Photo.id)
                    .where(
                        PhotoAnalysis.analyzer == kind.value,
                        PhotoAnalysis.version == analyzer.version,
                        PhotoAnalysis.error.is_(None),
                        Photo.content_hash.in_(hashes[start : start + 500]),
                    )
                    .group_by(Photo.content_hash)
                ).all()
            )
        for job in jobs:
            twin = twins.get(job.content_hash or "")
            if twin is None or twin == job.photo_id or analyzer not in job.analyzers:
                continue
            if analyzer.copy(s, twin, job.photo_id):
                _record(s, job.photo_id, analyzer, None)
                job.analyzers.remove(analyzer)
                copied += not job.analyzers
    return copied


def _analyse_one(job: _Job) -> _Done:
    """Read the file once, check it is still the indexed picture, decode once for every analyzer it needs."""
    try:
        with open(job.path, "rb") as f:
            data = f.read()
    except OSError as e:
        return _Done(job, changed=True, error=f"cannot be read: {e.strerror or e}")
    if job.content_hash is not None and hashlib.sha256(data).hexdigest() != job.content_hash:
        return _Done(job, changed=True)
    try:
        image = decode(data, min_side=max(a.decode_side for a in job.analyzers)).image
        return _Done(job, {a.kind: a.analyze(image) for a in job.analyzers})
    except DecodeError as e:
        return _Done(job, error=str(e))
    except Exception as e:  # one photo never stops the phase; the traceback goes to the log
        log.exception("analysing %s failed", os.fsdecode(job.path))
        return _Done(job, error=f"could not be analysed ({type(e).__name__}: {e})")


@contextmanager
def _one_torch_thread_each(device_type: str) -> Iterator[None]:
    """On a CPU, photos run side by side, one per core, torch single-threaded in each (as indexing does)."""
    if device_type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run(
    library: Library,
    analyzers: Sequence[LaterAnalyzer],
    device_type: str = "cpu",
    workers: int | None = None,
    commit_every: int = 32,
    commit_seconds: float = 1.0,
) -> Generator[Progress, None, int]:
    """Run the analyzers over every photo they have not analysed; returns how many photos were analysed.

    On PostgreSQL several indexers may run this at once: each claims ``commit_every`` photos at a time
    (``db.claims``), and writes their results in the claim's transaction, so no photo is analysed twice.
    """
    if not analyzers:
        return 0
    work = _Work(library, analyzers, commit_every)
    wrote = yield from _analyse(library, work, device_type, workers, commit_every, commit_seconds)
    for analyzer in analyzers:
        analyzer.finish(library)
    return wrote


@dataclass
class _Claimed:
    """Photos claimed together: on PostgreSQL written, and given up, in the claim's transaction once every one
    of them is analysed; on SQLite (nothing held) written as they come, in transactions of their own."""

    claim: claims.Claim
    #: Its photos not analysed yet.
    left: int
    done: list[_Done] = field(default_factory=list)
    #: Photos done by copying a twin's results, in the claim's transaction.
    copied: int = 0


class _Work:
    """Where the phase's photos come from: on SQLite all of them at once, on PostgreSQL claims of a few."""

    def __init__(self, library: Library, analyzers: Sequence[LaterAnalyzer], size: int) -> None:
        self.library = library
        self.analyzers = analyzers
        self.size = size
        self.all_read = False
        #: Photos this process leaves unanalysed (changed since they were indexed): not claimed again.
        self.skipped: set[int] = set()

    def total(self) -> int:
        """How many photos wait for some analyzer (others' claims included)."""
        with self.library.session() as s:
            return s.scalar(select(func.count()).select_from(_unanalysed(self.analyzers).subquery())) or 0

    def claim(self) -> tuple[_Claimed, list[_Job]] | list[_Job] | None:
        """The next photos to analyse, with their claim; [] when every photo left is held by other indexers for
        now (they may stop: look again later); None when none is left."""
        if self.library.kind is EngineKind.SQLITE:
            if self.all_read:
                return None
            self.all_read = True
            claimed = _Claimed(claims.Claim([]), 0)
            with self.library.session() as s:
                jobs = pending(s, self.analyzers)
                claimed.copied = _copy_twins(s, jobs)
        else:
            query = _unanalysed(self.analyzers).order_by(Photo.id)
            if self.skipped:
                query = query.where(Photo.id.not_in(list(self.skipped)))
            got = claims.claim(self.library, query.limit(self.size), Photo)
            if got.session is None:
                return [] if claims.any_left(self.library, query) else None
            claimed = _Claimed(got, 0)
            # read again, now that they are this process's: another may have analysed some and committed
            # between this claim's reading and its locking them
            jobs = pending(got.session, self.analyzers, [pid for (pid,) in got.rows])
            claimed.copied = _copy_twins(got.session, jobs)
        jobs = [j for j in jobs if j.analyzers]
        claimed.left = len(jobs)
        return claimed, jobs


def _analyse(
    library: Library,
    work: _Work,
    device_type: str,
    workers: int | None,
    commit_every: int,
    commit_seconds: float,
) -> Generator[Progress, None, int]:
    workers = workers or (os.cpu_count() or 1 if device_type == "cpu" else 2)
    total = work.total()
    if not total:
        return 0
    yield Progress(Phase.ANALYSING, 0, total)
    done = wrote = 0
    open_claims: list[_Claimed] = []
    in_flight: dict[Future[_Done], _Claimed] = {}

    def claim() -> list[tuple[_Job, _Claimed]] | None:
        """The next claim's jobs; a claim whose photos only needed copying (twins) is kept and the next taken."""
        while got := work.claim():
            claimed, jobs = got
            open_claims.append(claimed)
            if jobs:
                return [(j, claimed) for j in jobs]
        return got

    feeder = claims.Feeder(claim)
    current: str | None = None
    t0 = last_commit = time.perf_counter()
    pool = ThreadPoolExecutor(workers, thread_name_prefix="photobird-analyse")

    def write(s: Session, batch: list[_Done]) -> None:
        nonlocal wrote
        for d in batch:
            if d.changed:
                work.skipped.add(d.job.photo_id)
                continue
            for analyzer in d.job.analyzers:
                if d.error is None:
                    analyzer.write(s, d.job.photo_id, d.job.content_hash, d.results[analyzer.kind])
                _record(s, d.job.photo_id, analyzer, d.error)
            wrote += d.error is None

    def flush(final: bool = False) -> int:
        """Write what is finished; returns how many photos that committed. On PostgreSQL a claim is written
        once all its photos are analysed (``final``: with what it has), and committed, which gives it up."""
        nonlocal wrote
        settled = 0
        for c in list(open_claims):
            if c.claim.session is None:  # SQLite: what is finished, in a transaction of its own
                batch, c.done = c.done, []
                if batch:
                    with library.session() as s:
                        write(s, batch)
                settled += len(batch) + c.copied
                wrote += c.copied
                c.copied = 0
                if c.left == 0 or final:
                    open_claims.remove(c)
                continue
            if c.left and not final:
                continue
            write(c.claim.session, c.done)
            c.claim.commit()
            settled += len(c.done) + c.copied
            wrote += c.copied
            open_claims.remove(c)
        return settled

    try:
        with _one_torch_thread_each(device_type):
            while True:
                while len(in_flight) < workers * 2 and (handed := feeder.next()) is not None:
                    job, claimed = handed
                    in_flight[pool.submit(_analyse_one, job)] = claimed
                if not in_flight and not any(c.done or c.copied for c in open_claims):
                    if feeder.exhausted:
                        break
                    if not feeder and not open_claims:  # others hold the photos left: theirs, unless they stop
                        time.sleep(claims.CLAIM_AGAIN_SECONDS)
                        continue
                ready, _ = wait(list(in_flight), timeout=0.5, return_when=FIRST_COMPLETED)
                for f in ready:
                    claimed = in_flight.pop(f)
                    d = f.result()
                    claimed.done.append(d)
                    claimed.left -= 1
                    current = os.fsdecode(d.job.path)
                now = time.perf_counter()
                finished = sum(len(c.done) + c.copied for c in open_claims)
                complete = any(c.claim.session is not None and c.left == 0 for c in open_claims)
                committed = 0
                if (
                    finished >= commit_every
                    or complete
                    or (finished and now - last_commit > commit_seconds)
                    or (feeder.exhausted and not in_flight)
                ):
                    committed = flush()
                    done += committed
                    last_commit = now
                if committed:
                    yield Progress(Phase.ANALYSING, done, max(total, done), current, done / max(now - t0, 1e-9))
    finally:
        try:
            for f in in_flight:  # what is being analysed is finished and written; what waits is dropped
                f.cancel()
            for f, claimed in in_flight.items():
                if not f.cancelled():
                    claimed.done.append(f.result())
            done += flush(final=True)
        finally:
            for c in open_claims:
                c.claim.close()
            pool.shutdown(wait=True, cancel_futures=True)
    yield Progress(Phase.ANALYSING, done, max(total, done), rate=done / max(time.perf_counter() - t0, 1e-9))
    return wrote


def _record(s: Session, photo_id: int, analyzer: LaterAnalyzer, error: str | None) -> None:
    """The photo's row for this analyzer, at its version (replacing any older one)."""
    row = s.get(PhotoAnalysis, (photo_id, analyzer.kind.value))
    if row is None:
        s.add(PhotoAnalysis(photo_id=photo_id, analyzer=analyzer.kind.value, version=analyzer.version, error=error))
    else:
        row.version, row.error = analyzer.version, error
    s.flush()
