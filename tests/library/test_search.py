"""Search over a real SQLite catalogue written row by row (no images, no models): the query language's rules,
paging that agrees with the full search, counts, and the plans that make the first page fast."""

from __future__ import annotations

import datetime as dt
import itertools
import os
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import delete, update

from photobird.library import search as search_mod
from photobird.library.db.engines import EngineKind
from photobird.library.schema import Base, Folder, Photo, PhotoLabel, UserLabel, compared_by_alembic
from photobird.library.search import LABEL_THRESHOLD, Searcher, parse
from photobird.library.store import Library, _alembic_config

from .conftest import CATALOGUE_WORDS, Catalogue, make_catalogue

pytestmark = pytest.mark.both_engines

QUERIES = [
    "",
    "bird",
    "birds",
    "not bird",
    "-bird",
    "dog",
    "dog -terrier",
    "animal -bird",
    "not bird -dog -cat",
    "bird dog",
    "dog animal cat",
    "golden retriever",
    "2019",
    "june 2019",
    "june",
    "-2019",
    "not june",
    "canon",
    "not canon",
    "canon dog",
    "bird 2019",
    "2019 -bird",
    "holiday",
    '"summer holiday"',
    "-holiday",
    "img_00",
    "img",
    "im",
    "-img",
    "x%y",
    "a_b",
    "100%",
    "cat -cat",
    "boat -2018 -canon",
    "zzzz",
    "paris",
    "france -paris",
    "paris dog",
    "dog france -terrier",
    "lyon bird",
    "france dog cat",
    "not france",
]


def reference(cat: Catalogue, query: str, searcher: Searcher) -> list[tuple[int, float]]:
    """The module docstring's rules in plain Python: every term must match (the excluded ones must not); the
    confidence of the weakest ranked term, then the date taken (newest first, none last), then the id."""

    def matches(term: search_mod.Term, photo: dict[str, Any]) -> tuple[bool, float]:
        pid, taken = photo["id"], photo["taken_at"]
        if term.kind in ("label", "place"):  # (a place's probability is 1: it does not rank)
            p = cat.labels.get((pid, term.value))
            return (p is not None and p >= LABEL_THRESHOLD), p or 0.0
        if term.kind == "bird":
            mine = cat.user.get(photo["content_hash"])
            if mine is not None:
                return mine == "bird", 1.0
            return cat.scores[pid] >= cat.threshold, cat.scores[pid]
        if term.kind == "date":
            if taken is None:
                return False, 1.0
            if term.date_range:
                return term.date_range[0] <= taken < term.date_range[1], 1.0
            return taken.month == term.month, 1.0
        if term.kind == "camera":
            return (photo["camera_make"] or "").lower().startswith(term.value), 1.0
        return term.value in photo["name"] or term.value in photo["dir"], 1.0

    parsed = parse(query, cameras=searcher.cameras(), library_words=searcher.library_words())
    out = []
    for photo in cat.photos:
        if photo["state"] != "indexed":
            continue
        found = [matches(t, photo) for t in parsed.positive]
        if not all(ok for ok, _ in found) or any(matches(t, photo)[0] for t in parsed.negative):
            continue
        ranked = [conf for t, (_, conf) in zip(parsed.positive, found, strict=True) if t.kind in ("label", "bird")]
        out.append((photo, min(ranked) if ranked else 1.0))
    out.sort(key=lambda r: r[0]["id"])  # (stable sorts: the last one decides first)
    out.sort(key=lambda r: r[0]["taken_at"] or dt.datetime.min, reverse=True)
    out.sort(key=lambda r: r[1], reverse=True)
    return [(photo["id"], score) for photo, score in out]


def test_search_follows_the_rules(library: Library, catalogue: Catalogue) -> None:
    searcher = Searcher(library)
    assert searcher.cameras() == {"canon", "nikon", "apple"}
    assert searcher.library_words() == {"paris", "lyon", "france"}
    for q in QUERIES:
        expected = reference(catalogue, q, searcher)
        got = [(h.photo_id, h.score) for h in searcher.search(q)]
        assert got == expected, q
    assert len(searcher.search("")) > 400 and len(searcher.search("not bird")) > 200  # (the data is not trivial)


@pytest.mark.parametrize("limit", [1, 7, 50, 200])
def test_pages_are_slices_of_the_full_search_and_count_is_its_length(
    library: Library, catalogue: Catalogue, limit: int
) -> None:
    searcher = Searcher(library)
    for q in QUERIES:
        full = searcher.search(q)
        first, second = searcher.page(q, 0, limit), searcher.page(q, limit, limit)
        assert first + second == full[: 2 * limit], q
        assert searcher.page(q, len(full), limit) == [], q
        assert searcher.page(q, 3, None) == full[3:], q
        assert searcher.ids_and_scores(q, 0, limit) == ([h.photo_id for h in first], [h.score for h in first]), q
        assert searcher.count(q) == len(full), q
        assert searcher.search(q, limit=limit) == first, q


def test_without_a_ranking_term_newest_first_then_by_id(library: Library, catalogue: Catalogue) -> None:
    searcher = Searcher(library)
    by_id = {p["id"]: p for p in catalogue.photos}
    for q in ("", "not bird", "-dog", "2019", "canon -bird"):
        hits = searcher.search(q)
        assert hits and all(h.score == 1.0 for h in hits), q
        keys = [by_id[h.photo_id]["taken_at"] for h in hits]
        dated = [k for k in keys if k is not None]
        assert keys[: len(dated)] == sorted(dated, reverse=True), q  # newest first, undated photos last
        for a, b in itertools.pairwise(hits):
            if by_id[a.photo_id]["taken_at"] == by_id[b.photo_id]["taken_at"]:
                assert a.photo_id < b.photo_id, q  # same date: by id
    assert any(by_id[h.photo_id]["taken_at"] is None for h in searcher.search(""))


def test_photos_tied_at_a_words_top_are_paged_newest_first(
    library: Library, catalogue: Catalogue, engine: EngineKind
) -> None:
    """Many photos certain of a word (exactly 1.0, as the broad words are): every page is the slice of the full
    order, the tied ones newest first and then the rest by confidence, read from the word's index in that order
    (its photos' dates are in it: nothing is sorted before the first row)."""
    dog = CATALOGUE_WORDS.index("dog") + 1
    tied = sorted(pid for pid, word in catalogue.labels if word == "dog")[::2]
    for pid in tied:
        catalogue.labels[(pid, "dog")] = 1.0
    with library.session() as s:
        s.execute(update(PhotoLabel).where(PhotoLabel.word_id == dog, PhotoLabel.photo_id.in_(tied)).values(p=1.0))
    searcher = Searcher(library)
    for q in ("dog", "dog -terrier", "dog 2019", "dog -bird", "dog -paris"):
        expected = reference(catalogue, q, searcher)
        assert [(h.photo_id, h.score) for h in searcher.search(q)] == expected, q
        assert sum(score == 1.0 for _, score in expected) > 10, q  # (ties across pages and dates)
        for limit in (1, 5):
            for offset in (0, 1, 3, len(expected) - 2):
                page = [(h.photo_id, h.score) for h in searcher.page(q, offset, limit)]
                assert page == expected[offset : offset + limit], (q, offset, limit)
    # tied below the threshold: no match, however many
    boat = CATALOGUE_WORDS.index("boat") + 1
    with library.session() as s:
        s.execute(update(PhotoLabel).where(PhotoLabel.word_id == boat).values(p=LABEL_THRESHOLD / 2))
    assert searcher.page("boat", 0, 1) == [] and searcher.search("boat") == [] and searcher.count("boat") == 0
    if engine is EngineKind.SQLITE:  # (PostgreSQL plans by cost: its side is measured by bench/index_bench.py)
        for limit in (5, 200):
            steps = searcher.explain("dog", 0, limit)
            assert any("ix_photo_labels_word_p_taken" in step for step in steps), steps
            assert not any("TEMP B-TREE" in step for step in steps), steps


def test_negation_and_the_users_own_labels(library: Library, catalogue: Catalogue) -> None:
    searcher = Searcher(library)
    everything = {h.photo_id for h in searcher.search("")}
    birds = {h.photo_id for h in searcher.search("bird")}
    assert birds and {h.photo_id for h in searcher.search("not bird")} == everything - birds
    assert {h.photo_id for h in searcher.search("-bird")} == everything - birds
    assert {h.photo_id for h in searcher.search("dog -terrier")} == {h.photo_id for h in searcher.search("dog")} - {
        h.photo_id for h in searcher.search("terrier")
    }
    # the user's answer wins over the model, for every copy of the picture
    indexed = [p for p in catalogue.photos if p["state"] == "indexed"]
    confident = next(p for p in indexed if catalogue.scores[p["id"]] >= 0.9 and p["content_hash"] not in catalogue.user)
    doubtful = next(p for p in indexed if catalogue.scores[p["id"]] < 0.1 and p["content_hash"] not in catalogue.user)
    assert confident["id"] in birds and doubtful["id"] not in birds
    twin = dict(doubtful, id=len(catalogue.photos) + 1, path="/photos/misc/twin.jpg", name="twin.jpg")
    with library.session() as s:
        s.execute(Photo.__table__.insert(), [{k: v for k, v in twin.items()}])
        s.add_all(
            [
                UserLabel(content_hash=confident["content_hash"], label="not-bird"),
                UserLabel(content_hash=doubtful["content_hash"], label="bird"),
            ]
        )
    hits = searcher.search("bird")
    ids = [h.photo_id for h in hits]
    assert confident["id"] not in ids  # "not bird" never matches "bird"
    assert doubtful["id"] in ids and twin["id"] in ids  # "bird" always does (the copy too), ranked first
    assert {h.score for h in hits[:2]} == {1.0}
    not_bird = {h.photo_id for h in searcher.search("not bird")}
    assert confident["id"] in not_bird and doubtful["id"] not in not_bird and twin["id"] not in not_bird
    assert searcher.count("bird") == len(hits) and searcher.count("not bird") == len(not_bird)


def test_only_indexed_photos_are_found(library: Library, catalogue: Catalogue) -> None:
    searcher = Searcher(library)
    others = {p["id"] for p in catalogue.photos if p["state"] != "indexed"}
    assert others
    for q in ("", "dog", "bird", "not bird", "img", "canon"):
        assert not others & {h.photo_id for h in searcher.search(q)}, q


@pytest.mark.sqlite_only("SQLite's plans; PostgreSQL plans by cost and statistics, measured by bench/index_bench.py")
def test_the_first_page_walks_an_index_in_order(library: Library, catalogue: Catalogue) -> None:
    """EXPLAIN QUERY PLAN: the first page reads an index in the order it is shown and stops at the LIMIT,
    instead of sorting every match (what made "not bird" take half a second over 100,000 photos)."""
    searcher = Searcher(library)
    for q in ("", "not bird", "-dog -cat", "2019"):
        plan = searcher.explain(q)
        assert any("ix_photos_state_taken" in step for step in plan), (q, plan)
        assert not any("TEMP B-TREE FOR ORDER BY" in step for step in plan), (q, plan)
    for q in ("dog", "animal -bird", "golden retriever"):
        plan = searcher.explain(q)
        assert any("ix_photo_labels_word_p_taken" in step for step in plan), (q, plan)
        assert not any("TEMP B-TREE" in step for step in plan), (q, plan)  # ties too: the dates are in the index
    # a place is certain, so the one ranked word drives a short page in order and the place is a check...
    plan = searcher.explain("paris dog", 0, 1)
    assert plan[0].startswith("SEARCH d USING COVERING INDEX ix_photo_labels_word_p_taken"), plan
    assert "USE TEMP B-TREE FOR ORDER BY" not in plan, plan
    # ...while a page larger than the place is read from the place (the smaller) and sorted
    assert "USE TEMP B-TREE FOR ORDER BY" in searcher.explain("paris dog", 0, 200)
    plan = searcher.explain("bird")
    assert any("ix_bird_scores_model_score_photo" in step for step in plan), plan
    assert "MERGE (UNION ALL)" in plan  # the user's birds and the model's, merged in order


def test_a_postgresql_page_checks_the_other_words_photo_by_photo(
    library: Library, catalogue: Catalogue, engine: EngineKind
) -> None:
    """PostgreSQL's side of the test above: a page walked in order looks each photo's other words up as it goes
    (a SubPlan per photo), where an EXISTS becomes a join that reads all of the other word's photos first; and
    it starts no parallel workers, which cost more than a page reads."""
    if engine is not EngineKind.POSTGRESQL:
        pytest.skip("SQLite keeps an EXISTS a lookup per row: the test above")
    searcher = Searcher(library)
    for q in ("paris dog", "paris"):
        plan = searcher.explain(q, 0, 1)
        assert any("SubPlan" in step for step in plan), (q, plan)
        assert not any("Join" in step and "Anti" not in step for step in plan if "photo_labels" in step), (q, plan)
        assert not any("Gather" in step for step in plan), (q, plan)
    assert [h.photo_id for h in searcher.page("paris dog", 0, 1)] == [h.photo_id for h in searcher.search("paris dog")][
        :1
    ]


def test_names_found_through_the_trigram_index_or_row_by_row_agree(
    library: Library, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch, engine: EngineKind
) -> None:
    searcher = Searcher(library)
    queries = ["img_00", "holiday", "x%y", "a_b", "img_0001", "summer", '"summer holiday" dog', "img_001 -canon"]
    indexed = {q: searcher.search(q) for q in queries}
    if engine is EngineKind.SQLITE:  # (PostgreSQL's planner chooses its indexes by cost)
        assert any("photo_names" in step for step in searcher.explain("img_001"))
    monkeypatch.setattr(search_mod, "NAME_INDEX_MAX", 0)  # never the index
    if engine is EngineKind.SQLITE:
        assert not any("photo_names" in step for step in searcher.explain("img_001"))
    for q in queries:
        assert searcher.search(q) == indexed[q], q
        assert searcher.count(q) == len(indexed[q]), q


def test_name_index_follows_renames_and_deletions(library: Library, catalogue: Catalogue) -> None:
    searcher = Searcher(library)
    pid = next(p["id"] for p in catalogue.photos if p["state"] == "indexed")
    with library.session() as s:
        s.execute(update(Photo).where(Photo.id == pid).values(name="kingfisher.jpg", dir="/photos/river trip"))
    assert [h.photo_id for h in searcher.search("kingfisher")] == [pid]
    assert [h.photo_id for h in searcher.search("river trip")] == [pid]
    assert pid not in {h.photo_id for h in searcher.search(f"img_{pid:04d}")}
    with library.session() as s:
        s.execute(delete(Photo).where(Photo.id == pid))
    assert searcher.search("kingfisher") == [] and searcher.count("kingfisher") == 0
    with library.session() as s:  # removing a folder removes its photos (ON DELETE CASCADE) and their names
        s.execute(delete(Folder))
    assert searcher.search("img") == [] and searcher.count("") == 0


def test_a_library_made_before_the_search_indexes_gets_them(tmp_path: Path) -> None:
    root = tmp_path / "old"
    lib = Library(root, migrate=False)
    cfg = _alembic_config()
    with lib.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    cat = make_catalogue(lib, 120, places=False, dated_labels=False)
    lib.close()
    lib = Library(root)  # opening it migrates (0009 copies each photo's date into its labels)
    try:
        searcher = Searcher(lib)
        for q in QUERIES[:12]:
            assert [(h.photo_id, round(h.score, 6)) for h in searcher.search(q)] == [
                (i, round(sc, 6)) for i, sc in reference(cat, q, searcher)
            ], q
        assert len(searcher.search("img_00")) > 50
        assert any("photo_names" in step for step in searcher.explain("img_001"))
    finally:
        lib.close()


def test_migrations_and_the_orm_schema_agree(library: Library) -> None:
    with library.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_name": compared_by_alembic})
        assert compare_metadata(ctx, Base.metadata) == []


#: Folders beside those of ``make_catalogue``: one whose name starts with another's, and names that are not ASCII
#: or not even UTF-8 (a Linux file name is bytes).
EXTRA_DIRS = ("/photos/2019-old", "/photos/2019/été", "/photos/" + os.fsdecode(b"caf\xe9 bytes"))


def _with_extra_dirs(library: Library, catalogue: Catalogue) -> list[dict[str, Any]]:
    """A few indexed photos (copies of the catalogue's) in ``EXTRA_DIRS``; every photo, with them."""
    model = [p for p in catalogue.photos if p["state"] == "indexed"]
    extra = []
    for i, (d, p) in enumerate(itertools.product(EXTRA_DIRS, model[:5])):
        name = f"extra_{i}.jpg"
        extra.append(
            dict(
                p,
                id=len(catalogue.photos) + i + 1,
                path=f"{d}/{name}",
                name=name,
                dir=os.fsencode(d).decode(errors="replace").lower(),
            )
        )
    with library.session() as s:
        s.execute(Photo.__table__.insert(), extra)
    return catalogue.photos + extra


FOLDERS = ["/photos", "/photos/2019", "/photos/2019/", "/photos/2019/summer holiday", *EXTRA_DIRS, "/", "/nowhere"]


@pytest.mark.parametrize("index_max", [search_mod.FOLDER_INDEX_MAX, 0])
def test_a_folder_narrows_any_query_to_the_photos_below_it(
    library: Library, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch, index_max: int
) -> None:
    """``folder=`` keeps exactly the photos whose path is below it, at any depth, in the query's order; driven from
    the path index (a small folder) or checked on each photo walked (a large one, ``index_max=0``)."""
    photos = _with_extra_dirs(library, catalogue)
    path_of = {p["id"]: p["path"] for p in photos}
    monkeypatch.setattr(search_mod, "FOLDER_INDEX_MAX", index_max)
    searcher = Searcher(library)
    for folder in FOLDERS:
        prefix = folder.rstrip("/") + "/"
        for q in QUERIES:
            full = searcher.search(q)
            expected = [h for h in full if path_of[h.photo_id].startswith(prefix)]
            got = searcher.search(q, folder=folder)
            assert got == expected, (folder, q)
            assert searcher.count(q, folder) == len(expected), (folder, q)
            assert searcher.page(q, 2, 3, folder) == expected[2:5], (folder, q)
    below = {f: {h.photo_id for h in searcher.search("", folder=f)} for f in FOLDERS}
    assert len(below["/photos/2019-old"]) == 5 and not below["/photos/2019-old"] & below["/photos/2019"]
    assert len(below["/photos/2019/été"]) == 5 and below["/photos/2019/été"] < below["/photos/2019"]
    assert len(below[EXTRA_DIRS[2]]) == 5 and not below["/nowhere"]
    assert below["/"] == {h.photo_id for h in searcher.search("")}


@pytest.mark.sqlite_only("SQLite's plans; PostgreSQL plans by cost and statistics, measured by bench/index_bench.py")
def test_a_folder_page_walks_an_index_in_order(
    library: Library, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small folder's page is read from the path index (not by walking the whole library); a large one walks
    the photos newest first, checking each one's path, and stops at the LIMIT."""
    searcher = Searcher(library)
    plan = searcher.explain("", folder="/photos/misc")
    assert any("sqlite_autoindex_photos" in step for step in plan), plan
    monkeypatch.setattr(search_mod, "FOLDER_INDEX_MAX", 0)
    plan = searcher.explain("", folder="/photos/misc")
    assert any("ix_photos_state_taken" in step for step in plan), plan
    assert not any("TEMP B-TREE FOR ORDER BY" in step for step in plan), plan
    plan = searcher.explain("dog", folder="/photos/misc")
    assert any("ix_photo_labels_word_p_taken" in step for step in plan), plan
