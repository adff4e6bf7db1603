"""The fleet-wide reads (status, dry runs, versions, fingerprints, offboarded stacks) as the real
databases plan them: one row per stack looked up by primary key, never a scan of the history."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from clocks import Clock
from sqlalchemy import event

from fleet.journal import Journal, StackStatus
from fleet.rollout.waves import Wave

WAVES = [Wave(0, "controlroom", ("controlroom",)), Wave(1, "all", ("dev-1", "eu-prod", "gone"))]
VERSIONS = {"alloy": "1.4.2", "mimir": "5.6.0", "loki": "6.24.0", "grafana": "8.8.2"}
HISTORY_TABLES = ("stack_attempts", "rollout_stacks")


@pytest.fixture
def journal(database_url: str) -> Iterator[Journal]:
    with Journal(database_url, heartbeat_ttl=timedelta(minutes=5), clock=Clock()) as opened:
        yield opened


def _rollout(journal: Journal, *, dry_run: bool = False) -> str:
    rollout = journal.create_rollout(
        WAVES, kind="rollout", dry_run=dry_run, policy={}, versions=VERSIONS, started_by="ana@laptop"
    )
    journal.set_status(rollout.id, "running")
    return rollout.id


def _deploy(journal: Journal, rollout_id: str, stack: str, outcome: str, **extra: Any) -> None:
    claim = journal.claim(rollout_id, stack, "worker-a")
    assert claim.attempt is not None
    journal.finish(rollout_id, stack, claim.attempt, outcome, **extra)


@pytest.fixture
def history(journal: Journal) -> Journal:
    """dev-1 deployed then failed; eu-prod deployed; gone offboarded; a dry run of them all."""
    first = _rollout(journal)
    for stack in ("dev-1", "eu-prod", "gone"):
        _deploy(journal, first, stack, "succeeded", versions=VERSIONS, summary={"fingerprint": {"x": "1"}})
    second = _rollout(journal)
    _deploy(journal, second, "dev-1", "failed", error="boom", versions=VERSIONS)
    _deploy(journal, second, "gone", "succeeded", summary={"action": "destroy"})
    dry = _rollout(journal, dry_run=True)
    _deploy(journal, dry, "eu-prod", "succeeded")
    return journal


READS: dict[str, Callable[[Journal], object]] = {
    "status": Journal.stack_status,
    "dry runs": Journal.last_dry_runs,
    "versions": Journal.deployed_versions,
    "fingerprints": Journal.deployed_fingerprints,
    "offboarded": Journal.destroyed_stacks,
}


def test_the_fleet_wide_reads_answer_from_the_summary_rows(history: Journal) -> None:
    status = {item.stack: item for item in history.stack_status()}
    assert sorted(status) == ["dev-1", "eu-prod"]  # gone's last success destroyed it
    assert (status["dev-1"].status, status["dev-1"].error) == (StackStatus.FAILED, "boom")
    assert status["dev-1"].deployed_versions == VERSIONS
    assert status["eu-prod"].deployed_rollout_id == status["eu-prod"].rollout_id
    assert [(item.stack, item.status) for item in history.last_dry_runs()] == [
        ("controlroom", StackStatus.PENDING),
        ("dev-1", StackStatus.PENDING),
        ("eu-prod", StackStatus.SUCCEEDED),
        ("gone", StackStatus.PENDING),
    ]
    assert history.deployed_versions() == {"dev-1": VERSIONS, "eu-prod": VERSIONS}
    assert history.deployed_fingerprints() == {"dev-1": {"x": "1"}, "eu-prod": {"x": "1"}}  # its last success
    assert history.destroyed_stacks() == {"gone"}


@pytest.mark.parametrize("read", READS)
def test_each_fleet_wide_read_looks_rows_up_by_key(history: Journal, read: str) -> None:
    """Each query the read runs, explained by the database itself in the same transaction: no
    scan of the attempts or stack rows (they grow with the history), and on PostgreSQL no hash
    join (which scanned every stack row at 10,000 stacks and 1,000,000 attempts)."""
    engine = history.database.engine
    postgresql = engine.dialect.name == "postgresql"
    plans: list[str] = []

    def explain(conn: Any, cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "stack_deploys" in statement:
            prefix = "EXPLAIN " if postgresql else "EXPLAIN QUERY PLAN "
            cursor.execute(prefix + statement, parameters)
            plans.append("\n".join(str(row[-1]) for row in cursor.fetchall()))

    event.listen(engine, "before_cursor_execute", explain)
    try:
        READS[read](history)
    finally:
        event.remove(engine, "before_cursor_execute", explain)

    assert plans, "the read ran no query over stack_deploys"
    for plan in plans:
        for table in HISTORY_TABLES:
            assert f"SCAN {table}\n" not in f"{plan}\n", plan  # SQLite: SEARCH ... USING INDEX
            assert f"Seq Scan on {table} " not in plan, plan
        assert "Hash Join" not in plan and "Merge Join" not in plan, plan


def test_a_rollout_view_leaves_the_fingerprints_to_the_planner(journal: Journal) -> None:
    rollout_id = _rollout(journal)
    summary = {"action": "up", "spec_hash": "abc", "fingerprint": {"versions.loki": "1f2e"}}
    _deploy(journal, rollout_id, "dev-1", "succeeded", summary=summary)
    _deploy(journal, rollout_id, "eu-prod", "failed", error="boom")  # no summary at all
    _deploy(journal, rollout_id, "gone", "succeeded", summary={"fingerprint": "not a mapping"})

    detail = journal.get_rollout(rollout_id)

    assert detail.stack("dev-1").attempts[-1].summary == {"action": "up", "spec_hash": "abc"}
    assert detail.stack("eu-prod").attempts[-1].summary is None
    assert detail.stack("gone").attempts[-1].summary == {}
    assert journal.stack_states(rollout_id, ["dev-1"])[0].attempts[-1].summary == {
        "action": "up",
        "spec_hash": "abc",
    }
    assert journal.deployed_fingerprints(["dev-1"]) == {"dev-1": {"versions.loki": "1f2e"}}
