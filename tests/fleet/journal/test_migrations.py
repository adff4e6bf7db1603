"""Journal schema migrations: a new journal is stamped, an old one is brought forward in order,
a newer one is refused; on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Connection, Integer, MetaData, Table, inspect, text

from fleet.errors import OperationError
from fleet.journal import Journal
from fleet.journal.db import Database
from fleet.journal.migrations import LATEST, Migration, current_version, migrate


def _add_column(conn: Connection) -> None:
    conn.execute(text("ALTER TABLE sample ADD COLUMN extra INTEGER"))


def _add_index(conn: Connection) -> None:
    conn.execute(text("CREATE INDEX ix_sample_extra ON sample (extra)"))


STEPS = (Migration(1, "sample.extra", _add_column), Migration(2, "index on sample.extra", _add_index))


def _sample_v0(database: Database) -> None:
    with database.write() as conn:
        Table("sample", MetaData(), Column("id", Integer, primary_key=True)).create(conn)


def test_a_new_journal_is_stamped_with_the_latest_version(database_url: str) -> None:
    with Journal(database_url) as journal, journal.database.read() as conn:
        assert current_version(conn) == LATEST


def test_an_old_database_is_migrated_once_in_order(database_url: str) -> None:
    database = Database(database_url)
    try:
        _sample_v0(database)
        with database.write() as conn:
            assert migrate(conn, fresh=False, migrations=STEPS) == 2
        with database.read() as conn:
            assert {c["name"] for c in inspect(conn).get_columns("sample")} == {"id", "extra"}
            assert [i["name"] for i in inspect(conn).get_indexes("sample")] == ["ix_sample_extra"]
            assert current_version(conn) == 2
        with database.write() as conn:  # a second opening applies nothing (ALTER would fail twice)
            migrate(conn, fresh=False, migrations=STEPS)
    finally:
        database.close()


def test_a_database_stamped_in_between_gets_only_the_rest(database_url: str) -> None:
    database = Database(database_url)
    try:
        _sample_v0(database)
        with database.write() as conn:
            migrate(conn, fresh=False, migrations=STEPS[:1])
            assert current_version(conn) == 1
        with database.write() as conn:
            migrate(conn, fresh=False, migrations=STEPS)
            assert current_version(conn) == 2
    finally:
        database.close()


def test_fresh_tables_are_only_stamped(database_url: str) -> None:
    database = Database(database_url)
    try:
        with database.write() as conn:
            migrate(conn, fresh=True, migrations=STEPS)  # would fail: there is no sample table
            assert current_version(conn) == 2
    finally:
        database.close()


def test_a_newer_journal_is_refused(database_url: str) -> None:
    database = Database(database_url)
    try:
        _sample_v0(database)
        with database.write() as conn:
            migrate(conn, fresh=False, migrations=STEPS)
        refused = pytest.raises(OperationError, match="newer than this fleet understands")
        with refused, database.write() as conn:
            migrate(conn, fresh=False, migrations=STEPS[:1])
    finally:
        database.close()


def test_migrations_must_be_numbered_in_order(database_url: str) -> None:
    database = Database(database_url)
    try:
        with pytest.raises(ValueError, match="out of order"), database.write() as conn:
            migrate(conn, fresh=True, migrations=(STEPS[1],))
    finally:
        database.close()


def test_an_old_journal_gets_its_deploy_summary_from_its_history(database_url: str) -> None:
    from fleet.journal.schema import stack_deploys
    from fleet.rollout.waves import Wave

    with Journal(database_url) as journal:
        for outcome in ("succeeded", "failed"):
            rollout = journal.create_rollout(
                [Wave(0, "all", ("eu-prod", "dev-1"))], kind="rollout", dry_run=False, policy={}, versions={}
            )
            journal.set_status(rollout.id, "running")
            for stack in ("eu-prod", "dev-1"):
                claim = journal.claim(rollout.id, stack, worker="w")
                assert claim.attempt is not None
                journal.finish(rollout.id, stack, claim.attempt, outcome, versions={"loki": outcome})
        dry = journal.create_rollout(
            [Wave(0, "all", ("eu-prod", "stage-1"))], kind="rollout", dry_run=True, policy={}, versions={}
        )
        kept, kept_dry = journal.stack_status(), journal.last_dry_runs()
        assert [(d.stack, d.rollout_id) for d in kept_dry] == [("eu-prod", dry.id), ("stage-1", dry.id)]
        with journal.database.write() as conn:  # as a journal of version 4 would be: no summary
            conn.execute(stack_deploys.delete())
            conn.execute(text("DROP INDEX ix_rollout_stacks_status"))  # nor what migrations 6 and 7 add
            conn.execute(text("DROP INDEX ix_stack_attempts_open"))
            conn.execute(text("UPDATE fleet_schema SET version = 4"))
    with Journal(database_url) as journal:
        assert journal.stack_status() == kept
        assert journal.last_dry_runs() == kept_dry
        assert journal.deployed_versions() == {
            "eu-prod": {"loki": "succeeded"},
            "dev-1": {"loki": "succeeded"},
        }


def test_a_journal_from_before_lock_tokens_gains_them(database_url: str) -> None:
    from fleet.journal.locks import LockHolder, StackLocks

    with Journal(database_url) as journal, journal.database.write() as conn:
        conn.execute(text("ALTER TABLE stack_locks DROP COLUMN token"))
        # and without what migrations 3, 4, 6 and 7 added (5 only fills a table created with the others)
        conn.execute(text("DROP INDEX ix_rollout_stacks_changes"))
        conn.execute(text("DROP INDEX ix_rollout_stacks_status"))
        conn.execute(text("DROP INDEX ix_stack_attempts_open"))
        conn.execute(text("ALTER TABLE rollout_stacks DROP COLUMN change_seq"))
        conn.execute(text("ALTER TABLE rollouts DROP COLUMN change_seq"))
        conn.execute(text("UPDATE fleet_schema SET version = 0"))
    with Journal(database_url) as journal:
        with journal.database.read() as conn:
            assert "token" in {c["name"] for c in inspect(conn).get_columns("stack_locks")}
            assert current_version(conn) == LATEST
        locks = StackLocks(journal)
        locks.acquire(["dev-1"], "r-1")
        assert locks.held()[0].holder == LockHolder.this_process()


def test_a_journal_from_before_attempt_outputs_is_brought_forward(database_url: str) -> None:
    with Journal(database_url) as journal, journal.database.write() as conn:
        conn.execute(text("DROP TABLE attempt_outputs"))
        conn.execute(text("DROP INDEX ix_rollout_stacks_changes"))  # and what migrations 4, 6 and 7 added
        conn.execute(text("DROP INDEX ix_rollout_stacks_status"))
        conn.execute(text("DROP INDEX ix_stack_attempts_open"))
        conn.execute(text("ALTER TABLE rollout_stacks DROP COLUMN change_seq"))
        conn.execute(text("ALTER TABLE rollouts DROP COLUMN change_seq"))
        conn.execute(text("UPDATE fleet_schema SET version = 1"))

    with Journal(database_url) as journal, journal.database.read() as conn:
        assert current_version(conn) == LATEST >= 2
        assert inspect(conn).has_table("attempt_outputs")
