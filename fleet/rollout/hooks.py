"""The coordinator's hooks for rollouts and upgrades, built from the inventory: gates, windows, notifications.

- :func:`health_gate_hook` (``after_wave``): after each wave, the control-room Mimir must be
  receiving the wave's workloads' series again, within ``spec.health.timeout``; otherwise the
  rollout halts. The verdict is recorded on the wave in the journal. Dry runs deploy nothing, so
  their gates are skipped, and the journal says so.
- :func:`window_hook` (``may_start_wave``): no wave starts outside the maintenance window; the
  rollout pauses, and the scheduler resumes it in the next window.
- :func:`notification_hook` (``on_update``): when the rollout halts, fails, finishes or is
  cancelled, the webhook in ``spec.notifications.webhook`` gets a JSON message. A webhook that
  cannot be reached is logged, never fatal.

:func:`rollout_hooks` decides, from a rollout's journal record, which of these it runs with; every
entry point (``fleet rollout``, ``fleet rollout resume``, the detached coordinator, ``fleet upgrade
run``, the scheduler) asks it, so a rollout behaves the same however it is continued.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fleet.errors import FleetError, OperationError
from fleet.inventory.durations import parse_duration
from fleet.inventory.loader import Inventory
from fleet.inventory.models import CONTROLROOM, UpgradeSchedule
from fleet.journal import (
    Journal,
    Rollout,
    RolloutDetail,
    RolloutKind,
    RolloutStatus,
    StackStatus,
    WaveRecord,
    utc_now,
)
from fleet.notify import build_payload, send_webhook
from fleet.rollout.coordinator import Hooks, WaveHook
from fleet.rollout.gates import GateResult, wait_until_receiving
from fleet.schedule.windows import next_window, window_containing

log = logging.getLogger(__name__)

SCHEDULER_ACTOR = "fleet beat"
"""``started_by`` of the rollouts the upgrade scheduler starts: they stay inside maintenance windows."""
DRY_RUN_GATE = "skipped: dry run (nothing was deployed)"
DISABLED_GATE = "skipped: health gates are disabled (spec.health.enabled: false)"
SCRIPTED_GATE = "skipped: the scripted test engine deploys nothing"

_EVENTS = {
    RolloutStatus.HALTED: "halted",
    RolloutStatus.FAILED: "failed",
    RolloutStatus.SUCCEEDED: "finished",
    RolloutStatus.CANCELLED: "cancelled",
}


@dataclass(frozen=True)
class GateAccess:
    """Where and how the gate queries the control-room Mimir; the password stays out of reprs."""

    query_url: str
    username: str
    password: str = field(repr=False)


GateAccessSource = Callable[[], GateAccess]
Waiter = Callable[..., GateResult]


def controlroom_gate_access(inventory: Inventory) -> GateAccessSource:
    """Reads ``query_url`` and the ``reader`` credential from the control-room stack's outputs."""

    def read() -> GateAccess:
        from fleet.engines.pulumi import stack_outputs

        outputs = stack_outputs(inventory, CONTROLROOM, show_secrets=True)
        reader = outputs.get("reader")
        query_url = outputs.get("query_url") or inventory.fleet.spec.control_room.query_url
        if not isinstance(reader, dict) or not reader.get("username") or not reader.get("password"):
            raise OperationError("the control-room stack exports no reader credential; deploy it first")
        return GateAccess(str(query_url), str(reader["username"]), str(reader["password"]))

    return read


def gate_workloads(inventory: Inventory, journal: Journal, rollout_id: str, wave: WaveRecord) -> list[str]:
    """The workloads a wave's gate checks: those of the wave that succeeded; for the control
    room's wave, every workload ever deployed (the central Mimir itself was upgraded)."""
    if CONTROLROOM in wave.stacks:
        deployed = journal.deployed_versions()
        return [name for name in inventory.names if name in deployed]
    detail = journal.get_rollout(rollout_id)
    return [name for name in wave.stacks if detail.stack(name).status is StackStatus.SUCCEEDED]


def health_gate_hook(
    inventory: Inventory,
    journal: Journal,
    rollout_id: str,
    *,
    dry_run: bool,
    access: GateAccessSource | None = None,
    wait: Waiter = wait_until_receiving,
    engine: str | None = None,
) -> WaveHook:
    """The ``after_wave`` hook: wait for the wave's workloads' series, record the verdict, and
    return a halt reason when they do not arrive (or the gate cannot be asked). Dry runs, the
    scripted engine and ``spec.health.enabled: false`` record a skipped gate instead."""
    health = inventory.fleet.spec.health
    source = access or controlroom_gate_access(inventory)

    def after_wave(wave: WaveRecord) -> str | None:
        skipped = (
            DRY_RUN_GATE
            if dry_run
            else DISABLED_GATE
            if not health.enabled
            else SCRIPTED_GATE
            if engine == "scripted"
            else None
        )
        if skipped is not None:
            journal.record_gate(rollout_id, wave.index, passed=True, reason=skipped)
            return None
        workloads = gate_workloads(inventory, journal, rollout_id, wave)
        if not workloads:
            journal.record_gate(rollout_id, wave.index, passed=True, reason="no deployed workloads to check")
            return None
        try:
            where = source()
            result = wait(
                where.query_url,
                workloads,
                username=where.username,
                password=where.password,
                deadline_s=parse_duration(health.timeout),
                interval_s=parse_duration(health.interval),
                lookback=health.lookback,
                since=wave.finished_at,
                tenant_header=True,
            )
        except FleetError as error:
            result = GateResult(False, (), f"cannot ask the control room: {error.message}", "unreachable")
        journal.record_gate(rollout_id, wave.index, passed=result.passed, reason=result.reason)
        if result.passed:
            return None
        return f"health gate after {wave.name}: {result.reason}"

    return after_wave


def window_hook(schedule: UpgradeSchedule, *, clock: Callable[[], datetime] = utc_now) -> WaveHook:
    """The ``may_start_wave`` hook: a pause reason whenever no maintenance window is open."""
    args = (schedule.schedule, schedule.window, schedule.timezone)

    def may_start_wave(wave: WaveRecord) -> str | None:
        now = clock()
        if window_containing(now, *args) is not None:
            return None
        upcoming = next_window(now, *args)
        return f"maintenance window closed before {wave.name}; continues at {upcoming.start.isoformat()}"

    return may_start_wave


def notification_hook(
    url: str,
    *,
    kind: str,
    send: Callable[[str, dict[str, Any]], None] = send_webhook,
) -> Callable[[RolloutDetail], None]:
    """The ``on_update`` hook: one webhook message each time the rollout reaches an end state
    (halted, failed, finished, cancelled). Delivery failures are logged, never raised."""
    announced: set[tuple[str, RolloutStatus, str | None]] = set()

    def on_update(detail: RolloutDetail) -> None:
        rollout = detail.rollout
        event = _EVENTS.get(rollout.status)
        key = (rollout.id, rollout.status, rollout.halt_reason)
        if event is None or key in announced:
            return
        announced.add(key)
        payload = build_payload(
            rollout_id=rollout.id,
            kind=kind,
            event=event,
            dry_run=rollout.dry_run,
            stacks=detail.stacks,
            reason=rollout.halt_reason,
            started_by=rollout.started_by,
            started_at=rollout.started_at,
            finished_at=rollout.finished_at,
        )
        try:
            send(url, payload)
        except FleetError as error:
            log.warning("rollout %s: %s", rollout.id, error.message)

    return on_update


def chain_updates(
    *callbacks: Callable[[RolloutDetail], None] | None,
) -> Callable[[RolloutDetail], None] | None:
    """One ``on_update`` calling each given callback in order (None when none is given)."""
    present: Sequence[Callable[[RolloutDetail], None]] = [c for c in callbacks if c is not None]
    if not present:
        return None
    if len(present) == 1:
        return present[0]

    def on_update(detail: RolloutDetail) -> None:
        for callback in present:
            callback(detail)

    return on_update


def rollout_hooks(
    inventory: Inventory,
    journal: Journal,
    rollout: Rollout,
    *,
    in_window: bool | None = None,
    on_update: Callable[[RolloutDetail], None] | None = None,
    clock: Callable[[], datetime] = utc_now,
    access: GateAccessSource | None = None,
    wait: Waiter = wait_until_receiving,
) -> Hooks:
    """The hooks ``rollout`` runs with, decided from its record (the one place that decides).

    Every rollout notifies ``spec.notifications.webhook`` (when set) as it halts, fails, finishes
    or is cancelled. Plain rollouts and upgrades have a health gate after each wave (it records
    itself skipped for dry runs, the scripted engine and ``spec.health.enabled: false``); an
    upgrade also has the maintenance-window check before each wave when the scheduler started it
    (``in_window`` overrides that). Offboardings have no gate: the workload they remove goes
    silent on purpose. ``on_update`` (e.g. the live view) is called before the webhook.
    """
    spec = inventory.fleet.spec
    webhook = spec.notifications.webhook
    notify = notification_hook(webhook, kind=rollout.kind.value) if webhook else None
    updates = chain_updates(on_update, notify)
    if rollout.kind not in (RolloutKind.UPGRADE, RolloutKind.ROLLOUT):
        return Hooks(on_update=updates)
    gate = health_gate_hook(
        inventory,
        journal,
        rollout.id,
        dry_run=rollout.dry_run,
        access=access,
        wait=wait,
        engine=rollout.policy.get("engine"),
    )
    if rollout.kind is RolloutKind.ROLLOUT:
        return Hooks(after_wave=gate, on_update=updates)
    if in_window is None:
        in_window = rollout.started_by == SCHEDULER_ACTOR
    schedule = spec.upgrades
    return Hooks(
        may_start_wave=window_hook(schedule, clock=clock) if in_window and schedule is not None else None,
        after_wave=gate,
        on_update=updates,
    )
