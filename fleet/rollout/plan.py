"""What a rollout will do, decided before anything runs: targets, policy, waves, engine.

The wave split itself is :func:`fleet.rollout.waves.plan_waves` (pure); this module adds what needs the
inventory and the journal: which workloads the user selected, which of them changed since their
last successful deploy (their desired-state fingerprints, :mod:`fleet.rollout.fingerprint`; the
unchanged ones are skipped unless forced), the policy from ``fleet.yaml`` with the command-line
overrides applied, and whether the control room goes first (it changed since its last successful
deploy, or a selected workload was never deployed).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from fleet.errors import UserError
from fleet.inventory.loader import Inventory
from fleet.inventory.models import CONTROLROOM, RolloutPolicy
from fleet.journal import Journal
from fleet.journal.credentials import credential_generations
from fleet.kinds import Action, EngineKind
from fleet.messages import plain_message
from fleet.rollout.fingerprint import StackChange, compare, fingerprint
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
    changes: tuple[StackChange, ...] = ()
    """Every selected stack (the control room first when it was considered) and whether it
    changed since its last successful deploy; unchanged ones are in no wave unless forced."""
    force: bool = False
    """``--force``: unchanged stacks run too."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """More settings for the record (JSON data), e.g. an offboarding's per-stack actions."""

    @property
    def unchanged(self) -> tuple[str, ...]:
        """The selected stacks left out because nothing changed since their last deploy."""
        planned = set(self.stacks)
        return tuple(change.stack for change in self.changes if change.stack not in planned)

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
            "force": self.force,
            **self.extra,
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
        raise UserError(f"--{field.replace('_', '-')}: {plain_message(first)}") from None


def stack_changes(inventory: Inventory, journal: Journal, stacks: Sequence[str]) -> list[StackChange]:
    """Per stack, whether its fingerprint differs from its last successful real deploy's.

    The control room's input includes the password generations the journal keeps (credential
    rotation), as the worker that deploys it does."""
    inventory = dataclasses.replace(inventory, credentials=credential_generations(journal))
    deployed = journal.deployed_fingerprints(list(stacks))
    return [compare(stack, fingerprint(inventory, stack), deployed.get(stack)) for stack in stacks]


def controlroom_reason(
    change: StackChange, deployed: Mapping[str, Any], selected: Sequence[str]
) -> str | None:
    """Why the control room must go first, or None when it is up to date for ``selected``.

    ``change`` is the control room's own comparison, ``deployed`` the stacks ever deployed.
    """
    if not change.changed:
        new = sorted(name for name in selected if name not in deployed)
        if new:
            return f"new workload{'s' if len(new) > 1 else ''} {', '.join(new)}"
        return None
    if change.reason == "never deployed" or not change.fields:
        return change.reason
    return f"changed since its last deploy: {', '.join(change.fields)}"


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
        raise UserError("name the workloads to roll out, or use --all or --selector (-l) ring=canary")
    if names and select_all:
        raise UserError("give workload names or --all, not both")
    if select_all and selector is not None:
        raise UserError("give --all or --selector (-l), not both")
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
    force: bool = False,
) -> RolloutPlan:
    """Plan a rollout of the workloads :func:`select_stacks` selects.

    Selected workloads whose fingerprint matches their last successful deploy are left out
    (``plan.unchanged``) unless ``force``. ``controlroom`` may be named to force the control
    room in; ``force`` with ``select_all`` takes it too. A plan may have no waves: nothing changed.
    """
    selection = select_stacks(
        inventory, names=names, select_all=select_all, selector=selector, overrides=overrides
    )
    chosen, policy, force_controlroom = list(selection.targets), selection.policy, selection.force_controlroom
    names_chosen = [target.name for target in chosen]
    changes = stack_changes(inventory, journal, [CONTROLROOM, *names_chosen])
    reason = controlroom_reason(changes[0], journal.deployed_versions(), names_chosen)
    if force_controlroom:
        reason = "named on the command line"
    elif force and select_all and reason is None:
        reason = "forced"
    run = {change.stack for change in changes if change.changed or force}
    waves = plan_waves(
        [target for target in chosen if target.name in run],
        canary=policy.canary,
        wave_size=policy.wave_size,
        include_controlroom=reason is not None,
    )
    if reason is None and not select_all:
        changes = changes[1:]  # not asked for, and it need not run: not part of this plan
    versions = inventory.fleet.spec.versions.model_dump()
    return RolloutPlan(
        inventory.root.resolve(),
        tuple(waves),
        policy,
        action,
        engine,
        reason,
        versions,
        tuple(changes),
        force,
    )


def _nothing_selected(text: str | None, selector: Selector | None, targets: Sequence[PlanTarget]) -> str:
    """Why nothing was selected, naming a selector key no workload has (and what it resembles)."""
    if not targets:
        return (
            "no workloads in the inventory (workloads/ is empty): onboard one with `fleet workload "
            f"add FILE`, or roll out the control room alone with `fleet rollout {CONTROLROOM}`"
        )
    if text is None or selector is None:
        return "no workloads"
    known = {key for target in targets for key in target.labels} | set(FIELDS)
    for key in selector.keys:
        if key not in known:
            hint = did_you_mean(key, known)
            return f"no workload matches the selector {text!r}: no workload has a label {key!r}{hint}"
    for req in selector.requirements:
        if req.op != "in":
            continue
        held = {value for target in targets if (value := _value_of(target, req.key)) is not None}
        for value in sorted(req.values - held):
            if hint := did_you_mean(value, held):
                return f"no workload matches the selector {text!r}: no workload has {req.key}={value!r}{hint}"
    return f"no workload matches the selector {text!r}"


def _value_of(target: PlanTarget, key: str) -> str | None:
    return target.fields.get(key) if key in FIELDS else target.labels.get(key)
