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
from fleet.rollout.selectors import FIELDS, Selector, did_you_mean, parse_selector
from fleet.rollout.waves import PlanTarget, Wave, plan_waves, select


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
    """Plan a rollout of the named workloads, all of them, or those matching ``selector``.

    ``controlroom`` may be named to force the control room in. UserError when nothing is
    selected, a name is unknown or an override is invalid.
    """
    if not names and not select_all and selector is None:
        raise UserError("name the workloads to roll out, or use --all or --selector (-l) ring=canary")
    if names and select_all:
        raise UserError("give workload names or --all, not both")
    force_controlroom = CONTROLROOM in names
    wanted = [name for name in names if name != CONTROLROOM]
    targets = [
        PlanTarget(
            workload.name,
            dict(workload.spec.labels),
            workload.spec.environment,
            workload.spec.cloud,
            workload.spec.region,
        )
        for workload in inventory.workloads
    ]
    parsed = parse_selector(selector) if selector is not None else None
    chosen = select(targets, wanted, parsed) if wanted or parsed or select_all else []
    if not chosen and not force_controlroom:
        raise UserError(_nothing_selected(selector, parsed, targets))
    policy = effective_policy(inventory.fleet.spec.rollout, overrides or {})
    reason = "named on the command line" if force_controlroom else None
    reason = reason or controlroom_reason(inventory, journal, [target.name for target in chosen])
    waves = plan_waves(
        chosen, canary=policy.canary, wave_size=policy.wave_size, include_controlroom=reason is not None
    )
    versions = inventory.fleet.spec.versions.model_dump()
    return RolloutPlan(inventory.root.resolve(), tuple(waves), policy, action, engine, reason, versions)


def _nothing_selected(text: str | None, selector: Selector | None, targets: Sequence[PlanTarget]) -> str:
    """Why nothing was selected, naming a selector key no workload has (and what it resembles)."""
    if text is None or selector is None:
        return "no workloads"
    known = {key for target in targets for key in target.labels} | set(FIELDS)
    for key in selector.keys:
        if key not in known:
            hint = did_you_mean(key, known)
            return f"no workload matches the selector {text!r}: no workload has a label {key!r}{hint}"
    return f"no workload matches the selector {text!r}"
