"""Prebuilt statements on the driver's connection give what SQLAlchemy's own execution gives (the
oracle: ``Connection.execute`` of the same statement), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.exc import DBAPIError

from fleet.errors import OperationError
from fleet.journal import Journal
from fleet.journal.db import UTCDateTime
from fleet.journal.fast import Prebuilt
from fleet.journal.schema import attempts, rollouts, stacks
from fleet.rollout.waves import Wave

WHEN = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)


def _journal_with_attempts(url: str) -> tuple[Journal, str]:
    journal = Journal(url)
    rollout = journal.create_rollout(
        [Wave(0, "all", ("eu-prod", "dev-1"))],
        kind="rollout",
        dry_run=False,
        policy={"max_parallel": 2, "failure_budget": 0},
        versions={"loki": "6.46.0"},
    )
    journal.set_status(rollout.id, "running")
    claim = journal.claim(rollout.id, "eu-prod", "worker-a")
    assert claim.attempt is not None
    summary = {"action": "up", "changes": {"same": 3}, "note": "ünïcode ✓"}
    journal.finish(
        rollout.id, "eu-prod", claim.attempt, "succeeded", versions={"loki": "6.46.0"}, summary=summary
    )
    journal.claim(rollout.id, "dev-1", "worker-b")
    return journal, rollout.id


def test_rows_come_back_as_sqlalchemy_returns_them(database_url: str) -> None:
    journal, rollout_id = _journal_with_attempts(database_url)
    statement = (
        select(attempts, rollouts.c.dry_run, rollouts.c.policy)
        .join(rollouts, rollouts.c.id == attempts.c.rollout_id)
        .where(attempts.c.rollout_id == bindparam("k_rollout_id"))
        .order_by(attempts.c.stack)
    )
    with journal, journal.database.read() as conn:
        expected = conn.execute(statement, {"k_rollout_id": rollout_id}).all()
        got = Prebuilt(statement).rows(conn, {"k_rollout_id": rollout_id})

    assert [tuple(row) for row in got] == [tuple(row) for row in expected]
    assert len(got) == 2
    done, running = got[1], got[0]  # dev-1, eu-prod
    assert (done.stack, done.versions, done.summary["note"]) == ("eu-prod", {"loki": "6.46.0"}, "ünïcode ✓")
    assert done.started_at.tzinfo is UTC and done.finished_at >= done.started_at
    assert (running.stack, running.outcome, running.finished_at, running.dry_run) == (
        "dev-1",
        None,
        None,
        False,
    )
    assert running.policy == {"max_parallel": 2, "failure_budget": 0}


def test_binds_are_processed_as_sqlalchemy_processes_them(database_url: str) -> None:
    journal, rollout_id = _journal_with_attempts(database_url)
    change = (
        update(stacks)
        .where((stacks.c.rollout_id == bindparam("k_rollout_id")) & (stacks.c.stack == bindparam("k_stack")))
        .values(updated_at=bindparam("v_when", type_=UTCDateTime), change_seq=stacks.c.change_seq + 40)
    )
    read = select(stacks.c.updated_at, stacks.c.change_seq).where(
        (stacks.c.rollout_id == bindparam("k_rollout_id")) & (stacks.c.stack == bindparam("k_stack"))
    )
    key = {"k_rollout_id": rollout_id, "k_stack": "dev-1"}
    with journal, journal.database.write() as conn:
        before = conn.execute(read, key).one()
        assert Prebuilt(change).rowcount(conn, {**key, "v_when": WHEN}) == 1  # the literal 40 included
        assert Prebuilt(change).rowcount(conn, {**key, "k_stack": "nowhere", "v_when": WHEN}) == 0
        after = conn.execute(read, key).one()

    assert after.updated_at == WHEN  # stored as SQLAlchemy stores it: it reads back the same
    assert after.change_seq == before.change_seq + 40


def test_a_driver_error_is_raised_and_translated_as_through_sqlalchemy(database_url: str) -> None:
    journal, rollout_id = _journal_with_attempts(database_url)
    broken = (
        select(stacks.c.status)
        .where(stacks.c.rollout_id == bindparam("k_rollout_id"))
        .order_by(stacks.c.stack.collate("no-such-collation"))
    )
    params = {"k_rollout_id": rollout_id}

    def raised(run: Callable[[Connection], object]) -> BaseException:
        with pytest.raises(Exception) as caught, journal.database.read() as conn:
            run(conn)
        return caught.value

    with journal:
        expected = raised(lambda conn: conn.execute(broken, params))
        got = raised(lambda conn: Prebuilt(broken).rows(conn, params))

    # SQLite's is operational (the journal's one-line OperationError), PostgreSQL's a programming error.
    assert type(got) is type(expected)
    assert isinstance(got, OperationError | DBAPIError)
    assert str(got).splitlines()[0] == str(expected).splitlines()[0]


def test_a_statement_that_expands_lists_is_refused_when_first_run(database_url: str) -> None:
    journal, rollout_id = _journal_with_attempts(database_url)
    statement = select(stacks.c.stack).where(stacks.c.status.in_(["running", "failed"]))
    with journal, journal.database.read() as conn, pytest.raises(TypeError, match="named parameters"):
        Prebuilt(statement).rows(conn, {"k_rollout_id": rollout_id})
