"""Output conventions shared by the commands: ``-o table|json|yaml``, tables that never cut a
name or an id, and no highlighting (rich would colour the digits inside ``r-20261201-…``).

A command that prints data takes ``output: Output = OUTPUT_OPTION`` and ends with
``emit(data, output, table=lambda: <rich renderable or text>)``.
"""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import typer
from rich.cells import cell_len
from rich.console import Console, RenderableType
from rich.table import Table


class Output(enum.StrEnum):
    """``--output``: ``table`` for people, ``json`` and ``yaml`` for scripts."""

    table = "table"
    json = "json"
    yaml = "yaml"


OUTPUT_OPTION = typer.Option(
    Output.table, "--output", "-o", help="table (for people), json or yaml (for scripts)"
)


def console(*, stderr: bool = False) -> Console:
    """A console on stdout (or stderr): no colour codes when it is not a terminal (or NO_COLOR is
    set), and no highlighting of numbers or words inside names and ids."""
    out = Console(stderr=stderr, highlight=False)
    if not out.is_terminal:
        # Piped output is for grep and less: never wrap a row.
        out = Console(stderr=stderr, width=250, highlight=False)
    return out


def print_json(data: Any) -> None:
    """Write ``data`` as indented JSON on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def print_yaml(data: Any) -> None:
    """Write ``data`` as a YAML document on stdout (the same structure as ``-o json``)."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.representer.sort_base_mapping_type_on_output = False  # keys in the order -o json shows
    # Through JSON first: datetimes, enums and paths become the strings -o json shows.
    yaml.dump(json.loads(json.dumps(data, default=str)), sys.stdout)
    sys.stdout.flush()


def emit(data: Any, output: Output, *, table: Callable[[], RenderableType | str]) -> None:
    """Print ``data`` as JSON or YAML, or, for ``-o table``, what ``table()`` draws."""
    if output is Output.json:
        print_json(data)
    elif output is Output.yaml:
        print_yaml(data)
    else:
        shown = table()
        if isinstance(shown, str):
            typer.echo(shown)
        else:
            console().print(shown)


def plural(count: int, noun: str) -> str:
    """``1 stack``, ``2 stacks``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


LONGEST_UNCUT_WORD = 20
"""A word up to this many cells is never cut in a wrapped column (the column is at least as wide,
or left out); a longer token (a URL, a long error token) is folded across lines, shown whole."""
_GAP = 2
"""Cells between two columns (each column's padding of 1 on either side; none at the edges)."""


def _longest_word(texts: Iterable[str]) -> int:
    return max((cell_len(word) for text in texts for word in text.split()), default=0)


def _share(spare: int, floors: dict[int, int], fulls: dict[int, int]) -> dict[int, int]:
    """Widths from ``floors`` up to ``fulls``: ``spare`` cells, each to the column that still
    lacks the most (so no column wraps while another keeps room it does not need)."""
    widths = dict(floors)
    for _ in range(spare):
        i = max(widths, key=lambda i: fulls[i] - widths[i], default=None)
        if i is None or widths[i] >= fulls[i]:
            break
        widths[i] += 1
    return widths


def fitting_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    keep: Sequence[str] = (),
    width: int | None = None,
) -> Table:
    """A table whose ``keep`` columns (names, ids) are never cut: they get their full width; the
    other columns wrap between words, each at least as wide as its longest word (up to
    :data:`LONGEST_UNCUT_WORD`: a longer token folds across lines) and at least 8 cells (or its
    full width if less). When that does not fit in ``width`` (the terminal's), the rightmost
    optional columns are left out first."""
    width = width if width is not None else console().width
    shown = list(range(len(columns)))
    texts = [[columns[i], *(row[i] for row in rows)] for i in shown]
    full = [max(cell_len(line) for text in texts[i] for line in text.splitlines() or [""]) for i in shown]
    floor = [
        full[i]
        if columns[i] in keep
        else max(min(full[i], 8), min(_longest_word(texts[i]), LONGEST_UNCUT_WORD))
        for i in shown
    ]

    def needed(indices: list[int]) -> int:
        return sum(floor[i] for i in indices) + _GAP * (len(indices) - 1)

    while needed(shown) > width and any(columns[i] not in keep for i in shown):
        shown.remove(next(i for i in reversed(shown) if columns[i] not in keep))
    wrapped = [i for i in shown if columns[i] not in keep]
    widths = _share(
        max(0, width - needed(shown)), {i: floor[i] for i in wrapped}, {i: full[i] for i in wrapped}
    )
    table = Table(box=None, header_style="bold", pad_edge=False)
    for i in shown:
        if columns[i] in keep:
            table.add_column(columns[i], no_wrap=True, min_width=full[i])
        else:
            # rich wraps at word boundaries; "fold" breaks only a word longer than the column
            table.add_column(columns[i], width=widths[i], overflow="fold")
    for row in rows:
        table.add_row(*(row[i] for i in shown))
    return table
