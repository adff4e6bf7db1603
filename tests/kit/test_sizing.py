"""Sizes: every component the inventory may name has a size, overrides set requests, limits follow."""

from __future__ import annotations

from typing import get_args

from fleet.inventory.models import ResourceRequest, SizedComponent
from kit.sizing import TABLE, stack_sizing


def test_every_component_the_inventory_names_has_every_size() -> None:
    assert set(TABLE) == set(get_args(SizedComponent))
    assert all(set(sizes) == {"small", "medium", "large"} for sizes in TABLE.values())
    # Each size is at least the one below it.
    for sizes in TABLE.values():
        assert sizes["small"].cpu_millis <= sizes["medium"].cpu_millis <= sizes["large"].cpu_millis
        assert sizes["small"].memory_mib <= sizes["medium"].memory_mib <= sizes["large"].memory_mib


def test_an_override_sets_the_requests_and_the_limits_follow() -> None:
    sizing = stack_sizing("small", {"mimir-ingester": ResourceRequest(cpu="2", memory="8Gi")})
    assert sizing.resources("mimir-ingester") == {
        "requests": {"cpu": "2000m", "memory": "8192Mi"},
        "limits": {"cpu": "8000m", "memory": "16384Mi"},
    }
    assert sizing.resources("mimir-distributor") == TABLE["mimir-distributor"]["small"].values()
