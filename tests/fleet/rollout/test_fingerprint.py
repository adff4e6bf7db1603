"""Desired-state fingerprints: one digest per input field, compared field by field."""

from __future__ import annotations

from pathlib import Path

from fleet.inventory.loader import load_inventory
from fleet.rollout.fingerprint import PROGRAM_FIELD, compare, fingerprint, fingerprint_hash, spec_hash


def test_a_fingerprint_names_every_input_field_and_holds_no_value(inventory: Path) -> None:
    fields = fingerprint(load_inventory(inventory), "payments-prod")

    assert {"workload.spec.mimir.replicas", "versions.loki", "push_url", PROGRAM_FIELD} <= set(fields)
    assert "eu-west-1" not in str(fields) and "210987654321" not in str(fields)
    assert spec_hash(load_inventory(inventory), "payments-prod") == fingerprint_hash(fields)


def test_compare_names_the_fields_that_changed(inventory: Path) -> None:
    before = fingerprint(load_inventory(inventory), "payments-prod")
    path = inventory / "workloads" / "payments-prod.yaml"
    path.write_text(path.read_text().replace("replicas: 3", "replicas: 4"))
    after = fingerprint(load_inventory(inventory), "payments-prod")

    change = compare("payments-prod", after, before)

    assert change.changed and change.fields == ("workload.spec.mimir.replicas",)
    assert change.reason == "changed: workload.spec.mimir.replicas"
    assert not compare("payments-prod", after, after).changed
    assert compare("payments-prod", after, None).reason == "never deployed"


def test_the_control_room_fingerprint_follows_the_workload_list(inventory: Path) -> None:
    before = fingerprint(load_inventory(inventory), "controlroom")
    (inventory / "workloads" / "search-staging.yaml").unlink()

    change = compare("controlroom", fingerprint(load_inventory(inventory), "controlroom"), before)

    # The workload list, and the hub's limits of the workload that left.
    assert "workloads" in change.fields
    assert all(f == "workloads" or f.startswith("tenant_limits.search-staging.") for f in change.fields)
