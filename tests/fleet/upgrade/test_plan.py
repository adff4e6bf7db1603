"""Upgrade planning: changed stacks from what to what, held pins, waves and the window."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from inventories import copy_example

from fleet.inventory.loader import Inventory, load_inventory
from fleet.inventory.models import VersionSet
from fleet.upgrade.plan import ComponentChange, Hold, plan_upgrade

CURRENT = {"alloy": "1.4.0", "mimir": "6.0.0", "loki": "6.46.0", "grafana": "10.1.4"}
FRIDAY = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)  # the example's window: Saturdays 03:00 UTC, 4h


@pytest.fixture
def inventory(tmp_path: Path) -> Inventory:
    copy_example(tmp_path / "inv")
    return load_inventory(tmp_path / "inv")


def deployed_everywhere(inventory: Inventory) -> dict[str, dict[str, str]]:
    result = {stack: dict(CURRENT) for stack in inventory.stacks()}
    result["analytics-prod"]["loki"] = "6.30.1"
    return result


def test_an_alloy_upgrade_touches_the_control_room_first_then_the_workloads(inventory: Inventory) -> None:
    """The control room runs an Alloy too (its own collector)."""
    target = VersionSet(**{**CURRENT, "alloy": "1.5.0"})
    plan = plan_upgrade(inventory, target, deployed=deployed_everywhere(inventory), now=FRIDAY)

    assert plan.stack_names == ("controlroom", "analytics-prod", "payments-prod", "search-staging")
    assert plan.unchanged == ()
    assert plan.held == ()  # analytics-prod pins loki, which this upgrade does not move
    assert all(c.changes == (ComponentChange("alloy", "1.4.0", "1.5.0"),) for c in plan.stacks)
    assert [(w.name, w.stacks) for w in plan.waves] == [
        ("controlroom", ("controlroom",)),
        ("canary", ("search-staging",)),  # ring=canary first
        ("wave 1", ("analytics-prod",)),  # 50% of the two others
        ("wave 2", ("payments-prod",)),
    ]
    assert plan.window is not None
    assert (plan.window.start, plan.window.end) == (
        datetime(2026, 3, 7, 3, 0, tzinfo=UTC),
        datetime(2026, 3, 7, 7, 0, tzinfo=UTC),
    )


def test_pinned_components_are_held(inventory: Inventory) -> None:
    target = VersionSet(**{**CURRENT, "loki": "6.47.0", "mimir": "6.1.0"})
    plan = plan_upgrade(inventory, target, deployed=deployed_everywhere(inventory), now=FRIDAY)

    assert plan.held == (Hold("analytics-prod", "loki", "6.30.1", "6.47.0"),)
    changes = {c.stack: c.changes for c in plan.stacks}
    assert changes["analytics-prod"] == (ComponentChange("mimir", "6.0.0", "6.1.0"),)
    assert changes["payments-prod"] == (
        ComponentChange("mimir", "6.0.0", "6.1.0"),
        ComponentChange("loki", "6.46.0", "6.47.0"),
    )
    assert changes["controlroom"] == (ComponentChange("mimir", "6.0.0", "6.1.0"),)
    assert plan.waves[0].stacks == ("controlroom",)


def test_a_pin_only_change_leaves_the_pinned_workload_unchanged(inventory: Inventory) -> None:
    target = VersionSet(**{**CURRENT, "loki": "6.47.0"})
    plan = plan_upgrade(inventory, target, deployed=deployed_everywhere(inventory), now=FRIDAY)
    assert "analytics-prod" in plan.unchanged
    assert plan.stack_names == ("payments-prod", "search-staging")


def test_before_comes_from_the_journal_when_deployed(inventory: Inventory) -> None:
    deployed = deployed_everywhere(inventory)
    deployed["payments-prod"]["alloy"] = "1.2.0"  # behind even the current version set
    del deployed["search-staging"]  # never deployed: before is today's inventory
    plan = plan_upgrade(inventory, VersionSet(**{**CURRENT, "alloy": "1.5.0"}), deployed=deployed, now=FRIDAY)
    by_stack = {c.stack: c for c in plan.stacks}
    assert by_stack["payments-prod"].changes == (ComponentChange("alloy", "1.2.0", "1.5.0"),)
    assert by_stack["search-staging"].deployed is False
    assert by_stack["search-staging"].changes == (ComponentChange("alloy", "1.4.0", "1.5.0"),)


def test_no_change_means_no_waves(inventory: Inventory) -> None:
    plan = plan_upgrade(inventory, VersionSet(**CURRENT), deployed=deployed_everywhere(inventory), now=FRIDAY)
    assert plan.stacks == () and plan.waves == ()
    assert plan.to_json()["waves"] == []


def test_inside_a_window_the_plan_names_the_open_window(inventory: Inventory) -> None:
    saturday = datetime(2026, 3, 7, 5, 30, tzinfo=UTC)
    plan = plan_upgrade(inventory, VersionSet(**CURRENT), deployed={}, now=saturday)
    assert plan.window is not None and saturday in plan.window
    assert plan.to_json()["window"] == {
        "start": "2026-03-07T03:00:00+00:00",
        "end": "2026-03-07T07:00:00+00:00",
    }


def test_without_a_schedule_there_is_no_window(inventory: Inventory) -> None:
    path = inventory.root / "fleet.yaml"
    path.write_text(
        "\n".join(line for line in path.read_text().splitlines() if "upgrades:" not in line) + "\n"
    )
    plan = plan_upgrade(load_inventory(inventory.root), VersionSet(**CURRENT), deployed={}, now=FRIDAY)
    assert plan.window is None
