"""The one background primitive: a failure is logged and reported once, whatever the call site handles."""

from __future__ import annotations

import logging

from photobird.gui.worker import Failure, TaskRunner


def test_every_failure_is_logged_and_reported_by_the_runner(qtbot, caplog) -> None:
    runner = TaskRunner()
    failures: list[Failure] = []
    runner.failed.connect(failures.append)

    def count_the_stars() -> int:
        raise ValueError("too many")

    with caplog.at_level(logging.ERROR, logger="photobird"):
        runner.run(count_the_stars)  # no on_error: the runner still reports it
        qtbot.waitUntil(lambda: bool(failures), timeout=10_000)
    (failure,) = failures
    assert failure.task == "count_the_stars" and failure.message == "ValueError: too many"
    assert "raise ValueError" in failure.traceback
    (record,) = [r for r in caplog.records if r.name == "photobird.gui.worker"]
    assert "count_the_stars" in record.getMessage() and record.exc_info is not None
    assert runner.shutdown()


def test_a_result_still_queued_when_the_runner_shuts_down_is_not_delivered(qtbot) -> None:
    """A window closing: a worker's result sent just before is still in the event queue, and the widgets its
    callback would update are being deleted; it is dropped, not delivered."""
    runner = TaskRunner()
    got: list[int] = []
    task = runner.run(lambda: 1, on_done=got.append)
    assert task.done.wait(30)  # sent, but the event loop has not run: still queued
    runner.shutdown()
    qtbot.wait(200)
    assert got == []
    fresh = TaskRunner()  # (a runner that is not shut down delivers as ever)
    fresh.run(lambda: 2, on_done=got.append)
    qtbot.waitUntil(lambda: got == [2], timeout=30_000)
