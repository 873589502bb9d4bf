"""Where PhotoBird's log goes: a rotating file in the library folder, and the terminal with ``--verbose``.

A failure that only scrolls past in a terminal nobody watches is lost, so every process that opens a library
(the CLI, the app) writes the ``photobird`` logger to ``<library>/photobird.log``, where a user can find it
and attach it to a report; a few files of about a megabyte each keep it from growing without bound. Uncaught
exceptions go to the same log. No Qt here: the CLI and the app share it.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path
from types import TracebackType

LOG_FILE = "photobird.log"
MAX_BYTES = 1_000_000
BACKUPS = 3  # photobird.log.1 .. .3: about 4 MB in all
FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"

log = logging.getLogger("photobird")
_installed: list[logging.Handler] = []  # what this module added, so a second call replaces it


def setup(library_root: Path | None, *, verbose: bool, command: str) -> None:
    """The process's logging, from ``photobird.cli.main``: to the library's file (none without a library, as
    for ``classify``), to stderr too when ``verbose``, and uncaught exceptions into the same log."""
    _configure(library_root, verbose)
    if _installed:
        sys.excepthook = _log_uncaught
        log.info("photobird %s (process %d, library %s)", command, os.getpid(), log_file())


def use_library(library_root: Path) -> None:
    """The app's window logs to the library it shows: a no-op when ``setup`` already chose it, else that
    library's file replaces the previous one (``--verbose`` stays as it was)."""
    if log_file() != _file_of(library_root):
        _configure(library_root, terminal_logging())


def log_file() -> Path | None:
    """The file this process logs to, if any."""
    for handler in _installed:
        if isinstance(handler, logging.handlers.RotatingFileHandler):
            return Path(handler.baseFilename)
    return None


def terminal_logging() -> bool:
    """Whether the log is also printed on stderr (``--verbose``)."""
    return any(type(handler) is logging.StreamHandler for handler in _installed)


def _file_of(library_root: Path) -> Path:
    return library_root.expanduser().resolve() / LOG_FILE


def _can_hold_log(library_root: Path) -> bool:
    """Whether the library folder can take the log file (created if need be). One that cannot (a file, a
    read-only folder) gets none: opening the library then says what is wrong in one sentence, which a handler
    failing on every record would bury under tracebacks."""
    folder = _file_of(library_root).parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK)


def _configure(library_root: Path | None, verbose: bool) -> None:
    for handler in _installed:
        log.removeHandler(handler)
        handler.close()
    _installed.clear()
    if library_root is not None and _can_hold_log(library_root):
        path = _file_of(library_root)
        to_file = logging.handlers.RotatingFileHandler(
            path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8", delay=True
        )
        to_file.setLevel(logging.INFO)
        _installed.append(to_file)
    if verbose:
        _installed.append(logging.StreamHandler(sys.stderr))
    formatter = logging.Formatter(FORMAT)
    for handler in _installed:
        handler.setFormatter(formatter)
        log.addHandler(handler)
    log.setLevel(logging.DEBUG if verbose else logging.INFO)


def _log_uncaught(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
    """An exception nobody caught (the CLI's, or one raised in a Qt slot) is logged with its traceback; the
    usual printout on stderr stays, unless the log already printed it there."""
    if not issubclass(kind, KeyboardInterrupt):
        log.critical("uncaught %s", kind.__name__, exc_info=(kind, error, tb))
    if not terminal_logging() or issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, tb)
