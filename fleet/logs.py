"""Logging at the edge: one call configures how fleet's warnings reach the user.

Warnings (a stack retried, a worker lost, a webhook unreachable) go to stderr one line each,
``warning: <message>``. An exception attached to a record is reduced to its type and first line
unless the level is DEBUG, so a traceback never floods a terminal or a log file. Messages are
written to be secret-free at their source; nothing here adds values. ``fleet worker`` and
``fleet beat`` keep Celery's own logging and do not call this.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_HANDLER_NAME = "fleet-stderr"


class OneLineFormatter(logging.Formatter):
    """``level: message``; below DEBUG verbosity an exception adds only ``(Type: first line)``."""

    def __init__(self, *, tracebacks: bool) -> None:
        super().__init__()
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        # Other libraries' records name their logger: "warning: urllib3.connectionpool: ...".
        source = "" if record.name.startswith("fleet") else f"{record.name}: "
        line = f"{record.levelname.lower()}: {source}{record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            if self.tracebacks:
                return line + "\n" + self.formatException(record.exc_info)
            error = record.exc_info[1]
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            line += f" ({type(error).__name__}{': ' + first if first else ''})"
        return " ".join(line.splitlines())


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is at the time, so a live view that redirects it (rich's
    Live) prints a warning above the table instead of through it."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def level_for(name: str | None, verbose: int = 0) -> int:
    """The log level: ``-v`` is INFO, ``-vv`` DEBUG; else ``name`` (FLEET_LOG_LEVEL), else WARNING.

    ValueError for a name that is not a level.
    """
    if verbose:
        return logging.DEBUG if verbose > 1 else logging.INFO
    text = (name or "WARNING").strip().upper()
    if text not in LEVELS:
        raise ValueError(f"log level {name!r}: use one of {', '.join(LEVELS)}")
    return int(logging.getLevelName(text))


def configure_logging(level: int, stream: TextIO | None = None) -> None:
    """Send fleet's records at ``level`` and above (and other libraries' warnings) to stderr,
    one line each. Calling it again replaces the earlier configuration."""
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == _HANDLER_NAME:
            root.removeHandler(old)
    handler: logging.Handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(OneLineFormatter(tracebacks=level <= logging.DEBUG))
    root.addHandler(handler)
    root.setLevel(logging.WARNING)  # other libraries: warnings only, whatever fleet's level
    logging.getLogger("fleet").setLevel(level)
