"""Offboarding a workload (``fleet workload remove NAME``): a recorded, resumable rollout.

An ``offboard`` rollout has two waves, run by the same coordinator and workers as any rollout:

1. ``destroy``: the workload's stack is destroyed and removed from the Pulumi backend (the
   policy's ``actions`` gives that one stack the ``destroy`` action);
2. ``controlroom``: the control room is rolled out without the workload (the policy's
   ``offboard`` names it, and the worker leaves it out of the control room's inventory), so its
   credential stops authenticating at the gateway.

Then the workload's Pulumi workspace directory (``.fleet/work/<name>``) goes, and its file is
removed from the inventory (:func:`complete_offboarding`, one ``unlink``: atomic). That last
step runs wherever the rollout is seen to have succeeded (the driver calls it after every drive,
resumes included), so a crash at any point resumes where it stopped: succeeded stacks are never
run again and the file goes only after both stacks succeeded. Until then the workload is "being
offboarded": a plain rollout refuses to touch it.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fleet.errors import UserError
from fleet.inventory.loader import WORKLOADS_DIR, Inventory, stack_work_dir
from fleet.inventory.models import CONTROLROOM
from fleet.journal import Journal, Rollout, RolloutKind, RolloutStatus
from fleet.kinds import Action, EngineKind
from fleet.rollout.fingerprint import StackChange
from fleet.rollout.plan import RolloutPlan
from fleet.rollout.waves import Wave

log = logging.getLogger(__name__)

DESTROY_WAVE = "destroy"
OFFBOARD_KEY = "offboard"
"""The policy key naming the workload an offboarding removes."""

_IN_PROGRESS = (
    RolloutStatus.PENDING,
    RolloutStatus.RUNNING,
    RolloutStatus.PAUSED,
    RolloutStatus.HALTED,
    RolloutStatus.CANCELLING,
)
"""An offboarding in one of these may still destroy or drop the workload: nothing else touches it.
A failed one (a step failed within the failure budget) is over: it may be resumed, or the workload
rolled out again to undo it."""


def plan_offboarding(inventory: Inventory, name: str, engine: EngineKind) -> RolloutPlan:
    """The plan of offboarding ``name``: destroy its stack, then the control room without it.

    UserError when ``name`` is not a workload of the inventory.
    """
    if name == CONTROLROOM:
        raise UserError("the control room is not a workload; it cannot be removed")
    inventory.workload(name)  # UserError naming the workloads directory when unknown
    waves = (Wave(0, DESTROY_WAVE, (name,)), Wave(1, CONTROLROOM, (CONTROLROOM,)))
    return RolloutPlan(
        inventory=inventory.root.resolve(),
        waves=waves,
        policy=inventory.fleet.spec.rollout,
        action=Action.up,
        engine=engine,
        controlroom_reason=f"without {name}: its credential stops authenticating",
        versions=inventory.fleet.spec.versions.model_dump(),
        changes=(StackChange(name, True, (), "offboarded: destroyed and removed from the backend"),),
        extra={OFFBOARD_KEY: name, "actions": {name: Action.destroy.value}},
    )


def offboarded_workload(rollout: Rollout) -> str | None:
    """The workload an ``offboard`` rollout removes (None for other rollouts)."""
    if rollout.kind is not RolloutKind.OFFBOARD:
        return None
    name = rollout.policy.get(OFFBOARD_KEY)
    return str(name) if name else None


def without_offboarded(inventory: Inventory, policy: Mapping[str, Any]) -> Inventory:
    """``inventory`` without the workload an offboarding's ``policy`` removes (as is otherwise):
    what the control room is rolled out with while the file still exists."""
    name = policy.get(OFFBOARD_KEY)
    if not name:
        return inventory
    kept = tuple(workload for workload in inventory.workloads if workload.name != name)
    return dataclasses.replace(inventory, workloads=kept)


def workload_file(inventory_root: Path, name: str) -> Path | None:
    """The inventory file of workload ``name`` (``.yaml`` or ``.yml``), or None when gone."""
    for suffix in (".yaml", ".yml"):
        path = inventory_root / WORKLOADS_DIR / f"{name}{suffix}"
        if path.is_file():
            return path
    return None


def remove_work_dir(inventory_root: Path, name: str) -> Path | None:
    """Remove the Pulumi workspace directory of workload ``name`` (``.fleet/work/<name>``);
    returns it if it was removed.

    Only for a stack already destroyed and removed from the backend: the directory then holds
    nothing but ``Pulumi.yaml``, which the engine writes again on every run (``pulumi stack rm``
    took the stack's settings file). A missing directory is fine; a symlink in its place is
    removed, never followed, and nothing is removed when ``.fleet/work`` leads out of ``.fleet``.
    A directory that cannot be removed is logged and left: the offboarding is done regardless.
    """
    work_dir = stack_work_dir(inventory_root, name)
    if work_dir.name != name or name.startswith("."):
        return None  # not one plain entry of .fleet/work
    state_dir = work_dir.parents[1]
    try:
        if not work_dir.parent.resolve().is_relative_to(state_dir.resolve()):
            log.warning("not removing %s: %s leads out of %s", work_dir, work_dir.parent, state_dir)
            return None
        if work_dir.is_symlink():
            work_dir.unlink()
        elif work_dir.is_dir():
            shutil.rmtree(work_dir)  # removes the links inside it, never what they point to
        else:
            return None  # missing (or not a directory: not the engine's)
    except (OSError, RuntimeError) as error:  # RuntimeError: a symlink loop
        log.warning("could not remove %s: %s", work_dir, getattr(error, "strerror", None) or error)
        return None
    return work_dir


def complete_offboarding(rollout: Rollout) -> Path | None:
    """After a succeeded offboarding, remove the workload's Pulumi workspace directory
    (:func:`remove_work_dir`), then its file; returns the file if it was removed.

    Idempotent: a file or directory already gone is fine. Nothing happens before the rollout
    succeeded. The directory goes first, so a crash between the two steps is finished by the next
    call (the driver calls this whenever it sees the succeeded offboarding).
    """
    name = offboarded_workload(rollout)
    if name is None or rollout.status is not RolloutStatus.SUCCEEDED or rollout.dry_run:
        return None
    root = Path(str(rollout.policy["inventory"]))
    remove_work_dir(root, name)
    path = workload_file(root, name)
    if path is not None:
        path.unlink(missing_ok=True)  # one unlink: the file is there or it is not
    return path


def unfinished_offboardings(journal: Journal, *, include_failed: bool = False) -> dict[str, str]:
    """Workload -> id of its newest offboarding still in progress (or, with ``include_failed``,
    one that failed: ``fleet workload remove`` resumes those too)."""
    statuses = (*_IN_PROGRESS, RolloutStatus.FAILED) if include_failed else _IN_PROGRESS
    found: dict[str, str] = {}
    for summary in journal.list_rollouts(limit=1000, kind=RolloutKind.OFFBOARD):
        rollout = summary.rollout
        name = offboarded_workload(rollout)
        if name and name not in found and not rollout.dry_run:
            found[name] = rollout.id if rollout.status in statuses else ""
    return {name: rollout_id for name, rollout_id in found.items() if rollout_id}


def refuse_offboarding(journal: Journal, names: list[str]) -> None:
    """UserError when a rollout would touch a workload whose offboarding has not finished."""
    busy = unfinished_offboardings(journal)
    for name in names:
        if name in busy:
            raise UserError(
                f"workload {name} is being offboarded (rollout {busy[name]}); "
                f"finish it with `fleet rollout resume {busy[name]}`"
            )
