"""The photo viewer: one photo large (EXIF orientation applied, then the user's rotation), with what PhotoBird
knows beside it.

The image is decoded in the background at about screen size (never full size for a 12-megapixel JPEG just to
look at it); zooming in past those pixels (or 1:1, by a double-click) decodes the photo at full size, in the
background too. The info panel reads the catalogue through the core. A photo on a drive that is not connected is
not an error: the viewer says so and shows its thumbnail from the cache, with everything the catalogue knows
beside it.

R and Shift+R turn the picture a quarter turn: it is shown turned at once, and the rotation is written to the
catalogue (by content, like a label) in the background, one write at a time, so quick presses add up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QPointF, QRectF, QSize, QSizeF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QHideEvent,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
    QPixmap,
    QResizeEvent,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from photobird.gui.filmstrip import Filmstrip
from photobird.gui.grid import PhotoGridModel
from photobird.gui.sizes import file_size
from photobird.gui.worker import TaskRunner
from photobird.library import catalogue, edits
from photobird.library.store import Library, LibraryError
from photobird.media.decode import DecodeError, decode

OFFLINE_TEXT = "This photo is on a drive that is not connected"
#: One press of + or -, or one notch of the wheel, zooms by this factor.
ZOOM_STEP = 1.25
#: At most this many screen pixels for one pixel of the photo.
MAX_ZOOM = 8.0
#: How long the slideshow shows each photo.
SLIDE_MS = 4000
#: Asked of the decoder for a photo at full size: larger than any photo's shorter side (so never reduced).
FULL_SIDE = 1 << 20


def _load(library: Library, photo_id: int, side: int) -> tuple[dict[str, Any], QImage | None, str | None]:
    """Worker thread: the catalogue's info and the pixels, reduced to about ``side`` pixels; for a photo on a drive
    that is not connected, its thumbnail (the file is not read: what is at its path now, if anything, is not it)."""
    info = catalogue.info(library, photo_id)
    if info["offline"]:
        thumb = QImage(info["thumbnail"]) if info["thumbnail"] else QImage()
        return info, None if thumb.isNull() else thumb, None
    try:
        im = decode(info["path"], min_side=side).image
        im.thumbnail((side * 2, side * 2))
        return info, _qimage(im), None
    except DecodeError as e:
        return info, None, str(e)


def _load_full(path: str) -> QImage | None:
    """Worker thread: the photo at full size, for zooming in (None when it can no longer be read: the viewer keeps
    what it shows)."""
    try:
        return _qimage(decode(path, min_side=FULL_SIDE).image)
    except DecodeError:
        return None


def _qimage(im: Any) -> QImage:
    """An RGB Pillow image as a QImage that owns its pixels."""
    data = im.tobytes("raw", "RGB")
    return QImage(data, im.width, im.height, im.width * 3, QImage.Format.Format_RGB888).copy()


def with_faces(image: QImage, faces: list[dict[str, Any]]) -> QPixmap:
    """The photo with a box on each face and the person's name under it (unnamed people by number)."""
    pixmap = QPixmap.fromImage(image)
    if not faces:
        return pixmap
    if max(pixmap.width(), pixmap.height()) < 800:  # boxes and names drawn at about screen size, not blown up
        pixmap = pixmap.scaled(800, 800, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    w, h = pixmap.width(), pixmap.height()
    font = QFont(painter.font())
    font.setPixelSize(max(12, round(min(w, h) / 40)))
    painter.setFont(font)
    for face in faces:
        left, top, right, bottom = face["box"]
        named = face["name"] is not None
        painter.setPen(QPen(QColor(255, 210, 0) if named else QColor(255, 255, 255), max(2, round(min(w, h) / 300))))
        painter.drawRect(round(left * w), round(top * h), round((right - left) * w), round((bottom - top) * h))
        text = face["name"] or (f"person {face['person']}" if face["person"] is not None else "")
        if text:
            painter.drawText(round(left * w), round(bottom * h) + font.pixelSize() + 2, text)
    painter.end()
    return pixmap


def shown(image: QImage, faces: list[dict[str, Any]], rotation: int) -> QPixmap:
    """The photo as the viewer shows it: the boxes drawn on the faces first (their boxes are fractions of the
    photo as decoded), then turned ``rotation`` degrees clockwise, boxes and all, so they stay on the faces."""
    pixmap = with_faces(image, faces)
    return pixmap.transformed(QTransform().rotate(rotation)) if rotation else pixmap


def _place_text(info: dict[str, Any]) -> str:
    """Where the photo was taken: the gazetteer's name ("Arezzo, Tuscany, Italy"); the GPS position itself when
    it names no place (out at sea, or not looked up yet), so a position is never hidden; else "unknown"."""
    if info.get("place"):
        return str(info["place"])
    gps = info.get("gps")
    if gps and gps.get("latitude") is not None and gps.get("longitude") is not None:
        return f"{gps['latitude']:.5f}, {gps['longitude']:.5f}"
    return "unknown"


def _within(centre: float, extent: float, room: float) -> float:
    """Where a view ``room`` photo pixels wide is centred along a side ``extent`` long: on the middle when it all
    fits, else no further out than its edges."""
    return extent / 2 if extent <= room else min(max(centre, room / 2), extent - room / 2)


class ImageView(QWidget):
    """Shows a pixmap fitted to the widget, or zoomed (wheel, or the viewer's + and -) about the cursor and panned by
    dragging; a double-click toggles 1:1, one pixel of the photo per screen pixel.

    The pixmap may have fewer pixels than the photo (decoded at about screen size): the view works in the photo's
    full-size pixels (``set_image``'s ``full``), so the view stays where it is when the pixmap is swapped for the
    full-size one, and ``scale`` is relative to the photo itself. ``detail_wanted`` says the pixmap is being blown
    up (zoomed past its pixels), so the viewer can decode the photo at full size."""

    detail_wanted = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setMinimumSize(QSize(200, 200))
        self._pixmap: QPixmap | None = None
        self._text = ""
        self._full = QSizeF()  # the photo's size at full resolution, as shown (turned)
        self._zoom: float | None = None  # screen pixels per photo pixel; None: fitted to the widget
        self._centre = QPointF()  # the point of the photo (full-size pixels) at the widget's centre, when zoomed
        self._drag: QPointF | None = None
        self._fitted_pixmap: QPixmap | None = None  # fitted: the pixmap scaled once, smoothly, to the widget

    def set_image(
        self, pixmap: QPixmap | None, text: str = "", full: QSize | None = None, keep_view: bool = False
    ) -> None:
        """Show ``pixmap`` (None: ``text`` instead); ``full``: the photo's size at full resolution as shown (None:
        the pixmap's); ``keep_view``: the same photo in more pixels, so stay where the view is."""
        self._pixmap = pixmap
        self._text = "" if pixmap is not None else text
        self._fitted_pixmap = None
        if pixmap is not None:
            self._full = QSizeF(full if full is not None and not full.isEmpty() else pixmap.size())
        if not keep_view:
            self._zoom = None
        self._settle()

    def pixmap(self) -> QPixmap:
        """What is shown (a null pixmap when there is nothing)."""
        return self._pixmap if self._pixmap is not None else QPixmap()

    def text(self) -> str:
        """What is said instead of a picture ("loading", why a file cannot be shown)."""
        return self._text

    def fitted(self) -> bool:
        return self._zoom is None

    def scale(self) -> float:
        """Screen pixels per pixel of the photo at full size: 1.0 is 1:1."""
        return self._fit() if self._zoom is None else self._zoom

    def visible_part(self) -> QRectF:
        """The part of the photo on screen, in its full-size pixels."""
        s, c = self.scale(), self._centre_point()
        part = QRectF(c.x() - self.width() / 2 / s, c.y() - self.height() / 2 / s, self.width() / s, self.height() / s)
        return part.intersected(QRectF(QPointF(0, 0), self._full))

    def zoom_by(self, factor: float, at: QPointF | None = None) -> None:
        self.zoom_to(self.scale() * factor, at)

    def zoom_to(self, zoom: float, at: QPointF | None = None) -> None:
        """Zoom to ``zoom`` screen pixels per photo pixel, keeping the point under ``at`` (default: the centre)
        where it is; never smaller than fitted (or 1:1, for a photo smaller than the widget)."""
        if self._pixmap is None:
            return
        middle = QPointF(self.width() / 2, self.height() / 2)
        offset = (at if at is not None else middle) - middle
        point = self._centre_point() + offset / self.scale()
        fit = self._fit()
        zoom = max(min(fit, 1.0), min(zoom, max(MAX_ZOOM, fit)))
        if abs(zoom - fit) <= fit * 1e-3:
            self._zoom = None
        else:
            self._zoom = zoom
            self._centre = point - offset / zoom
        self._settle()

    def fit(self) -> None:
        self._zoom = None
        self._settle()

    def _fit(self) -> float:
        if self._full.isEmpty():
            return 1.0
        return min(self.width() / self._full.width(), self.height() / self._full.height())

    def _centre_point(self) -> QPointF:
        if self._zoom is None:
            return QPointF(self._full.width() / 2, self._full.height() / 2)
        return self._centre

    def _settle(self) -> None:
        """After any change: keep the photo on screen (centred along a side that fits), show whether it can be
        dragged, ask for more pixels when these are blown up, and repaint."""
        if self._zoom is not None:
            self._centre = QPointF(
                _within(self._centre.x(), self._full.width(), self.width() / self._zoom),
                _within(self._centre.y(), self._full.height(), self.height() / self._zoom),
            )
        movable = self._zoom is not None and (
            self._full.width() * self._zoom > self.width() or self._full.height() * self._zoom > self.height()
        )
        if not movable:
            self.unsetCursor()
        elif self._drag is None:
            self.setCursor(Qt.CursorShape.OpenHandCursor)
        if self._pixmap is not None and self.scale() * self._full.width() > self._pixmap.width() * 1.05:
            self.detail_wanted.emit()
        self.update()

    # Qt events -------------------------------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        if self._pixmap is None:
            painter.setPen(self.palette().color(QPalette.ColorRole.WindowText))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._text)
            return
        s, c = self.scale(), self._centre_point()
        target = QRectF(
            self.width() / 2 - c.x() * s, self.height() / 2 - c.y() * s, self._full.width() * s, self._full.height() * s
        )
        if self._zoom is None:  # fitted: scaled once, smoothly (not resampled at every repaint)
            size = target.size().toSize()
            if self._fitted_pixmap is None or self._fitted_pixmap.size() != size:
                self._fitted_pixmap = self._pixmap.scaled(
                    size, Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation
                )
            painter.drawPixmap(target.topLeft(), self._fitted_pixmap)
        else:  # zoomed: only the part on screen is resampled
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawPixmap(target, self._pixmap, QRectF(self._pixmap.rect()))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._settle()

    def wheelEvent(self, event: QWheelEvent) -> None:
        notches = event.angleDelta().y() / 120
        if notches and self._pixmap is not None:
            self.zoom_by(ZOOM_STEP**notches, event.position())
            event.accept()
        else:
            super().wheelEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self._zoom is not None:
            self._drag = event.position()
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
        else:
            super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._drag is not None and self._zoom is not None:
            self._centre -= (event.position() - self._drag) / self._zoom
            self._drag = event.position()
            self._settle()
        else:
            super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._drag = None
        self._settle()
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self._pixmap is None:
            super().mouseDoubleClickEvent(event)
        elif self._zoom is not None and abs(self._zoom - 1.0) < 1e-6:
            self.fit()
        else:
            self.zoom_to(1.0, event.position())


class Viewer(QWidget):
    """Arrow keys move through the current results, Escape goes back, B / N / 0 label the photo; + and - zoom,
    F11 shows it full screen, R and Shift+R turn it."""

    back = Signal()
    step = Signal(int)  # -1 previous, +1 next
    label_requested = Signal(list, object)  # ids, "bird" | "not-bird" | None
    full_screen_changed = Signal(bool)  # the window hides everything but the photo while it is full screen

    def __init__(self, library: Library, runner: TaskRunner) -> None:
        super().__init__()
        self.library = library
        self.runner = runner
        self.photo_id: int | None = None
        self.info: dict[str, Any] = {}
        #: Clockwise degrees the shown photo is turned (the catalogue's, plus presses not written yet).
        self.rotation = 0
        self.full_screen = False
        self._was_maximized = False
        self._image: QImage | None = None  # the photo as decoded (EXIF orientation applied), before turning
        self._faces: list[dict[str, Any]] = []
        self._full_asked = False  # the photo at full size is decoded (or being decoded) for zooming in
        self._unsent: dict[int, int] = {}  # photo id -> quarter turns pressed, not yet sent to the catalogue
        self._writing = False  # a rotation is being written (one at a time: quick presses add up)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        #: The slideshow (S): the next photo of the results every ``SLIDE_MS``, until the last one
        self.slideshow = QTimer(self)
        self.slideshow.setInterval(SLIDE_MS)
        self.slideshow.timeout.connect(self._next_slide)
        self._slide_from: int | None = None  # the photo the last slide step left (still shown: it was the last)
        self.image = ImageView()
        self.image.detail_wanted.connect(self._want_full_size)
        self.notice = QLabel()  # over the photo: why only its thumbnail is shown
        self.notice.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.notice.setToolTip("PhotoBird keeps its photos while the drive is away; connect it to see them in full.")
        self.notice.hide()
        self.said = QLabel()  # over the photo (seen in full screen too): why a key did nothing
        self.said.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.said.setWordWrap(True)
        self.said.hide()
        self.panel = QWidget()
        self.panel.setFixedWidth(300)
        form = QFormLayout(self.panel)
        self.fields: dict[str, QLabel] = {}
        for key, title in (
            ("name", "File"),
            ("taken", "Taken"),
            ("place", "Place"),
            ("camera", "Camera"),
            ("size", "Size"),
            ("folder", "Folder"),
            ("bird", "Bird model"),
            ("user", "Your label"),
            ("labels", "Sees"),
            ("people", "People"),
            ("hint", ""),
        ):
            lab = QLabel()
            lab.setWordWrap(True)
            lab.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.fields[key] = lab
            form.addRow(title, lab)
        self.fields["hint"].setText(
            "B bird \u00b7 N not bird \u00b7 0 clear\n\u2190 \u2192 move \u00b7 Esc back\n"
            "+ \u2212 wheel zoom \u00b7 double-click 1:1\nR Shift+R rotate \u00b7 F11 full screen \u00b7 S slideshow"
        )
        #: The results around the photo (``attach_filmstrip``: the window gives it the grid's model)
        self.filmstrip: Filmstrip | None = None
        self.shown_column = shown_column = QVBoxLayout()
        shown_column.addWidget(self.notice)
        shown_column.addWidget(self.said)
        shown_column.addWidget(self.image, 1)
        row = QHBoxLayout()
        row.addLayout(shown_column, 1)
        row.addWidget(self.panel)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addLayout(row)

    def attach_filmstrip(self, model: PhotoGridModel) -> None:
        """A strip of the results under the photo (the grid's own model: the same photos, in the same order)."""
        self.filmstrip = Filmstrip(model)
        self.filmstrip.chosen.connect(self.show_photo)
        self.shown_column.addWidget(self.filmstrip)

    def show_photo(self, photo_id: int) -> None:
        self.photo_id = photo_id
        if self.filmstrip is not None:
            self.filmstrip.show_current(photo_id)
        self.notice.hide()
        self.said.hide()
        self._image = None
        self._full_asked = False
        self.image.set_image(None, "loading\u2026")
        side = max(self.image.width(), self.image.height(), 800)
        self.runner.run(
            _load, self.library, photo_id, side, on_done=lambda result, pid=photo_id: self._loaded(pid, result)
        )

    def refresh_info(self) -> None:
        if self.photo_id is not None:
            self.runner.run(
                catalogue.info,
                self.library,
                self.photo_id,
                on_done=lambda info, pid=self.photo_id: self._info(pid, info),
            )

    def _loaded(self, photo_id: int, result: tuple[dict[str, Any], QImage | None, str | None]) -> None:
        if photo_id != self.photo_id:
            return  # the user has moved on
        info, image, error = result
        self.notice.setText(OFFLINE_TEXT)
        self.notice.setVisible(info["offline"] and image is not None)
        self._image, self._faces = image, info.get("faces", [])
        self.rotation = (info.get("rotation", 0) + 90 * self._unsent.get(photo_id, 0)) % 360
        self._info(photo_id, info)
        if image is not None:
            self._show_image()
        else:  # offline: the notice alone when there is not even a thumbnail
            self.image.set_image(None, OFFLINE_TEXT if info["offline"] else f"cannot show this file: {error}")

    def _show_image(self, keep_view: bool = False) -> None:
        """The decoded photo, its faces boxed, turned as the user turned it."""
        if self._image is None:
            return
        w, h = self.info.get("width") or self._image.width(), self.info.get("height") or self._image.height()
        full = QSize(h, w) if self.rotation in (90, 270) else QSize(w, h)
        self.image.set_image(shown(self._image, self._faces, self.rotation), full=full, keep_view=keep_view)

    def _want_full_size(self) -> None:
        """Zoomed past the pixels decoded for the screen: decode the photo at full size, once, in the background."""
        image, pid = self._image, self.photo_id
        if image is None or pid is None or self._full_asked or self.info.get("offline"):
            return
        if image.width() >= (self.info.get("width") or 0):
            return  # these are all the pixels there are
        self._full_asked = True
        self.runner.run(_load_full, self.info["path"], on_done=lambda full, pid=pid: self._full_size(pid, full))

    def _full_size(self, photo_id: int, image: QImage | None) -> None:
        if photo_id == self.photo_id and image is not None:
            self._image = image
            self._show_image(keep_view=True)

    def _info(self, photo_id: int, info: dict[str, Any]) -> None:
        if photo_id != self.photo_id:
            return
        self.info = info
        f = self.fields
        f["name"].setText(Path(info["path"]).name)
        taken = info["taken_at"] or f"{info['file_time']} (the file's date: the photo has none)"
        f["taken"].setText(taken.replace("T", " "))
        f["place"].setText(_place_text(info))
        f["camera"].setText(info["camera"] or "unknown")
        size = f"{info['width']} \u00d7 {info['height']}" if info["width"] else "?"
        f["size"].setText(f"{size}, {file_size(info['size'])}")
        offline = " (offline: its drive is not connected)" if info["offline"] else ""
        f["folder"].setText(f"{Path(info['path']).parent}{offline}")
        if info["bird"] is None:
            f["bird"].setText("not scored yet")
        else:
            verdict = "bird" if info["is_bird"] else "not a bird"
            f["bird"].setText(f"bird {info['bird']:.0%} \u2192 {verdict}")
        f["user"].setText({"bird": "bird", "not-bird": "not bird"}.get(info["user_label"] or "", "none"))
        words = [f"{w} {p:.0%}" for w, p in info["labels"].items() if p >= 0.1][:8]
        f["labels"].setText(", ".join(words) or "nothing recognised")
        faces = info.get("faces", [])
        names = [x["name"] or (f"person {x['person']}" if x["person"] is not None else "unknown") for x in faces]
        f["people"].setText(", ".join(names) if faces else "no faces found")

    # rotating ---------------------------------------------------------------------------------------------------

    def rotate(self, quarter_turns: int) -> None:
        """Turn the shown photo ``quarter_turns`` clockwise (negative: counter-clockwise): shown at once, written
        in the background; a library that cannot be written, or a photo not read yet, says why instead."""
        pid = self.photo_id
        if pid is None or self.info.get("id") != pid:
            return  # not loaded yet
        try:
            self.library.require_writable("rotating photos")
        except LibraryError as e:
            self._say(str(e))
            return
        if not self.info.get("content_hash"):
            self._say(f"{Path(self.info['path']).name} has not been read yet: it can be rotated once it is indexed.")
            return
        self.rotation = (self.rotation + 90 * quarter_turns) % 360
        self._show_image()
        self._unsent[pid] = self._unsent.get(pid, 0) + quarter_turns
        self._send()

    @property
    def rotating(self) -> bool:
        """Whether rotations pressed are still being written to the catalogue."""
        return self._writing or any(turns % 4 for turns in self._unsent.values())

    def _send(self) -> None:
        """Write the next photo's pressed turns (one write at a time, so none is lost to another's lock)."""
        while self._unsent and not self._writing:
            pid, turns = self._unsent.popitem()
            if turns % 4:
                self._writing = True
                self.runner.run(
                    edits.rotate,
                    self.library,
                    pid,
                    turns,
                    on_done=lambda rotation, pid=pid: self._rotated(pid, rotation),
                    on_error=lambda message, _tb, pid=pid, turns=turns: self._not_rotated(pid, turns, message),
                )

    def _rotated(self, photo_id: int, rotation: int) -> None:
        self._writing = False
        if photo_id == self.photo_id and photo_id not in self._unsent and rotation != self.rotation:
            self.rotation = rotation  # (turned elsewhere meanwhile: the catalogue's is what the photo is now)
            self._show_image()
        self._send()

    def _not_rotated(self, photo_id: int, turns: int, message: str) -> None:
        self._writing = False
        if photo_id == self.photo_id:
            self.rotation = (self.rotation - 90 * turns) % 360
            self._show_image()
            self._say(f"Not rotated: {message.split(': ', 1)[-1]}")
        self._send()

    def _say(self, sentence: str) -> None:
        self.said.setText(sentence)
        self.said.show()

    # full screen ------------------------------------------------------------------------------------------------

    def set_full_screen(self, on: bool) -> None:
        """The window full screen with the photo alone (the info panel hidden), or back as it was."""
        if on == self.full_screen:
            return
        window = self.window()
        self.full_screen = on
        self.panel.setVisible(not on)
        if self.filmstrip is not None:
            self.filmstrip.setVisible(not on)
        self.full_screen_changed.emit(on)
        if on:
            self._was_maximized = window.isMaximized()
            window.showFullScreen()
        elif self._was_maximized:
            window.showMaximized()
        else:
            window.showNormal()

    # slideshow --------------------------------------------------------------------------------------------------

    def toggle_slideshow(self) -> None:
        if self.slideshow.isActive():
            self.slideshow.stop()
        else:
            self._slide_from = None
            self.slideshow.start()

    def _next_slide(self) -> None:
        """One step on; when the step left the photo where it was, that was the last one: the slideshow ends."""
        if self.photo_id is None or self.photo_id == self._slide_from:
            self.slideshow.stop()
            return
        self._slide_from = self.photo_id
        self.step.emit(1)

    def hideEvent(self, event: QHideEvent) -> None:
        """Leaving the viewer (for the grid, a search) stops the slideshow and leaves full screen too; the window
        closing does not leave full screen."""
        super().hideEvent(event)
        if not event.spontaneous():
            self.slideshow.stop()
        if self.full_screen and not event.spontaneous() and self.window().isVisible():
            self.set_full_screen(False)

    # keys -------------------------------------------------------------------------------------------------------

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key == Qt.Key.Key_Escape:
            if self.slideshow.isActive():
                self.slideshow.stop()
            elif self.full_screen:
                self.set_full_screen(False)
            else:
                self.back.emit()
        elif key == Qt.Key.Key_F11:
            self.set_full_screen(not self.full_screen)
        elif key in (Qt.Key.Key_Right, Qt.Key.Key_Space):
            self.step.emit(1)
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Backspace):
            self.step.emit(-1)
        elif key in (Qt.Key.Key_B, Qt.Key.Key_N, Qt.Key.Key_0) and self.photo_id is not None:
            label = {Qt.Key.Key_B: "bird", Qt.Key.Key_N: "not-bird", Qt.Key.Key_0: None}[Qt.Key(key)]
            self.label_requested.emit([self.photo_id], label)
        elif key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.image.zoom_by(ZOOM_STEP)
        elif key == Qt.Key.Key_Minus:
            self.image.zoom_by(1 / ZOOM_STEP)
        elif key == Qt.Key.Key_R:
            self.rotate(-1 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 1)
        elif key == Qt.Key.Key_S:
            self.toggle_slideshow()
        else:
            super().keyPressEvent(event)
