"""The grid model on a real library: what a cell shows follows the catalogue."""

from __future__ import annotations

import shutil
from pathlib import Path

from photobird import config
from photobird.gui.grid import BRIEF_ROLE, PhotoGrid, PhotoGridModel
from photobird.gui.worker import TaskRunner
from photobird.library import catalogue, scan
from photobird.library.index import index
from photobird.models.runner import Models
from tests.library.conftest import real_rows


def test_a_label_shows_on_every_identical_copy(qtbot, tmp_path: Path, library) -> None:
    """Labels belong to the picture (its content hash), so marking one of two byte-identical files marks both:
    both cells must be re-read and repainted, not only the one the user marked."""
    photos = tmp_path / "photos"
    photos.mkdir()
    source = config.real_photos_dir() / real_rows()[0]["file"]
    shutil.copy(source, photos / "original.jpg")
    shutil.copy(source, photos / "copy of original.jpg")
    scan.add_folder(library, photos)
    index(library, Models(device="cpu", threads=2))
    ids = [catalogue.photo_id_for_path(library, photos / name) for name in ("original.jpg", "copy of original.jpg")]

    runner = TaskRunner()
    model = PhotoGridModel(library, runner)
    grid = PhotoGrid(model)
    qtbot.addWidget(grid)
    grid.show()
    model.set_results(ids, [0.0, 0.0])
    cells = [model.index(0), model.index(1)]
    qtbot.waitUntil(lambda: all(c.data(BRIEF_ROLE) is not None for c in cells), timeout=10_000)
    assert [c.data(BRIEF_ROLE).user_label for c in cells] == [None, None]
    changed: list[int] = []
    model.dataChanged.connect(lambda first, last: changed.extend(range(first.row(), last.row() + 1)))

    catalogue.set_user_label(library, [ids[0]], "not-bird")
    model.refresh([ids[0]])  # what the window does once the user's N is saved
    qtbot.waitUntil(
        lambda: (
            [(c.data(BRIEF_ROLE) or None) and c.data(BRIEF_ROLE).user_label for c in cells] == ["not-bird", "not-bird"]
        ),
        timeout=10_000,
    )
    assert 1 in changed  # the copy's cell was told to repaint
    runner.shutdown()
