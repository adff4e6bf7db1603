"""The claim and the finish keep each stack's ``stack_deploys`` row in one upsert: checked against
the row rebuilt from the whole history by the migration that introduced the table (ranking
every attempt, an independent computation)."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from clocks import Clock
from sqlalchemy import select, text

from fleet.journal import Journal
from fleet.journal.schema import stack_deploys
from fleet.rollout.waves import Wave

STACKS = ("eu-prod", "dev-1", "stage-1")


def _rows(journal: Journal) -> list[Any]:
    with journal.database.read() as conn:
        return [tuple(row) for row in conn.execute(select(stack_deploys).order_by(stack_deploys.c.stack))]


def _random_history(journal: Journal, clock: Clock, rng: random.Random) -> None:
    """Rollouts (some dry runs) whose stacks are claimed, taken over after a silence, finished in
    any order (a late report of a taken-over attempt included) and left open."""
    for _ in range(rng.randint(3, 6)):
        rollout = journal.create_rollout(
            [Wave(0, "all", STACKS)], kind="rollout", dry_run=rng.random() < 0.25, policy={}, versions={}
        )
        journal.set_status(rollout.id, "running")
        open_attempts: list[tuple[str, int]] = []
        for _ in range(rng.randint(2, 10)):
            stack = rng.choice(STACKS)
            if open_attempts and rng.random() < 0.5:
                stack, number = open_attempts.pop(rng.randrange(len(open_attempts)))
                outcome = rng.choice(["succeeded", "failed"])
                versions = {"loki": f"{rollout.id}/{number}"}
                journal.finish(rollout.id, stack, number, outcome, versions=versions)
                continue
            claim = journal.claim(rollout.id, stack, "w", previous_worker_lost=rng.random() < 0.5)
            if claim.granted:
                assert claim.attempt is not None
                open_attempts.append((stack, claim.attempt))
            clock.advance(minutes=rng.choice([1, 20]))  # 20: past the TTL, the open attempt is stale
        if rng.random() < 0.7:
            for stack, number in open_attempts:
                journal.finish(rollout.id, stack, number, rng.choice(["succeeded", "failed"]))


@pytest.mark.parametrize("seed", range(12))
def test_the_deploy_summary_kept_on_write_matches_the_history(database_url: str, seed: int) -> None:
    clock = Clock()
    with Journal(database_url, heartbeat_ttl=timedelta(minutes=5), clock=clock) as journal:
        _random_history(journal, clock, random.Random(seed))
        kept = _rows(journal)
        with journal.database.write() as conn:  # as a journal of version 4 would be: no summary
            conn.execute(stack_deploys.delete())
            conn.execute(text("DROP INDEX ix_rollout_stacks_status"))  # nor what migrations 6 and 7 add
            conn.execute(text("DROP INDEX ix_stack_attempts_open"))
            conn.execute(text("UPDATE fleet_schema SET version = 4"))
    with Journal(database_url, clock=clock) as journal:
        assert _rows(journal) == kept


def test_a_claim_looks_up_open_attempts_of_other_rollouts_in_their_own_index(database_url: str) -> None:
    # A stack's attempts grow with every rollout; the open ones stay a handful. A journal of
    # version 6 gains the index when it is opened.
    from sqlalchemy import inspect
    from sqlalchemy.dialects import sqlite

    from fleet.journal.attempts import _OPEN_ELSEWHERE

    with Journal(database_url) as journal, journal.database.write() as conn:
        conn.execute(text("DROP INDEX ix_stack_attempts_open"))
        conn.execute(text("UPDATE fleet_schema SET version = 6"))
    with Journal(database_url) as journal, journal.database.read() as conn:
        indexes = {index["name"]: index for index in inspect(conn).get_indexes("stack_attempts")}
        assert indexes["ix_stack_attempts_open"]["column_names"] == ["stack", "outcome"]
        if conn.dialect.name == "sqlite":  # the planner's own word
            sql = str(_OPEN_ELSEWHERE.compile(dialect=sqlite.dialect()))
            plan = " ".join(row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", ("s", "r")))
            assert "USING INDEX ix_stack_attempts_open" in plan, plan
