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
from fleet.journal.schema import attempt_outputs, credential_generations

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


def _credential_generations(conn: Connection) -> None:
    credential_generations.create(conn, checkfirst=True)


def _change_feed(conn: Connection) -> None:
    conn.execute(text("ALTER TABLE rollouts ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0"))
    conn.execute(text("ALTER TABLE rollout_stacks ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0"))
    conn.execute(text("CREATE INDEX ix_rollout_stacks_changes ON rollout_stacks (rollout_id, change_seq)"))


def _deploy_summary(conn: Connection) -> None:
    # The table itself is created with the others (it is new); fill it from the history once.
    from fleet.journal.queries import latest_real_attempts, ranked_dry_runs
    from fleet.journal.schema import stack_deploys

    rows: dict[str, dict[str, object]] = {}
    latest = latest_real_attempts(succeeded_only=False)
    for row in conn.execute(select(latest).where(latest.c.rank == 1)):
        rows[row.stack] = {
            "stack": row.stack,
            "latest_rollout_id": row.rollout_id,
            "latest_seq": row.seq,
            "latest_number": row.number,
            "deployed_rollout_id": None,
            "deployed_seq": None,
            "deployed_number": None,
        }
    deployed = latest_real_attempts(succeeded_only=True)
    for row in conn.execute(select(deployed).where(deployed.c.rank == 1)):
        rows[row.stack].update(
            deployed_rollout_id=row.rollout_id, deployed_seq=row.seq, deployed_number=row.number
        )
    empty = dict.fromkeys(("latest_rollout_id", "latest_seq", "latest_number"))
    empty.update(dict.fromkeys(("deployed_rollout_id", "deployed_seq", "deployed_number")))
    for dry in ranked_dry_runs(conn, None):
        rows.setdefault(dry.stack, {"stack": dry.stack, **empty})["dry_rollout_id"] = dry.rollout_id
    for values in rows.values():
        values.setdefault("dry_rollout_id", None)
    conn.execute(stack_deploys.delete())
    if rows:
        conn.execute(stack_deploys.insert(), list(rows.values()))


def _status_index(conn: Connection) -> None:
    conn.execute(text("CREATE INDEX ix_rollout_stacks_status ON rollout_stacks (rollout_id, status)"))


def _open_attempts_index(conn: Connection) -> None:
    conn.execute(
        text("CREATE INDEX ix_stack_attempts_open ON stack_attempts (stack, outcome) WHERE outcome IS NULL")
    )


MIGRATIONS: Sequence[Migration] = (
    Migration(1, "stack_locks.token: the holder's token", _lock_tokens),
    Migration(2, "attempt_outputs: each attempt's engine output", _attempt_outputs),
    Migration(3, "credential_generations: each workload's password generations", _credential_generations),
    Migration(
        4, "a change counter per rollout and per stack (the coordinator reads what changed)", _change_feed
    ),
    Migration(
        5, "stack_deploys: each stack's newest attempt, deploy and dry run, from the history", _deploy_summary
    ),
    Migration(
        6, "an index of each rollout's stacks by status (a claim counts the running ones)", _status_index
    ),
    Migration(
        7,
        "an index of the open attempts by stack (a claim's cost stays flat as the history grows)",
        _open_attempts_index,
    ),
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
