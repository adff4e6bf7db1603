"""Keeping an existing journal's schema current: numbered, forward-only migrations.

The tables in :mod:`fleet.journal.schema` always describe the newest schema. A new database gets
them as they are and is stamped with :data:`LATEST`. An older one (its stamp below LATEST, or no
stamp: a journal from before migrations existed, which is version 0) gets each missing migration
applied in order, in the same transaction that stamps it, so every process that opens a journal
leaves it current and no two processes migrate it at once (the caller holds the schema lock).

To change the schema: change the table in ``schema.py`` and append a :class:`Migration` here that
brings an old database to the same shape (e.g. ``ALTER TABLE ... ADD COLUMN``, a ``CREATE
INDEX``). Never edit or renumber a migration that has been released.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Column, Connection, Integer, MetaData, Table, inspect, select, text, update

from fleet.errors import OperationError
from fleet.journal.schema import attempt_outputs

_meta = MetaData()
schema_version = Table("fleet_schema", _meta, Column("version", Integer, nullable=False))


@dataclass(frozen=True)
class Migration:
    """Step ``number``: what it does (for the log and errors), and the function that does it."""

    number: int
    description: str
    apply: Callable[[Connection], None]


def _lock_tokens(conn: Connection) -> None:
    conn.execute(text("ALTER TABLE stack_locks ADD COLUMN token VARCHAR(64)"))


def _attempt_outputs(conn: Connection) -> None:
    attempt_outputs.create(conn, checkfirst=True)  # the schema's create_all may have made it already


MIGRATIONS: Sequence[Migration] = (
    Migration(1, "stack_locks.token: the holder's token", _lock_tokens),
    Migration(2, "attempt_outputs: each attempt's engine output", _attempt_outputs),
)
"""Every migration, in order: numbers 1, 2, 3, ... (version 0 is the first schema)."""

LATEST = len(MIGRATIONS)


def current_version(conn: Connection) -> int | None:
    """The stamped version, or None when the database has no stamp."""
    if not inspect(conn).has_table(schema_version.name):
        return None
    value = conn.execute(select(schema_version.c.version)).scalar()
    return None if value is None else int(value)


def migrate(conn: Connection, *, fresh: bool, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Bring the schema to the newest version inside the caller's transaction; returns it.

    ``fresh``: the tables were all created just now (in their newest shape), so nothing is applied.
    A database stamped with a version newer than this fleet knows is refused: an older fleet must
    not write into a newer journal.
    """
    latest = len(migrations)
    for index, migration in enumerate(migrations, start=1):
        if migration.number != index:
            raise ValueError(f"migration {migration.number} is out of order (expected {index})")
    schema_version.create(conn, checkfirst=True)
    found = current_version(conn)
    if found is not None and found > latest:
        raise OperationError(
            f"the journal's schema is version {found}, newer than this fleet understands ({latest}); "
            "upgrade fleet on this machine"
        )
    start = latest if fresh else (found or 0)
    for migration in migrations[start:]:
        migration.apply(conn)
    if found is None:
        conn.execute(schema_version.insert().values(version=latest))
    elif found != latest:
        conn.execute(update(schema_version).values(version=latest))
    return latest
