"""Which journal a command plans against: an empty one in memory while the inventory has no
journal yet (the file is created only when a rollout is recorded), else the real one."""

from __future__ import annotations

import threading
from pathlib import Path

from fleet.journal.connect import planning_journal
from fleet.journal.store import Journal
from fleet.rollout.waves import Wave
from fleet.settings import Settings

WAVES = [Wave(0, "canary", ("dev-1",))]
VERSIONS = {"alloy": "1.4.0", "mimir": "6.0.0", "loki": "6.46.0", "grafana": "10.1.4"}


def record_one(journal: Journal) -> str:
    rollout = journal.create_rollout(WAVES, kind="rollout", dry_run=False, policy={}, versions=VERSIONS)
    return rollout.id


def test_without_a_journal_the_plan_reads_an_empty_one_in_memory_and_nothing_is_created(
    tmp_path: Path,
) -> None:
    settings = Settings(inventory=tmp_path, database_url=None)
    with planning_journal(settings) as planning:
        assert planning.journal.database.safe_url == "sqlite://"
        assert planning.journal.list_rollouts() == []
        assert planning.journal.deployed_versions() == {}
        seen: list[object] = []
        # Every connection, from any thread, is the same database (its schema included).
        reader = threading.Thread(target=lambda: seen.append(planning.journal.list_rollouts()))
        reader.start()
        reader.join()
        assert seen == [[]]
    assert not (tmp_path / ".fleet").exists()


def test_recording_creates_the_inventorys_journal_and_records_there(tmp_path: Path) -> None:
    settings = Settings(inventory=tmp_path, database_url=None)
    with planning_journal(settings) as planning:
        journal, locks = planning.record()
        assert journal is not planning.journal
        assert planning.record() == (journal, locks)  # opened once
        rollout_id = record_one(journal)
        assert planning.journal.list_rollouts() == []  # the plan's journal stays as it was
    path = tmp_path / ".fleet" / "fleet.db"
    assert path.is_file()
    with Journal(f"sqlite:///{path}") as reopened:
        assert [summary.rollout.id for summary in reopened.list_rollouts()] == [rollout_id]


def test_an_existing_journal_is_planned_against_and_recorded_into(tmp_path: Path) -> None:
    (tmp_path / ".fleet").mkdir()
    with Journal(f"sqlite:///{tmp_path / '.fleet' / 'fleet.db'}") as journal:
        rollout_id = record_one(journal)
    with planning_journal(Settings(inventory=tmp_path, database_url=None)) as planning:
        assert [summary.rollout.id for summary in planning.journal.list_rollouts()] == [rollout_id]
        assert planning.record()[0] is planning.journal


def test_a_configured_database_is_never_replaced_by_one_in_memory(tmp_path: Path, database_url: str) -> None:
    inventory = tmp_path / "inv"
    inventory.mkdir()
    with planning_journal(Settings(inventory=inventory, database_url=database_url)) as planning:
        assert planning.journal.database.safe_url != "sqlite://"
        assert planning.record()[0] is planning.journal
        rollout_id = record_one(planning.journal)
    with Journal(database_url) as journal:
        assert [summary.rollout.id for summary in journal.list_rollouts()] == [rollout_id]
    assert not (inventory / ".fleet").exists()
