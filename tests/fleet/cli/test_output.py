"""``fitting_table`` as a terminal of a fixed width shows it: kept columns whole, wrapped cells
broken between words, a token longer than its column folded but shown whole, and optional
columns left out before a word is cut."""

from __future__ import annotations

import io
from collections.abc import Sequence

import pytest
from rich.console import Console

from fleet.cli.output import LONGEST_UNCUT_WORD, fitting_table

RUN = "r-20261201-0930-ab12"
SENTENCE = "the stack succeeded after two transient retries of the chart install"
TOKEN = "https://hooks.example.net/T0/a-very-long-token-without-any-spaces"


def shown(
    columns: Sequence[str], rows: Sequence[Sequence[str]], keep: Sequence[str], width: int
) -> list[str]:
    """The lines a terminal ``width`` cells wide shows, trailing blanks removed."""
    out = io.StringIO()
    terminal = Console(file=out, width=width, color_system=None, highlight=False, legacy_windows=False)
    terminal.print(fitting_table(columns, rows, keep=keep, width=width))
    lines = [line.rstrip() for line in out.getvalue().splitlines()]
    assert all(len(line) <= width for line in lines)
    return lines


def column(lines: list[str], header: str) -> list[str]:
    """The pieces of the column under ``header`` (the last column), one per line below it."""
    start = lines[0].index(header)
    return [line[start:].strip() for line in lines[1:] if line[start:].strip()]


@pytest.mark.parametrize("width", [40, 50, 80])
def test_a_sentence_wraps_between_words(width: int) -> None:
    lines = shown(("stack", "message"), [("payments-prod", SENTENCE)], ("stack",), width)

    pieces = column(lines, "message")
    assert len(pieces) > 1  # it did wrap
    assert " ".join(pieces) == SENTENCE  # every break between two words, none inside one
    assert lines[1].startswith("payments-prod  ")


@pytest.mark.parametrize("width", [40, 60])
def test_a_token_longer_than_its_column_folds_and_shows_whole(width: int) -> None:
    lines = shown(("stack", "webhook"), [("payments-prod", TOKEN)], ("stack",), width)

    pieces = column(lines, "webhook")
    assert len(pieces) > 1
    assert "".join(pieces) == TOKEN


def test_an_optional_column_is_left_out_before_a_word_is_cut() -> None:
    """At 56 cells the status column could only have 7 or 8 ("succee|ded"): the message column,
    the rightmost optional one, goes instead, and "succeeded" stays whole."""
    columns = ("stack", "rollout", "status", "message")
    rows = [("payments-prod", RUN, "succeeded", SENTENCE), ("search-staging", RUN, "failed", TOKEN)]

    narrow = shown(columns, rows, ("stack", "rollout"), 56)
    wide = shown(columns, rows, ("stack", "rollout"), 80)

    assert narrow[0].split() == ["stack", "rollout", "status"]
    assert narrow[1].split() == ["payments-prod", RUN, "succeeded"]
    assert wide[0].split() == ["stack", "rollout", "status", "message"]
    assert wide[1].split()[:3] == ["payments-prod", RUN, "succeeded"]
    assert " ".join(column(wide, "message")).startswith(SENTENCE)


def test_kept_columns_are_never_cut_and_words_up_to_the_limit_never_either() -> None:
    word = "x" * LONGEST_UNCUT_WORD
    rows = [("analytics-prod", f"{word} and {word}")]

    lines = shown(("stack", "detail"), rows, ("stack",), 36)

    assert lines[1].startswith("analytics-prod  ")
    assert column(lines, "detail") == [word, "and", word]
