"""The photo viewer: one photo large (EXIF orientation applied), with what PhotoBird knows beside it.

The image is decoded in the background at about screen size (never full size for a 12-megapixel JPEG), and
the info panel reads the catalogue through the core. A photo on a drive that is not connected is not an error:
the viewer says so and shows its thumbnail from the cache, with everything the catalogue knows beside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QKeyEvent, QPainter, QPen, QPixmap, QResizeEvent
from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from photobird.gui.worker import TaskRunner
from photobird.library import catalogue
from photobird.library.store import Library
from photobird.media.decode import DecodeError, decode

OFFLINE_TEXT = "This photo is on a drive that is not connected"


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
        data = im.tobytes("raw", "RGB")
        qimage = QImage(data, im.width, im.height, im.width * 3, QImage.Format.Format_RGB888).copy()
        return info, qimage, None
    except DecodeError as e:
        return info, None, str(e)


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


def _place_text(info: dict[str, Any]) -> str:
    """Where the photo was taken: the gazetteer's name ("Arezzo, Tuscany, Italy"); the GPS position itself when
    it names no place (out at sea, or not looked up yet), so a position is never hidden; else "unknown"."""
    if info.get("place"):
        return str(info["place"])
    gps = info.get("gps")
    if gps and gps.get("latitude") is not None and gps.get("longitude") is not None:
        return f"{gps['latitude']:.5f}, {gps['longitude']:.5f}"
    return "unknown"


class ImageLabel(QLabel):
    """Shows a pixmap scaled to fit, keeping its aspect ratio, re-scaled on resize."""

    def __init__(self) -> None:
        super().__init__()
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setMinimumSize(QSize(200, 200))
        self._pixmap: QPixmap | None = None

    def set_image(self, pixmap: QPixmap | None, text: str = "") -> None:
        self._pixmap = pixmap
        if pixmap is None:
            super().setPixmap(QPixmap())
            self.setText(text)
        else:
            self.setText("")
            self._rescale()

    def _rescale(self) -> None:
        if self._pixmap is not None:
            super().setPixmap(
                self._pixmap.scaled(
                    self.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
                )
            )

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._rescale()


class Viewer(QWidget):
    """Arrow keys move through the current results, Escape goes back, B / N / 0 label the photo."""

    back = Signal()
    step = Signal(int)  # -1 previous, +1 next
    label_requested = Signal(list, object)  # ids, "bird" | "not-bird" | None

    def __init__(self, library: Library, runner: TaskRunner) -> None:
        super().__init__()
        self.library = library
        self.runner = runner
        self.photo_id: int | None = None
        self.info: dict[str, Any] = {}
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.image = ImageLabel()
        self.notice = QLabel()  # over the photo: why only its thumbnail is shown
        self.notice.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.notice.setToolTip("PhotoBird keeps its photos while the drive is away; connect it to see them in full.")
        self.notice.hide()
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
        self.fields["hint"].setText("B bird \u00b7 N not bird \u00b7 0 clear\n\u2190 \u2192 move \u00b7 Esc back")
        shown = QVBoxLayout()
        shown.addWidget(self.notice)
        shown.addWidget(self.image, 1)
        row = QHBoxLayout()
        row.addLayout(shown, 1)
        row.addWidget(self.panel)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addLayout(row)

    def show_photo(self, photo_id: int) -> None:
        self.photo_id = photo_id
        self.notice.hide()
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
        # offline: the thumbnail under the notice, or the notice alone when there is not even a thumbnail
        text = OFFLINE_TEXT if info["offline"] else (f"cannot show this file: {error}" if error else "")
        self.image.set_image(with_faces(image, info.get("faces", [])) if image is not None else None, text)
        self._info(photo_id, info)

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
        f["size"].setText(f"{size}, {info['size'] / 2**20:.1f} MB")
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

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key == Qt.Key.Key_Escape:
            self.back.emit()
        elif key in (Qt.Key.Key_Right, Qt.Key.Key_Space):
            self.step.emit(1)
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Backspace):
            self.step.emit(-1)
        elif key in (Qt.Key.Key_B, Qt.Key.Key_N, Qt.Key.Key_0) and self.photo_id is not None:
            label = {Qt.Key.Key_B: "bird", Qt.Key.Key_N: "not-bird", Qt.Key.Key_0: None}[Qt.Key(key)]
            self.label_requested.emit([self.photo_id], label)
        else:
            super().keyPressEvent(event)
