"""The GUI thread never waits on the database, decoding or the models while a library is indexed.

Checked by what runs where, not by a stopwatch (a busy machine stalls any thread): every SQL statement on the
library's engine and every photo decoded or analysed is recorded with its thread, and none may be the GUI
thread's. The event loop's longest stall is printed for the record; ``bench/`` is where timings are judged.
"""

from __future__ import annotations

import io
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from PySide6.QtCore import QElapsedTimer, QTimer
from sqlalchemy import event

from photobird.gui.main_window import MainWindow
from photobird.library import catalogue, index, scan
from photobird.models.runner import Models

N_FILES = 300


def make_photos(root: Path, n: int) -> None:
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:600, 0:800]
    for i in range(n):
        base = (np.sin(xx / (20 + i % 17)) + np.cos(yy / (15 + i % 11))) * 60 + 128
        arr = np.stack([base, np.roll(base, i, axis=1), base.T[:600, :800] if False else base[::-1]], axis=-1)
        arr = np.clip(arr + rng.normal(0, 8, arr.shape), 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, "JPEG", quality=88)
        (root / f"img_{i:04d}.jpg").write_bytes(buf.getvalue())


def test_the_gui_thread_does_no_blocking_work_while_indexing(
    qtbot, tmp_path: Path, library, settings, monkeypatch
) -> None:
    photos = tmp_path / "photos"
    make_photos(photos, N_FILES)
    scan.add_folder(library, photos)
    win = MainWindow(library, device="cpu", settings=settings, start_indexing=False)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(
        lambda: win.models is not None or win.models_error is not None, timeout=120_000
    )  # loading the models is not indexing
    assert win.models_error is None, win.models_error

    gui_thread = threading.get_ident()
    on_gui_thread: list[str] = []
    seen: Counter[str] = Counter()  # (so the check is not vacuous: the work did run, elsewhere)

    def record(kind: str, what: str) -> None:
        seen[kind] += 1
        if threading.get_ident() == gui_thread:
            on_gui_thread.append(what)

    def on_sql(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        record("sql", statement.split("\n")[0][:80])

    event.listen(library.engine, "before_cursor_execute", on_sql)
    real_decode, real_analyze = index.decode, Models.analyze

    def decode(*args: Any, **kwargs: Any) -> Any:
        record("decode", f"decode {args[0]}")
        return real_decode(*args, **kwargs)

    def analyze(self: Models, *args: Any, **kwargs: Any) -> Any:
        record("analyze", "analyze")
        return real_analyze(self, *args, **kwargs)

    monkeypatch.setattr(index, "decode", decode)
    monkeypatch.setattr(Models, "analyze", analyze)

    gaps: list[float] = []
    clock = QElapsedTimer()
    clock.start()
    last = [clock.elapsed()]

    def tick() -> None:
        now = clock.elapsed()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(tick)
    timer.start()
    started = time.monotonic()
    win.start_indexing()
    # (the check itself is only a label's text: the test must not block the GUI thread either)
    qtbot.waitUntil(
        lambda: (
            win.status_text.text().startswith("Up to date")
            and win.progress.isHidden()
            and win.result_count.text() == f"{N_FILES} photos"
        ),
        timeout=600_000,
    )
    # scroll the grid while thumbnails stream in, as a user would
    for _ in range(20):
        win.grid.verticalScrollBar().setValue(win.grid.verticalScrollBar().value() + 200)
        qtbot.wait(20)
    timer.stop()
    event.remove(library.engine, "before_cursor_execute", on_sql)
    monkeypatch.undo()
    assert on_gui_thread == []
    assert seen["decode"] >= N_FILES and seen["analyze"] > 0 and seen["sql"] > N_FILES / 10, seen
    took = time.monotonic() - started
    assert catalogue.stats(library).indexed == N_FILES
    worst = max(gaps[1:])
    print(
        f"indexed {N_FILES} files in {took:.1f} s; {len(gaps)} ticks; longest event-loop stall {worst} ms; "
        f"p99 {np.percentile(gaps, 99):.0f} ms"
    )
    win.close()
