"""The journal's change feed: a coordinator reads only the stacks that changed since it looked,
on SQLite and PostgreSQL; an older journal gets the counter through migration 3."""

from __future__ import annotations

from sqlalchemy import inspect, text

from fleet.journal import Journal, StackStatus
from fleet.journal.migrations import LATEST
from fleet.rollout.waves import Wave

WAVES = [Wave(0, "canary", ("dev-1",)), Wave(1, "wave 1", ("stage-1", "eu-prod", "us-prod"))]


def _running(journal: Journal) -> str:
    rollout = journal.create_rollout(WAVES, kind="rollout", dry_run=False, policy={}, versions={})
    journal.set_status(rollout.id, "running")
    return rollout.id


def test_only_what_changed_since_the_last_look_is_read(database_url: str) -> None:
    with Journal(database_url) as journal:
        rollout_id = _running(journal)
        everything = journal.stack_changes(rollout_id)
        assert set(everything.statuses) == {"dev-1", "stage-1", "eu-prod", "us-prod"}
        assert journal.stack_changes(rollout_id, everything.seq).statuses == {}

        claim = journal.claim(rollout_id, "eu-prod", worker="w1")
        assert claim.attempt is not None
        first = journal.stack_changes(rollout_id, everything.seq)
        assert first.statuses == {"eu-prod": StackStatus.RUNNING}

        journal.finish(rollout_id, "eu-prod", claim.attempt, "failed", error="boom")
        journal.mark_stacks(rollout_id, ["us-prod", "stage-1"], "skipped")
        second = journal.stack_changes(rollout_id, first.seq)
        assert second.statuses == {
            "eu-prod": StackStatus.FAILED,
            "us-prod": StackStatus.SKIPPED,
            "stage-1": StackStatus.SKIPPED,
        }
        assert second.seq > first.seq > everything.seq

        journal.request_cancel(rollout_id)
        third = journal.stack_changes(rollout_id, second.seq)
        assert third.rollout.cancel_requested
        assert third.statuses == {}  # cancelling: the coordinator marks its pending stacks


def test_a_journal_from_before_the_counter_is_migrated(database_url: str) -> None:
    with Journal(database_url) as journal:
        rollout_id = _running(journal)
        with journal.database.write() as conn:  # back to the shape of version 2
            conn.execute(text("DROP INDEX ix_rollout_stacks_changes"))
            conn.execute(text("DROP INDEX ix_rollout_stacks_status"))
            conn.execute(text("DROP INDEX ix_stack_attempts_open"))
            conn.execute(text("ALTER TABLE rollout_stacks DROP COLUMN change_seq"))
            conn.execute(text("ALTER TABLE rollouts DROP COLUMN change_seq"))
            conn.execute(text("UPDATE fleet_schema SET version = 2"))
    with Journal(database_url) as journal:
        with journal.database.read() as conn:
            assert "change_seq" in {c["name"] for c in inspect(conn).get_columns("rollout_stacks")}
            assert conn.execute(text("SELECT version FROM fleet_schema")).scalar() == LATEST
        seen = journal.stack_changes(rollout_id)
        journal.claim(rollout_id, "dev-1", worker="w1")
        assert journal.stack_changes(rollout_id, seen.seq).statuses == {"dev-1": StackStatus.RUNNING}
