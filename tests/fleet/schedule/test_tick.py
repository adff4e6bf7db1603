"""The scheduler's tick under a controlled clock: upgrades in maintenance windows, drift checks."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from clocks import Clock
from inventories import copy_example
from journals import record_deploys
from typer.testing import CliRunner

from fleet.cli.main import app
from fleet.executors.local import LocalExecutor
from fleet.inventory.loader import Inventory, load_inventory
from fleet.journal import Journal, RolloutDetail, RolloutKind, RolloutStatus, WaveStatus, journal_url_for
from fleet.journal.locks import StackLocks
from fleet.kinds import EngineKind
from fleet.rollout.coordinator import Timing
from fleet.rollout.driver import drive
from fleet.rollout.waves import Wave
from fleet.schedule.launcher import SchedulerLauncher
from fleet.schedule.tick import RotationTick, drift_check_id, tick
from fleet.settings import Settings
from fleet.upgrade.start import start_upgrade

# -- the tick, with a controlled clock and a real coordinator --------------------------------------

OLD = {"alloy": "1.3.0", "mimir": "6.0.0", "loki": "6.46.0", "grafana": "10.1.4"}
SATURDAY = datetime(2026, 3, 7, 3, 0, tzinfo=UTC)  # the example's window: Saturdays 03:00-07:00 UTC


@dataclass
class InlineLauncher:
    """Runs the upgrade in this process, to its end or its pause, with the test's clock."""

    journal: Journal
    clock: Callable[[], datetime]
    on_update: Callable[[RolloutDetail], None] | None = None
    started: list[str] = field(default_factory=list)
    drift_checks: list[str] = field(default_factory=list)
    rotations: list[tuple[str, ...]] = field(default_factory=list)

    def check_drift(self, inventory: Inventory, rollout_id: str) -> None:
        self.drift_checks.append(rollout_id)  # the detached run itself: see the SchedulerLauncher test

    def rotate(self, inventory: Inventory, names: Sequence[str]) -> None:
        self.rotations.append(tuple(names))

    def start(self, inventory: Inventory, stacks: Sequence[str]) -> str:
        locks = StackLocks(self.journal)
        rollout = start_upgrade(inventory, self.journal, locks, stacks, engine=EngineKind.scripted)
        self.started.append(rollout.id)
        self.resume(inventory, rollout.id)
        return rollout.id

    def resume(self, inventory: Inventory, rollout_id: str) -> None:
        executor = LocalExecutor(2)
        try:
            drive(
                Settings(),
                self.journal,
                StackLocks(self.journal),
                rollout_id,
                inventory=inventory,
                executor=executor,
                in_window=True,
                clock=self.clock,
                on_update=self.on_update,
                timing=Timing(tick=0.02, reconcile=0.2),
            )
        finally:
            executor.shutdown()


@pytest.fixture
def clock() -> Clock:
    return Clock(SATURDAY - timedelta(days=1))


@pytest.fixture
def scheduled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> Iterator[tuple[Inventory, Journal]]:
    """The example inventory, health gates off, every stack deployed with Alloy 1.3.0 (behind)."""
    root = tmp_path / "inv"
    copy_example(root)
    with (root / "fleet.yaml").open("a") as handle:
        handle.write("  health: {enabled: false}\n")
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"default": {"duration": 0}}))
    monkeypatch.setenv("FLEET_ENGINE_SCRIPT", str(script))
    monkeypatch.delenv("FLEET_DATABASE_URL", raising=False)
    inventory = load_inventory(root)
    with Journal(journal_url_for(root), clock=clock) as journal:
        pinned_loki = {"analytics-prod": {**OLD, "loki": "6.30.1"}}
        # The control room (its collector is an Alloy too) already runs the inventory's Alloy: the
        # upgrade the schedule finds is the workloads'.
        current_room = {"controlroom": {**OLD, "alloy": inventory.fleet.spec.versions.alloy}}
        record_deploys(
            journal, {stack: dict(OLD) for stack in inventory.stacks()} | pinned_loki | current_room
        )
        yield inventory, journal


def test_outside_the_window_the_tick_waits(scheduled: tuple[Inventory, Journal], clock: Clock) -> None:
    inventory, journal = scheduled
    launcher = InlineLauncher(journal, clock=clock)
    clock.now = SATURDAY - timedelta(minutes=1)
    result = tick(clock.now, inventory, journal, launcher)
    assert result.action == "waiting"
    assert result.reason == "outside the maintenance window; the next opens at 2026-03-07T03:00:00+00:00"
    assert launcher.started == []


def test_window_opens_pauses_at_its_close_and_resumes_in_the_next(
    scheduled: tuple[Inventory, Journal], clock: Clock
) -> None:
    inventory, journal = scheduled
    clock.now = SATURDAY

    def close_the_window_after_the_canary(detail: RolloutDetail) -> None:
        if detail.waves[0].status is WaveStatus.SUCCEEDED and clock.now == SATURDAY:
            clock.now = SATURDAY + timedelta(hours=4)  # 07:00: the window has just closed

    launcher = InlineLauncher(journal, clock=clock, on_update=close_the_window_after_the_canary)

    started = tick(clock.now, inventory, journal, launcher)
    assert started.action == "started"
    assert started.stacks == ("analytics-prod", "payments-prod", "search-staging")  # not the control room
    rollout_id = started.rollout_id
    assert rollout_id is not None
    paused = journal.get_rollout(rollout_id)
    assert paused.rollout.status is RolloutStatus.PAUSED
    assert paused.rollout.halt_reason == (
        "maintenance window closed before wave 1; continues at 2026-03-14T03:00:00+00:00"
    )
    assert [w.status for w in paused.waves] == [WaveStatus.SUCCEEDED, WaveStatus.PENDING, WaveStatus.PENDING]

    clock.now += timedelta(hours=1)
    waiting = tick(clock.now, inventory, journal, launcher)
    assert (waiting.action, waiting.rollout_id) == ("waiting", rollout_id)

    clock.now = SATURDAY + timedelta(days=7)
    resumed = tick(clock.now, inventory, journal, launcher)
    assert (resumed.action, resumed.rollout_id) == ("resumed", rollout_id)
    done = journal.get_rollout(rollout_id)
    assert done.rollout.status is RolloutStatus.SUCCEEDED
    assert {s.stack: len(s.attempts) for s in done.stacks} == {
        "search-staging": 1,  # the canary ran in the first window and was not run again
        "analytics-prod": 1,
        "payments-prod": 1,
    }
    assert launcher.started == [rollout_id]

    clock.now += timedelta(minutes=1)
    after = tick(clock.now, inventory, journal, launcher)
    assert (after.action, after.reason) == ("idle", "every deployed stack runs the inventory's versions")


def test_one_new_upgrade_per_window(scheduled: tuple[Inventory, Journal], clock: Clock) -> None:
    inventory, journal = scheduled
    script = Path(os.environ["FLEET_ENGINE_SCRIPT"])
    script.write_text(
        json.dumps({"default": {"duration": 0}, "stacks": {"search-staging": {"fail": "boom"}}})
    )
    launcher = InlineLauncher(journal, clock=clock)
    clock.now = SATURDAY
    first = tick(clock.now, inventory, journal, launcher)
    assert first.rollout_id is not None
    assert journal.rollout(first.rollout_id).status is RolloutStatus.HALTED  # failure budget 0
    clock.now += timedelta(minutes=1)
    again = tick(clock.now, inventory, journal, launcher)
    assert again.action == "idle"
    assert (
        again.reason
        == f"upgrade {first.rollout_id} already ran in this window (halted); waiting for the next"
    )
    assert launcher.started == [first.rollout_id]


def test_no_schedule_no_upgrades(scheduled: tuple[Inventory, Journal]) -> None:
    inventory, journal = scheduled
    spec = inventory.fleet.spec.model_copy(update={"upgrades": None})
    unscheduled = dataclasses.replace(inventory, fleet=inventory.fleet.model_copy(update={"spec": spec}))
    result = tick(SATURDAY, unscheduled, journal, InlineLauncher(journal, clock=lambda: SATURDAY))
    assert (result.action, result.reason) == ("idle", "fleet.yaml has no spec.upgrades schedule")


# -- scheduled drift checks -------------------------------------------------------------------------

FRIDAY = SATURDAY - timedelta(days=1)  # no upgrade window open: the drift schedule alone decides


def add_drift(inventory: Inventory, line: str) -> Inventory:
    with (inventory.root / "fleet.yaml").open("a") as handle:
        handle.write(f"  {line}\n")
    return load_inventory(inventory.root)


def test_the_drift_check_starts_once_per_fire_time(
    scheduled: tuple[Inventory, Journal], clock: Clock
) -> None:
    inventory, journal = scheduled
    inventory = add_drift(inventory, 'drift: {schedule: "0 * * * *", dry_run: true}')
    launcher = InlineLauncher(journal, clock=clock)

    def at(moment: datetime, in_journal: Journal = journal) -> Any:
        clock.now = moment
        result = tick(moment, inventory, in_journal, launcher)
        assert result.action == "waiting"  # the upgrade half: Friday, no maintenance window
        return result.drift

    before = at(FRIDAY - timedelta(seconds=30))
    assert (before.action, before.reason) == (
        "waiting",
        "the next drift check is at 2026-03-06T03:00:00+00:00",
    )
    assert launcher.drift_checks == []

    fired = at(FRIDAY)
    assert (fired.action, fired.rollout_id) == ("started", "r-20260306-0300-drift")
    assert fired.reason == "started drift check r-20260306-0300-drift (rendered offline)"
    assert launcher.drift_checks == ["r-20260306-0300-drift"]
    record = journal.rollout("r-20260306-0300-drift")
    assert (record.kind, record.status, record.dry_run) == (RolloutKind.DRIFT, RolloutStatus.PENDING, True)
    assert record.started_by == "fleet beat"
    assert record.policy["scheduled_for"] == "2026-03-06T03:00:00+00:00"
    assert [s.stack for s in journal.get_rollout(record.id).stacks] == list(inventory.stacks())

    later = at(FRIDAY + timedelta(minutes=1))
    assert (later.action, later.rollout_id) == ("done", "r-20260306-0300-drift")
    # A restarted scheduler (a new journal connection, a new beat) does not run it again.
    with Journal(journal_url_for(inventory.root), clock=clock) as reopened:
        restarted = at(FRIDAY + timedelta(minutes=5), reopened)
    assert restarted.action == "done"
    assert launcher.drift_checks == ["r-20260306-0300-drift"]

    next_hour = at(FRIDAY + timedelta(hours=1, seconds=20))
    assert (next_hour.action, next_hour.rollout_id) == ("started", "r-20260306-0400-drift")
    # A fire time missed by more than the grace (the scheduler was down) is skipped.
    missed = at(FRIDAY + timedelta(hours=2, minutes=11))
    assert (missed.action, missed.reason) == (
        "waiting",
        "the next drift check is at 2026-03-06T06:00:00+00:00",
    )
    assert launcher.drift_checks == ["r-20260306-0300-drift", "r-20260306-0400-drift"]
    assert [c.rollout.id for c in journal.list_rollouts(kind=RolloutKind.DRIFT)] == [
        "r-20260306-0400-drift",
        "r-20260306-0300-drift",
    ]


def test_fire_times_in_a_time_zone_name_their_check_in_utc(
    scheduled: tuple[Inventory, Journal], clock: Clock
) -> None:
    inventory, journal = scheduled
    inventory = add_drift(inventory, 'drift: {schedule: "30 6 * * *", timezone: Europe/Berlin}')
    launcher = InlineLauncher(journal, clock=clock)
    berlin_0630 = datetime(2026, 3, 6, 5, 30, tzinfo=UTC)  # CET is UTC+1 in March (before the switch)
    assert tick(berlin_0630 - timedelta(minutes=1), inventory, journal, launcher).drift.action == "waiting"  # type: ignore[union-attr]
    fired = tick(berlin_0630, inventory, journal, launcher).drift
    assert fired is not None and fired.rollout_id == drift_check_id(berlin_0630) == "r-20260306-0530-drift"
    assert fired.reason.endswith("(live)")
    assert journal.rollout(fired.rollout_id).dry_run is False


def test_no_drift_schedule_no_checks(scheduled: tuple[Inventory, Journal]) -> None:
    inventory, journal = scheduled
    launcher = InlineLauncher(journal, clock=lambda: FRIDAY)
    result = tick(FRIDAY, inventory, journal, launcher)
    assert result.drift is not None
    assert (result.drift.action, result.drift.reason) == ("idle", "fleet.yaml has no spec.drift schedule")
    assert journal.list_rollouts(kind=RolloutKind.DRIFT) == []


def test_a_scheduled_check_runs_detached_records_the_drift_and_posts_the_webhook(
    scheduled: tuple[Inventory, Journal], clock: Clock, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    inventory, journal = scheduled
    url, received = webhook
    add_drift(inventory, f"notifications: {{webhook: {url}}}")
    inventory = add_drift(inventory, 'drift: {schedule: "0 * * * *", dry_run: true}')
    baseline = CliRunner().invoke(
        app, ["-i", str(inventory.root), "drift", "--all", "--offline", "--no-record"]
    )
    assert baseline.exit_code == 0, baseline.output
    path = inventory.root / "workloads" / "payments-prod.yaml"
    path.write_text(path.read_text().replace("mimir: {replicas: 3", "mimir: {replicas: 4"))

    launcher = SchedulerLauncher()
    result = tick(FRIDAY, inventory, journal, launcher)
    assert result.drift is not None and result.drift.action == "started"
    (child,) = launcher.processes  # the tick did not wait for it
    assert child.wait(timeout=120) == 1  # fleet drift exits 1: something drifted
    check = journal.get_rollout("r-20260306-0300-drift")
    assert check.rollout.status is RolloutStatus.FAILED
    assert check.stack("payments-prod").error == (
        "1 resource differs: changed kubernetes:helm.sh/v4:Chart mimir-chart "
        "(values.distributor.replicas, values.gateway.replicas, values.ingester.replicas)"
    )
    assert {s.stack: s.status.value for s in check.stacks if s.stack != "payments-prod"} == {
        "controlroom": "succeeded",
        "analytics-prod": "succeeded",
        "search-staging": "succeeded",
    }
    [message] = received
    assert (message["rollout"], message["kind"], message["event"]) == (
        "r-20260306-0300-drift",
        "drift",
        "failed",
    )
    assert message["started_by"] == "fleet beat"
    log_text = (Path(inventory.state_dir) / "beat.log").read_text()
    assert "payments-prod: drifted" in log_text


# -- scheduled credential rotation -----------------------------------------------------------------


def _rotation_phase(journal: Journal, phase: str, rotation_id: str | None, status: RolloutStatus) -> str:
    """Record one phase of a rotation of every workload, ended with ``status``; its id."""
    policy: dict[str, Any] = {"phase": phase, "rotate": ["analytics-prod", "payments-prod", "search-staging"]}
    if rotation_id is not None:
        policy["rotation"] = rotation_id
    rollout = journal.create_rollout(
        [Wave(0, "controlroom", ("controlroom",))], kind="rotate", dry_run=False, policy=policy, versions={}
    )
    journal.set_status(rollout.id, RolloutStatus.RUNNING)
    if status is not RolloutStatus.RUNNING:
        journal.set_status(rollout.id, status)
    return rollout.id


def test_credentials_rotate_every_period_after_the_last_rotation_began(
    scheduled: tuple[Inventory, Journal], clock: Clock
) -> None:
    inventory, journal = scheduled
    launcher = InlineLauncher(journal, clock=clock)
    assert tick(clock.now, inventory, journal, launcher).rotation == RotationTick(
        "idle", "fleet.yaml has no spec.credentials.rotate_every"
    )
    with (inventory.root / "fleet.yaml").open("a") as handle:
        handle.write("  credentials: {rotate_every: 90d}\n")
    inventory = load_inventory(inventory.root)

    first = tick(clock.now, inventory, journal, launcher).rotation  # never rotated: due now
    assert first is not None and first.action == "started"
    assert launcher.rotations == [("analytics-prod", "payments-prod", "search-staging")]

    began = clock.now
    rotation_id = _rotation_phase(journal, "accept", None, RolloutStatus.SUCCEEDED)
    unfinished = tick(clock.now, inventory, journal, launcher).rotation
    assert unfinished is not None and unfinished.action == "idle"
    assert unfinished.reason.startswith(f"rotation {rotation_id} is unfinished (1/3 accept")
    _rotation_phase(journal, "switch", rotation_id, RolloutStatus.SUCCEEDED)
    _rotation_phase(journal, "retire", rotation_id, RolloutStatus.SUCCEEDED)

    clock.now = began + timedelta(days=89)
    waiting = tick(clock.now, inventory, journal, launcher).rotation
    assert waiting is not None and waiting.action == "idle"
    assert waiting.reason == f"the next rotation is due at {(began + timedelta(days=90)).isoformat()}"
    clock.now = began + timedelta(days=90, minutes=1)
    due = tick(clock.now, inventory, journal, launcher).rotation
    assert due is not None and due.action == "started" and len(launcher.rotations) == 2


def test_the_scheduled_rotation_is_a_detached_credentials_rotate(tmp_path: Path) -> None:
    launcher = SchedulerLauncher(["sh", "-c", 'echo "$@"', "fleet"])
    inventory = load_inventory(copy_example(tmp_path / "inv"))
    launcher.rotate(inventory, ["payments-prod", "search-staging"])
    for process in launcher.processes:
        process.wait(10)
    logged = (inventory.state_dir / "beat.log").read_text()
    assert f"-i {inventory.root} credentials rotate --yes payments-prod search-staging" in logged
