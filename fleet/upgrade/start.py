"""Upgrade rollouts: record one for the stacks a version-set change touches.

An upgrade is an ordinary rollout (``kind: upgrade`` in the journal), driven like every other
(:func:`fleet.rollout.driver.drive`) with the hooks its record calls for
(:func:`fleet.rollout.hooks.rollout_hooks`): a health gate after each wave and, when the
scheduler started it, the maintenance-window check before each wave.
"""

from __future__ import annotations

from collections.abc import Sequence

from fleet.inventory.loader import Inventory
from fleet.inventory.models import CONTROLROOM
from fleet.journal import Journal, Rollout, RolloutKind
from fleet.journal.locks import StackLocks
from fleet.kinds import Action, EngineKind
from fleet.rollout.coordinator import start_rollout
from fleet.rollout.plan import RolloutPlan
from fleet.upgrade.plan import plan_stacks


def upgrade_plan(inventory: Inventory, stacks: Sequence[str], engine: EngineKind) -> RolloutPlan:
    """The rollout plan of an upgrade of ``stacks`` under the fleet's rollout policy."""
    return RolloutPlan(
        inventory.root.resolve(),
        tuple(plan_stacks(inventory, list(stacks))),
        inventory.fleet.spec.rollout,
        Action.up,
        engine,
        "its versions changed" if CONTROLROOM in stacks else None,
        inventory.fleet.spec.versions.model_dump(),
    )


def start_upgrade(
    inventory: Inventory,
    journal: Journal,
    locks: StackLocks,
    stacks: Sequence[str],
    *,
    engine: EngineKind = EngineKind.pulumi,
    started_by: str | None = None,
) -> Rollout:
    """Lock ``stacks`` and record a running upgrade rollout of them; nothing is recorded when a
    stack is locked by another rollout (StacksLocked names the holder)."""
    plan = upgrade_plan(inventory, stacks, engine)
    return start_rollout(journal, locks, plan, kind=RolloutKind.UPGRADE, started_by=started_by)
