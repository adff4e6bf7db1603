"""LocalExecutor: jobs run in spawned processes; results come back as events, never exceptions."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from fleet_services import wait_for, write_script
from journals import running_rollout

from fleet.executors.base import ExecutorEvent
from fleet.executors.jobs import JobState, StackJob
from fleet.executors.local import LocalExecutor
from fleet.kinds import Action, EngineKind


@pytest.fixture
def local_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Workers inherit the environment: the scripted engine, a short heartbeat TTL."""
    script = tmp_path / "script.json"
    for name in [key for key in os.environ if key.startswith("FLEET_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("FLEET_ENGINE_SCRIPT", str(script))
    monkeypatch.setenv("FLEET_LOCK_TTL", "5")
    return script


@pytest.fixture
def executor() -> Iterator[LocalExecutor]:
    pool = LocalExecutor(2)
    try:
        yield pool
    finally:
        pool.shutdown()


def _events(executor: LocalExecutor, count: int) -> list[ExecutorEvent]:
    events: list[ExecutorEvent] = []
    wait_for(lambda: events.extend(executor.poll()) or len(events) >= count, f"{count} events")
    return events


def test_jobs_run_in_worker_processes_and_report_their_results(
    inventory: Path, local_env: Path, executor: LocalExecutor, tmp_path: Path
) -> None:
    log = tmp_path / "runs.log"
    write_script(
        local_env, log=str(log), default={"duration": 0.2}, stacks={"payments-prod": {"fail": "boom"}}
    )
    rollout_id = running_rollout(inventory, ["payments-prod", "search-staging", "analytics-prod"])
    for stack in ("payments-prod", "search-staging", "analytics-prod"):
        executor.submit(StackJob(rollout_id, stack, Action.up, EngineKind.scripted, str(inventory)))

    events = {event.key.stack: event for event in _events(executor, 3)}

    assert events["payments-prod"].state is JobState.failed
    assert events["payments-prod"].info["error"] == "boom"
    assert events["search-staging"].state is JobState.succeeded
    assert events["analytics-prod"].state is JobState.succeeded
    pids = {line.split()[2] for line in log.read_text().splitlines()}
    assert str(os.getpid()) not in pids  # not run in the coordinator's process
    assert executor.poll() == []


def test_a_killed_worker_is_an_error_event_and_the_pool_recovers(
    inventory: Path, local_env: Path, executor: LocalExecutor, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    write_script(
        local_env,
        pid_dir=str(pids),
        default={"duration": 0.1},
        stacks={"payments-prod": {"duration": 60}},
    )
    rollout_id = running_rollout(inventory, ["payments-prod", "search-staging"])
    executor.submit(StackJob(rollout_id, "payments-prod", Action.up, EngineKind.scripted, str(inventory)))
    running = wait_for(lambda: list(pids.glob("payments-prod.*")), "payments-prod to start")
    os.kill(int(running[0].suffix[1:]), signal.SIGKILL)

    [event] = _events(executor, 1)
    assert event.key.stack == "payments-prod"
    assert event.state is JobState.error
    assert "died" in event.info["error"]

    executor.submit(StackJob(rollout_id, "search-staging", Action.up, EngineKind.scripted, str(inventory)))
    [after] = _events(executor, 1)
    assert (after.key.stack, after.state) == ("search-staging", JobState.succeeded)


def test_a_pool_s_workers_take_the_environment_this_process_has_when_it_starts_them(
    inventory: Path, local_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Workers are forked from a forkserver started earlier, with the environment of that time:
    a pool started after a change (another script here) still runs with what this process has."""
    rollout_id = running_rollout(inventory, ["payments-prod", "search-staging"])
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    write_script(local_env, log=str(first_log))
    first = LocalExecutor(1)
    try:
        first.submit(StackJob(rollout_id, "payments-prod", Action.up, EngineKind.scripted, str(inventory)))
        [event] = _events(first, 1)
    finally:
        first.shutdown()
    second_script = write_script(tmp_path / "second.json", log=str(second_log))
    monkeypatch.setenv("FLEET_ENGINE_SCRIPT", str(second_script))
    second = LocalExecutor(1)
    try:
        second.submit(StackJob(rollout_id, "search-staging", Action.up, EngineKind.scripted, str(inventory)))
        [after] = _events(second, 1)
    finally:
        second.shutdown()

    assert (event.state, after.state) == (JobState.succeeded, JobState.succeeded)
    assert "search-staging" not in first_log.read_text()
    assert second_log.read_text().startswith("start search-staging ")
