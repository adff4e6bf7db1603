"""The rollout journal against real SQLite and PostgreSQL databases."""

from __future__ import annotations

import multiprocessing
import os
import re
import sqlite3
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from clocks import Clock

from fleet.errors import OperationError, UserError
from fleet.journal import (
    ClaimResult,
    Journal,
    Outcome,
    RolloutNotFound,
    RolloutStatus,
    StackStatus,
    WaveStatus,
    journal_url_for,
)
from fleet.journal.db import SQLITE_WAL_AUTOCHECKPOINT_PAGES
from fleet.rollout.waves import Wave

WAVES = [
    Wave(0, "controlroom", ("controlroom",)),
    Wave(1, "canary", ("dev-1",)),
    Wave(2, "wave 1", ("stage-1", "eu-prod")),
]
VERSIONS = {"alloy": "1.4.2", "mimir": "5.6.0", "loki": "6.24.0", "grafana": "8.8.2"}
POLICY = {"canary": 1, "wave_size": "50%", "max_parallel": 4}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def journal(database_url: str, clock: Clock) -> Iterator[Journal]:
    with Journal(database_url, heartbeat_ttl=timedelta(minutes=5), clock=clock) as opened:
        yield opened


def start(
    journal: Journal, *, dry_run: bool = False, versions: dict[str, str] = VERSIONS, kind: str = "rollout"
) -> str:
    rollout = journal.create_rollout(
        WAVES, kind=kind, dry_run=dry_run, policy=POLICY, versions=versions, started_by="ana@laptop"
    )
    journal.set_status(rollout.id, "running")
    return rollout.id


def deploy(
    journal: Journal, rollout_id: str, stack: str, outcome: str = "succeeded", **extra: object
) -> None:
    claim = journal.claim(rollout_id, stack, "worker-a")
    assert claim.granted and claim.attempt is not None
    journal.finish(rollout_id, stack, claim.attempt, outcome, **extra)  # type: ignore[arg-type]


def test_create_rollout_records_plan_and_who(journal: Journal, clock: Clock) -> None:
    rollout = journal.create_rollout(WAVES, kind="upgrade", dry_run=True, policy=POLICY, versions=VERSIONS)

    assert re.fullmatch(r"r-20261122-0312-[0-9a-f]{4}", rollout.id)
    assert rollout.status is RolloutStatus.PENDING
    assert rollout.dry_run and rollout.kind == "upgrade"
    assert "@" in rollout.started_by
    assert rollout.created_at == clock.now and rollout.created_at.tzinfo is not None
    assert rollout.policy == POLICY and rollout.versions == VERSIONS
    detail = journal.get_rollout(rollout.id)
    assert [(w.index, w.name, w.stacks, w.status) for w in detail.waves] == [
        (0, "controlroom", ("controlroom",), WaveStatus.PENDING),
        (1, "canary", ("dev-1",), WaveStatus.PENDING),
        (2, "wave 1", ("stage-1", "eu-prod"), WaveStatus.PENDING),
    ]
    assert [s.stack for s in detail.stacks] == ["controlroom", "dev-1", "stage-1", "eu-prod"]
    assert detail.counts == {StackStatus.PENDING: 4}


def test_rollout_ids_are_unique_and_a_given_id_is_not_reused(journal: Journal) -> None:
    ids = {
        journal.create_rollout([], kind="drift", dry_run=True, policy={}, versions={}).id for _ in range(20)
    }
    assert len(ids) == 20
    journal.create_rollout([], kind="drift", dry_run=True, policy={}, versions={}, rollout_id="r-mine")
    with pytest.raises(OperationError, match="r-mine"):
        journal.create_rollout([], kind="drift", dry_run=True, policy={}, versions={}, rollout_id="r-mine")


def test_a_stack_in_two_waves_is_refused(journal: Journal) -> None:
    with pytest.raises(ValueError, match="more than one wave"):
        journal.create_rollout(
            [Wave(0, "a", ("x",)), Wave(1, "b", ("x",))],
            kind="rollout",
            dry_run=False,
            policy={},
            versions={},
        )


def test_status_lifecycle_halt_and_resume(journal: Journal, clock: Clock) -> None:
    rollout_id = start(journal)
    started = journal.rollout(rollout_id).started_at
    assert started == clock.now

    clock.advance(minutes=3)
    halted = journal.set_status(rollout_id, "halted", reason="gate failed:\n no series from dev-1")
    assert halted.status is RolloutStatus.HALTED
    assert halted.halt_reason == "gate failed: no series from dev-1"
    assert halted.finished_at == clock.now

    clock.advance(minutes=1)
    resumed = journal.set_status(rollout_id, "running")
    assert (resumed.started_at, resumed.finished_at, resumed.halt_reason) == (started, None, None)

    done = journal.set_status(rollout_id, "succeeded")
    assert done.finished_at == clock.now
    with pytest.raises(OperationError, match="succeeded; it cannot become running"):
        journal.set_status(rollout_id, "running")


def test_claim_run_finish_is_exactly_once(journal: Journal) -> None:
    rollout_id = start(journal)
    claim = journal.claim(rollout_id, "dev-1", "host-a:101")
    assert claim.result is ClaimResult.GRANTED and claim.attempt == 1

    busy = journal.claim(rollout_id, "dev-1", "host-b:202")
    assert (busy.result, busy.attempt, busy.holder) == (ClaimResult.BUSY, 1, "host-a:101")

    journal.finish(
        rollout_id,
        "dev-1",
        1,
        "succeeded",
        versions=VERSIONS,
        summary={"create": 3, "update": 1, "delete": 0},
    )
    [state] = journal.stack_states(rollout_id, ["dev-1"])
    assert state.status is StackStatus.SUCCEEDED
    assert state.last_attempt is not None
    assert state.last_attempt.outcome is Outcome.SUCCEEDED
    assert state.last_attempt.summary == {"create": 3, "update": 1, "delete": 0}

    again = journal.claim(rollout_id, "dev-1", "host-b:202", previous_worker_lost=True)
    assert again.result is ClaimResult.ALREADY_SUCCEEDED and not again.granted
    assert len(journal.get_rollout(rollout_id).stack("dev-1").attempts) == 1
    with pytest.raises(OperationError, match="already succeeded"):
        journal.finish(rollout_id, "dev-1", 1, "failed")


def test_a_failed_stack_gets_a_new_attempt(journal: Journal) -> None:
    rollout_id = start(journal)
    deploy(journal, rollout_id, "eu-prod", "failed", error="helm: timed out\nwaiting for mimir-distributor")
    state = journal.get_rollout(rollout_id).stack("eu-prod")
    assert state.status is StackStatus.FAILED
    assert state.error == "helm: timed out waiting for mimir-distributor"

    claim = journal.claim(rollout_id, "eu-prod", "worker-b")
    assert claim.granted and claim.attempt == 2
    long_error = "x" * 2000
    journal.finish(rollout_id, "eu-prod", 2, "failed", error=long_error)
    error = journal.get_rollout(rollout_id).stack("eu-prod").error
    assert error is not None and len(error) == 500


def test_a_silent_worker_is_taken_over_after_the_ttl(journal: Journal, clock: Clock) -> None:
    rollout_id = start(journal)
    first = journal.claim(rollout_id, "stage-1", "host-a:101")
    assert first.attempt == 1

    clock.advance(minutes=4)
    assert journal.heartbeat_attempt(rollout_id, "stage-1", 1)
    clock.advance(minutes=4)  # 8 minutes since the start, 4 since the heartbeat
    assert journal.claim(rollout_id, "stage-1", "host-b:202").result is ClaimResult.BUSY

    clock.advance(minutes=2)
    second = journal.claim(rollout_id, "stage-1", "host-b:202")
    assert (second.result, second.attempt, second.recovered_from) == (ClaimResult.GRANTED, 2, "host-a:101")
    lost = journal.get_rollout(rollout_id).stack("stage-1").attempts[0]
    assert lost.outcome is Outcome.LOST
    assert lost.error == "worker host-a:101 stopped heart-beating; host-b:202 took over"

    # The old worker learns it lost the stack; its late report is kept but does not win.
    assert not journal.heartbeat_attempt(rollout_id, "stage-1", 1)
    journal.finish(rollout_id, "stage-1", 1, "failed", error="interrupted")
    [state] = journal.stack_states(rollout_id, ["stage-1"])
    assert state.status is StackStatus.RUNNING
    assert [a.outcome for a in state.attempts] == [Outcome.FAILED, None]
    journal.finish(rollout_id, "stage-1", 2, "succeeded")
    assert journal.stack_states(rollout_id, ["stage-1"])[0].status is StackStatus.SUCCEEDED


def test_a_worker_reported_lost_is_taken_over_at_once(journal: Journal) -> None:
    rollout_id = start(journal)
    journal.claim(rollout_id, "stage-1", "host-a:101")
    claim = journal.claim(rollout_id, "stage-1", "host-b:202", previous_worker_lost=True)
    assert claim.granted and claim.recovered_from == "host-a:101"
    attempts = journal.get_rollout(rollout_id).stack("stage-1").attempts
    assert attempts[0].error == "worker host-a:101 was reported lost; host-b:202 took over"


def test_a_stack_is_never_claimed_while_another_rollout_runs_it(journal: Journal, clock: Clock) -> None:
    first, second = start(journal), start(journal)
    assert journal.claim(first, "stage-1", "host-a:101").granted

    busy = journal.claim(second, "stage-1", "host-b:202")
    assert (busy.result, busy.holder) == (ClaimResult.BUSY, f"host-a:101 (rollout {first})")
    assert journal.get_rollout(second).stack("stage-1").attempts == ()

    journal.finish(first, "stage-1", 1, "succeeded")
    assert journal.claim(second, "stage-1", "host-b:202").granted


def test_a_silent_attempt_of_another_rollout_is_taken_over_after_the_ttl(
    journal: Journal, clock: Clock
) -> None:
    first, second = start(journal), start(journal)
    journal.claim(first, "stage-1", "host-a:101")
    clock.advance(minutes=6)
    claim = journal.claim(second, "stage-1", "host-b:202")
    assert claim.granted and claim.recovered_from == "host-a:101"
    lost = journal.get_rollout(first).stack("stage-1").attempts[0]
    assert lost.outcome is Outcome.LOST
    assert lost.error == f"worker host-a:101 stopped heart-beating; host-b:202 of rollout {second} took over"


def test_a_rollout_that_lost_a_stack_lock_may_not_claim_it(journal: Journal) -> None:
    from fleet.journal.locks import StackLocks

    first, second = start(journal), start(journal)
    StackLocks(journal).acquire(["stage-1"], second)
    refused = journal.claim(first, "stage-1", "host-a:101")
    assert (refused.result, refused.holder) == (ClaimResult.LOCKED, f"rollout {second}")
    assert journal.claim(second, "stage-1", "host-a:101").granted


def test_claims_are_refused_unless_the_rollout_runs(journal: Journal) -> None:
    rollout = journal.create_rollout(WAVES, kind="rollout", dry_run=False, policy={}, versions={})
    assert journal.claim(rollout.id, "dev-1", "w").result is ClaimResult.NOT_RUNNING
    journal.set_status(rollout.id, "running")
    journal.set_status(rollout.id, "paused")
    assert journal.claim(rollout.id, "dev-1", "w").result is ClaimResult.NOT_RUNNING
    assert journal.get_rollout(rollout.id).stack("dev-1").status is StackStatus.PENDING


def test_a_claim_holds_max_parallel_and_the_failure_budget(journal: Journal, clock: Clock) -> None:
    waves = [Wave(0, "all", ("a", "b", "c", "d", "e"))]
    policy = {"max_parallel": 2, "failure_budget": 0}
    rollout_id = journal.create_rollout(waves, kind="rollout", dry_run=False, policy=policy, versions={}).id
    journal.set_status(rollout_id, "running")
    a, b = journal.claim(rollout_id, "a", "w1"), journal.claim(rollout_id, "b", "w2")
    assert a.granted and b.granted and a.attempt is not None

    full = journal.claim(rollout_id, "c", "w3")  # queued ahead of a free slot: not now
    assert full.result is ClaimResult.FULL and full.attempt is None
    assert journal.get_rollout(rollout_id).stack("c").status is StackStatus.PENDING
    clock.advance(minutes=10)  # b's worker went silent: taking it over needs no new slot
    assert journal.claim(rollout_id, "b", "w4").granted

    journal.finish(rollout_id, "a", a.attempt, "succeeded")
    assert journal.claim(rollout_id, "c", "w1").granted  # a freed its slot
    c = journal.get_rollout(rollout_id).stack("c").last_attempt
    assert c is not None
    journal.finish(rollout_id, "c", c.number, "failed")
    # One failure is over a budget of 0: nothing new starts before the coordinator halts.
    assert journal.claim(rollout_id, "d", "w1").result is ClaimResult.OVER_BUDGET
    assert journal.get_rollout(rollout_id).stack("d").status is StackStatus.PENDING


def test_a_policy_without_limits_limits_nothing(journal: Journal) -> None:
    rollout = journal.create_rollout(WAVES, kind="drift", dry_run=True, policy={}, versions={})
    journal.set_status(rollout.id, "running")
    for stack in ("controlroom", "dev-1", "stage-1"):
        claim = journal.claim(rollout.id, stack, "w")
        assert claim.granted and claim.attempt is not None
        journal.finish(rollout.id, stack, claim.attempt, "failed")
    assert journal.claim(rollout.id, "eu-prod", "w").granted


def test_cancel_a_running_rollout(journal: Journal) -> None:
    rollout_id = start(journal)
    running = journal.claim(rollout_id, "controlroom", "w1")

    cancelling = journal.request_cancel(rollout_id)
    assert cancelling.status is RolloutStatus.CANCELLING and cancelling.cancel_requested
    assert journal.cancel_requested(rollout_id)
    assert journal.claim(rollout_id, "dev-1", "w2").result is ClaimResult.CANCELLED
    assert journal.get_rollout(rollout_id).stack("dev-1").status is StackStatus.CANCELLED

    assert running.attempt is not None
    journal.finish(rollout_id, "controlroom", running.attempt, "cancelled")
    done = journal.set_status(rollout_id, "cancelled")
    assert done.finished_at is not None
    assert journal.get_rollout(rollout_id).counts == {StackStatus.CANCELLED: 4}
    with pytest.raises(OperationError, match="already finished"):
        journal.request_cancel(rollout_id)


def test_cancel_a_rollout_nobody_runs(journal: Journal) -> None:
    rollout_id = start(journal)
    deploy(journal, rollout_id, "controlroom")
    journal.set_status(rollout_id, "halted", reason="failure budget exhausted")
    cancelled = journal.request_cancel(rollout_id)
    assert cancelled.status is RolloutStatus.CANCELLED
    assert journal.get_rollout(rollout_id).counts == {StackStatus.SUCCEEDED: 1, StackStatus.CANCELLED: 3}


def test_unknown_rollouts_and_stacks(journal: Journal) -> None:
    with pytest.raises(RolloutNotFound) as raised:
        journal.get_rollout("r-nope")
    assert isinstance(raised.value, UserError) and raised.value.exit_code == 2
    rollout_id = start(journal)
    with pytest.raises(OperationError, match="not part of rollout"):
        journal.claim(rollout_id, "us-prod", "w")
    with pytest.raises(OperationError, match="no attempt 7"):
        journal.finish(rollout_id, "dev-1", 7, "succeeded")
    with pytest.raises(OperationError, match="no wave 9"):
        journal.mark_wave(rollout_id, 9, "running")


def test_waves_gates_and_remaining_stacks_for_resume(journal: Journal, clock: Clock) -> None:
    rollout_id = start(journal)
    journal.mark_wave(rollout_id, 0, "running")
    deploy(journal, rollout_id, "controlroom")
    clock.advance(seconds=30)
    journal.mark_wave(rollout_id, 0, "succeeded")
    journal.mark_wave(rollout_id, 1, "running")
    deploy(journal, rollout_id, "dev-1")
    journal.mark_wave(rollout_id, 1, "failed")
    journal.record_gate(rollout_id, 1, passed=False, reason="no series with workload=dev-1 for 5m")
    journal.mark_wave(rollout_id, 2, "running")
    deploy(journal, rollout_id, "eu-prod", "failed", error="boom")
    # Only pending stacks are marked: the failed and the succeeded ones keep what happened.
    assert journal.mark_stacks(rollout_id, ["stage-1", "eu-prod", "dev-1"], "skipped") == ("stage-1",)

    detail = journal.get_rollout(rollout_id)
    first, canary, rest = detail.waves
    assert first.status is WaveStatus.SUCCEEDED and first.finished_at == clock.now
    assert first.started_at == clock.now - timedelta(seconds=30)
    assert canary.gate is not None and not canary.gate.passed
    assert canary.gate.reason == "no series with workload=dev-1 for 5m"
    assert rest.counts == {StackStatus.SKIPPED: 1, StackStatus.FAILED: 1}
    assert detail.counts == {StackStatus.SUCCEEDED: 2, StackStatus.SKIPPED: 1, StackStatus.FAILED: 1}
    assert journal.remaining_stacks(rollout_id) == ["stage-1", "eu-prod"]
    with pytest.raises(ValueError):
        journal.mark_stacks(rollout_id, ["stage-1"], "succeeded")


def test_history_is_newest_first_with_counts(journal: Journal, clock: Clock) -> None:
    older = start(journal)
    deploy(journal, older, "controlroom")
    journal.set_status(older, "failed")
    newer = journal.create_rollout(WAVES[:2], kind="upgrade", dry_run=False, policy={}, versions={}).id

    history = journal.list_rollouts()
    assert [item.rollout.id for item in history] == [newer, older]
    assert history[1].counts == {StackStatus.SUCCEEDED: 1, StackStatus.PENDING: 3}
    assert [w.counts for w in history[1].waves] == [
        {StackStatus.SUCCEEDED: 1},
        {StackStatus.PENDING: 1},
        {StackStatus.PENDING: 2},
    ]
    assert [item.rollout.id for item in journal.list_rollouts(limit=1)] == [newer]
    assert [item.rollout.id for item in journal.list_rollouts(kind="rollout")] == [older]


def test_status_and_versions_count_real_rollouts_only(journal: Journal, clock: Clock) -> None:
    first = start(journal)
    deploy(journal, first, "dev-1", versions=VERSIONS)
    deploy(journal, first, "eu-prod", versions=VERSIONS)
    deployed_at = clock.now

    clock.advance(hours=1)
    upgrade = {**VERSIONS, "mimir": "5.7.0"}
    second = start(journal, versions=upgrade)
    deploy(journal, second, "eu-prod", "failed", error="mimir-ingester not ready", versions=upgrade)

    clock.advance(hours=1)
    dry = start(journal, dry_run=True, versions=upgrade)
    deploy(journal, dry, "dev-1", versions=upgrade)
    deploy(journal, dry, "stage-1", versions=upgrade)

    status = {item.stack: item for item in journal.stack_status()}
    assert sorted(status) == ["dev-1", "eu-prod"]  # stage-1 was only ever dry-run
    assert (status["dev-1"].rollout_id, status["dev-1"].status) == (first, StackStatus.SUCCEEDED)
    assert status["dev-1"].deployed_versions == VERSIONS
    eu = status["eu-prod"]
    assert (eu.rollout_id, eu.status, eu.error) == (second, StackStatus.FAILED, "mimir-ingester not ready")
    assert (eu.deployed_rollout_id, eu.deployed_versions, eu.deployed_at) == (first, VERSIONS, deployed_at)
    assert [item.stack for item in journal.stack_status(["eu-prod", "nope"])] == ["eu-prod"]
    assert journal.deployed_versions() == {"dev-1": VERSIONS, "eu-prod": VERSIONS}


def test_drift_checks_neither_deploy_nor_count_as_dry_runs(journal: Journal, clock: Clock) -> None:
    real = start(journal)
    deploy(journal, real, "dev-1", versions=VERSIONS)
    clock.advance(hours=1)
    live_check = start(journal, kind="drift")
    deploy(journal, live_check, "dev-1", "failed", error="drifted: Deployment mimir-ingester")
    offline_check = start(journal, kind="drift", dry_run=True)
    deploy(journal, offline_check, "dev-1")

    [status] = journal.stack_status()
    assert (status.rollout_id, status.status, status.error) == (real, StackStatus.SUCCEEDED, None)
    assert journal.deployed_versions() == {"dev-1": VERSIONS}
    assert journal.last_dry_runs() == []


def test_dry_runs_are_listed_apart_from_deploys(journal: Journal, clock: Clock) -> None:
    real = start(journal)
    deploy(journal, real, "dev-1", versions=VERSIONS)
    clock.advance(hours=1)
    older_dry = start(journal, dry_run=True)
    deploy(journal, older_dry, "eu-prod", "failed", error="render broke")
    clock.advance(hours=1)
    newer_dry = start(journal, dry_run=True)
    deploy(journal, newer_dry, "dev-1")
    journal.mark_stacks(newer_dry, ["stage-1"], "skipped")

    dry = {item.stack: item for item in journal.last_dry_runs()}

    assert sorted(dry) == ["controlroom", "dev-1", "eu-prod", "stage-1"]  # every stack of a dry run
    assert (dry["dev-1"].rollout_id, dry["dev-1"].status, dry["dev-1"].when) == (
        newer_dry,
        StackStatus.SUCCEEDED,
        clock.now,
    )
    assert (dry["stage-1"].rollout_id, dry["stage-1"].status) == (newer_dry, StackStatus.SKIPPED)
    # eu-prod is in both dry runs: the newer one (pending there) is what counts
    assert (dry["eu-prod"].rollout_id, dry["eu-prod"].status) == (newer_dry, StackStatus.PENDING)
    assert [item.stack for item in journal.last_dry_runs(["dev-1", "nope"])] == ["dev-1"]
    assert journal.deployed_versions() == {"dev-1": VERSIONS}  # dry runs deploy nothing


def test_mark_stacks_moves_only_pending_stacks_and_reopen_brings_back_the_unfinished(
    journal: Journal,
) -> None:
    rollout_id = journal.create_rollout(
        [Wave(0, "all", ("ok", "broken", "busy", "later", "dropped", "stopped"))],
        kind="rollout",
        dry_run=False,
        policy=POLICY,
        versions=VERSIONS,
    ).id
    journal.set_status(rollout_id, "running")
    deploy(journal, rollout_id, "ok")
    deploy(journal, rollout_id, "broken", "failed", error="boom")
    assert journal.claim(rollout_id, "busy", "worker-b").granted
    assert journal.mark_stacks(rollout_id, ["dropped"], "skipped") == ("dropped",)
    assert journal.mark_stacks(rollout_id, ["stopped"], "cancelled") == ("stopped",)
    everything = ["ok", "broken", "busy", "later", "dropped", "stopped"]

    for status in ("skipped", "cancelled"):
        # Finished (succeeded, failed, skipped, cancelled) and running stacks keep their status.
        changed = journal.mark_stacks(rollout_id, everything, status)
        assert changed == (("later",) if status == "skipped" else ())
    states = {s.stack: s.status for s in journal.get_rollout(rollout_id).stacks}
    assert states == {
        "ok": StackStatus.SUCCEEDED,
        "broken": StackStatus.FAILED,
        "busy": StackStatus.RUNNING,
        "later": StackStatus.SKIPPED,
        "dropped": StackStatus.SKIPPED,
        "stopped": StackStatus.CANCELLED,
    }
    for status in ("pending", "running", "succeeded", "failed"):
        with pytest.raises(ValueError):
            journal.mark_stacks(rollout_id, ["later"], status)

    assert journal.reopen_stacks(rollout_id) == ("broken", "later", "dropped", "stopped")
    states = {s.stack: s.status for s in journal.get_rollout(rollout_id).stacks}
    assert states["ok"] is StackStatus.SUCCEEDED and states["busy"] is StackStatus.RUNNING
    assert {states[name] for name in ("broken", "later", "dropped", "stopped")} == {StackStatus.PENDING}


def test_renders_keep_the_last_plan_per_stack(journal: Journal) -> None:
    assert journal.last_render("dev-1") is None
    first = journal.record_render("dev-1", {"resources": [{"urn": "a", "inputs": {"b": 1, "a": 2}}]}, "r-1")
    same = journal.record_render("dev-1", '{"resources":[{"inputs":{"a":2,"b":1},"urn":"a"}]}', "r-2")
    assert first.plan_hash == same.plan_hash
    changed = journal.record_render("dev-1", {"resources": []}, None)
    assert changed.plan_hash != first.plan_hash

    last = journal.last_render("dev-1")
    assert last is not None
    assert (last.plan, last.plan_hash, last.rollout_id) == ('{"resources":[]}', changed.plan_hash, None)


def test_every_change_is_visible_to_another_process_at_once(database_url: str) -> None:
    with Journal(database_url) as writer, Journal(database_url) as reader:
        rollout_id = start(writer)
        claim = writer.claim(rollout_id, "dev-1", "w")
        assert reader.get_rollout(rollout_id).stack("dev-1").status is StackStatus.RUNNING
        assert claim.attempt is not None
        writer.finish(rollout_id, "dev-1", claim.attempt, "succeeded")
        assert reader.remaining_stacks(rollout_id) == ["controlroom", "stage-1", "eu-prod"]


def _claim_in_a_process(url: str, rollout_id: str, worker: str, barrier: object, results: object) -> None:
    with Journal(url) as journal:
        barrier.wait(timeout=30)  # type: ignore[attr-defined]
        claim = journal.claim(rollout_id, "eu-prod", worker)
        results.put((worker, claim.result.value))  # type: ignore[attr-defined]


def test_racing_processes_cannot_both_claim_a_stack(database_url: str) -> None:
    with Journal(database_url) as journal:
        rollout_id = start(journal)
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(6), context.Queue()
    processes = [
        context.Process(
            target=_claim_in_a_process, args=(database_url, rollout_id, f"w{n}", barrier, results)
        )
        for n in range(6)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    assert [process.exitcode for process in processes] == [0] * 6
    results.close()
    results.join_thread()

    granted = [worker for worker, result in outcomes if result == "granted"]
    assert len(granted) == 1
    assert sorted(result for _, result in outcomes) == ["busy"] * 5 + ["granted"]
    with Journal(database_url) as journal:
        attempts = journal.get_rollout(rollout_id).stack("eu-prod").attempts
    assert [(a.number, a.worker) for a in attempts] == [(1, granted[0])]


def test_default_sqlite_journal_lives_in_the_inventory(tmp_path: Path) -> None:
    url = journal_url_for(tmp_path / "inventory")
    assert (tmp_path / "inventory" / ".fleet").is_dir()
    with Journal(url) as journal:
        start(journal)
    database = tmp_path / "inventory" / ".fleet" / "fleet.db"
    with sqlite3.connect(database) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    conn.close()
    with Journal(url) as journal, journal.database.read() as session:
        # The log is copied into the database every 10,000 pages, not SQLite's default 1000.
        pages = session.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
        assert pages == SQLITE_WAL_AUTOCHECKPOINT_PAGES == 10_000


def test_a_writer_waits_for_the_sqlite_write_lock_and_one_held_too_long_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "fleet.db"
    with Journal(f"sqlite:///{database}") as journal:
        rollout_id = start(journal)
        other = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        releaser = threading.Timer(0.3, other.execute, args=("COMMIT",))
        releaser.start()
        assert journal.claim(rollout_id, "controlroom", "w1").granted  # waited, then wrote
        releaser.join()

        monkeypatch.setattr("fleet.journal.db.SQLITE_BUSY_TIMEOUT_SECONDS", 0.2)
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(
            OperationError, match=r"^journal database sqlite:///\S+ failed: database is locked$"
        ):
            journal.claim(rollout_id, "dev-1", "w1")
        other.execute("ROLLBACK")
        other.close()
        assert journal.get_rollout(rollout_id).stack("dev-1").status is StackStatus.PENDING


def test_bad_urls_and_unreachable_servers() -> None:
    with pytest.raises(UserError, match="unsupported journal database"):
        Journal("mysql://root@localhost/fleet")
    with pytest.raises(UserError, match="bad journal URL"):
        Journal("not a url")
    url = "postgresql+psycopg://fleet:s3cret-pw@127.0.0.1:1/fleet?connect_timeout=2"
    with pytest.raises(OperationError) as raised:
        Journal(url)
    assert "s3cret-pw" not in raised.value.message
    assert "127.0.0.1" in raised.value.message


def _drive_in_a_process(url: str, rollout_id: str, worker: str, barrier: object) -> None:
    code = 4
    try:
        with Journal(url) as journal:
            barrier.wait(timeout=30)  # type: ignore[attr-defined]
            for _ in range(5):
                journal.set_status(rollout_id, "running")
                claim = journal.claim(rollout_id, "stage-1", worker, previous_worker_lost=True)
                if claim.granted and claim.attempt is not None:
                    journal.finish(rollout_id, "stage-1", claim.attempt, "failed", error="again")
            code = 0
    finally:
        os._exit(code)


def test_concurrent_status_changes_claims_and_finishes_do_not_deadlock(database_url: str) -> None:
    with Journal(database_url) as journal:
        rollout_id = start(journal)
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(4)
    processes = [
        context.Process(target=_drive_in_a_process, args=(database_url, rollout_id, f"w{n}", barrier))
        for n in range(4)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
    assert [process.exitcode for process in processes] == [0] * 4
    with Journal(database_url) as journal:
        attempts = journal.get_rollout(rollout_id).stack("stage-1").attempts
    assert [a.number for a in attempts] == list(range(1, len(attempts) + 1))
    assert all(a.outcome in (Outcome.FAILED, Outcome.LOST) for a in attempts)
