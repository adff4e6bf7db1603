"""Rendering in a pool of processes gives the plans a render in one process gives (the oracle),
byte for byte, with the control room's credentials reaching every workload."""

from __future__ import annotations

from pathlib import Path

import pytest
from inventories import write_inventory

from fleet.engines import parallel
from fleet.engines.render import RenderEngine, load_plans
from fleet.errors import OperationError
from fleet.inventory.loader import load_inventory

WORKLOADS = ["w0", "w1"]


@pytest.fixture(autouse=True)
def small_pools(monkeypatch: pytest.MonkeyPatch) -> None:
    # A pool for two workloads, so the proof costs two renders, not eight.
    monkeypatch.setattr(parallel, "MIN_STACKS_PER_PROCESS", 1)


def test_a_pool_renders_what_one_process_renders(tmp_path: Path) -> None:
    inventory = load_inventory(write_inventory(tmp_path / "inv", WORKLOADS))
    assert parallel.worth_a_pool(len(WORKLOADS), 2)
    one, pool = tmp_path / "one", tmp_path / "pool"
    RenderEngine(one, jobs=1).render_many(inventory)
    # Same control-room state, so the same passwords: the plans must be identical.
    (pool / ".state").mkdir(parents=True)
    for state in (one / ".state").iterdir():
        (pool / ".state" / state.name).write_bytes(state.read_bytes())
    seen: list[str] = []
    RenderEngine(pool, jobs=2).render_many(inventory, on_rendered=lambda name, _plan: seen.append(name))
    assert sorted(seen) == sorted(["controlroom", *WORKLOADS])
    assert load_plans(pool) == load_plans(one)


def test_a_stack_that_cannot_render_fails_the_whole_render(tmp_path: Path) -> None:
    inventory = load_inventory(write_inventory(tmp_path / "inv", WORKLOADS))
    out = tmp_path / "out"
    with pytest.raises(OperationError, match="control room has not been rendered"):
        RenderEngine(out, jobs=2).render_many(inventory, WORKLOADS)  # no control room state
    assert not out.exists() or not list(out.glob("*/plan.json"))
