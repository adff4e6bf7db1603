"""Upgrade planning: what a new version set changes, where, in which waves and in which window.

Pure: the inventory, the target version set, what the journal says is deployed and the time
``now`` come in; an :class:`UpgradePlan` comes out. Nothing is read or written here.

A stack's *before* version of a component is what the journal says it runs, or, for a stack
never deployed, what the inventory asks for today. Its *after* version is what the inventory
will ask for once the target version set is written: workloads that pin a component keep their
pin, and are listed as *held* when the upgrade moves that component and the pin differs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fleet.inventory.loader import Inventory
from fleet.inventory.models import CONTROLROOM, VersionSet
from fleet.rollout.waves import PlanTarget, Wave, plan_waves
from fleet.schedule.windows import Window, next_window
from fleet.upgrade.skew import DeployedVersions, desired_versions, pinned_components


@dataclass(frozen=True)
class ComponentChange:
    component: str
    before: str | None
    after: str


@dataclass(frozen=True)
class StackChange:
    """A stack the upgrade touches, and how."""

    stack: str
    changes: tuple[ComponentChange, ...]
    deployed: bool
    """Whether ``before`` comes from the journal (True) or from today's inventory (False)."""


@dataclass(frozen=True)
class Hold:
    """A workload that keeps its pinned version of a component instead of the fleet's."""

    workload: str
    component: str
    pinned: str
    fleet: str


@dataclass(frozen=True)
class UpgradePlan:
    before: VersionSet
    after: VersionSet
    stacks: tuple[StackChange, ...]
    held: tuple[Hold, ...]
    unchanged: tuple[str, ...]
    """Stacks that already run what the upgrade asks for (or whose changed components are pinned)."""
    waves: tuple[Wave, ...]
    window: Window | None
    """The maintenance window the upgrade runs in (open now, or the next); None without a schedule."""

    @property
    def stack_names(self) -> tuple[str, ...]:
        return tuple(change.stack for change in self.stacks)

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.before.model_dump(),
            "to": self.after.model_dump(),
            "stacks": [
                {
                    "stack": change.stack,
                    "deployed": change.deployed,
                    "changes": [dataclasses.asdict(c) for c in change.changes],
                }
                for change in self.stacks
            ],
            "held": [dataclasses.asdict(hold) for hold in self.held],
            "unchanged": list(self.unchanged),
            "waves": [{"index": w.index, "name": w.name, "stacks": list(w.stacks)} for w in self.waves],
            "window": None
            if self.window is None
            else {"start": self.window.start.isoformat(), "end": self.window.end.isoformat()},
        }


def with_versions(inventory: Inventory, versions: VersionSet) -> Inventory:
    """``inventory`` as it will be once ``fleet.yaml`` holds ``versions``."""
    spec = inventory.fleet.spec.model_copy(update={"versions": versions})
    return dataclasses.replace(inventory, fleet=inventory.fleet.model_copy(update={"spec": spec}))


def plan_targets(inventory: Inventory, names: tuple[str, ...] | list[str]) -> list[PlanTarget]:
    """The wave planner's view of the named workloads (the control room is not one)."""
    return [
        PlanTarget(w.name, dict(w.spec.labels), w.spec.environment, w.spec.cloud, w.spec.region)
        for w in inventory.workloads
        if w.name in names
    ]


def plan_stacks(inventory: Inventory, stacks: list[str] | tuple[str, ...]) -> list[Wave]:
    """The waves for ``stacks`` under the fleet's rollout policy; the control room goes first."""
    policy = inventory.fleet.spec.rollout
    return plan_waves(
        plan_targets(inventory, [s for s in stacks if s != CONTROLROOM]),
        canary=policy.canary,
        wave_size=policy.wave_size,
        include_controlroom=CONTROLROOM in stacks,
    )


def upgrade_window(inventory: Inventory, now: datetime) -> Window | None:
    """The window open at ``now``, else the next one; None when fleet.yaml has no schedule."""
    schedule = inventory.fleet.spec.upgrades
    if schedule is None:
        return None
    return next_window(now, schedule.schedule, schedule.window, schedule.timezone)


def plan_upgrade(
    inventory: Inventory,
    target: VersionSet,
    *,
    deployed: DeployedVersions,
    now: datetime,
) -> UpgradePlan:
    """What rolling ``target`` out to ``inventory`` does, given what is ``deployed`` and ``now``."""
    after_inventory = with_versions(inventory, target)
    changed: list[StackChange] = []
    unchanged: list[str] = []
    held: list[Hold] = []
    for stack in inventory.stacks():
        record: Mapping[str, Any] = deployed.get(stack) or {}
        today = desired_versions(inventory, stack)
        after = desired_versions(after_inventory, stack)
        changes = []
        for component, version in after.items():
            before = record.get(component) if stack in deployed else today[component]
            before = None if before is None else str(before)
            if before != version:
                changes.append(ComponentChange(component, before, version))
        for component, pin in pinned_components(inventory, stack).items():
            fleet_version = getattr(target, component)
            moves = getattr(inventory.fleet.spec.versions, component) != fleet_version
            if moves and pin != fleet_version:
                held.append(Hold(stack, component, pin, fleet_version))
        if changes:
            changed.append(StackChange(stack, tuple(changes), deployed=stack in deployed))
        else:
            unchanged.append(stack)
    waves = plan_stacks(inventory, [change.stack for change in changed])
    return UpgradePlan(
        before=inventory.fleet.spec.versions,
        after=target,
        stacks=tuple(changed),
        held=tuple(held),
        unchanged=tuple(unchanged),
        waves=tuple(waves),
        window=upgrade_window(inventory, now),
    )
