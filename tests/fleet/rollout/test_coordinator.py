"""The coordinator in-process with the local executor: hooks, bake time, resume, planning."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fleet_services import write_script

from fleet.executors.base import ExecutorEvent
from fleet.executors.jobs import JobState, StackJob
from fleet.inventory.loader import load_inventory
from fleet.journal import Journal, RolloutStatus, StackStatus, WaveRecord, WaveStatus
from fleet.journal.connect import open_journal
from fleet.journal.locks import LockHolder, StackLocks, StacksLocked
from fleet.kinds import EngineKind
from fleet.rollout.coordinator import Coordinator, Hooks, Timing, prepare_resume, start_rollout
from fleet.rollout.driver import drive
from fleet.rollout.plan import plan_rollout
from fleet.settings import Settings


@pytest.fixture
def settings(inventory: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in [key for key in os.environ if key.startswith("FLEET_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("FLEET_ENGINE_SCRIPT", str(tmp_path / "script.json"))  # read by the workers
    write_script(tmp_path / "script.json", log=str(tmp_path / "runs.log"), default={"duration": 0.1})
    return Settings(inventory=inventory, workers=2, lock_ttl=5)


@pytest.fixture
def journal(settings: Settings) -> Iterator[tuple[Journal, StackLocks]]:
    journal, locks = open_journal(settings)
    with journal:
        yield journal, locks


def _start(journal: Journal, locks: StackLocks, settings: Settings, **overrides: object) -> str:
    plan = plan_rollout(
        load_inventory(settings.inventory),
        journal,
        select_all=True,
        overrides=overrides,
        engine=EngineKind.scripted,
    )
    return start_rollout(journal, locks, plan).id


def test_after_wave_can_halt_and_resume_never_reruns_a_succeeded_stack(
    settings: Settings, journal: tuple[Journal, StackLocks], tmp_path: Path
) -> None:
    db, locks = journal
    rollout_id = _start(db, locks, settings, canary=1, wave_size="100%")
    seen: list[str] = []

    def gate(wave: WaveRecord) -> str | None:
        seen.append(wave.name)
        return "canary series are not arriving" if wave.name == "canary" else None

    detail = drive(settings, db, locks, rollout_id, hooks=Hooks(after_wave=gate))

    assert seen == ["controlroom", "canary"]
    assert detail.rollout.status is RolloutStatus.HALTED
    assert detail.rollout.halt_reason == "canary series are not arriving"
    assert detail.stack("search-staging").status is StackStatus.SUCCEEDED
    assert detail.stack("payments-prod").status is StackStatus.SKIPPED
    assert [wave.status for wave in detail.waves] == [
        WaveStatus.SUCCEEDED,
        WaveStatus.SUCCEEDED,
        WaveStatus.SKIPPED,
    ]
    assert locks.held() == []

    prepare_resume(db, locks, rollout_id)
    resumed = drive(settings, db, locks, rollout_id)

    assert resumed.rollout.status is RolloutStatus.SUCCEEDED
    assert all(len(state.attempts) == 1 for state in resumed.stacks)
    runs = (tmp_path / "runs.log").read_text()
    assert runs.count("end search-staging") == 1 and runs.count("end payments-prod") == 1


def test_may_start_wave_pauses_before_the_wave_and_bake_time_separates_waves(
    settings: Settings, journal: tuple[Journal, StackLocks]
) -> None:
    db, locks = journal
    rollout_id = _start(db, locks, settings, canary=1, wave_size="100%", bake_time="1s")

    def window(wave: WaveRecord) -> str | None:
        return "outside the maintenance window" if wave.name == "wave 1" else None

    paused = drive(settings, db, locks, rollout_id, hooks=Hooks(may_start_wave=window))

    assert paused.rollout.status is RolloutStatus.PAUSED
    assert paused.rollout.halt_reason == "outside the maintenance window"
    assert paused.stack("payments-prod").status is StackStatus.PENDING  # not skipped: it is still to do
    controlroom_end = paused.stack("controlroom").attempts[0].finished_at
    canary_start = paused.stack("search-staging").attempts[0].started_at
    assert controlroom_end is not None and canary_start - controlroom_end >= timedelta(seconds=1)

    prepare_resume(db, locks, rollout_id)
    done = drive(settings, db, locks, rollout_id)
    assert done.rollout.status is RolloutStatus.SUCCEEDED


def test_the_control_room_goes_first_only_when_it_changed_or_a_workload_is_new(
    settings: Settings, journal: tuple[Journal, StackLocks]
) -> None:
    db, locks = journal
    inventory = load_inventory(settings.inventory)
    first = plan_rollout(inventory, db, names=["payments-prod"], engine=EngineKind.scripted)
    assert first.controlroom_reason == "never deployed"
    drive(settings, db, locks, start_rollout(db, locks, first).id)

    assert plan_rollout(inventory, db, names=["payments-prod"]).controlroom_reason is None
    assert (
        plan_rollout(inventory, db, names=["analytics-prod"]).controlroom_reason
        == "new workload analytics-prod"
    )

    fleet_yaml = settings.inventory / "fleet.yaml"
    fleet_yaml.write_text(
        fleet_yaml.read_text()
        .replace("replicas: 3", "replicas: 5")
        .replace("domain: ctrl.acme.example", "domain: ctrl2.acme.example")
    )
    changed = plan_rollout(load_inventory(settings.inventory), db, names=["payments-prod"])
    assert changed.controlroom_reason == "changed since its last deploy: control_room.domain"
    assert changed.waves[0].stacks == ("controlroom",)
    [payments] = [change for change in changed.changes if change.stack == "payments-prod"]
    assert payments.fields == ("push_url",)  # the central endpoint follows the domain


def test_a_health_gate_longer_than_the_lock_ttl_keeps_the_locks(
    settings: Settings, journal: tuple[Journal, StackLocks]
) -> None:
    db, _ = journal
    locks = StackLocks(db, ttl=timedelta(seconds=1))
    rollout_id = _start(db, locks, settings, canary=1, wave_size="100%")
    attempts: list[str] = []

    def slow_gate(wave: WaveRecord) -> str | None:
        # The first gate waits three TTLs for series to arrive; meanwhile someone else wants a stack.
        if not attempts:
            time.sleep(3)
        try:
            locks.acquire(["payments-prod"], "r-other", LockHolder("bob@ci", "another-host", 4242))
        except StacksLocked as refused:
            attempts.append(refused.message)
        else:
            attempts.append("taken")
        return None

    detail = drive(
        settings, db, locks, rollout_id, hooks=Hooks(after_wave=slow_gate), timing=Timing(lock_heartbeat=0.1)
    )

    assert detail.rollout.status is RolloutStatus.SUCCEEDED
    assert len(attempts) == 3 and all(f"locked by rollout {rollout_id}" in message for message in attempts)
    assert locks.held() == []


class _OneAPoll:
    """An executor whose every poll runs the oldest submitted job to success in the journal."""

    name = "one-a-poll"

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.queue: list[StackJob] = []

    def submit(self, job: StackJob) -> None:
        self.queue.append(job)

    def poll(self) -> list[ExecutorEvent]:
        if not self.queue:
            return []
        job = self.queue.pop(0)
        claim = self.journal.claim(job.rollout_id, job.stack, "w:1")
        assert claim.attempt is not None, claim
        self.journal.finish(job.rollout_id, job.stack, claim.attempt, "succeeded")
        return [ExecutorEvent(job.key, JobState.succeeded, {})]

    def shutdown(self) -> None:
        self.queue.clear()


def test_the_coordinator_looks_less_often_while_the_queue_ahead_of_the_workers_is_full(
    settings: Settings, journal: tuple[Journal, StackLocks]
) -> None:
    db, locks = journal
    rollout_id = _start(db, locks, settings, canary=0, wave_size="100%", max_parallel=1)
    timing = Timing(tick=0.001, queued_tick=0.002, reconcile=0.0)
    slept: list[float] = []
    coordinator = Coordinator(db, locks, _OneAPoll(db), rollout_id, timing=timing, sleep=slept.append)

    detail = coordinator.run()

    assert detail.rollout.status is RolloutStatus.SUCCEEDED
    # The workloads' wave: two jobs out (one running, one queued behind it) and one more to send:
    # the queue is full, so the slower pace; then, with nothing left to send, the fast one to the end.
    assert slept.count(timing.queued_tick) >= 1
    last = slept[len(slept) - slept[::-1].index(timing.queued_tick) :]
    assert last and set(last) == {timing.tick}
