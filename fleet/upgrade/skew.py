"""Version skew: what each stack runs (the journal) against what the inventory asks for.

A workload runs all four components; its desired versions are the fleet's version set with the
workload's pins applied. The control room runs the central Mimir and its Grafana only, so an
Alloy or Loki upgrade never touches it. Deployed versions come from
:meth:`fleet.journal.Journal.deployed_versions`: the version set of each stack's last successful
real (non-dry-run) deploy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from fleet.inventory.loader import Inventory
from fleet.inventory.models import COMPONENTS, CONTROLROOM

CONTROLROOM_COMPONENTS: tuple[str, ...] = ("mimir", "grafana")
"""The components the control-room stack deploys."""

SkewState = Literal["current", "differs", "not deployed"]

DeployedVersions = Mapping[str, Mapping[str, Any]]
"""Per stack, the versions of its last successful deploy (as the journal returns them)."""


def stack_components(stack: str) -> tuple[str, ...]:
    """The components ``stack`` deploys."""
    return CONTROLROOM_COMPONENTS if stack == CONTROLROOM else COMPONENTS


def desired_versions(inventory: Inventory, stack: str) -> dict[str, str]:
    """The versions the inventory asks ``stack`` to run, per component it deploys."""
    # Read field by field (no model_dump or model_copy): `fleet validate` asks for every stack.
    fleet_set = inventory.fleet.spec.versions
    if stack == CONTROLROOM:
        return {component: getattr(fleet_set, component) for component in CONTROLROOM_COMPONENTS}
    pins = inventory.workload(stack).spec.versions
    desired = {}
    for component in COMPONENTS:
        pinned = getattr(pins, component)
        desired[component] = getattr(fleet_set, component) if pinned is None else pinned
    return desired


def pinned_components(inventory: Inventory, stack: str) -> dict[str, str]:
    """The components ``stack`` pins to its own version (none for the control room)."""
    if stack == CONTROLROOM:
        return {}
    pins = inventory.workload(stack).spec.versions
    return {c: version for c in COMPONENTS if (version := getattr(pins, c)) is not None}


@dataclass(frozen=True)
class SkewEntry:
    """One stack and component: the version the inventory wants and the one deployed."""

    stack: str
    component: str
    desired: str
    deployed: str | None
    """None when the stack has never been deployed (or its deploy did not record versions)."""
    pinned: bool
    """The workload pins this component, so fleet-wide upgrades leave it alone."""

    @property
    def state(self) -> SkewState:
        if self.deployed is None:
            return "not deployed"
        return "current" if self.deployed == self.desired else "differs"

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "component": self.component,
            "desired": self.desired,
            "deployed": self.deployed,
            "pinned": self.pinned,
            "state": self.state,
        }


def skew_table(inventory: Inventory, deployed: DeployedVersions) -> list[SkewEntry]:
    """Every stack of the inventory x every component it deploys, in stack order. Pure."""
    entries = []
    for stack in inventory.stacks():
        record = deployed.get(stack) or {}
        pins = pinned_components(inventory, stack)
        for component, want in desired_versions(inventory, stack).items():
            have = record.get(component)
            entries.append(
                SkewEntry(
                    stack=stack,
                    component=component,
                    desired=want,
                    deployed=None if have is None else str(have),
                    pinned=component in pins,
                )
            )
    return entries


def out_of_date(inventory: Inventory, deployed: DeployedVersions) -> list[str]:
    """The deployed stacks running a version other than the inventory's, in stack order.

    Stacks never deployed are not listed: deploying them is onboarding (``fleet rollout``),
    not an upgrade.
    """
    stale: list[str] = []
    for entry in skew_table(inventory, deployed):
        if entry.stack in deployed and entry.state != "current" and entry.stack not in stale:
            stale.append(entry.stack)
    return stale
