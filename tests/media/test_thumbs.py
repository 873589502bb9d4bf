"""Thumbnails in the library's cache."""

from __future__ import annotations

import threading
from pathlib import Path

from photobird.media.thumbs import write_atomic


def test_two_threads_writing_one_thumbnail_both_succeed(tmp_path: Path) -> None:
    """Two copies of one photo decoded side by side write the same thumbnail at once: each write must land (a
    shared temporary name made one of them fail, and its photo was recorded as not indexed)."""
    target = tmp_path / "thumbs" / "ab" / "abcdef.jpg"
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def write(data: bytes) -> None:
        start.wait()
        for _ in range(200):
            try:
                write_atomic(target, data)
            except OSError as e:
                errors.append(e)

    threads = [threading.Thread(target=write, args=(bytes([i]) * 5000,)) for i in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert target.read_bytes() in (b"\x01" * 5000, b"\x02" * 5000)
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporary file left behind
