"""Logging at the CLI edge: one line per record on stderr, tracebacks only when asked for."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator

import pytest

from fleet.logs import configure_logging, level_for


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root, fleet = logging.getLogger(), logging.getLogger("fleet")
    handlers, levels = list(root.handlers), (root.level, fleet.level)
    yield
    root.handlers[:] = handlers
    root.setLevel(levels[0])
    fleet.setLevel(levels[1])


def _crash() -> None:
    try:
        raise ValueError("chart version 'abc'\nis not a number")
    except ValueError:
        logging.getLogger("fleet.executors.worker").exception("stack %s crashed", "payments-prod")


@pytest.mark.usefixtures("restore_logging")
def test_a_record_with_an_exception_is_one_line_without_a_traceback() -> None:
    out = io.StringIO()
    configure_logging(logging.WARNING, out)
    _crash()
    logging.getLogger("fleet.rollout").info("not shown at WARNING")
    logging.getLogger("urllib3.connectionpool").warning("retrying\nthe connection")
    assert out.getvalue().splitlines() == [
        "error: stack payments-prod crashed (ValueError: chart version 'abc')",
        "warning: urllib3.connectionpool: retrying the connection",
    ]


@pytest.mark.usefixtures("restore_logging")
def test_debug_shows_tracebacks_and_fleets_own_info_but_not_other_libraries_debug() -> None:
    out = io.StringIO()
    configure_logging(logging.DEBUG, out)
    configure_logging(logging.DEBUG, out)  # configuring twice does not print twice
    _crash()
    logging.getLogger("fleet.rollout").info("wave 1 started")
    logging.getLogger("sqlalchemy.engine").debug("SELECT 1")
    text = out.getvalue()
    assert text.startswith("error: stack payments-prod crashed\nTraceback (most recent call last):")
    assert text.count("stack payments-prod crashed") == 1
    assert text.endswith("info: wave 1 started\n") and "SELECT 1" not in text


@pytest.mark.usefixtures("restore_logging")
def test_without_a_stream_it_writes_to_the_current_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    configure_logging(logging.WARNING)
    later = io.StringIO()
    monkeypatch.setattr(sys, "stderr", later)  # e.g. a live view redirecting stderr
    logging.getLogger("fleet.rollout").warning("webhook unreachable")
    assert later.getvalue() == "warning: webhook unreachable\n"


def test_levels_from_flags_and_the_environment() -> None:
    assert level_for(None) == logging.WARNING
    assert level_for("info") == logging.INFO
    assert level_for("ERROR", verbose=1) == logging.INFO
    assert level_for(None, verbose=2) == logging.DEBUG
    with pytest.raises(ValueError, match="use one of DEBUG, INFO, WARNING, ERROR"):
        level_for("loud")
