"""Progress for long work: a bar (or a spinner) on stderr while it runs, when stderr is a terminal.

Piped or captured, nothing is drawn: stdout keeps only the results and their one-line summary.
Use ``with progress("rendering", total=n) as advance: ... advance(stack)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from fleet.cli.output import console


@contextmanager
def progress(verb: str, total: int | None = None) -> Iterator[Callable[[str], None]]:
    """A transient progress display of ``verb`` over ``total`` steps (None: a spinner) on stderr.

    Yields ``advance(what)``: one step done, ``what`` shown next to the bar."""
    err = console(stderr=True)
    if not err.is_terminal:
        yield lambda _what: None
        return
    columns = (
        [SpinnerColumn(), TextColumn(verb), TimeElapsedColumn(), TextColumn("{task.description}")]
        if total is None
        else [
            TextColumn(verb),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
        ]
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("", total=total)

        def advance(what: str) -> None:
            bar.update(task, advance=1, description=what)

        yield advance
