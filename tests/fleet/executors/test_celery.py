"""CeleryExecutor against a real redis-server and real `fleet worker` processes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fleet_services import RedisServer, Workers, fleet_env, wait_for, write_script
from journals import running_rollout

from fleet.errors import OperationError
from fleet.executors.base import ExecutorEvent, ExecutorUnavailable
from fleet.executors.celery import CeleryExecutor, check_broker
from fleet.executors.celery_app import DEFAULT_QUEUE, create_app
from fleet.executors.jobs import JobState, StackJob
from fleet.journal import Journal, journal_url_for
from fleet.kinds import Action, EngineKind
from fleet.settings import Settings

PASSPHRASE = "correct-horse-battery-staple"


@pytest.fixture
def executor(redis_server: RedisServer) -> Iterator[CeleryExecutor]:
    settings = Settings(broker_url=redis_server.url, passphrase=PASSPHRASE, visibility_timeout=30)
    celery = CeleryExecutor(create_app(settings))
    try:
        yield celery
    finally:
        celery.shutdown()


def test_the_task_message_in_redis_is_the_small_job_and_holds_no_secret(
    executor: CeleryExecutor, redis_server: RedisServer, inventory: Path
) -> None:
    job = StackJob("r-1", "payments-prod", Action.up, EngineKind.pulumi, str(inventory))
    executor.submit(job)  # no worker runs: the message stays in the queue

    [raw] = redis_server.client().lrange(DEFAULT_QUEUE, 0, -1)
    assert PASSPHRASE.encode() not in raw
    message = json.loads(raw)
    assert message["headers"]["task"] == "fleet.run_stack"
    assert message["headers"]["id"] == executor.task_id(job)
    assert executor.task_id(job).startswith(f"{job.task_id}:")  # readable: rollout, stack, attempt
    assert "argsrepr" in message["headers"] and PASSPHRASE not in message["headers"]["argsrepr"]
    body = message["body"]
    import base64

    args, kwargs, _ = json.loads(base64.b64decode(body))
    assert kwargs == {}
    assert StackJob.from_json(args[0]) == job


def test_a_worker_runs_the_job_and_the_result_comes_back_as_an_event(
    executor: CeleryExecutor,
    redis_server: RedisServer,
    fleet_workers: Workers,
    inventory: Path,
    tmp_path: Path,
) -> None:
    script = write_script(
        tmp_path / "script.json", default={"duration": 0.1}, stacks={"payments-prod": {"fail": "boom"}}
    )
    fleet_workers.start(fleet_env(inventory, script, redis_server.url))
    rollout_id = running_rollout(inventory, ["payments-prod", "search-staging"])
    for stack in ("payments-prod", "search-staging"):
        executor.submit(StackJob(rollout_id, stack, Action.up, EngineKind.scripted, str(inventory)))

    events: list[ExecutorEvent] = []
    wait_for(lambda: events.extend(executor.poll()) or len(events) == 2, "two results")

    by_stack = {event.key.stack: event for event in events}
    assert by_stack["payments-prod"].state is JobState.failed
    assert by_stack["payments-prod"].info["error"] == "boom"
    assert by_stack["search-staging"].state is JobState.succeeded


def test_a_result_an_earlier_coordinator_got_for_the_same_job_is_not_taken_for_this_submissions(
    executor: CeleryExecutor, redis_server: RedisServer, inventory: Path
) -> None:
    job = StackJob("r-1", "payments-prod", Action.up, EngineKind.scripted, str(inventory))
    settings = Settings(broker_url=redis_server.url, visibility_timeout=30)
    earlier = CeleryExecutor(create_app(settings))  # drove this rollout before a resume
    try:
        earlier.submit(job)
        result = {"schema": 1, "state": "declined", "info": {}}
        earlier.app.backend.store_result(earlier.task_id(job), result, "SUCCESS")
        assert [event.state for event in earlier.poll()] == [JobState.declined]

        executor.submit(job)  # the same job again: no worker has answered this submission
    finally:
        earlier.shutdown()

    assert executor.task_id(job) != earlier.task_id(job)
    assert executor.poll() == []


def test_a_poll_reads_every_pending_result_in_one_round_trip(
    executor: CeleryExecutor, redis_server: RedisServer, inventory: Path
) -> None:
    jobs = [StackJob("r-1", f"stack-{n}", Action.up, EngineKind.scripted, str(inventory)) for n in range(20)]
    for job in jobs:
        executor.submit(job)
    for job in jobs[:5]:  # as a worker would: five finished
        result = {"schema": 1, "state": "succeeded", "info": {}}
        executor.app.backend.store_result(executor.task_id(job), result, "SUCCESS")
    redis = redis_server.client()
    redis.config_resetstat()

    events = executor.poll()

    assert sorted(event.key.stack for event in events) == [f"stack-{n}" for n in range(5)]
    stats = redis.info("commandstats")
    assert stats["cmdstat_mget"]["calls"] == 1
    assert "cmdstat_get" not in stats


@pytest.mark.parametrize(("recycle", "processes"), [("0", 1), ("1", 3)])
def test_max_tasks_per_child_replaces_a_process_after_that_many_stacks_and_0_never(
    executor: CeleryExecutor,
    redis_server: RedisServer,
    fleet_workers: Workers,
    inventory: Path,
    tmp_path: Path,
    recycle: str,
    processes: int,
) -> None:
    script = write_script(tmp_path / "script.json", default={"duration": 0})
    env = fleet_env(inventory, script, redis_server.url)
    fleet_workers.start(env, 1, None, "--max-tasks-per-child", recycle)
    stacks = ["payments-prod", "search-staging", "analytics-prod"]
    rollout_id = running_rollout(inventory, stacks)
    for stack in stacks:  # one after the other: each on the worker's one process of the moment
        executor.submit(StackJob(rollout_id, stack, Action.up, EngineKind.scripted, str(inventory)))
        wait_for(lambda: executor.poll() != [], f"{stack} to finish")

    with Journal(journal_url_for(inventory)) as journal:
        detail = journal.get_rollout(rollout_id)
    workers = {detail.stack(stack).attempts[0].worker for stack in stacks}
    assert len(workers) == processes, workers


def test_an_unreachable_broker_is_reported_as_a_value_not_a_crash(
    executor: CeleryExecutor, redis_server: RedisServer, inventory: Path
) -> None:
    job = StackJob("r-1", "payments-prod", Action.up, EngineKind.scripted, str(inventory))
    executor.submit(job)
    redis_server.stop()

    assert executor.poll() == []
    with pytest.raises(ExecutorUnavailable, match="cannot reach the broker"):
        executor.submit(job.resubmission())


def test_a_broker_is_checked_by_a_ping_and_its_password_never_shown(redis_server: RedisServer) -> None:
    check_broker(redis_server.url)  # answers: nothing to say
    url = redis_server.url.replace("redis://", "redis://:s3cret@")
    redis_server.stop()
    with pytest.raises(OperationError) as raised:
        check_broker(url, timeout=2)
    message = raised.value.message
    assert message.startswith(f"cannot reach the broker redis://:***@127.0.0.1:{redis_server.port}/0")
    assert "FLEET_BROKER_URL" in message and "s3cret" not in message
