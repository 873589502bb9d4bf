"""The log: a rotating file in the library folder, and the terminal too with ``--verbose``."""

from __future__ import annotations

import logging
import logging.handlers
import subprocess
import sys
from pathlib import Path

from photobird import logs


def test_verbose_prints_the_log_on_the_terminal_and_the_cli_logs_to_the_library(tmp_path: Path) -> None:
    library = tmp_path / "library"
    run = [sys.executable, "-m", "photobird", "--library", str(library)]
    quiet = subprocess.run([*run, "stats"], capture_output=True, text=True, check=True)
    assert "INFO" not in quiet.stderr
    verbose = subprocess.run([*run, "--verbose", "stats"], capture_output=True, text=True, check=True)
    lines = [line for line in verbose.stderr.splitlines() if "INFO" in line and "photobird stats" in line]
    assert lines, verbose.stderr
    assert (library / logs.LOG_FILE).read_text().count("photobird stats") == 2  # both runs, in the library's log


def test_one_library_log_at_a_time(tmp_path: Path, monkeypatch) -> None:
    """Setting up again (a window on another library, a test) replaces the handlers instead of doubling every
    line, and keeps ``--verbose``."""
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # setup installs its own: restored afterwards
    logs.setup(tmp_path / "a", verbose=True, command="test")
    logs.use_library(tmp_path / "b")
    logs.use_library(tmp_path / "b")
    handlers = logging.getLogger("photobird").handlers
    files = [h for h in handlers if isinstance(h, logging.handlers.RotatingFileHandler)]
    assert len(files) == 1 and Path(files[0].baseFilename) == tmp_path / "b" / logs.LOG_FILE
    assert files[0].maxBytes == logs.MAX_BYTES and files[0].backupCount == logs.BACKUPS
    assert len([h for h in handlers if type(h) is logging.StreamHandler]) == 1
    logs.setup(None, verbose=False, command="test")
    assert logging.getLogger("photobird").handlers == []
