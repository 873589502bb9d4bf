"""The timeline: each photo's day, the grid's day and month headers, and the orders the grid can be sorted in.

A photo's date is when it was taken (EXIF), else its file's time. Search already shows a query that no word
ranks by date taken, newest first, with the photos that have none last (``ix_photos_state_taken``); the timeline
keeps that order and sorts only those last photos, by their files' times, newest first, under headers that say
the date is the file's. Where a word ranks the results (best match first), the order is the search's and there
are no headers: days would split the ranking into pieces.

Everything here reads the catalogue in chunks and runs on a worker thread (the grid of 100,000 photos asks for
its arrangement once per search, never on the GUI thread); nothing here knows Qt.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import select

from photobird.library.schema import Photo
from photobird.library.store import Library

#: How many ids one query asks for (well under any database's limit on bound parameters).
CHUNK = 500

# the app speaks English: names fixed here, not taken from the process's locale (Qt sets one)
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


class SortOrder(StrEnum):
    """How the grid orders what a search found."""

    DATE = "date"  # the search's order: newest first when no word ranks the results, else best match first
    NAME = "name"  # file name (case-insensitive), then folder
    FOLDER = "folder"  # folder path, then file name


class DateSource(StrEnum):
    """Where a photo's date comes from."""

    TAKEN = "taken"  # the camera's EXIF date
    FILE = "file"  # the file's modification time: the photo has no date taken


@dataclass(frozen=True)
class PhotoDate:
    when: dt.datetime
    source: DateSource


def short_date(day: dt.date) -> str:
    """ "14 Jun 2025"."""
    return f"{day.day} {MONTH_NAMES[day.month - 1][:3]} {day.year}"


@dataclass(frozen=True)
class Section:
    """A day of the timeline: the grid draws its header over ``row``, the day's first photo."""

    row: int
    day: dt.date
    source: DateSource

    @property
    def title(self) -> str:
        """ "Saturday 14 June 2025" (a file's date says so: "Saturday 14 June 2025 · file date")."""
        title = f"{DAY_NAMES[self.day.weekday()]} {self.day.day} {MONTH_NAMES[self.day.month - 1]} {self.day.year}"
        return title if self.source is DateSource.TAKEN else f"{title} \u00b7 file date"

    @property
    def short(self) -> str:
        """The title where a small cell has no room for it."""
        return short_date(self.day)


@dataclass(frozen=True)
class Month:
    """An entry of the jump list: the first row of a month."""

    row: int
    year: int
    month: int
    source: DateSource

    @property
    def title(self) -> str:
        """ "2025 · June" (by the files' dates: "2025 · June · file dates")."""
        title = f"{self.year} \u00b7 {MONTH_NAMES[self.month - 1]}"
        return title if self.source is DateSource.TAKEN else f"{title} \u00b7 file dates"


@dataclass(frozen=True)
class Arrangement:
    """A search's results in the order the grid shows them, with the timeline's days and months (none when the
    results are not in date order)."""

    ids: list[int]
    scores: list[float]
    sections: list[Section] = field(default_factory=list)
    months: list[Month] = field(default_factory=list)


def _file_time(mtime_ns: int | None) -> dt.datetime | None:
    """A file's time, to the second, in local time; None for one no calendar has (a broken file system's)."""
    if mtime_ns is None:
        return None
    try:
        return dt.datetime.fromtimestamp(mtime_ns // 1_000_000_000)
    except (OverflowError, OSError, ValueError):
        return None


def dates(library: Library, photo_ids: Sequence[int]) -> dict[int, PhotoDate]:
    """Each photo's date: taken (EXIF), else its file's time. A photo that is gone, or whose file time is out of
    any calendar, has none."""
    out: dict[int, PhotoDate] = {}
    with library.connect() as c:
        for i in range(0, len(photo_ids), CHUNK):
            chunk = photo_ids[i : i + CHUNK]
            rows = c.execute(select(Photo.id, Photo.taken_at, Photo.mtime_ns).where(Photo.id.in_(chunk)))
            for pid, taken, mtime_ns in rows:
                if taken is not None:
                    out[pid] = PhotoDate(taken, DateSource.TAKEN)
                elif (when := _file_time(mtime_ns)) is not None:
                    out[pid] = PhotoDate(when, DateSource.FILE)
    return out


def _names(library: Library, photo_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """Each photo's (file name, folder), both lower-cased as the catalogue keeps them for searching."""
    out: dict[int, tuple[str, str]] = {}
    with library.connect() as c:
        for i in range(0, len(photo_ids), CHUNK):
            chunk = photo_ids[i : i + CHUNK]
            for pid, name, folder in c.execute(select(Photo.id, Photo.name, Photo.dir).where(Photo.id.in_(chunk))):
                out[pid] = (name, folder)
    return out


#: Where a photo without a date (or a name: gone meanwhile) sorts: last.
_NO_DATE = (False, dt.datetime.min)
_NO_NAME = ("\U0010ffff", "\U0010ffff")


def _by_date(photo_ids: Sequence[int], known: dict[int, PhotoDate]) -> list[int]:
    """Newest first: the photos with a date taken, then the others by file time; ties keep the order given
    (the search's: by id)."""

    def key(pid: int) -> tuple[bool, dt.datetime]:
        d = known.get(pid)
        return _NO_DATE if d is None else (d.source is DateSource.TAKEN, d.when)

    return sorted(photo_ids, key=key, reverse=True)  # (reverse keeps ties in their order)


def order(library: Library, photo_ids: Sequence[int], by: SortOrder) -> list[int]:
    """``photo_ids`` sorted ``by`` date (newest first: taken, then file time), name or folder; ties keep the
    order given."""
    if by == SortOrder.DATE:
        return _by_date(photo_ids, dates(library, photo_ids))
    names = _names(library, photo_ids)
    if by == SortOrder.NAME:
        return sorted(photo_ids, key=lambda pid: names.get(pid, _NO_NAME))
    return sorted(photo_ids, key=lambda pid: names.get(pid, _NO_NAME)[::-1])  # (folder, name)


def sections(photo_ids: Sequence[int], known: dict[int, PhotoDate]) -> list[Section]:
    """A section wherever the day (or where the date comes from) changes along ``photo_ids``; a photo with no
    date starts none (it stays in the section before it)."""
    out: list[Section] = []
    last: tuple[dt.date, DateSource] | None = None
    for row, pid in enumerate(photo_ids):
        d = known.get(pid)
        if d is None:
            continue
        day = (d.when.date(), d.source)
        if day != last:
            out.append(Section(row, *day))
            last = day
    return out


def months(days: Sequence[Section]) -> list[Month]:
    """The jump list: the first section of each month, as the sections come."""
    out: list[Month] = []
    for s in days:
        if not out or (out[-1].year, out[-1].month, out[-1].source) != (s.day.year, s.day.month, s.source):
            out.append(Month(s.row, s.day.year, s.day.month, s.source))
    return out


def ranked(scores: Sequence[float]) -> bool:
    """Whether a word ranked these results: search orders by score, then by date taken, so results whose scores
    are all the same (no ranking word: every score is 1) are in date order."""
    return any(s != scores[0] for s in scores)


def arrange(library: Library, photo_ids: list[int], scores: list[float], by: SortOrder) -> Arrangement:
    """What the grid shows for a search's results: sorted ``by`` name or folder, or by date (the timeline, with
    its days and months) when no word ranked them; ranked results by date stay best match first."""
    if by == SortOrder.DATE and ranked(scores):
        return Arrangement(photo_ids, scores)
    score_of = dict(zip(photo_ids, scores, strict=True))
    if by == SortOrder.DATE:
        known = dates(library, photo_ids)
        ids = _by_date(photo_ids, known)
        days = sections(ids, known)
        return Arrangement(ids, [score_of[pid] for pid in ids], days, months(days))
    ids = order(library, photo_ids, by)
    return Arrangement(ids, [score_of[pid] for pid in ids])
