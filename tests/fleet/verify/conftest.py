"""The example inventory rendered once per test session (each xdist worker), for the proofs on
rendered objects: ``test_rendered`` and ``test_hardening`` edit copies of these plans, never the
plans themselves. Rendering needs no chart cache; each module sets one up for its proofs."""

from __future__ import annotations

from typing import Any

import pytest
from inventories import copy_example

from fleet.engines.render import load_plans, render_all
from fleet.inventory.loader import Inventory, load_inventory


@pytest.fixture(scope="session")
def inventory(tmp_path_factory: pytest.TempPathFactory) -> Inventory:
    return load_inventory(copy_example(tmp_path_factory.mktemp("example") / "inv"))


@pytest.fixture(scope="session")
def plans(inventory: Inventory) -> dict[str, dict[str, Any]]:
    out = inventory.root.parent / "plans"
    render_all(inventory, None, out)
    return load_plans(out)
