"""The app's one background-work primitive: run a function or a generator off the GUI thread.

Everything slow (indexing and watching, loading the models, thumbnails, searching, training, re-scoring) goes
through ``Task``. A task wraps either a plain function (its return value is the result) or a generator, which
is the core's shape of long work: each value it yields is a progress record, emitted as ``progress``.
Signals are delivered on the main thread (queued connections), so slots may touch widgets; the worker never
does ("never touch the UI from a worker"). A generator task pauses by not being pulled and is cancelled by
closing it, which runs its ``finally`` (the core commits or rolls back there).

A failure is never the call site's business alone: the task logs it with its traceback (to the library's log
file, see ``photobird.logs``) and the runner re-emits every task's failure as one ``failed`` signal, which the
window shows in one line. A call site's own error handler only adds what that failure means for its view.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import threading
import traceback
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Failure:
    """One failed task, as the user is shown it: which task, the error in one line, and its traceback."""

    task: str
    message: str
    traceback: str


class TaskSignals(QObject):
    progress = Signal(object)
    finished = Signal(object)  # the function's return value, or the generator's return value
    failed = Signal(str, str)  # message, traceback
    cancelled = Signal()
    ended = Signal()  # after any of finished / failed / cancelled


class Task(QRunnable):
    """One unit of background work. Create with a callable returning a value or a generator."""

    def __init__(self, fn: Callable[..., Any], *args: Any, name: str = "", **kwargs: Any) -> None:
        super().__init__()
        self.setAutoDelete(False)  # the Python object owns it; it must outlive run() for signals
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.name = name or getattr(fn, "__name__", "task")
        self.signals = TaskSignals()
        self._cancel = threading.Event()
        self._resume = threading.Event()
        self._resume.set()
        self.done = threading.Event()

    # control (called from the GUI thread)
    def cancel(self) -> None:
        self._cancel.set()
        self._resume.set()

    def pause(self) -> None:
        self._resume.clear()

    def resume(self) -> None:
        self._resume.set()

    @property
    def paused(self) -> bool:
        return not self._resume.is_set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> None:  # on a pool thread
        try:
            result = self.fn(*self.args, **self.kwargs)
            if inspect.isgenerator(result):
                result = self._drive(result)
            if self._cancel.is_set():
                self.signals.cancelled.emit()
            else:
                self.signals.finished.emit(result)
        except Exception as e:  # logged here, on the worker thread, and reported to the GUI; never raised into Qt
            log.error("background task %s failed", self.name, exc_info=True)
            self._emit(self.signals.failed, f"{type(e).__name__}: {e}", traceback.format_exc())
        finally:
            self.done.set()
            self._emit(self.signals.ended)

    @staticmethod
    def _emit(signal: Any, *args: Any) -> None:
        """Emit unless the receiving side is already gone (the app quit while this task ran)."""
        with contextlib.suppress(RuntimeError):
            signal.emit(*args)

    def _drive(self, gen: Generator[Any, None, Any]) -> Any:
        try:
            while True:
                self._resume.wait()
                if self._cancel.is_set():
                    return None
                try:
                    item = next(gen)
                except StopIteration as stop:
                    return stop.value
                self.signals.progress.emit(item)
        finally:
            gen.close()  # runs the generator's finally: what is done is committed


class TaskRunner(QObject):
    """Owns the thread pools and keeps running tasks alive until they end. Every task it starts reports a
    failure through ``failed``, whether or not its call site handles errors."""

    failed = Signal(object)  # a Failure, on the main thread

    def __init__(self, parent: QObject | None = None, threads: int = 4) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(threads)
        self.long_pool = QThreadPool(self)  # long jobs (indexing, training) never starve quick ones
        self.long_pool.setMaxThreadCount(4)
        self._running: set[Task] = set()
        self._shut = False

    def start(self, task: Task, long: bool = False) -> Task:
        self._running.add(task)
        task.signals.ended.connect(lambda t=task: self._running.discard(t))
        task.signals.failed.connect(lambda message, tb, t=task: self.failed.emit(Failure(t.name, message, tb)))
        (self.long_pool if long else self.pool).start(task)
        return task

    def run(
        self,
        fn: Callable[..., Any],
        *args: Any,
        on_done: Callable[[Any], None] | None = None,
        on_progress: Callable[[Any], None] | None = None,
        on_error: Callable[[str, str], None] | None = None,
        long: bool = False,
        **kwargs: Any,
    ) -> Task:
        task = Task(fn, *args, **kwargs)
        if on_done:
            task.signals.finished.connect(self._unless_shut(on_done))
        if on_progress:
            task.signals.progress.connect(self._unless_shut(on_progress))
        if on_error:
            task.signals.failed.connect(self._unless_shut(on_error))
        return self.start(task, long=long)

    def _unless_shut(self, callback: Callable[..., None]) -> Callable[..., None]:
        """``callback``, unless the runner has been shut down by the time its signal arrives: a result a worker
        sent just before the window closed is still queued, and the widgets it would update are being deleted.
        (A failure is logged where it happens, on the worker thread, either way.)"""

        def call(*args: Any) -> None:
            if not self._shut:
                callback(*args)

        return call

    @property
    def running(self) -> set[Task]:
        return set(self._running)

    def shutdown(self, timeout_ms: int = 10000) -> bool:
        """Cancel everything and wait for the workers to finish their ``finally`` blocks; from now on no call
        site's callback is called."""
        self._shut = True
        for t in list(self._running):
            t.cancel()
        ok = self.long_pool.waitForDone(timeout_ms)
        return self.pool.waitForDone(timeout_ms) and ok
