"""Plain-text tables for listings that may run to thousands of rows.

rich lays a table out cell by cell (measuring, wrapping, styling): about 0.4 ms a row, four
seconds for a fleet of 10,000 workloads. Listings of data, one short value per cell, need none
of that: :func:`columns` pads each column to its widest cell, in the layout rich's borderless
tables use, at the cost of a string join.
"""

from __future__ import annotations

from collections.abc import Sequence


def columns(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """``headers`` and ``rows`` as left-aligned columns, one line each, with a trailing newline."""
    widths = [len(header) for header in headers]
    for row in rows:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(cell))
    lines = []
    for row in (headers, *rows):
        lines.append(
            " " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return "\n".join(lines) + "\n"
