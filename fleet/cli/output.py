"""Output conventions shared by the commands: ``-o table|json|yaml``, tables that never cut a
name or an id, and no highlighting (rich would colour the digits inside ``r-20261201-…``).

A command that prints data takes ``output: Output = OUTPUT_OPTION`` and ends with
``emit(data, output, table=lambda: <rich renderable or text>)``.
"""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

import typer
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


def fitting_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    keep: Sequence[str] = (),
    width: int | None = None,
) -> Table:
    """A table whose ``keep`` columns (names, ids) are never cut: they get their full width, the
    other columns wrap, and when even that does not fit in ``width`` (the terminal's), the
    rightmost optional columns are left out first."""
    width = width if width is not None else console().width
    shown = list(range(len(columns)))
    full = [max([len(columns[i]), *(len(row[i]) for row in rows)]) for i in shown]

    def needed(indices: list[int]) -> int:
        # kept columns at full width; others at least 8 characters (or less if they are short)
        cells = sum(full[i] if columns[i] in keep else min(full[i], 8) for i in indices)
        return cells + 2 * (len(indices) - 1)

    while needed(shown) > width and any(columns[i] not in keep for i in shown):
        shown.remove(next(i for i in reversed(shown) if columns[i] not in keep))
    table = Table(box=None, header_style="bold", pad_edge=False)
    for i in shown:
        if columns[i] in keep:
            table.add_column(columns[i], no_wrap=True, min_width=full[i])
        else:
            table.add_column(columns[i], overflow="fold")
    for row in rows:
        table.add_row(*(row[i] for i in shown))
    return table
