"""Rollouts over real Celery workers and a real redis-server, driven through the `fleet` CLI.

The chaos is real: a worker process is SIGKILLed mid-stack, Redis is restarted without
persistence mid-rollout. Everything is asserted on the journal, the source of truth.
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

from fleet_services import (
    RedisServer,
    Workers,
    add_workloads,
    fleet_env,
    run_fleet,
    start_fleet,
    stop_process,
    wait_for,
    write_script,
)

from fleet.journal import Journal, Outcome, RolloutDetail, RolloutStatus, StackStatus, journal_url_for


def _detail(inventory: Path) -> RolloutDetail | None:
    with Journal(journal_url_for(inventory)) as journal:
        found = journal.list_rollouts(limit=1)
        return journal.get_rollout(found[0].rollout.id) if found else None


def _succeeded_attempts(detail: RolloutDetail, stack: str) -> int:
    return sum(attempt.outcome is Outcome.SUCCEEDED for attempt in detail.stack(stack).attempts)


def _assert_each_stack_succeeded_exactly_once(detail: RolloutDetail) -> None:
    assert detail.rollout.status is RolloutStatus.SUCCEEDED
    for state in detail.stacks:
        assert state.status is StackStatus.SUCCEEDED, state
        assert _succeeded_attempts(detail, state.stack) == 1, state


def test_the_example_inventory_rolls_out_over_celery_in_wave_order(
    inventory: Path, redis_server: RedisServer, fleet_workers: Workers, tmp_path: Path
) -> None:
    script = write_script(tmp_path / "script.json", default={"duration": 0.3})
    env = fleet_env(inventory, script, redis_server.url)
    fleet_workers.start(env, concurrency=2)

    result = run_fleet(env, "rollout", "--all", "--yes")

    assert result.returncode == 0, result.stdout + result.stderr
    detail = _detail(inventory)
    assert detail is not None
    _assert_each_stack_succeeded_exactly_once(detail)
    assert [wave.name for wave in detail.waves] == ["controlroom", "canary", "wave 1", "wave 2"]
    assert detail.waves[1].stacks == ("search-staging",)  # labelled ring=canary
    for earlier, later in zip(detail.waves, detail.waves[1:], strict=False):
        finished = max(detail.stack(name).attempts[-1].finished_at for name in earlier.stacks)  # type: ignore[type-var]
        started = min(detail.stack(name).attempts[-1].started_at for name in later.stacks)
        assert finished <= started, (earlier.name, later.name)
    assert "rollout" in result.stdout and "succeeded: 4 succeeded" in result.stdout


def test_a_worker_killed_mid_stack_is_replaced_and_every_stack_succeeds_once(
    inventory: Path, redis_server: RedisServer, fleet_workers: Workers, tmp_path: Path
) -> None:
    log, pids = tmp_path / "runs.log", tmp_path / "pids"
    script = write_script(
        tmp_path / "script.json",
        log=str(log),
        pid_dir=str(pids),
        default={"duration": 0.3},
        stacks={"payments-prod": {"duration": 4}},
    )
    env = fleet_env(inventory, script, redis_server.url)
    fleet_workers.start(env, concurrency=2, name="w1")
    fleet_workers.start(env, concurrency=2, name="w2")
    cli = start_fleet(
        env, tmp_path / "cli.log", "rollout", "--all", "--yes", "--canary", "0", "--wave-size", "100%"
    )
    try:
        [running] = wait_for(lambda: list(pids.glob("payments-prod.*")), "payments-prod to start")
        killed = int(running.suffix[1:])
        os.kill(killed, signal.SIGKILL)  # the prefork child running the stack, not the worker
        assert wait_for(lambda: cli.poll() is not None, "the rollout to finish", timeout=120) is not None
    finally:
        stop_process(cli)

    assert cli.returncode == 0, (tmp_path / "cli.log").read_text()
    detail = _detail(inventory)
    assert detail is not None
    _assert_each_stack_succeeded_exactly_once(detail)
    attempts = detail.stack("payments-prod").attempts
    assert attempts[0].outcome is Outcome.LOST
    assert attempts[0].worker.endswith(f":{killed}")
    assert not attempts[-1].worker.endswith(f":{killed}")
    runs = log.read_text().splitlines()
    starts = [line for line in runs if line.startswith("start payments-prod")]
    assert len(starts) == 2
    assert sum(line.startswith("end payments-prod") for line in runs) == 1
    # The engine is told the attempt it replaces is dead: a Pulumi lock that one left may go.
    assert [line.endswith(" previous-dead") for line in starts] == [False, True]


def test_a_redis_restart_mid_rollout_loses_messages_and_the_rollout_still_completes(
    inventory: Path, redis_server: RedisServer, fleet_workers: Workers, tmp_path: Path
) -> None:
    names = add_workloads(inventory, 6)
    log = tmp_path / "runs.log"
    script = write_script(tmp_path / "script.json", log=str(log), default={"duration": 1.5})
    env = fleet_env(inventory, script, redis_server.url)
    fleet_workers.start(env, concurrency=2)
    # max parallel 4 over 2 worker processes: two messages wait in Redis when it restarts.
    cli = start_fleet(
        env,
        tmp_path / "cli.log",
        "rollout",
        *names,
        "--yes",
        "--canary",
        "0",
        "--wave-size",
        "100%",
        "--max-parallel",
        "4",
    )
    try:
        wait_for(lambda: log.exists() and log.read_text().count("start ") >= 2, "two stacks to start")
        queued = redis_server.client().llen("fleet")
        redis_server.restart()
        assert wait_for(lambda: cli.poll() is not None, "the rollout to finish", timeout=150) is not None
    finally:
        stop_process(cli)

    assert queued >= 1  # something was really lost with the restart
    assert cli.returncode == 0, (tmp_path / "cli.log").read_text()
    detail = _detail(inventory)
    assert detail is not None
    _assert_each_stack_succeeded_exactly_once(detail)
    runs = log.read_text().splitlines()
    for name in names:
        assert sum(line.startswith(f"end {name} ") for line in runs) == 1, name


def test_a_failure_with_budget_0_halts_and_the_rest_are_skipped(
    inventory: Path, redis_server: RedisServer, fleet_workers: Workers, tmp_path: Path
) -> None:
    log = tmp_path / "runs.log"
    script = write_script(
        tmp_path / "script.json",
        log=str(log),
        default={"duration": 0.2},
        stacks={"search-staging": {"fail": "alloy chart failed to install"}},
    )
    env = fleet_env(inventory, script, redis_server.url)
    fleet_workers.start(env, concurrency=2)

    result = run_fleet(env, "rollout", "--all", "--yes", "--failure-budget", "0")

    assert result.returncode == 1
    detail = _detail(inventory)
    assert detail is not None
    assert detail.rollout.status is RolloutStatus.HALTED
    assert "failure budget is 0" in (detail.rollout.halt_reason or "")
    assert detail.stack("controlroom").status is StackStatus.SUCCEEDED
    assert detail.stack("search-staging").status is StackStatus.FAILED
    assert detail.stack("analytics-prod").status is StackStatus.SKIPPED
    assert detail.stack("payments-prod").status is StackStatus.SKIPPED
    assert "analytics-prod" not in log.read_text()
    assert "search-staging: alloy chart failed to install" in result.stdout


def test_a_second_overlapping_rollout_refuses_at_once_naming_the_holder(
    inventory: Path, redis_server: RedisServer, fleet_workers: Workers, tmp_path: Path
) -> None:
    script = write_script(tmp_path / "script.json", default={"duration": 2})
    env = fleet_env(inventory, script, redis_server.url)
    fleet_workers.start(env, concurrency=2)
    first = start_fleet(env, tmp_path / "first.log", "rollout", "--all", "--yes")
    try:
        detail = wait_for(lambda: _detail(inventory), "the first rollout to be recorded")
        second = run_fleet(env, "rollout", "payments-prod", "--yes")
        assert (
            wait_for(lambda: first.poll() is not None, "the first rollout to finish", timeout=120) is not None
        )
    finally:
        stop_process(first)

    assert second.returncode == 1
    assert re.search(rf"payments-prod locked by rollout {detail.rollout.id} \(", second.stderr), second.stderr
    assert first.returncode == 0, (tmp_path / "first.log").read_text()
    with Journal(journal_url_for(inventory)) as journal:
        assert len(journal.list_rollouts()) == 1  # the refused one left no record


def _most_at_once(log: Path) -> int:
    """The most stacks the engine ran at the same moment: its log's lines are appended in the
    order things happened, each ``start`` after its claim and each ``end`` before its finish."""
    most = running = 0
    for line in log.read_text(encoding="utf-8").splitlines():
        running += {"start": 1, "end": -1}[line.split()[0]]
        most = max(most, running)
    return most


def test_jobs_queue_ahead_of_free_slots_and_the_claim_holds_max_parallel(
    inventory: Path, redis_server: RedisServer, fleet_workers: Workers, tmp_path: Path
) -> None:
    names = add_workloads(inventory, 8)
    log = tmp_path / "runs.log"
    script = write_script(tmp_path / "script.json", log=str(log), default={"duration": 0.5})
    env = fleet_env(inventory, script, redis_server.url)
    fleet_workers.start(env, concurrency=4)  # twice max_parallel: queued jobs find idle processes

    result = run_fleet(
        env, "rollout", *names, "--yes", "--canary", "0", "--wave-size", "100%", "--max-parallel", "2"
    )

    assert result.returncode == 0, result.stdout + result.stderr
    detail = _detail(inventory)
    assert detail is not None
    _assert_each_stack_succeeded_exactly_once(detail)
    assert _most_at_once(log) == 2


def test_a_job_queued_behind_a_failure_does_not_start_past_the_failure_budget(
    inventory: Path, redis_server: RedisServer, fleet_workers: Workers, tmp_path: Path
) -> None:
    names = add_workloads(inventory, 4)
    log = tmp_path / "runs.log"
    script = write_script(
        tmp_path / "script.json",
        log=str(log),
        default={"duration": 0.3},
        stacks={"extra-01": {"fail": "alloy chart failed to install"}},
    )
    env = fleet_env(inventory, script, redis_server.url)
    fleet_workers.start(env, concurrency=1)  # extra-02 waits in the queue right behind extra-01

    result = run_fleet(
        env,
        "rollout",
        *names,
        "--yes",
        "--canary",
        "0",
        "--wave-size",
        "100%",
        "--max-parallel",
        "1",
        "--failure-budget",
        "0",
    )

    assert result.returncode == 1, result.stdout + result.stderr
    detail = _detail(inventory)
    assert detail is not None
    assert detail.rollout.status is RolloutStatus.HALTED
    assert detail.stack("extra-01").status is StackStatus.FAILED
    for name in names[1:]:
        assert detail.stack(name).status is StackStatus.SKIPPED, name
        assert detail.stack(name).attempts == (), name
    started = [
        line.split()[1] for line in log.read_text(encoding="utf-8").splitlines() if line.startswith("start")
    ]
    assert "extra-01" in started and not set(started) & set(names[1:])
