"""Rotating workloads' central passwords (``fleet credentials rotate``) without a rejected write.

A rotation is three recorded rollouts of kind ``rotate``, one per phase, tied together by the
rotation's id (the first phase's rollout id) in their policy:

1. ``accept``: the workloads get a next password generation in the journal
   (:func:`fleet.journal.credentials.begin_rotation`) and the control room is rolled out: its
   gateway accepts the next password (rotation htpasswd) next to the current one (main htpasswd),
   and it exports the next one;
2. ``switch``: the workloads are rolled out in waves (the fleet's policy: canary, wave size,
   health gate), so each reads its next password;
3. ``retire``: the control room is rolled out with the next generation made current: the new
   password moves to the main htpasswd, the rotation htpasswd empties and the old password is
   deleted. Once that rollout succeeded, the journal records it
   (:func:`fleet.journal.credentials.finish_rotation`; the driver calls :func:`complete_rotation`
   after every drive, so a crash right after the end is repaired by the next drive).

Each phase is a rollout of its own because a stack runs once per rollout and the control room runs
in phases 1 and 3. :func:`next_step` decides from the journal alone what to do next, so a rotation
killed in any phase resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fleet.errors import UserError
from fleet.inventory.durations import parse_duration
from fleet.inventory.loader import Inventory
from fleet.inventory.models import CONTROLROOM, CredentialGeneration
from fleet.journal import Journal, Rollout, RolloutKind, RolloutStatus, StackStatus
from fleet.journal.credentials import begin_rotation, credential_generations, finish_rotation, rotating
from fleet.kinds import Action, EngineKind
from fleet.rollout.plan import RolloutPlan
from fleet.rollout.waves import PlanTarget, Wave, plan_waves, select

PHASES = ("accept", "switch", "retire")
ROTATION_KEY = "rotation"
PHASE_KEY = "phase"
NAMES_KEY = "rotate"


def phase_label(rollout: Rollout) -> str | None:
    """``"2/3 switch"`` for a rotation's rollout (None for other rollouts): for status and history."""
    if rollout.kind is not RolloutKind.ROTATE:
        return None
    phase = str(rollout.policy.get(PHASE_KEY, ""))
    number = PHASES.index(phase) + 1 if phase in PHASES else 0
    return f"{number}/{len(PHASES)} {phase}"


def rotation_names(inventory: Inventory, names: Sequence[str], select_all: bool) -> list[str]:
    """The workloads to rotate, in inventory order; UserError for none, both, or an unknown name."""
    if names and select_all:
        raise UserError("give workload names or --all, not both")
    if not names and not select_all:
        raise UserError("name the workloads whose credentials to rotate, or use --all")
    if CONTROLROOM in names:
        raise UserError("the control room has no workload credential; name workloads")
    for name in names:
        inventory.workload(name)  # UserError naming the workloads directory when unknown
    if not inventory.workloads:
        raise UserError("no workloads")
    return [w.name for w in inventory.workloads if select_all or w.name in names]


def plan_phase(
    inventory: Inventory, phase: str, names: Sequence[str], rotation_id: str | None, engine: EngineKind
) -> RolloutPlan:
    """The rollout of one phase of rotating ``names`` (``rotation_id`` None for the first)."""
    policy = inventory.fleet.spec.rollout
    if phase == "switch":
        targets = [
            PlanTarget(w.name, dict(w.spec.labels), w.spec.environment)
            for w in inventory.workloads
            if w.name in names
        ]
        waves = tuple(
            plan_waves(
                select(targets, list(names), None),
                canary=policy.canary,
                wave_size=policy.wave_size,
                include_controlroom=False,
            )
        )
        reason = None
    else:
        waves = (Wave(0, CONTROLROOM, (CONTROLROOM,)),)
        reason = (
            "accepts the next passwords next to the current ones"
            if phase == "accept"
            else "keeps only the new passwords"
        )
    extra: dict[str, Any] = {PHASE_KEY: phase, NAMES_KEY: list(names)}
    if rotation_id is not None:
        extra[ROTATION_KEY] = rotation_id
    return RolloutPlan(
        inventory=inventory.root.resolve(),
        waves=waves,
        policy=policy,
        action=Action.up,
        engine=engine,
        controlroom_reason=reason,
        versions=inventory.fleet.spec.versions.model_dump(),
        extra=extra,
    )


def rotation_of(rollout: Rollout) -> str:
    """The id of the rotation ``rollout`` is a phase of (its own id for the first phase)."""
    return str(rollout.policy.get(ROTATION_KEY) or rollout.id)


def latest_phase(journal: Journal) -> Rollout | None:
    """The newest real ``rotate`` rollout, or None."""
    for summary in journal.list_rollouts(limit=20, kind=RolloutKind.ROTATE):
        if not summary.rollout.dry_run:
            return summary.rollout
    return None


@dataclass(frozen=True)
class Step:
    """What a rotation does next: drive ``rollout_id`` (a recorded phase), or start ``phase``."""

    rotation_id: str
    names: tuple[str, ...]
    rollout_id: str | None = None
    phase: str | None = None


def next_step(journal: Journal) -> Step | None:
    """The next step of the unfinished rotation, or None when none is unfinished.

    Repairs what a crash may have left between a step and its record (idempotently): a first
    phase recorded without its next generations, a last phase succeeded but not recorded.
    """
    last = latest_phase(journal)
    if last is None:
        return None
    rotation_id = rotation_of(last)
    names = tuple(str(name) for name in last.policy.get(NAMES_KEY, ()))
    phase = str(last.policy.get(PHASE_KEY))
    if phase == "accept":
        begin_rotation(journal, names, rotation_id)
    if last.status is not RolloutStatus.SUCCEEDED:
        if last.status is RolloutStatus.CANCELLED:
            raise UserError(
                f"the rotation's phase {phase} (rollout {last.id}) was cancelled; "
                f"resume it with `fleet rollout resume {last.id}`"
            )
        return Step(rotation_id, names, rollout_id=last.id, phase=phase)
    if phase == "retire":
        finish_rotation(journal, rotation_id)
        return None
    return Step(rotation_id, names, phase=PHASES[PHASES.index(phase) + 1])


@dataclass(frozen=True)
class PhasePreview:
    """One phase of a rotation as ``--dry-run`` shows it: the waves and the stacks each would run."""

    phase: str
    waves: tuple[tuple[str, tuple[str, ...]], ...]
    resumes: str | None = None
    """The phase's recorded rollout, when it was started and did not finish (it is resumed, with
    only its stacks that have not succeeded)."""

    @property
    def label(self) -> str:
        return f"{PHASES.index(self.phase) + 1}/{len(PHASES)} {self.phase}"

    @property
    def stacks(self) -> tuple[str, ...]:
        return tuple(stack for _, stacks in self.waves for stack in stacks)

    def to_json(self) -> dict[str, Any]:
        return {
            "phase": self.label,
            "resumes": self.resumes,
            "stacks": list(self.stacks),
            "waves": [{"name": name, "stacks": list(stacks)} for name, stacks in self.waves],
        }


@dataclass(frozen=True)
class RotationPreview:
    """What ``fleet credentials rotate`` would do, read without writing anything."""

    rotation_id: str | None
    """The unfinished rotation it would continue, or None for a new one."""
    names: tuple[str, ...]
    phases: tuple[PhasePreview, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "rotation": self.rotation_id,
            "continues": self.rotation_id is not None,
            "workloads": list(self.names),
            "phases": [phase.to_json() for phase in self.phases],
        }


def _planned(inventory: Inventory, phase: str, names: Sequence[str]) -> PhasePreview:
    plan = plan_phase(inventory, phase, names, None, EngineKind.render)
    return PhasePreview(phase, tuple((wave.name, tuple(wave.stacks)) for wave in plan.waves))


def _recorded(journal: Journal, rollout: Rollout) -> PhasePreview:
    detail = journal.get_rollout(rollout.id)
    left = {state.stack for state in detail.stacks if state.status is not StackStatus.SUCCEEDED}
    waves = tuple((wave.name, tuple(s for s in wave.stacks if s in left)) for wave in detail.waves)
    return PhasePreview(
        str(rollout.policy.get(PHASE_KEY)), tuple(w for w in waves if w[1]), resumes=rollout.id
    )


def preview_rotation(
    journal: Journal | None, inventory: Inventory, names: Sequence[str], select_all: bool
) -> RotationPreview:
    """The phases ``fleet credentials rotate NAMES`` would run next, with their waves: the
    unfinished rotation's remaining phases (it continues that one, whatever names are given), else
    a new rotation's three. Unlike :func:`next_step`, repairs and records nothing (``journal``
    None: nothing was ever recorded). UserError as the command would raise it."""
    last = latest_phase(journal) if journal is not None else None
    if journal is not None and last is not None:
        phase = str(last.policy.get(PHASE_KEY))
        done = last.status is RolloutStatus.SUCCEEDED
        if not (done and phase == "retire"):
            if last.status is RolloutStatus.CANCELLED:
                raise UserError(
                    f"the rotation's phase {phase} (rollout {last.id}) was cancelled; "
                    f"resume it with `fleet rollout resume {last.id}`"
                )
            left = tuple(str(name) for name in last.policy.get(NAMES_KEY, ()))
            upcoming = PHASES[PHASES.index(phase) + (1 if done else 0) :]
            phases = [
                _recorded(journal, last) if p == phase and not done else _planned(inventory, p, left)
                for p in upcoming
            ]
            return RotationPreview(rotation_of(last), left, tuple(phases))
    wanted = rotation_names(inventory, names, select_all)
    return RotationPreview(None, tuple(wanted), tuple(_planned(inventory, p, wanted) for p in PHASES))


def start_rotation(journal: Journal, rollout: Rollout) -> None:
    """Record the next generations of a first phase just recorded (before it runs)."""
    begin_rotation(journal, [str(n) for n in rollout.policy.get(NAMES_KEY, ())], rollout.id)


def complete_rotation(journal: Journal, rollout: Rollout) -> list[str]:
    """After a succeeded last phase, make the new generations current; returns the workloads."""
    if rollout.kind is not RolloutKind.ROTATE or rollout.dry_run:
        return []
    if rollout.status is not RolloutStatus.SUCCEEDED or rollout.policy.get(PHASE_KEY) != "retire":
        return []
    return finish_rotation(journal, rotation_of(rollout))


def generations_for(journal: Journal, rollout: Rollout) -> dict[str, CredentialGeneration]:
    """The password generations the control room is rolled out with in ``rollout``: the
    journal's, with the next made current for the workloads a last phase retires."""
    found = credential_generations(journal)
    if rollout.kind is RolloutKind.ROTATE and rollout.policy.get(PHASE_KEY) == "retire":
        rotation_id = rotation_of(rollout)
        for name, busy in rotating(journal).items():
            upcoming = found[name].next
            if busy == rotation_id and upcoming is not None:
                found[name] = CredentialGeneration(generation=upcoming)
    return found


def rotation_status(journal: Journal) -> Mapping[str, str]:
    """Workload -> the phase its unfinished rotation is in (for ``fleet status``)."""
    last = latest_phase(journal)
    if last is None:
        return {}
    busy = rotating(journal)
    label = phase_label(last) or ""
    return {name: label for name, rotation_id in busy.items() if rotation_id == rotation_of(last)}


def rotation_due(now: datetime, inventory: Inventory, journal: Journal) -> tuple[list[str], str]:
    """The deployed workloads a scheduled rotation should rotate at ``now`` (none: not due), and
    why. Due when ``spec.credentials.rotate_every`` is set, no rotation is unfinished, the
    control room is deployed, and the last rotation began longer ago than ``rotate_every`` (or
    none ever ran). Never-deployed workloads are left to ``fleet rollout``."""
    every = inventory.fleet.spec.credentials.rotate_every
    if every is None:
        return [], "fleet.yaml has no spec.credentials.rotate_every"
    last = latest_phase(journal)
    if last is not None and next_step(journal) is not None:
        return [], f"rotation {rotation_of(last)} is unfinished ({phase_label(last)}, {last.status})"
    deployed = journal.deployed_versions()
    if CONTROLROOM not in deployed:
        return [], "the control room was never deployed"
    if last is not None:
        began = journal.rollout(rotation_of(last)).created_at
        due = began + timedelta(seconds=parse_duration(every))
        if now < due:
            return [], f"the next rotation is due at {due.isoformat()}"
    names = [name for name in inventory.names if name in deployed]
    if not names:
        return [], "no deployed workloads"
    return names, f"rotating every {every}"
