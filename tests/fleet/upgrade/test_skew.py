"""Version skew: deployed (journal) against desired (inventory), per stack and component."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from inventories import copy_example
from journals import record_deploys

from fleet.inventory.loader import Inventory, load_inventory
from fleet.journal import Journal
from fleet.upgrade.skew import desired_versions, out_of_date, skew_table

OLD = {"alloy": "1.3.0", "mimir": "6.0.0", "loki": "6.46.0", "grafana": "10.1.4"}
NEW = {"alloy": "1.4.0", "mimir": "6.0.0", "loki": "6.46.0", "grafana": "10.1.4"}


@pytest.fixture
def inventory(tmp_path: Path) -> Inventory:
    copy_example(tmp_path / "inv")
    return load_inventory(tmp_path / "inv")


@pytest.fixture
def journal(database_url: str) -> Iterator[Journal]:
    with Journal(database_url) as opened:
        yield opened


def test_desired_versions_apply_pins_and_the_control_room_runs_alloy_mimir_and_grafana(
    inventory: Inventory,
) -> None:
    assert desired_versions(inventory, "controlroom") == {
        "alloy": "1.4.0",
        "mimir": "6.0.0",
        "grafana": "10.1.4",
    }
    assert desired_versions(inventory, "analytics-prod")["loki"] == "6.30.1"  # its pin
    assert desired_versions(inventory, "payments-prod")["loki"] == "6.46.0"


def test_skew_from_the_journal(inventory: Inventory, journal: Journal) -> None:
    record_deploys(
        journal,
        {"controlroom": NEW, "payments-prod": OLD, "analytics-prod": {**NEW, "loki": "6.30.1"}},
    )
    record_deploys(journal, {"search-staging": NEW}, dry_run=True)  # a dry run deploys nothing
    entries = {(e.stack, e.component): e for e in skew_table(inventory, journal.deployed_versions())}

    assert len(entries) == 3 + 3 * 4
    assert entries["payments-prod", "alloy"].state == "differs"
    assert (entries["payments-prod", "alloy"].deployed, entries["payments-prod", "alloy"].desired) == (
        "1.3.0",
        "1.4.0",
    )
    assert entries["payments-prod", "mimir"].state == "current"
    assert entries["analytics-prod", "loki"].pinned
    assert entries["analytics-prod", "loki"].state == "current"
    assert entries["search-staging", "alloy"].state == "not deployed"
    assert ("controlroom", "loki") not in entries
    assert entries["controlroom", "alloy"].state == "current"  # its collector
    assert entries["controlroom", "mimir"].to_json() == {
        "stack": "controlroom",
        "component": "mimir",
        "desired": "6.0.0",
        "deployed": "6.0.0",
        "pinned": False,
        "state": "current",
    }
    assert out_of_date(inventory, journal.deployed_versions()) == ["payments-prod"]


def test_the_latest_successful_deploy_counts(inventory: Inventory, journal: Journal) -> None:
    record_deploys(journal, {"payments-prod": OLD})
    record_deploys(journal, {"payments-prod": NEW})
    assert out_of_date(inventory, journal.deployed_versions()) == []
