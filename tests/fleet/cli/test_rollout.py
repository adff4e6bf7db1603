"""The rollout commands as a user runs them: plan, run, status, history, cancel, resume, detach."""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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


def set_webhook(inventory: Path, url: str) -> None:
    with (inventory / "fleet.yaml").open("a") as handle:
        handle.write(f"  notifications: {{webhook: {url}}}\n")


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
    assert "Nothing to do: 1 selected stack unchanged" in again.stdout  # nothing changed: nothing runs


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


def test_a_dry_run_renders_and_never_counts_as_deployed(
    inventory: Path, tmp_path: Path, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLEET_")}
    env.update(FLEET_INVENTORY=str(inventory), FLEET_WORKERS="2", FLEET_LOCK_TTL="5")
    set_webhook(inventory, webhook[0])

    result = run_fleet(env, "rollout", "payments-prod", "search-staging", "--dry-run", "--yes")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "dry run (render engine)" in result.stdout
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr, result.stderr
    rollout_id = _rollout_id(result.stdout)
    assert (inventory / ".fleet" / "render" / "payments-prod" / "plan.json").exists()
    rows = {row["stack"]: row for row in json.loads(run_fleet(env, "status", "--output", "json").stdout)}
    assert {row["result"] for row in rows.values()} == {"never deployed"}
    assert {row["versions"] is None for row in rows.values()} == {True}
    assert rows["payments-prod"]["last_dry_run"]["rollout"] == rollout_id
    assert rows["payments-prod"]["last_dry_run"]["result"] == "succeeded"
    assert rows["analytics-prod"]["last_dry_run"] is None  # not part of that dry run
    table = run_fleet(env, "status").stdout
    assert re.search(rf"payments-prod\s+never deployed\s+{rollout_id} succeeded \(not deployed\)", table)
    assert "versions deployed" not in table  # nothing was deployed: no empty column for it
    [entry] = json.loads(run_fleet(env, "history", "--output", "json").stdout)
    assert entry["dry_run"] is True and entry["status"] == "succeeded"
    # A plain rollout notifies the webhook too.
    assert [(m["event"], m["kind"], m["dry_run"]) for m in webhook[1]] == [("finished", "rollout", True)]

    # Its renders are the baseline `fleet drift --dry-run` compares with (redacted, as recorded).
    with Journal(journal_url_for(inventory)) as journal:
        recorded = journal.last_render("payments-prod")
    assert recorded is not None and recorded.rollout_id == rollout_id
    plan_file = inventory / ".fleet" / "render" / "payments-prod" / "plan.json"
    assert json.loads(recorded.plan) == json.loads(plan_file.read_text())
    assert '"[secret]"' in recorded.plan  # the credential is redacted in what the journal keeps
    drift = run_fleet(env, "drift", "payments-prod", "search-staging", "--offline")
    assert drift.returncode == 0, drift.stdout + drift.stderr
    assert drift.stdout.splitlines() == [
        "payments-prod: no drift",
        "search-staging: no drift",
        "checked 2 stacks (offline): 0 drifted, 0 could not be checked",
    ]


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
    # The control room runs long enough for the cancel to land while it runs, even on a loaded
    # machine (starting `fleet rollout cancel` took over 3 s at a load average of 12).
    script = write_script(
        tmp_path / "script.json",
        log=str(log),
        default={"duration": 3},
        stacks={"controlroom": {"duration": 15}},
    )
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
    # stdin a terminal, stdout piped: the question goes to stderr, never into the pipe.
    env = _local_env(inventory, write_script(tmp_path / "script.json"))
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            [*fleet_command(), "rollout", "--all"],
            env=env,
            stdin=terminal,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.write(controller, b"n\n")
        output, errors = process.communicate(timeout=120)
    finally:
        os.close(controller)
        os.close(terminal)

    assert process.returncode == 1
    assert "Rollout plan: 4 stacks" in output
    assert "Start this rollout?" not in output
    assert "Start this rollout? [y/N]" in errors
    assert errors.rstrip().endswith("Cancelled; nothing was changed.")
    with Journal(journal_url_for(inventory)) as journal:
        assert journal.list_rollouts() == []


# -- upgrades through `fleet rollout resume` and the detached coordinator --------------------------


def test_a_halted_upgrade_resumed_in_the_background_keeps_its_gates_and_webhook(
    inventory: Path, tmp_path: Path, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    with (inventory / "fleet.yaml").open("a") as handle:
        handle.write("  health: {enabled: false}\n")
    set_webhook(inventory, webhook[0])
    script = tmp_path / "script.json"
    write_script(script, stacks={"payments-prod": {"fail": "mimir chart timed out"}})
    env = _local_env(inventory, script, FLEET_WORKERS="2")

    first = run_fleet(env, "upgrade", "run", "--stacks", "search-staging,payments-prod")
    assert first.returncode == 1, first.stdout + first.stderr
    rollout_id = _rollout_id(first.stdout)
    write_script(script, default={"duration": 0.1})  # the chart is fixed

    resumed = run_fleet(env, "rollout", "resume", rollout_id, "--detach")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    watch = run_fleet(env, "rollout", "watch", rollout_id)

    assert watch.returncode == 0, watch.stdout + watch.stderr
    assert "  gate after wave 1: skipped: health gates are disabled" in watch.stdout
    with Journal(journal_url_for(inventory)) as journal:
        detail = journal.get_rollout(rollout_id)
    assert detail.rollout.kind.value == "upgrade"
    assert [wave.gate is not None and wave.gate.passed for wave in detail.waves] == [True, True]
    assert [(m["event"], m["kind"]) for m in webhook[1]] == [
        ("halted", "upgrade"),
        ("finished", "upgrade"),
    ]


def test_a_scheduled_upgrade_resumed_by_hand_still_waits_for_its_window(
    inventory: Path, tmp_path: Path
) -> None:
    closed_hour = (datetime.now(UTC) + timedelta(hours=12)).hour  # a daily 1h window, half a day away
    fleet_yaml = inventory / "fleet.yaml"
    text = fleet_yaml.read_text().replace(
        'schedule: "0 3 * * SAT", window: "4h"', f'schedule: "0 {closed_hour} * * *", window: "1h"'
    )
    fleet_yaml.write_text(text + "  health: {enabled: false}\n")
    log = tmp_path / "runs.log"
    env = _local_env(inventory, write_script(tmp_path / "script.json", log=str(log)))

    scheduled = run_fleet(env, "upgrade", "run", "--scheduled", "--stacks", "search-staging")
    assert scheduled.returncode == 3, scheduled.stdout + scheduled.stderr  # paused
    rollout_id = _rollout_id(scheduled.stdout)
    resumed = run_fleet(env, "rollout", "resume", rollout_id)

    assert resumed.returncode == 3, resumed.stdout + resumed.stderr  # paused again, the same way
    assert f"rollout {rollout_id} paused" in resumed.stdout
    assert "reason: maintenance window closed before canary" in resumed.stdout
    with Journal(journal_url_for(inventory)) as journal:
        rollout = journal.rollout(rollout_id)
    assert (rollout.status, rollout.started_by) == (RolloutStatus.PAUSED, "fleet beat")
    assert not log.exists()  # no stack ran outside the window


def test_python_dash_m_fleet_runs_the_cli(inventory: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLEET_")}
    result = subprocess.run(
        [sys.executable, "-m", "fleet", "-i", str(inventory), "validate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == run_fleet(env, "-i", str(inventory), "validate").stdout


def test_the_worker_consumes_the_beat_queue_and_knows_the_tick(
    inventory: Path, redis_server: RedisServer, fleet_workers: Workers, tmp_path: Path
) -> None:
    from fleet.executors.celery_app import BEAT_QUEUE, DEFAULT_QUEUE, TICK_TASK, create_app
    from fleet.settings import Settings

    app = create_app(Settings(broker_url=redis_server.url))
    try:
        app.send_task(TICK_TASK, args=[str(inventory)])
    finally:
        app.close()
    client = redis_server.client()
    assert (client.llen(BEAT_QUEUE), client.llen(DEFAULT_QUEUE)) == (1, 0)  # not behind stack jobs

    fleet_workers.start(fleet_env(inventory, write_script(tmp_path / "script.json"), redis_server.url))

    wait_for(lambda: "fleet beat tick:" in fleet_workers.log("w1"), "the worker to run the tick")
    assert client.llen(BEAT_QUEUE) == 0
    assert "unregistered" not in fleet_workers.log("w1").lower()


def test_a_worker_crash_is_one_line_on_stderr_and_verbose_adds_the_traceback(
    inventory: Path, tmp_path: Path
) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"default": {"duration": "abc"}}))  # the engine cannot even start
    env = _local_env(inventory, script, FLEET_WORKERS="1")

    quiet = run_fleet(env, "rollout", "search-staging", "--yes")
    verbose = run_fleet(env, "-vv", "rollout", "resume", _rollout_id(quiet.stdout))

    assert quiet.returncode == 1
    crash = "error: stack controlroom crashed (ValueError: could not convert string to float: 'abc')"
    assert quiet.stderr.splitlines() == [crash]
    assert "Traceback (most recent call last):" in verbose.stderr
    assert "info: rollout r-" in verbose.stderr  # -vv: fleet's own info and debug lines too


def test_a_bad_log_level_is_a_user_error(inventory: Path, tmp_path: Path) -> None:
    env = _local_env(inventory, write_script(tmp_path / "script.json"), FLEET_LOG_LEVEL="loud")
    result = run_fleet(env, "status")
    assert result.returncode == 2
    assert result.stderr.startswith("error: FLEET_LOG_LEVEL: log level 'loud': use one of DEBUG")


def test_ctrl_c_lets_the_running_stack_finish_and_records_it(inventory: Path, tmp_path: Path) -> None:
    """Ctrl-C reaches the whole foreground process group, the local pool's workers included: they
    must leave it to the CLI, finish their stack and record it, so the rollout resumes at once."""
    log = tmp_path / "runs.log"
    script = write_script(
        tmp_path / "script.json",
        log=str(log),
        default={"duration": 0.2},
        stacks={"controlroom": {"duration": 4}},
    )
    env = _local_env(inventory, script, FLEET_WORKERS="1")
    cli = start_fleet(env, tmp_path / "cli.log", "rollout", "--all", "--yes")
    try:
        wait_for(lambda: log.exists() and "start controlroom" in log.read_text(), "the control room to start")
        os.killpg(cli.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        wait_for(lambda: cli.poll() is not None, "the CLI to stop")
    finally:
        stop_process(cli)

    output = (tmp_path / "cli.log").read_text()
    assert cli.returncode == 130, output
    assert "Traceback" not in output
    assert "end controlroom" in log.read_text()  # the stack ran to its end, not killed
    rollout_id = _rollout_id(output)
    with Journal(journal_url_for(inventory)) as journal:
        detail = journal.get_rollout(rollout_id)
    assert detail.stack("controlroom").status is StackStatus.SUCCEEDED
    assert "start search-staging" not in log.read_text()  # nothing new started

    resumed = run_fleet(env, "rollout", "resume", rollout_id)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    with Journal(journal_url_for(inventory)) as journal:
        after = journal.get_rollout(rollout_id)
    assert after.rollout.status is RolloutStatus.SUCCEEDED
    assert len(after.stack("controlroom").attempts) == 1


def _children(pid: int) -> list[int]:
    """The pids whose parent is ``pid`` (Linux's /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _pool_workers(cli: int) -> list[int]:
    """The local pool's workers of the CLI ``cli``: they are forked by its forkserver, a child."""
    return [worker for child in _children(cli) for worker in _children(child)]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_killed_cli_s_workers_finish_their_stack_then_exit(inventory: Path, tmp_path: Path) -> None:
    """A CLI killed outright leaves its local workers behind: each finishes (and records) the
    stack it runs, then exits instead of waiting forever for work nobody will send."""
    log = tmp_path / "runs.log"
    script = write_script(
        tmp_path / "script.json",
        log=str(log),
        default={"duration": 0.2},
        stacks={"controlroom": {"duration": 3}},
    )
    env = _local_env(inventory, script, FLEET_WORKERS="2")
    cli = start_fleet(env, tmp_path / "cli.log", "rollout", "--all", "--yes")
    try:
        wait_for(lambda: log.exists() and "start controlroom" in log.read_text(), "the control room to start")
        workers = wait_for(
            lambda: _pool_workers(cli.pid), "the pool's worker (started when a job is submitted)"
        )
        os.kill(cli.pid, signal.SIGKILL)
        cli.wait(30)
    finally:
        stop_process(cli)
    try:
        wait_for(lambda: "end controlroom" in log.read_text(), "the running stack to finish")
        wait_for(lambda: not any(_alive(pid) for pid in workers), "the orphaned workers to exit", timeout=30)
    finally:
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
    rollout_id = _rollout_id((tmp_path / "cli.log").read_text())
    with Journal(journal_url_for(inventory)) as journal:
        assert journal.get_rollout(rollout_id).stack("controlroom").status is StackStatus.SUCCEEDED


def test_a_killed_cli_s_worker_starts_none_of_the_stacks_queued_for_it(
    inventory: Path, tmp_path: Path
) -> None:
    """The pool holds jobs queued behind the running ones (the look-ahead). Once its CLI is
    gone, nobody drives the rollout nor waits for a result: the worker finishes the stack it
    runs and exits, leaving the queued stacks pending for a resume."""
    log = tmp_path / "runs.log"
    script = write_script(
        tmp_path / "script.json",
        log=str(log),
        default={"duration": 2},
        stacks={"controlroom": {"duration": 0.1}},
    )
    env = _local_env(inventory, script, FLEET_WORKERS="1")
    args = ("rollout", "--all", "--yes", "--canary", "0", "--wave-size", "100%", "--max-parallel", "1")
    cli = start_fleet(env, tmp_path / "cli.log", *args)
    try:
        started = wait_for(
            lambda: (
                log.exists()
                and [
                    line.split()
                    for line in log.read_text().splitlines()
                    if line.startswith("start ") and not line.startswith("start controlroom")
                ]
            ),
            "a workload to start",
        )
        _event, stack, worker = started[0][:3]
        os.kill(cli.pid, signal.SIGKILL)
        cli.wait(30)
    finally:
        stop_process(cli)
    try:
        wait_for(lambda: not _alive(int(worker)), "the orphaned worker to exit", timeout=30)
    finally:
        if _alive(int(worker)):
            os.kill(int(worker), signal.SIGKILL)
    lines = log.read_text().splitlines()
    assert f"end {stack} {worker} ok" in lines  # it finished the stack it ran
    assert [line for line in lines if line.startswith("start ")] == [
        line for line in lines if line.startswith(("start controlroom", f"start {stack}"))
    ]  # and started nothing else, though the next stack was queued for it
    rollout_id = _rollout_id((tmp_path / "cli.log").read_text())
    with Journal(journal_url_for(inventory)) as journal:
        detail = journal.get_rollout(rollout_id)
    assert detail.stack(stack).status is StackStatus.SUCCEEDED
    assert [state.status for state in detail.stacks if state.stack not in ("controlroom", stack)] == [
        StackStatus.PENDING
    ] * (len(detail.stacks) - 2)


def test_watch_of_a_rollout_that_ends_as_it_looks_reports_the_end_not_an_abandoned_rollout(
    inventory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The coordinator records the end, then lets go of its locks. Here it does both while watch
    # asks who drives the rollout: watch must report the end (exit 0), not "nobody drives it".
    from journals import running_rollout
    from typer.testing import CliRunner

    from fleet.cli.main import app
    from fleet.journal.locks import Driver, StackLocks

    rollout_id = running_rollout(inventory, ["payments-prod"])

    def coordinator_ends_now(self: StackLocks, rollout: str) -> Driver:
        journal = self.journal
        claim = journal.claim(rollout, "payments-prod", "worker-a")
        assert claim.attempt is not None
        journal.finish(rollout, "payments-prod", claim.attempt, "succeeded")
        journal.set_status(rollout, RolloutStatus.SUCCEEDED)
        return Driver(None, "it holds no locks")

    monkeypatch.setattr(StackLocks, "driver", coordinator_ends_now)
    result = CliRunner().invoke(app, ["-i", str(inventory), "rollout", "watch", rollout_id, "-o", "json"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "succeeded"
    assert "Nobody drives" not in result.output
