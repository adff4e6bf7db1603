"""Upgrade rollouts: record one for the stacks a version-set change touches, and drive it.

An upgrade is an ordinary rollout (``kind: upgrade`` in the journal) run by the
:class:`~fleet.rollout.coordinator.Coordinator` with the hooks its record calls for
(:func:`fleet.rollout.hooks.rollout_hooks`): a health gate after each wave and, when the
scheduler started it, the maintenance-window check before each wave. :class:`DetachedLauncher`
is how the scheduler sets one going without waiting: a separate ``fleet upgrade run`` process.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from fleet.engines.base import Action
from fleet.executors.base import Executor
from fleet.inventory import Inventory
from fleet.jobs import EngineKind
from fleet.journal import Journal, Rollout, RolloutDetail, RolloutKind, RolloutStatus, utc_now
from fleet.locks import StackLocks
from fleet.models import CONTROLROOM
from fleet.rollout.coordinator import Coordinator, Timing, prepare_resume, start_rollout
from fleet.rollout.hooks import GateAccessSource, Waiter, rollout_hooks
from fleet.rollout.plan import RolloutPlan
from fleet.upgrades import plan_stacks


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


def run_upgrade(
    inventory: Inventory,
    journal: Journal,
    locks: StackLocks,
    executor: Executor,
    rollout_id: str,
    *,
    in_window: bool | None = None,
    on_update: Callable[[RolloutDetail], None] | None = None,
    clock: Callable[[], datetime] = utc_now,
    access: GateAccessSource | None = None,
    wait: Waiter | None = None,
    timing: Timing | None = None,
) -> RolloutDetail:
    """Drive upgrade ``rollout_id`` to its end (or a pause); a paused or halted one is resumed
    first (its succeeded stacks are not run again). ``in_window`` None: the maintenance window
    applies when the scheduler started it. Returns the journal's final view."""
    rollout = journal.rollout(rollout_id)
    if rollout.status is not RolloutStatus.RUNNING:
        prepare_resume(journal, locks, rollout_id)
    else:
        locks.acquire([s.stack for s in journal.get_rollout(rollout_id).stacks], rollout_id)
    extra = {} if wait is None else {"wait": wait}
    hooks = rollout_hooks(
        inventory,
        journal,
        rollout,
        in_window=in_window,
        on_update=on_update,
        clock=clock,
        access=access,
        **extra,
    )
    return Coordinator(journal, locks, executor, rollout_id, hooks=hooks, timing=timing).run()


class DetachedLauncher:
    """Starts and resumes scheduled upgrades in a separate ``fleet upgrade run`` process each,
    so the scheduler's tick returns at once. The child writes to ``<inventory>/.fleet/beat.log``."""

    def __init__(self, command: Sequence[str] | None = None) -> None:
        self.command = list(command or [sys.executable, "-m", "fleet"])
        self.processes: list[subprocess.Popen[bytes]] = []
        """The processes this launcher started (they outlive it)."""

    def start(self, inventory: Inventory, stacks: Sequence[str]) -> str | None:
        self._spawn(inventory, ["upgrade", "run", "--scheduled", "--stacks", ",".join(stacks)])
        return None

    def resume(self, inventory: Inventory, rollout_id: str) -> None:
        self._spawn(inventory, ["upgrade", "run", "--scheduled", rollout_id])

    def _spawn(self, inventory: Inventory, args: list[str]) -> None:
        """Run ``fleet -i <inventory> <args>`` detached, its output appended to beat.log."""
        log_path = Path(inventory.state_dir) / "beat.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log_file:
            process = subprocess.Popen(
                [*self.command, "-i", str(inventory.root), *args],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)
        _reap_finished()
        _launched.append(process)


_launched: list[subprocess.Popen[bytes]] = []
"""Every detached process of this (long-lived scheduler) process; the finished ones are reaped at
the next launch, so none stays a zombie."""


def _reap_finished() -> None:
    _launched[:] = [process for process in _launched if process.poll() is None]
