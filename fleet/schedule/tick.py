"""The upgrade scheduler: decide at each tick whether a scheduled upgrade starts, resumes or waits.

``fleet.yaml`` declares ``spec.upgrades: {schedule, window, timezone}``. :func:`tick` is called
every minute (by Celery beat, through :func:`configure_beat`) and looks at the clock, the
inventory and the journal:

- outside a maintenance window it does nothing (a running upgrade stops starting new waves on
  its own: the coordinator asks :func:`fleet.rollout.hooks.window_hook` before each wave and
  pauses the rollout when the window has closed);
- inside a window, a paused upgrade rollout is resumed (the journal's exactly-once claims mean
  finished stacks are not run again);
- otherwise, when no upgrade rollout was started in this window yet, it starts one for every
  deployed stack whose versions differ from the inventory's. Stacks never deployed are left to
  ``fleet rollout``: onboarding is not an upgrade.

``spec.credentials.rotate_every`` (e.g. ``90d``) adds scheduled credential rotation: when the
last rotation began longer ago than that and none is unfinished, the tick starts a detached
``fleet credentials rotate`` of every deployed workload.

``spec.drift: {schedule, timezone, dry_run}`` adds scheduled drift checks: each time its cron
fires, the tick records a drift check (a ``drift`` rollout whose id names the fire time, so a
fire time is checked once however many ticks, beats or restarts see it) and hands it to a
detached ``fleet drift --rollout ID`` process. A fire time missed by more than
:data:`DRIFT_GRACE` (the scheduler was down) is skipped: the next one checks.

Several ``fleet beat`` processes may run; :mod:`fleet.schedule.lease` lets one of them send
ticks, and :mod:`fleet.schedule.beat` is the Celery side (the schedule and the task body).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol

from fleet.errors import OperationError
from fleet.inventory.loader import Inventory
from fleet.journal import Journal, Rollout, RolloutKind, RolloutNotFound, RolloutStatus
from fleet.schedule.windows import Window, next_window, window_containing
from fleet.upgrade.skew import out_of_date

log = logging.getLogger(__name__)

DRIFT_GRACE = "10m"
"""How late a drift check may still start after its fire time (lost ticks, a beat failover)."""
DRIFT_ACTOR = "fleet beat"
"""``started_by`` of the scheduled drift checks."""

TickAction = Literal["idle", "waiting", "running", "started", "resumed"]
DriftAction = Literal["idle", "waiting", "done", "started"]
_ACTIVE = (RolloutStatus.PENDING, RolloutStatus.RUNNING, RolloutStatus.PAUSED, RolloutStatus.CANCELLING)


class Launcher(Protocol):
    """How the scheduler sets rollouts going; the real one hands them to the rollout coordinator."""

    def start(self, inventory: Inventory, stacks: Sequence[str]) -> str | None:
        """Start an upgrade rollout of ``stacks``; returns its id when known at once.
        Must not wait for it to finish."""
        ...

    def resume(self, inventory: Inventory, rollout_id: str) -> None:
        """Continue the paused rollout ``rollout_id``. Must not wait for it to finish."""
        ...

    def check_drift(self, inventory: Inventory, rollout_id: str) -> None:
        """Run the recorded drift check ``rollout_id``. Must not wait for it to finish."""
        ...

    def rotate(self, inventory: Inventory, names: Sequence[str]) -> None:
        """Rotate the credentials of ``names`` (``fleet credentials rotate``). Must not wait."""
        ...


@dataclass(frozen=True)
class DriftTick:
    """What a tick decided about the drift check."""

    action: DriftAction
    reason: str
    rollout_id: str | None = None
    fire_time: datetime | None = None


@dataclass(frozen=True)
class TickResult:
    """What a tick decided, for the log and for tests."""

    action: TickAction
    reason: str
    rollout_id: str | None = None
    stacks: tuple[str, ...] = ()
    window: Window | None = None
    drift: DriftTick | None = None
    """The drift check's decision (the fields above are the upgrade's)."""
    rotation: RotationTick | None = None
    """The credential rotation's decision."""


@dataclass(frozen=True)
class RotationTick:
    """What a tick decided about rotating credentials: ``started`` (of ``names``) or ``idle``."""

    action: Literal["idle", "started"]
    reason: str
    names: tuple[str, ...] = ()


def tick(now: datetime, inventory: Inventory, journal: Journal, launcher: Launcher) -> TickResult:
    """One scheduler step at ``now`` (tz-aware): start, resume or leave the fleet's upgrade, and
    start the drift check when its schedule fired."""
    upgrade = upgrade_tick(now, inventory, journal, launcher)
    return dataclasses.replace(
        upgrade,
        drift=drift_tick(now, inventory, journal, launcher),
        rotation=rotation_tick(now, inventory, journal, launcher),
    )


def rotation_tick(now: datetime, inventory: Inventory, journal: Journal, launcher: Launcher) -> RotationTick:
    """The credential half of :func:`tick`: start a rotation of the deployed workloads when
    ``spec.credentials.rotate_every`` says one is due (:func:`fleet.rollout.rotation.rotation_due`).
    An unfinished rotation is left alone: the process driving it, or a person, finishes it."""
    from fleet.rollout.rotation import rotation_due

    names, reason = rotation_due(now, inventory, journal)
    if not names:
        return RotationTick("idle", reason)
    launcher.rotate(inventory, names)
    return RotationTick("started", f"{reason}: started a rotation of {', '.join(names)}", tuple(names))


def upgrade_tick(now: datetime, inventory: Inventory, journal: Journal, launcher: Launcher) -> TickResult:
    """The upgrade half of :func:`tick`."""
    schedule = inventory.fleet.spec.upgrades
    if schedule is None:
        return TickResult("idle", "fleet.yaml has no spec.upgrades schedule")
    args = (schedule.schedule, schedule.window, schedule.timezone)
    window = window_containing(now, *args)
    upgrades = [s.rollout for s in journal.list_rollouts(limit=50, kind=RolloutKind.UPGRADE)]
    active = next((r for r in upgrades if r.status in _ACTIVE), None)
    if window is None:
        upcoming = next_window(now, *args)
        reason = f"outside the maintenance window; the next opens at {upcoming.start.isoformat()}"
        return TickResult("waiting", reason, active.id if active else None, window=upcoming)
    if active is not None:
        if active.status is RolloutStatus.PAUSED:
            launcher.resume(inventory, active.id)
            return TickResult("resumed", f"resumed paused upgrade {active.id}", active.id, window=window)
        return TickResult("running", f"upgrade {active.id} is {active.status}", active.id, window=window)
    earlier = _started_in(upgrades, window)
    if earlier is not None:
        reason = f"upgrade {earlier.id} already ran in this window ({earlier.status}); waiting for the next"
        return TickResult("idle", reason, earlier.id, window=window)
    stacks = tuple(out_of_date(inventory, journal.deployed_versions()))
    if not stacks:
        return TickResult("idle", "every deployed stack runs the inventory's versions", window=window)
    rollout_id = launcher.start(inventory, stacks)
    noun = "stack" if len(stacks) == 1 else "stacks"
    reason = f"started an upgrade of {len(stacks)} {noun}: {', '.join(stacks)}"
    return TickResult("started", reason, rollout_id, stacks, window)


def _started_in(upgrades: Sequence[Rollout], window: Window) -> Rollout | None:
    return next((r for r in upgrades if r.created_at >= window.start), None)


def drift_check_id(fire_time: datetime) -> str:
    """The journal id of the scheduled drift check for ``fire_time`` (cron: minute precision)."""
    return f"r-{fire_time.astimezone(UTC):%Y%m%d-%H%M}-drift"


def drift_tick(now: datetime, inventory: Inventory, journal: Journal, launcher: Launcher) -> DriftTick:
    """The drift half of :func:`tick`: record and start the check of the latest fire time, once."""
    from fleet.drift.check import record_check

    schedule = inventory.fleet.spec.drift
    if schedule is None:
        return DriftTick("idle", "fleet.yaml has no spec.drift schedule")
    due = window_containing(now, schedule.schedule, DRIFT_GRACE, schedule.timezone)
    if due is None:
        upcoming = next_window(now, schedule.schedule, DRIFT_GRACE, schedule.timezone).start
        return DriftTick("waiting", f"the next drift check is at {upcoming.isoformat()}", fire_time=upcoming)
    rollout_id = drift_check_id(due.start)
    done = DriftTick("done", f"drift check {rollout_id} already started", rollout_id, due.start)
    try:
        journal.rollout(rollout_id)
        return done
    except RolloutNotFound:
        pass
    try:
        record_check(
            inventory,
            journal,
            inventory.stacks(),
            dry_run=schedule.dry_run,
            started_by=DRIFT_ACTOR,
            rollout_id=rollout_id,
            scheduled_for=due.start,
        )
    except OperationError:  # another tick recorded it a moment ago
        return done
    launcher.check_drift(inventory, rollout_id)
    mode = "rendered offline" if schedule.dry_run else "live"
    return DriftTick("started", f"started drift check {rollout_id} ({mode})", rollout_id, due.start)
