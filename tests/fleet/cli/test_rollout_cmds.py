"""The rollout commands as a user runs them: plan, run, status, history, cancel, resume, detach."""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
from pathlib import Path

import pytest
from fleet_services import (
    RedisServer,
    Workers,
    fleet_command,
    fleet_env,
    run_fleet,
    start_fleet,
    stop_process,
    wait_for,
    write_script,
)

from fleet.journal import Journal, Outcome, RolloutStatus, StackStatus, journal_url_for


def _local_env(inventory: Path, script: Path, **extra: str) -> dict[str, str]:
    # No broker: the local process-pool executor.
    return fleet_env(inventory, script, None, **extra)


def _rollout_id(output: str) -> str:
    match = re.search(r"\b(r-\d{8}-\d{4}-[0-9a-f]{4})\b", output)
    assert match, output
    return match.group(1)


def test_a_rollout_shows_its_plan_runs_and_reports_status_and_history(
    inventory: Path, tmp_path: Path
) -> None:
    script = write_script(tmp_path / "script.json", default={"duration": 0.1})
    env = _local_env(inventory, script, FLEET_WORKERS="2")

    result = run_fleet(env, "rollout", "--all", "--yes", "--canary", "1", "--wave-size", "2")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Rollout plan: 4 stacks in 3 waves" in result.stdout
    assert re.search(r"controlroom\s+controlroom\s+\(never deployed\)", result.stdout)
    assert re.search(r"canary\s+search-staging", result.stdout)
    assert re.search(r"wave 1\s+analytics-prod, payments-prod", result.stdout)
    rollout_id = _rollout_id(result.stdout)
    assert f"rollout {rollout_id} succeeded: 4 succeeded" in result.stdout

    status = run_fleet(env, "status", "--output", "json")
    assert status.returncode == 0, status.stderr
    rows = {row["stack"]: row for row in json.loads(status.stdout)}
    assert set(rows) == {"controlroom", "analytics-prod", "payments-prod", "search-staging"}
    assert rows["analytics-prod"]["result"] == "succeeded"
    assert rows["analytics-prod"]["last_rollout"] == rollout_id
    assert rows["analytics-prod"]["versions"]["loki"] == "6.30.1"
    assert rows["payments-prod"]["versions"]["loki"] == "6.46.0"

    history = run_fleet(env, "history", "--output", "json")
    [entry] = json.loads(history.stdout)
    assert entry["id"] == rollout_id and entry["status"] == "succeeded"
    assert [(wave["name"], wave["status"]) for wave in entry["waves"]] == [
        ("controlroom", "succeeded"),
        ("canary", "succeeded"),
        ("wave 1", "succeeded"),
    ]

    again = run_fleet(env, "rollout", "payments-prod", "--yes")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "controlroom" not in again.stdout.split("rollout r-")[0]  # unchanged: not planned again


def test_a_failed_stack_exits_1_and_status_shows_its_error(inventory: Path, tmp_path: Path) -> None:
    script = write_script(
        tmp_path / "script.json", stacks={"payments-prod": {"fail": "mimir chart timed out"}}
    )
    env = _local_env(inventory, script, FLEET_WORKERS="2")

    result = run_fleet(env, "rollout", "payments-prod", "analytics-prod", "--yes", "--failure-budget", "1")

    assert result.returncode == 1
    assert "payments-prod: mimir chart timed out" in result.stdout
    rows = {row["stack"]: row for row in json.loads(run_fleet(env, "status", "-o", "json").stdout)}
    assert rows["payments-prod"]["result"] == "failed"
    assert rows["payments-prod"]["error"] == "mimir chart timed out"
    assert rows["payments-prod"]["versions"] is None
    assert rows["analytics-prod"]["result"] == "succeeded"  # budget 1: the rollout went on
    assert rows["search-staging"]["result"] == "never deployed"


def test_without_the_pulumi_cli_a_real_rollout_stops_before_touching_anything(
    inventory: Path, tmp_path: Path
) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLEET_")}
    env.update(FLEET_INVENTORY=str(inventory), PATH=str(tmp_path / "empty-bin"))

    result = run_fleet(env, "rollout", "--all", "--yes")

    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: the pulumi CLI is not on PATH")
    assert "get.pulumi.com" in line and "--dry-run" in line
    assert not (inventory / ".fleet" / "fleet.db").exists()


def test_a_dry_run_renders_and_never_counts_as_deployed(inventory: Path, tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLEET_")}
    env.update(FLEET_INVENTORY=str(inventory), FLEET_WORKERS="2", FLEET_LOCK_TTL="5")

    result = run_fleet(env, "rollout", "payments-prod", "search-staging", "--dry-run", "--yes")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "dry run (render engine)" in result.stdout
    assert (inventory / ".fleet" / "render" / "payments-prod" / "plan.json").exists()
    rows = json.loads(run_fleet(env, "status", "--output", "json").stdout)
    assert {row["result"] for row in rows} == {"never deployed"}
    [entry] = json.loads(run_fleet(env, "history", "--output", "json").stdout)
    assert entry["dry_run"] is True and entry["status"] == "succeeded"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--wave-size", "0%"], "--wave-size"),
        (["--bake-time", "soon"], "--bake-time"),
        ([], "name the workloads"),
        (["--all", "payments-prod"], "not both"),
        (["nope"], "unknown workload: nope"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    inventory: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    env = _local_env(inventory, write_script(tmp_path / "script.json"))
    if args and args[0].startswith("--") and args[0] != "--all":
        args = ["--all", *args]
    result = run_fleet(env, "rollout", *args, "--yes")
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    with Journal(journal_url_for(inventory)) as journal:
        assert journal.list_rollouts() == []


def test_cancel_lets_running_stacks_finish_and_cancels_the_rest(inventory: Path, tmp_path: Path) -> None:
    log = tmp_path / "runs.log"
    script = write_script(tmp_path / "script.json", log=str(log), default={"duration": 3})
    env = _local_env(inventory, script, FLEET_WORKERS="1")
    cli = start_fleet(env, tmp_path / "cli.log", "rollout", "--all", "--yes", "--max-parallel", "1")
    try:
        wait_for(lambda: log.exists() and "start controlroom" in log.read_text(), "the control room to start")
        rollout_id = _rollout_id((tmp_path / "cli.log").read_text())
        cancel = run_fleet(env, "rollout", "cancel", rollout_id)
        assert cancel.returncode == 0, cancel.stderr
        assert "Cancel requested" in cancel.stdout
        wait_for(lambda: cli.poll() is not None, "the rollout to stop")
    finally:
        stop_process(cli)

    assert cli.returncode == 1
    with Journal(journal_url_for(inventory)) as journal:
        detail = journal.get_rollout(rollout_id)
    assert detail.rollout.status is RolloutStatus.CANCELLED
    assert detail.stack("controlroom").status is StackStatus.SUCCEEDED  # it was running: it finished
    for name in ("search-staging", "analytics-prod", "payments-prod"):
        assert detail.stack(name).status is StackStatus.CANCELLED
    assert "start search-staging" not in log.read_text()


def test_detach_prints_the_id_and_watch_follows_it_to_the_end(inventory: Path, tmp_path: Path) -> None:
    script = write_script(tmp_path / "script.json", default={"duration": 0.2})
    env = _local_env(inventory, script, FLEET_WORKERS="2")

    result = run_fleet(env, "rollout", "--all", "--yes", "--detach")

    assert result.returncode == 0, result.stdout + result.stderr
    rollout_id = _rollout_id(result.stdout.splitlines()[-2])
    assert f"rollout watch {rollout_id}" in result.stdout
    watch = run_fleet(env, "rollout", "watch", rollout_id)
    assert watch.returncode == 0, watch.stdout + watch.stderr
    assert f"rollout {rollout_id} succeeded: 4 succeeded" in watch.stdout


def test_resume_after_the_cli_was_killed_finishes_without_rerunning_finished_stacks(
    inventory: Path, redis_server: RedisServer, fleet_workers: Workers, tmp_path: Path
) -> None:
    log = tmp_path / "runs.log"
    script = write_script(
        tmp_path / "script.json",
        log=str(log),
        default={"duration": 0.3},
        stacks={"analytics-prod": {"duration": 3}},
    )
    env = fleet_env(inventory, script, redis_server.url)
    fleet_workers.start(env, concurrency=2)
    cli = start_fleet(env, tmp_path / "cli.log", "rollout", "--all", "--yes", "--wave-size", "1")
    try:
        wait_for(lambda: log.exists() and "start analytics-prod" in log.read_text(), "wave 1 to start")
        os.kill(cli.pid, signal.SIGKILL)
        cli.wait(30)
    finally:
        stop_process(cli)
    rollout_id = _rollout_id((tmp_path / "cli.log").read_text())
    with Journal(journal_url_for(inventory)) as journal:
        before = journal.get_rollout(rollout_id)
    done_before = {s.stack for s in before.stacks if s.status is StackStatus.SUCCEEDED}
    assert {"controlroom", "search-staging"} <= done_before
    assert before.rollout.status is RolloutStatus.RUNNING  # nobody recorded an end: the CLI died

    resumed = run_fleet(env, "rollout", "resume", rollout_id)

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    with Journal(journal_url_for(inventory)) as journal:
        after = journal.get_rollout(rollout_id)
    assert after.rollout.status is RolloutStatus.SUCCEEDED
    runs = log.read_text().splitlines()
    for state in after.stacks:
        assert state.status is StackStatus.SUCCEEDED
        assert sum(a.outcome is Outcome.SUCCEEDED for a in state.attempts) == 1, state
        assert sum(line.startswith(f"end {state.stack} ") for line in runs) == 1, state.stack
    for name in done_before:
        assert len(after.stack(name).attempts) == 1


def test_on_a_terminal_it_asks_and_no_records_nothing(inventory: Path, tmp_path: Path) -> None:
    env = _local_env(inventory, write_script(tmp_path / "script.json"))
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            [*fleet_command(), "rollout", "--all"], env=env, stdin=terminal, stdout=subprocess.PIPE, text=True
        )
        os.write(controller, b"n\n")
        output, _ = process.communicate(timeout=120)
    finally:
        os.close(controller)
        os.close(terminal)

    assert process.returncode == 1
    assert "Rollout plan: 4 stacks" in output
    assert "Start this rollout?" in output
    with Journal(journal_url_for(inventory)) as journal:
        assert journal.list_rollouts() == []
