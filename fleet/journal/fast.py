"""Prebuilt statements, run on the database driver's own connection inside a SQLAlchemy transaction.

Every stack costs a claim and a finish, fifteen statements under the journal's write lock (on
SQLite, every worker's claims and finishes queue for it). SQLAlchemy's execution of a
statement (its cache lookup, parameter processing, result set-up and events) cost 20 to 100 µs
each, several times what SQLite took to run it, and more on a worker whose caches went cold
during a stack's run. A :class:`Prebuilt` has SQLAlchemy compile its statement once per dialect,
keeping the SQL text, the order of its parameters and the type processors SQLAlchemy itself
would apply to them and to the result columns (so dates, JSON and booleans come and go exactly
as through ``Connection.execute``); :meth:`Prebuilt.rows` hands the text to the driver
(``sqlite3``, ``psycopg``) in the caller's transaction. A driver error is raised as SQLAlchemy's
``DBAPIError``, as ``Connection.execute`` would raise it.

Statements run here bind only named parameters (``bindparam``) and literal values; each reads
its own result columns.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement

_Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Compiled:
    sql: str
    positions: tuple[str, ...] | None
    """The parameters' names in the order of their placeholders (``qmark``), or None (named)."""
    defaults: Mapping[str, Any]
    """The statement's literal values, as parameters."""
    binds: Mapping[str, _Processor]
    row: Any
    """A named tuple of the result columns (None: the statement returns no rows)."""
    results: tuple[_Processor, ...]


class Prebuilt:
    """``statement`` compiled once per dialect and run on the driver's connection."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, str, str], _Compiled] = {}

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[Any]:
        """The result rows (named tuples, values as SQLAlchemy would return them)."""
        compiled, cursor = self._run(conn, params)
        rows = cursor.fetchall()
        processors = compiled.results
        if any(processors):
            rows = [
                [
                    value if f is None or value is None else f(value)
                    for f, value in zip(processors, row, strict=True)
                ]
                for row in rows
            ]
        return [compiled.row._make(row) for row in rows]

    def rowcount(self, conn: Connection, params: Mapping[str, Any]) -> int:
        """How many rows the statement changed."""
        return int(self._run(conn, params)[1].rowcount)

    def _run(self, conn: Connection, params: Mapping[str, Any]) -> tuple[_Compiled, Any]:
        dialect = conn.dialect
        compiled = self._compiled.get(_key(dialect)) or self._compile(dialect)
        values = {**compiled.defaults, **params}
        for name, process in compiled.binds.items():
            if process is not None:
                values[name] = process(values[name])
        args: Any = values if compiled.positions is None else tuple(values[n] for n in compiled.positions)
        driver = conn.connection.driver_connection
        dbapi = dialect.loaded_dbapi
        try:
            cursor = driver.execute(compiled.sql, args)  # type: ignore[union-attr]
        except dbapi.Error as error:
            raise DBAPIError.instance(compiled.sql, args, error, dbapi.Error) from None
        return compiled, cursor

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled: Any = self.statement.compile(dialect=dialect)
        if compiled.literal_execute_params or compiled.post_compile_params:
            raise TypeError("a prebuilt statement binds named parameters and literals only")
        positions = tuple(compiled.positiontup) if compiled.positional else None
        named = compiled.bind_names.items()  # each parameter and its name in the SQL text
        binds = {name: bind.type.dialect_impl(dialect).bind_processor(dialect) for bind, name in named}
        defaults = {name: bind.value for bind, name in named if not bind.required}
        columns = list(getattr(self.statement, "exported_columns", None) or [])
        row = _row_type([str(column.key) for column in columns]) if columns else None
        results = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        )
        built = _Compiled(compiled.string, positions, defaults, binds, row, results)
        self._compiled[_key(dialect)] = built
        return built


def _row_type(names: list[str]) -> Any:
    # Rows read like SQLAlchemy's: by column name (an unnamed column is ``_<position>``).
    return namedtuple("Row", names, rename=True)


def _key(dialect: Dialect) -> tuple[str, str, str]:
    return (dialect.name, dialect.driver, dialect.paramstyle)
