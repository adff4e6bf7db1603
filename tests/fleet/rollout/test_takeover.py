"""When a rollout's CLI dies: real `fleet` CLIs, real workers (Celery over a real redis-server, and
the local process pool), the scripted engine.

The oracle is what ran: the scripted engine's log of every run (``start``/``end`` per stack and
process) and the journal's attempts. A stack is never run by two rollouts at once, whatever dies;
the rollout whose CLI died is marked interrupted, a cancel of it completes, and watching it says
that nobody drives it; a coordinator cut off past the lock TTL stops, and frees nothing of the
process that took its locks over.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fleet_services import (
    RedisServer,
    Workers,
    fleet_env,
    run_fleet,
    start_fleet,
    stop_process,
    wait_for,
    write_script,
)

from fleet.journal import Journal, RolloutDetail, RolloutStatus, StackStatus, journal_url_for
from fleet.journal.locks import StackLocks

ROLLOUT = ("rollout", "--all", "--yes", "--canary", "0", "--wave-size", "100%")


def _rollout_id(output: str) -> str:
    match = re.search(r"\b(r-\d{8}-\d{4}-[0-9a-f]{4})\b", output)
    assert match, output
    return match.group(1)


def _detail(inventory: Path, rollout_id: str) -> RolloutDetail:
    with Journal(journal_url_for(inventory)) as journal:
        return journal.get_rollout(rollout_id)


def _running(pids: Path) -> list[str]:
    return [path.name for path in pids.iterdir()] if pids.exists() else []


def _assert_one_run_at_a_time(log: Path) -> dict[str, int]:
    """Each stack's runs, from the engine's own log, never overlap; returns the runs per stack."""
    open_runs: dict[str, str] = {}
    runs: dict[str, int] = {}
    for line in log.read_text().splitlines():
        event, stack, pid, _ = line.split(" ", 3)
        if event == "start":
            assert stack not in open_runs, f"{stack} started in {pid} while {open_runs[stack]} runs it"
            open_runs[stack] = pid
            runs[stack] = runs.get(stack, 0) + 1
        else:
            assert open_runs.pop(stack) == pid, line
    assert not open_runs, f"runs never ended: {open_runs}"
    return runs


def _assert_attempts_never_overlap(*details: RolloutDetail) -> None:
    """Across rollouts, each stack's attempts (by the journal's clock) follow one another."""
    stacks = {state.stack for detail in details for state in detail.stacks}
    for stack in stacks:
        attempts = sorted(
            (
                attempt
                for detail in details
                for state in detail.stacks
                if state.stack == stack
                for attempt in state.attempts
            ),
            key=lambda attempt: attempt.started_at,
        )
        for earlier, later in itertools.pairwise(attempts):
            assert earlier.finished_at is not None and earlier.finished_at <= later.started_at, (
                stack,
                earlier,
                later,
            )


@pytest.fixture(params=["celery", "local"])
def executor_env(
    request: pytest.FixtureRequest, inventory: Path, tmp_path: Path
) -> Iterator[tuple[str, dict[str, str], Path, Path]]:
    """The executor's name and the environment of a CLI using it, with 2-second stacks; the
    engine's log and pid directory."""
    log, pids = tmp_path / "runs.log", tmp_path / "pids"
    script = write_script(tmp_path / "script.json", log=str(log), pid_dir=str(pids), default={"duration": 2})
    if request.param == "local":
        yield "local", fleet_env(inventory, script, None, FLEET_WORKERS="4"), log, pids
        return
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    workers = Workers(tmp_path)
    try:
        env = fleet_env(inventory, script, redis.url)
        workers.start(env, concurrency=4)
        yield "celery", env, log, pids
    finally:
        workers.stop_all()
        redis.stop()


def _kill_mid_wave(env: dict[str, str], pids: Path, output: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start a rollout, SIGKILL its CLI while two or more stacks run; its process and id."""
    cli = start_fleet(env, output, *ROLLOUT)
    wait_for(lambda: len(_running(pids)) >= 2 or cli.poll() is not None, "two stacks to run at once")
    assert cli.poll() is None, output.read_text()
    os.kill(cli.pid, signal.SIGKILL)  # the CLI alone: its workers (a pool's processes too) go on
    cli.wait(30)
    return cli, _rollout_id(output.read_text())


def _watch_then_cancel_nobody_drives(env: dict[str, str], rollout_id: str) -> None:
    history = run_fleet(env, "history", "--output", "json", timeout=60)
    assert history.returncode == 0, history.stdout + history.stderr
    (row,) = [row for row in json.loads(history.stdout) if row["id"] == rollout_id]
    assert (row["status"], row["driven"]) == ("running", False)
    assert row["reason"].startswith("nobody drives it: its coordinator (")
    watch = run_fleet(env, "rollout", "watch", rollout_id, timeout=60)
    assert watch.returncode == 1, watch.stdout + watch.stderr
    assert f"Nobody drives rollout {rollout_id}: its coordinator (" in watch.stderr
    assert f"fleet rollout resume {rollout_id}" in watch.stderr
    cancel = run_fleet(env, "rollout", "cancel", rollout_id, timeout=60)
    assert cancel.returncode == 0, cancel.stdout + cancel.stderr
    assert f"Rollout {rollout_id} cancelled (nobody drove it:" in cancel.stdout


def test_a_second_rollout_after_the_first_cli_was_killed_never_runs_a_stack_at_the_same_time(
    executor_env: tuple[str, dict[str, str], Path, Path], inventory: Path, tmp_path: Path
) -> None:
    executor, env, log, pids = executor_env
    first_cli, first = _kill_mid_wave(env, pids, tmp_path / "first.log")
    try:
        if executor == "local":  # nobody drives the first rollout: watch says so, a cancel completes
            _watch_then_cancel_nobody_drives(env, first)
        second = run_fleet(env, *ROLLOUT)
    finally:
        stop_process(first_cli)  # its orphaned pool processes, by its process group

    assert second.returncode == 0, second.stdout + second.stderr
    second_id = _rollout_id(second.stdout)
    before, after = _detail(inventory, first), _detail(inventory, second_id)
    runs = _assert_one_run_at_a_time(log)
    assert sum(runs.values()) >= len(after.stacks) + 2  # the first rollout's, and the second's
    _assert_attempts_never_overlap(before, after)
    assert after.rollout.status is RolloutStatus.SUCCEEDED
    assert all(state.status is StackStatus.SUCCEEDED for state in after.stacks)
    if executor == "local":
        assert before.rollout.status is RolloutStatus.CANCELLED
        assert StackStatus.PENDING not in {state.status for state in before.stacks}
        return
    # The second rollout took the locks over: the first is marked interrupted, and resumable.
    assert before.rollout.status is RolloutStatus.HALTED
    reason = before.rollout.halt_reason
    assert reason is not None and reason.startswith("interrupted: its coordinator (")
    assert f"rollout {second_id} took over its stack locks" in reason


def test_a_coordinator_cut_off_past_the_ttl_stops_and_never_frees_the_locks_of_its_successor(
    inventory: Path, tmp_path: Path
) -> None:
    log, pids = tmp_path / "runs.log", tmp_path / "pids"
    script = write_script(tmp_path / "script.json", log=str(log), pid_dir=str(pids), default={"duration": 4})
    env = fleet_env(inventory, script, None, FLEET_WORKERS="4")  # FLEET_LOCK_TTL=5
    first = start_fleet(env, tmp_path / "first.log", *ROLLOUT)
    second: subprocess.Popen[bytes] | None = None
    try:
        wait_for(lambda: _running(pids), "a stack to run")
        rollout_id = _rollout_id((tmp_path / "first.log").read_text())
        os.kill(first.pid, signal.SIGSTOP)  # cut off: it renews nothing for longer than the TTL
        with Journal(journal_url_for(inventory)) as journal:
            locks = StackLocks(journal, ttl=timedelta(seconds=5))
            wait_for(lambda: not locks.driver(rollout_id).alive, "its locks to go stale", every=0.2)
            second = start_fleet(env, tmp_path / "second.log", "rollout", "resume", rollout_id)
            holder = wait_for(lambda: locks.driver(rollout_id).holder, "the resume to take the locks")
            assert holder.pid == second.pid
        os.kill(first.pid, signal.SIGCONT)
        wait_for(lambda: first.poll() is not None, "the first coordinator to stop")
        wait_for(lambda: second.poll() is not None, "the resume to finish")  # type: ignore[union-attr]
        assert first.returncode == 1
        assert second.returncode == 0, (tmp_path / "second.log").read_text()
    finally:
        stop_process(first)
        if second is not None:
            stop_process(second)

    assert "another process took over" in (tmp_path / "first.log").read_text()
    assert _detail(inventory, rollout_id).rollout.status is RolloutStatus.SUCCEEDED
    _assert_one_run_at_a_time(log)
