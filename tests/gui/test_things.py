"""The sidebar's "In your photos", on a real catalogue: places then things, counts as a search finds them,
thumbnails read in the background, a click or Enter searching the word; and the viewer's place."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from photobird.gui.things import COUNT_ROLE, THUMB_ROLE, InYourPhotos, display_place
from photobird.gui.viewer import Viewer
from photobird.gui.worker import TaskRunner
from photobird.library import catalogue
from photobird.library.schema import Folder, Photo, PhotoLabel, PhotoState, Word
from photobird.library.search import LABEL_THRESHOLD
from photobird.library.store import Library
from photobird.models.words import WordKind

#: word -> (kind, hidden, {photo id: probability})
WORDS: dict[str, tuple[WordKind, bool, dict[int, float]]] = {
    "paris": (WordKind.PLACE, False, {1: 1.0, 2: 1.0}),
    "ile-de-france": (WordKind.PLACE, False, {1: 1.0, 2: 1.0}),
    "france": (WordKind.PLACE, False, {1: 1.0, 2: 1.0, 3: 1.0}),
    "united states": (WordKind.PLACE, False, {4: 1.0, 5: 1.0}),
    # photo 5 below the search threshold and photo 6 not indexed: neither counted
    "person": (WordKind.THING, False, {1: 0.8, 2: 0.7, 3: 0.95, 4: 0.6, 5: 0.2, 6: 0.9}),
    "beach": (WordKind.SCENE, False, {3: 0.8, 4: 0.9}),
    "dog": (WordKind.THING, False, {5: 0.9}),  # its cover, photo 5, has no thumbnail yet
    "vertebrate": (WordKind.THING, True, {1: 0.9, 2: 0.9, 3: 0.9, 4: 0.9, 5: 0.9}),  # hidden
    "boat": (WordKind.THING, False, {2: 0.25}),  # never above the threshold
}
COLORS = {1: (220, 30, 30), 2: (30, 200, 30), 3: (30, 30, 220), 4: (230, 200, 20)}  # photo 5: no thumbnail


def content_hash(pid: int) -> str:
    return f"{pid:064x}"


@pytest.fixture
def filled(library: Library, tmp_path: Path) -> Library:
    """Six photos (five indexed) with words, places and thumbnails, written the way the indexer leaves them."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for pid in range(1, 7):
        Image.new("RGB", (64, 48), COLORS.get(pid, (128, 128, 128))).save(folder / f"img{pid}.jpg", quality=90)
    with library.session() as s:
        s.add(Folder(id=1, path=str(folder)))
        s.flush()
        for pid in range(1, 7):
            s.add(
                Photo(
                    id=pid,
                    folder_id=1,
                    path=str(folder / f"img{pid}.jpg"),
                    name=f"img{pid}.jpg",
                    dir=str(folder).lower(),
                    size=(folder / f"img{pid}.jpg").stat().st_size,
                    mtime_ns=pid,
                    content_hash=content_hash(pid),
                    state=PhotoState.INDEXED if pid <= 5 else PhotoState.PENDING,
                    width=64,
                    height=48,
                    place="Paris, Ile-de-France, France" if pid in (1, 2) else None,
                    latitude=48.8566 if pid in (1, 2) else (40.0 if pid == 5 else None),
                    longitude=2.3522 if pid in (1, 2) else (-30.0 if pid == 5 else None),
                )
            )
        s.flush()
        for wid, (word, (kind, hidden, photos)) in enumerate(WORDS.items(), start=1):
            s.add(Word(id=wid, word=word, kind=kind.value, hidden=hidden))
            s.flush()
            s.add_all(PhotoLabel(photo_id=pid, word_id=wid, p=p) for pid, p in photos.items())
    for pid, color in COLORS.items():
        path = library.thumb_path(content_hash(pid))
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (256, 192), color).save(path, quality=90)
    return library


@pytest.fixture
def runner(qtbot) -> TaskRunner:
    r = TaskRunner()
    yield r
    r.shutdown()


def make_widget(qtbot, library: Library, runner: TaskRunner) -> InYourPhotos:
    widget = InYourPhotos(library, runner)
    qtbot.addWidget(widget)
    widget.resize(260, 700)
    widget.show()
    widget.set_words(catalogue.word_counts(library, limit=60))
    return widget


def near(c: QColor, rgb: tuple[int, int, int], tol: int = 30) -> bool:
    return all(abs(a - b) <= tol for a, b in zip((c.red(), c.green(), c.blue()), rgb, strict=True))


def icon_center(item) -> QColor:
    image = item.icon().pixmap(48, 48).toImage()
    return image.pixelColor(image.width() // 2, image.height() // 2)


def test_places_then_things_with_counts(qtbot, filled: Library, runner: TaskRunner) -> None:
    widget = make_widget(qtbot, filled, runner)
    words = widget.words()
    places = ["france", "ile-de-france", "paris", "united states"]
    assert sorted(words[:4]) == places, words  # places first, in their own group
    for w in places:
        assert widget.group_of(w) == "Places"
    for w in ("person", "beach", "dog"):
        assert widget.group_of(w) == "Things"  # things and scenes together
    assert words.index("person") < words.index("beach")  # by count, as the core orders them
    # displayed as names, searched as stored
    assert widget.item_for("united states").text().startswith("United States\n")
    assert widget.item_for("paris").text().startswith("Paris\n")
    assert widget.item_for("ile-de-france").text().startswith("Ile-de-France\n")
    assert [widget.list.item(i).text() for i in range(widget.list.count())].count("Places") == 1
    # counts: only indexed photos, only at the search threshold
    assert LABEL_THRESHOLD > 0.2
    assert widget.item_for("person").data(COUNT_ROLE) == 4
    assert "4 photos" in widget.item_for("person").text()
    assert "3 photos" in widget.item_for("france").text()
    assert "1 photo" in widget.item_for("dog").text() and "photos" not in widget.item_for("dog").text()
    # hidden words and words never probable enough are not listed
    assert widget.item_for("vertebrate") is None
    assert widget.item_for("boat") is None


def test_no_places_no_places_group(qtbot, filled: Library, runner: TaskRunner) -> None:
    widget = make_widget(qtbot, filled, runner)
    widget.set_words([w for w in catalogue.word_counts(filled) if w.kind != WordKind.PLACE])
    texts = [widget.list.item(i).text() for i in range(widget.list.count())]
    assert "Places" not in texts and texts[0] == "Things"
    widget.set_words([])
    assert widget.words() == [] and widget.list.count() == 1  # a hint, not a blank list


def test_thumbnails_load_in_the_background(qtbot, filled: Library, runner: TaskRunner) -> None:
    widget = make_widget(qtbot, filled, runner)
    person = widget.item_for("person")  # its cover: photo 3, the one with the highest probability
    assert not person.icon().isNull()  # a placeholder at once
    qtbot.waitUntil(lambda: widget.item_for("person").data(THUMB_ROLE), timeout=10_000)
    assert near(icon_center(widget.item_for("person")), COLORS[3])
    qtbot.waitUntil(lambda: widget.item_for("united states").data(THUMB_ROLE), timeout=10_000)
    assert near(icon_center(widget.item_for("united states")), COLORS[4])
    # no thumbnail made yet for the dog's photo: the neutral placeholder stays, nothing fails
    dog = widget.item_for("dog")
    assert not dog.data(THUMB_ROLE) and not dog.icon().isNull()
    assert near(icon_center(dog), (200, 200, 200))
    # a refresh with the same words keeps the items (and their thumbnails)
    widget.set_words(catalogue.word_counts(filled))
    assert widget.item_for("person") is person and person.data(THUMB_ROLE)
    # once the thumbnail exists, a later refresh (the window's, every few seconds while indexing) picks it up
    path = filled.thumb_path(content_hash(5))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (256, 192), (250, 120, 200)).save(path, quality=90)
    words = catalogue.word_counts(filled)

    def refreshed() -> bool:
        widget.set_words(words)
        return bool(widget.item_for("dog").data(THUMB_ROLE))

    qtbot.waitUntil(refreshed, timeout=10_000)
    assert near(icon_center(widget.item_for("dog")), (250, 120, 200))


def test_click_and_enter_search_the_stored_word(qtbot, filled: Library, runner: TaskRunner) -> None:
    widget = make_widget(qtbot, filled, runner)
    item = widget.item_for("united states")
    rect = widget.list.visualItemRect(item)
    with qtbot.waitSignal(widget.word_chosen, timeout=5_000) as blocker:
        qtbot.mouseClick(widget.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert blocker.args == ["united states"]
    widget.list.setFocus()
    widget.list.setCurrentItem(widget.item_for("beach"))
    with qtbot.waitSignal(widget.word_chosen, timeout=5_000) as blocker:
        qtbot.keyClick(widget.list, Qt.Key.Key_Return)
    assert blocker.args == ["beach"]
    # a group heading searches nothing
    heading = widget.list.item(0)
    assert heading.text() == "Places"
    with qtbot.assertNotEmitted(widget.word_chosen, wait=100):
        qtbot.mouseClick(
            widget.list.viewport(), Qt.MouseButton.LeftButton, pos=widget.list.visualItemRect(heading).center()
        )


def test_place_names() -> None:
    assert display_place("paris") == "Paris"
    assert display_place("united states") == "United States"
    assert display_place("ile-de-france") == "Ile-de-France"
    assert display_place("isle of man") == "Isle of Man"
    assert display_place("the hague") == "The Hague"
    assert display_place("washington, d.c.") == "Washington, D.C."


def test_viewer_shows_the_place(qtbot, filled: Library, runner: TaskRunner) -> None:
    viewer = Viewer(filled, runner)
    qtbot.addWidget(viewer)
    viewer.show()
    viewer.show_photo(1)
    qtbot.waitUntil(lambda: viewer.info.get("id") == 1, timeout=10_000)
    assert viewer.fields["place"].text() == "Paris, Ile-de-France, France"
    assert "paris" in viewer.fields["labels"].text()
    viewer.show_photo(5)  # a GPS position that names no place: the position itself
    qtbot.waitUntil(lambda: viewer.info.get("id") == 5, timeout=10_000)
    assert viewer.fields["place"].text() == "40.00000, -30.00000"
    viewer.show_photo(3)  # no position at all
    qtbot.waitUntil(lambda: viewer.info.get("id") == 3, timeout=10_000)
    assert viewer.fields["place"].text() == "unknown"
