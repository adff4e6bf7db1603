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


def test_each_field_is_the_sha256_of_its_json_value_and_json_types_stay_apart(inventory: Path) -> None:
    import hashlib
    import json

    from fleet.rollout.fingerprint import _digest

    def expected(value: object) -> str:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    # Digests of repeated scalars are remembered: a remembered one must not stand for another
    # value that compares equal in Python but not in JSON.
    for value in (True, 1, 1.0, "1", None, 0, False, [1, True], {"a": 1}):
        assert _digest(value) == expected(value)
        assert _digest(value) == expected(value)  # the second time, from memory
    fields = fingerprint(load_inventory(inventory), "payments-prod")
    again = fingerprint(load_inventory(inventory), "payments-prod")
    assert fields == again
