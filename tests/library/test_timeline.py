"""The timeline on a real catalogue: each photo's date (taken, else its file's), the days and months, the sorts."""

from __future__ import annotations

import datetime as dt

import pytest

from photobird.library import timeline
from photobird.library.schema import Folder, Photo
from photobird.library.search import Searcher
from photobird.library.store import Library
from photobird.library.timeline import DateSource, Section, SortOrder
from tests.library.conftest import make_catalogue

pytestmark = pytest.mark.both_engines


def file_time(*args: int) -> int:
    """A local time as a file's mtime in nanoseconds."""
    return int(dt.datetime(*args).timestamp()) * 1_000_000_000


def add_photos(library: Library, rows: list[tuple[str, dt.datetime | None, int]]) -> list[int]:
    """Photos (path, date taken, file time in ns) as the indexer leaves them; their ids, in the order given."""
    with library.session() as s:
        s.execute(Folder.__table__.insert(), [{"id": 1, "path": "/p"}])
        s.execute(
            Photo.__table__.insert(),
            [
                {
                    "id": i + 1,
                    "folder_id": 1,
                    "path": path,
                    "name": path.rsplit("/", 1)[1].lower(),
                    "dir": path.rsplit("/", 1)[0].lower(),
                    "size": 1,
                    "mtime_ns": mtime_ns,
                    "state": "indexed",
                    "taken_at": taken,
                }
                for i, (path, taken, mtime_ns) in enumerate(rows)
            ],
        )
    return list(range(1, len(rows) + 1))


def test_a_photo_is_dated_when_taken_else_by_its_file(library: Library) -> None:
    taken = dt.datetime(2025, 6, 14, 9, 30)
    ids = add_photos(
        library,
        [("/p/a.jpg", taken, file_time(2020, 1, 1)), ("/p/b.jpg", None, file_time(2024, 3, 10, 12, 0, 5) + 999)],
    )
    found = timeline.dates(library, [*ids, 99])  # (99: no such photo)
    assert found == {
        ids[0]: timeline.PhotoDate(taken, DateSource.TAKEN),
        ids[1]: timeline.PhotoDate(dt.datetime(2024, 3, 10, 12, 0, 5), DateSource.FILE),
    }


def test_dates_of_more_photos_than_a_query_asks_for(library: Library) -> None:
    cat = make_catalogue(library, 3 * timeline.CHUNK)
    ids = [p["id"] for p in cat.photos]
    found = timeline.dates(library, ids)
    assert len(found) == len(ids)
    for p in cat.photos:
        d = found[p["id"]]
        assert (d.source, d.when) == (
            (DateSource.TAKEN, p["taken_at"])
            if p["taken_at"] is not None
            else (DateSource.FILE, dt.datetime.fromtimestamp(p["mtime_ns"] // 1_000_000_000))
        )


def test_by_date_the_dated_come_first_then_the_undated_by_file_time_ties_keep_their_order(library: Library) -> None:
    day = dt.datetime(2025, 6, 14, 9, 0)
    ids = add_photos(
        library,
        [
            ("/p/old.jpg", dt.datetime(2019, 1, 1), file_time(2026, 1, 1)),
            ("/p/tie-1.jpg", day, 0),
            ("/p/undated-old.jpg", None, file_time(2021, 5, 5)),
            ("/p/tie-2.jpg", day, 0),
            ("/p/undated-new.jpg", None, file_time(2026, 2, 2)),
        ],
    )
    old, tie1, undated_old, tie2, undated_new = ids
    # (a file time newer than every date taken still comes after them: search shows the undated last)
    assert timeline.order(library, ids, SortOrder.DATE) == [tie1, tie2, old, undated_new, undated_old]
    assert timeline.order(library, [tie2, tie1], SortOrder.DATE) == [tie2, tie1]


def test_by_name_and_by_folder(library: Library) -> None:
    ids = add_photos(
        library,
        [
            ("/p/b/Zebra.jpg", None, 0),
            ("/p/a/apple.jpg", None, 0),
            ("/p/b/apple.jpg", None, 0),
            ("/p/a/Mango.jpg", None, 0),
        ],
    )
    zebra, apple_a, apple_b, mango_a = ids
    assert timeline.order(library, ids, SortOrder.NAME) == [apple_a, apple_b, mango_a, zebra]  # case-insensitive
    assert timeline.order(library, ids, SortOrder.FOLDER) == [apple_a, mango_a, apple_b, zebra]


def test_a_section_starts_wherever_the_day_changes(library: Library) -> None:
    ids = add_photos(
        library,
        [
            ("/p/1.jpg", dt.datetime(2025, 6, 14, 18, 0), 0),
            ("/p/2.jpg", dt.datetime(2025, 6, 14, 8, 0), 0),
            ("/p/3.jpg", dt.datetime(2025, 6, 1, 8, 0), 0),
            ("/p/4.jpg", dt.datetime(2025, 5, 31, 23, 59), 0),
            ("/p/5.jpg", None, file_time(2025, 5, 31, 12)),  # the same day, by its file: a section of its own
            ("/p/6.jpg", None, file_time(2025, 5, 31, 10)),
        ],
    )
    known = timeline.dates(library, ids)
    days = timeline.sections([*ids[:2], 99, *ids[2:]], known)  # (99: a photo with no date stays where it is)
    assert [(s.row, s.title) for s in days] == [
        (0, "Saturday 14 June 2025"),
        (3, "Sunday 1 June 2025"),
        (4, "Saturday 31 May 2025"),
        (5, "Saturday 31 May 2025 \u00b7 file date"),
    ]
    assert days[0].short == "14 Jun 2025"
    assert [(m.row, m.title) for m in timeline.months(days)] == [
        (0, "2025 \u00b7 June"),
        (4, "2025 \u00b7 May"),
        (5, "2025 \u00b7 May \u00b7 file dates"),
    ]


def test_arrange_keeps_ranked_results_and_sorts_the_others(library: Library) -> None:
    ids = add_photos(
        library,
        [
            ("/p/b.jpg", dt.datetime(2024, 1, 1), 0),
            ("/p/a.jpg", dt.datetime(2025, 1, 1), 0),
            ("/p/c.jpg", None, file_time(2023, 1, 1)),
        ],
    )
    b, a, c = ids
    ranked = timeline.arrange(library, ids, [0.9, 0.5, 0.4], SortOrder.DATE)  # best match first: as found
    assert (ranked.ids, ranked.scores, ranked.sections, ranked.months) == (ids, [0.9, 0.5, 0.4], [], [])
    dated = timeline.arrange(library, [c, b, a], [1.0] * 3, SortOrder.DATE)
    assert dated.ids == [a, b, c]
    assert dated.sections == [
        Section(0, dt.date(2025, 1, 1), DateSource.TAKEN),
        Section(1, dt.date(2024, 1, 1), DateSource.TAKEN),
        Section(2, dt.date(2023, 1, 1), DateSource.FILE),
    ]
    assert [m.row for m in dated.months] == [0, 1, 2]
    by_name = timeline.arrange(library, ids, [0.9, 0.5, 0.4], SortOrder.NAME)  # scores go with their photos
    assert (by_name.ids, by_name.scores, by_name.sections, by_name.months) == ([a, b, c], [0.5, 0.9, 0.4], [], [])
    assert timeline.arrange(library, [], [], SortOrder.DATE).ids == []


def test_the_timeline_keeps_the_order_search_shows_and_its_days_run_newest_first(library: Library) -> None:
    make_catalogue(library, 3 * timeline.CHUNK)
    searcher = Searcher(library)
    for query in ("", "not bird", "2019", "canon"):
        ids, scores = searcher.ids_and_scores(query, 0, None)
        arranged = timeline.arrange(library, ids, scores, SortOrder.DATE)
        # (the catalogue's undated photos have file times within a second: they keep the search's order too)
        assert arranged.ids == ids, query
        assert arranged.sections and [s.row for s in arranged.sections] == sorted({s.row for s in arranged.sections})
        taken = [s.day for s in arranged.sections if s.source is DateSource.TAKEN]
        assert taken == sorted(taken, reverse=True) and len(set(taken)) == len(taken), query
        known = timeline.dates(library, ids)
        for s, nxt in zip(arranged.sections, [*arranged.sections[1:], None], strict=True):  # each row in its day
            end = len(ids) if nxt is None else nxt.row
            assert {(known[pid].when.date(), known[pid].source) for pid in ids[s.row : end]} == {(s.day, s.source)}
    ranked_ids, ranked_scores = searcher.ids_and_scores("dog", 0, None)
    assert timeline.arrange(library, ranked_ids, ranked_scores, SortOrder.DATE).sections == []
