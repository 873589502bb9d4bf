"""The sidebar's "In your photos": the words PhotoBird found in the library, each with a small picture.

Like Google Photos' "Places" and "Things": a group of places (from the photos' GPS positions, only when there
are any), then one of things and scenes together, each word with how many photos a search for it finds and the
thumbnail of the photo that has it most surely. A click (or Enter) asks for a search of the word.

The words come from ``catalogue.word_counts`` (read by the window on a worker thread); this view only draws
them. Thumbnails are read from the cache on a worker thread as small ``QImage``s (``QImageReader`` decodes a
JPEG straight at the reduced size) and kept by content hash, so the window's refresh every few seconds while
indexing costs nothing on the GUI thread: an unchanged list is not rebuilt, a known thumbnail is not read
again, and a missing one (not made yet) is simply tried again at the next refresh.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QImage, QImageReader, QKeyEvent, QPainter, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from photobird.gui.worker import TaskRunner
from photobird.library.catalogue import WordCount
from photobird.library.store import Library
from photobird.models.words import WordKind

log = logging.getLogger(__name__)

#: The stored word (what a search for it is typed as) on a word's item; None on a group heading.
WORD_ROLE = Qt.ItemDataRole.UserRole + 20
#: How many photos the word finds.
COUNT_ROLE = Qt.ItemDataRole.UserRole + 21
#: The content hash of the photo whose thumbnail stands for the word.
COVER_ROLE = Qt.ItemDataRole.UserRole + 22
#: True once the item shows the real thumbnail rather than the placeholder.
THUMB_ROLE = Qt.ItemDataRole.UserRole + 23

THUMB_SIDE = 48
PLACEHOLDER_COLOR = QColor(200, 200, 200)

#: Words written lower-case inside a place name ("Isle of Man", "Frankfurt am Main", "Ile-de-France"),
#: except as its first word; "d'" and "l'" too ("Côte d'Ivoire"), but only before their apostrophe.
_LOWER_PARTICLES = frozenset(
    {"am", "an", "and", "au", "aux", "da", "das", "de", "del", "della", "der", "des", "di", "do", "dos", "du"}
    | {"en", "et", "im", "la", "le", "les", "of", "on", "sur", "the", "upon", "y"}
)
_ELIDED = frozenset({"d", "l"})
_APOSTROPHES = frozenset({"'", "’"})


def display_place(word: str) -> str:
    """A place as people write it: the gazetteer's lower-case "united states" shows as "United States".

    Each part between spaces, hyphens, dots and apostrophes starts with a capital ("Washington, D.C.",
    "Côte d'Ivoire" but "O'Fallon"), except the short particles of place names after the first word.
    """
    parts = re.split(r"([\s\-.'’]+)", word)
    out: list[str] = []
    for i, part in enumerate(parts):
        if i % 2 == 1 or not part:  # a separator, kept as it is
            out.append(part)
            continue
        after_apostrophe = i >= 2 and parts[i - 1] in _APOSTROPHES
        elided = part in _ELIDED and i + 1 < len(parts) and parts[i + 1] in _APOSTROPHES
        if i > 0 and not after_apostrophe and (part in _LOWER_PARTICLES or elided):
            out.append(part)
        else:
            out.append(part[:1].upper() + part[1:])
    return "".join(out)


def display_word(word: str, kind: WordKind) -> str:
    """A word as the list shows it: places as names ("Paris"), things and scenes with a capital first letter
    ("Cell phone"), as a list of headings reads best; what a click searches for stays the stored word."""
    if kind == WordKind.PLACE:
        return display_place(word)
    return word[:1].upper() + word[1:]


def _count_text(n: int) -> str:
    return f"{n:,} photo{'' if n == 1 else 's'}"


def _load_covers(paths: dict[str, Path], side: int) -> dict[str, QImage]:
    """Worker thread: each thumbnail decoded at about ``side`` pixels and cropped to a centred square.

    ``QImageReader.setScaledSize`` lets the JPEG decoder skip most of the work (a thumbnail is read at an
    eighth of its size where it can), so the sixty of a full list cost little. A thumbnail not made yet
    is left out: the placeholder stays until a later refresh finds it. ``QImage`` (not ``QPixmap``) is made
    here: it is the one image class that may be built off the GUI thread.
    """
    out: dict[str, QImage] = {}
    for content_hash, path in paths.items():
        if not path.is_file():
            continue
        reader = QImageReader(str(path))
        reader.setAutoTransform(True)
        size = reader.size()
        if size.isValid() and not size.isEmpty():
            reader.setScaledSize(size.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatioByExpanding))
        image = reader.read()
        if image.isNull():
            log.warning("cannot read the thumbnail %s: %s", path, reader.errorString())
            continue
        if min(image.width(), image.height()) != side:  # the decoder could not scale this one itself
            image = image.scaled(
                side, side, Qt.AspectRatioMode.KeepAspectRatioByExpanding, Qt.TransformationMode.SmoothTransformation
            )
        if image.width() != side or image.height() != side:
            image = image.copy(QRect((image.width() - side) // 2, (image.height() - side) // 2, side, side))
        out[content_hash] = image
    return out


class _WordList(QListWidget):
    """The list itself: Enter on a word searches it, as a click does (``activated`` would also fire on a
    double-click, and on a single click under some styles, which would search twice)."""

    word_entered = Signal(QListWidgetItem)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        item = self.currentItem()
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and item is not None and item.data(WORD_ROLE):
            self.word_entered.emit(item)
            event.accept()
            return
        super().keyPressEvent(event)


class InYourPhotos(QWidget):
    """The words found in the library, grouped as "Places" and "Things", each with its count and a thumbnail.

    ``set_words`` fills it (from ``catalogue.word_counts``); ``word_chosen`` carries the stored, lower-case word
    of a clicked (or entered) item: the text to put in the search box.
    """

    word_chosen = Signal(str)

    def __init__(self, library: Library, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.runner = runner
        self.list = _WordList()
        self.list.setIconSize(QSize(THUMB_SIDE, THUMB_SIDE))
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.list.setUniformItemSizes(False)
        self.list.setSpacing(1)
        self.list.setWordWrap(True)
        self.list.itemClicked.connect(self._chosen)
        self.list.word_entered.connect(self._chosen)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.list)
        self._shown: list[tuple[str, str, int, str | None]] = []
        self._thumbs: dict[str, QPixmap] = {}  # content hash -> thumbnail, for the words shown
        self._in_flight: set[str] = set()
        self._placeholder = self._make_placeholder()
        self._show_empty()

    # filling ----------------------------------------------------------------------------------------------------

    def set_words(self, words: Sequence[WordCount]) -> None:
        """Show these words, in their order (the core's "most useful first"), places in their own group.

        The window calls this every few seconds while indexing: an unchanged list is left alone (no flicker,
        the selection and scroll position stay, only thumbnails not made before are looked for again); a
        changed one is rebuilt keeping the selected word and the scroll position.
        """
        shown = [(w.word, str(w.kind), w.count, w.cover_hash) for w in words]
        if shown == self._shown:
            self._request_thumbs()
            return
        self._shown = shown
        current = self.list.currentItem()
        selected = current.data(WORD_ROLE) if current is not None else None
        scroll = self.list.verticalScrollBar().value()
        self.list.clear()
        if not words:
            self._show_empty()
            return
        places = [w for w in words if w.kind == WordKind.PLACE]
        things = [w for w in words if w.kind != WordKind.PLACE]
        for title, group in (("Places", places), ("Things", things)):
            if not group:
                continue
            self.list.addItem(self._heading(title))
            for w in group:
                item = self._item(w)
                self.list.addItem(item)
                if w.word == selected:
                    self.list.setCurrentItem(item)
        self.list.doItemsLayout()  # the scroll range of the new items, so the old position can be restored
        self.list.verticalScrollBar().setValue(scroll)
        self._request_thumbs()
        # forget thumbnails of words no longer shown (a long-running session must not keep them all)
        wanted = {w.cover_hash for w in words if w.cover_hash}
        for h in set(self._thumbs) - wanted:
            del self._thumbs[h]

    def words(self) -> list[str]:
        """The stored words shown, in order (group headings left out)."""
        return [w for i in range(self.list.count()) if (w := self.list.item(i).data(WORD_ROLE))]

    def item_for(self, word: str) -> QListWidgetItem | None:
        """The item of a stored word, or None when it is not shown."""
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.data(WORD_ROLE) == word:
                return item
        return None

    def group_of(self, word: str) -> str | None:
        """The heading ("Places" or "Things") a shown word is listed under."""
        heading = None
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.data(WORD_ROLE) is None:
                heading = item.text()
            elif item.data(WORD_ROLE) == word:
                return heading
        return None

    def _heading(self, title: str) -> QListWidgetItem:
        item = QListWidgetItem(title)
        item.setFlags(Qt.ItemFlag.NoItemFlags)  # not selectable, not clickable, skipped by the arrow keys
        font = QFont(self.font())
        font.setBold(True)
        item.setFont(font)
        item.setForeground(self.palette().windowText())
        return item

    def _item(self, w: WordCount) -> QListWidgetItem:
        item = QListWidgetItem(f"{display_word(w.word, w.kind)}\n{_count_text(w.count)}")
        item.setData(WORD_ROLE, w.word)
        item.setData(COUNT_ROLE, w.count)
        item.setData(COVER_ROLE, w.cover_hash)
        item.setToolTip(f"Search for \u201c{w.word}\u201d ({_count_text(w.count)})")
        pixmap = self._thumbs.get(w.cover_hash) if w.cover_hash else None
        item.setIcon(QIcon(pixmap if pixmap is not None else self._placeholder))
        item.setData(THUMB_ROLE, pixmap is not None)
        return item

    def _show_empty(self) -> None:
        item = QListWidgetItem("Nothing yet: what PhotoBird sees in your photos is listed here as it looks at them.")
        item.setFlags(Qt.ItemFlag.NoItemFlags)
        self.list.addItem(item)

    # thumbnails -------------------------------------------------------------------------------------------------

    def _make_placeholder(self) -> QPixmap:
        """A neutral rounded square, shown until (or instead of, when none is made yet) the thumbnail."""
        ratio = self.devicePixelRatioF()
        pixmap = QPixmap(round(THUMB_SIDE * ratio), round(THUMB_SIDE * ratio))
        pixmap.setDevicePixelRatio(ratio)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(PLACEHOLDER_COLOR)
        painter.drawRoundedRect(0, 0, THUMB_SIDE, THUMB_SIDE, 6, 6)
        painter.end()
        return pixmap

    def _request_thumbs(self) -> None:
        """Read, in one background task, the thumbnails shown neither yet nor being read."""
        paths: dict[str, Path] = {}
        for i in range(self.list.count()):
            h = self.list.item(i).data(COVER_ROLE)
            if h and h not in self._thumbs and h not in self._in_flight:
                paths[h] = self.library.thumb_path(h)  # a path computed, no disk touched
        if not paths:
            return
        asked = set(paths)
        self._in_flight.update(asked)
        ratio = self.devicePixelRatioF()
        self.runner.run(
            _load_covers,
            paths,
            round(THUMB_SIDE * ratio),
            on_done=lambda images: self._thumbs_loaded(asked, images, ratio),
            on_error=lambda msg, tb: self._thumbs_failed(asked, msg, tb),
        )

    def _thumbs_loaded(self, asked: set[str], images: dict[str, QImage], ratio: float) -> None:
        self._in_flight.difference_update(asked)
        for h, image in images.items():
            pixmap = QPixmap.fromImage(image)
            pixmap.setDevicePixelRatio(ratio)
            self._thumbs[h] = pixmap
        for i in range(self.list.count()):
            item = self.list.item(i)
            h = item.data(COVER_ROLE)
            if h in images and not item.data(THUMB_ROLE):
                item.setIcon(QIcon(self._thumbs[h]))
                item.setData(THUMB_ROLE, True)

    def _thumbs_failed(self, asked: set[str], message: str, tb: str) -> None:
        self._in_flight.difference_update(asked)  # tried again at the next refresh
        log.warning("reading the sidebar's thumbnails failed: %s\n%s", message, tb)

    # choosing ---------------------------------------------------------------------------------------------------

    def _chosen(self, item: QListWidgetItem) -> None:
        word = item.data(WORD_ROLE)
        if word:  # a heading or the empty-list hint carries none
            self.word_chosen.emit(word)
