"""Output helpers shared by the commands: JSON for scripts, rich tables for people."""

from __future__ import annotations

import enum
import json
import sys
from typing import Any

import typer
from rich.console import Console


class Output(enum.StrEnum):
    """``--output``: ``table`` for people, ``json`` for scripts."""

    table = "table"
    json = "json"


OUTPUT_OPTION = typer.Option(Output.table, "--output", "-o", help="table or json")


def console() -> Console:
    """A console on stdout (no colour codes when stdout is not a terminal)."""
    out = Console()
    if not out.is_terminal:
        # Piped output is for grep and less: never wrap a row.
        out = Console(width=250)
    return out


def print_json(data: Any) -> None:
    """Write ``data`` as indented JSON on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()
