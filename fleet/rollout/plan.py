"""What a rollout will do, decided before anything runs: targets, policy, waves, engine.

The wave split itself is :func:`fleet.rollout.waves.plan_waves` (pure); this module adds what needs the
inventory and the journal: which workloads the user selected, the policy from ``fleet.yaml`` with
the command-line overrides applied, and whether the control room goes first (it changed since
its last successful deploy, or a selected workload was never deployed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from fleet.errors import UserError
from fleet.inventory.loader import Inventory
from fleet.inventory.models import CONTROLROOM, RolloutPolicy
from fleet.journal import Journal, Outcome
from fleet.kinds import Action, EngineKind
from fleet.rollout.fingerprint import spec_hash
from fleet.rollout.waves import PlanTarget, Wave, parse_selector, plan_waves, select


@dataclass(frozen=True)
class RolloutPlan:
    """A rollout ready to record and run."""

    inventory: Path
    waves: tuple[Wave, ...]
    policy: RolloutPolicy
    action: Action
    engine: EngineKind
    controlroom_reason: str | None
    """Why the control room goes first, or None when it is not part of the rollout."""
    versions: Mapping[str, str]
    """The fleet's version set being rolled out."""

    @property
    def dry_run(self) -> bool:
        return self.engine is EngineKind.render

    @property
    def stacks(self) -> tuple[str, ...]:
        return tuple(stack for wave in self.waves for stack in wave.stacks)

    def record(self) -> dict[str, Any]:
        """The plan's settings as the journal keeps them (``policy``), enough to resume it."""
        return {
            **self.policy.model_dump(),
            "action": self.action.value,
            "engine": self.engine.value,
            "inventory": str(self.inventory),
        }


def effective_policy(base: RolloutPolicy, overrides: Mapping[str, Any]) -> RolloutPolicy:
    """``base`` with the non-None ``overrides`` applied and checked; UserError on a bad value."""
    changes = {key: value for key, value in overrides.items() if value is not None}
    if isinstance(changes.get("wave_size"), str) and changes["wave_size"].strip().isdigit():
        changes["wave_size"] = int(changes["wave_size"])
    try:
        return RolloutPolicy.model_validate({**base.model_dump(), **changes})
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        field = ".".join(str(part) for part in first["loc"]) or "policy"
        raise UserError(
            f"--{field.replace('_', '-')}: {first['msg'].removeprefix('Value error, ')}"
        ) from None


def last_deployed_hash(journal: Journal, stack: str) -> str | None:
    """The spec hash of ``stack``'s last successful real deploy, or None if it never had one."""
    found = journal.stack_status([stack])
    if not found or found[0].deployed_rollout_id is None:
        return None
    state = journal.get_rollout(found[0].deployed_rollout_id).stack(stack)
    for attempt in reversed(state.attempts):
        if attempt.outcome is Outcome.SUCCEEDED and attempt.summary:
            value = attempt.summary.get("spec_hash")
            return str(value) if value else None
    return None


def controlroom_reason(inventory: Inventory, journal: Journal, selected: Sequence[str]) -> str | None:
    """Why the control room must go first, or None when it is up to date for ``selected``."""
    deployed = journal.deployed_versions()
    if CONTROLROOM not in deployed:
        return "never deployed"
    new = sorted(name for name in selected if name not in deployed)
    if new:
        return f"new workload{'s' if len(new) > 1 else ''} {', '.join(new)}"
    if last_deployed_hash(journal, CONTROLROOM) != spec_hash(inventory, CONTROLROOM):
        return "changed since its last deploy"
    return None


@dataclass(frozen=True)
class Selection:
    """What the user asked to roll out, checked against the inventory (no journal needed)."""

    targets: tuple[PlanTarget, ...]
    policy: RolloutPolicy
    force_controlroom: bool


def select_stacks(
    inventory: Inventory,
    *,
    names: Sequence[str] = (),
    select_all: bool = False,
    selector: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Selection:
    """The workloads named, all of them, or those matching ``selector``, and the policy.

    Pure: call it before opening the journal, so an invalid request writes nothing. ``controlroom``
    may be named to force the control room in. UserError when nothing is selected, a name is
    unknown or an override is invalid.
    """
    if not names and not select_all and selector is None:
        raise UserError("name the workloads to roll out, or use --all or --selector key=value")
    if names and select_all:
        raise UserError("give workload names or --all, not both")
    force_controlroom = CONTROLROOM in names
    wanted = [name for name in names if name != CONTROLROOM]
    targets = [
        PlanTarget(workload.name, dict(workload.spec.labels), workload.spec.environment)
        for workload in inventory.workloads
    ]
    labels = parse_selector(selector) if selector is not None else None
    chosen = select(targets, wanted, labels) if wanted or labels or select_all else []
    if not chosen and not force_controlroom:
        raise UserError(f"no workload matches the selector {selector!r}" if selector else "no workloads")
    policy = effective_policy(inventory.fleet.spec.rollout, overrides or {})
    return Selection(tuple(chosen), policy, force_controlroom)


def plan_rollout(
    inventory: Inventory,
    journal: Journal,
    *,
    names: Sequence[str] = (),
    select_all: bool = False,
    selector: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    engine: EngineKind = EngineKind.pulumi,
    action: Action = Action.up,
) -> RolloutPlan:
    """Plan a rollout of the named workloads, all of them, or those matching ``selector``
    (see :func:`select_stacks`); the journal says whether the control room goes first."""
    selection = select_stacks(
        inventory, names=names, select_all=select_all, selector=selector, overrides=overrides
    )
    chosen, policy = list(selection.targets), selection.policy
    reason = "named on the command line" if selection.force_controlroom else None
    reason = reason or controlroom_reason(inventory, journal, [target.name for target in chosen])
    waves = plan_waves(
        chosen, canary=policy.canary, wave_size=policy.wave_size, include_controlroom=reason is not None
    )
    versions = inventory.fleet.spec.versions.model_dump()
    return RolloutPlan(inventory.root.resolve(), tuple(waves), policy, action, engine, reason, versions)
