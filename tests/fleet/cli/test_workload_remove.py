"""Offboarding (``fleet workload remove``) through real ``fleet worker`` processes: a crash after
the destroy resumes and completes; status forgets the workload, history keeps the record."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

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

from fleet.inventory.loader import load_inventory
from fleet.journal import Journal, RolloutKind, RolloutStatus, StackStatus, journal_url_for
from fleet.rollout.fingerprint import fingerprint


def test_an_offboarding_killed_after_the_destroy_resumes_and_completes(
    inventory: Path, redis_server: RedisServer, fleet_workers: Workers, tmp_path: Path
) -> None:
    log = tmp_path / "runs.log"
    script = write_script(tmp_path / "script.json", log=str(log))
    env = fleet_env(inventory, script, redis_server.url)
    fleet_workers.start(env, concurrency=2)
    assert run_fleet(env, "rollout", "--all", "--yes").returncode == 0
    expected = fingerprint(load_inventory(inventory), "controlroom")  # with payments-prod
    write_script(script, log=str(log), stacks={"controlroom": {"duration": 6}})
    work = inventory / ".fleet" / "work"
    for stack in ("payments-prod", "analytics-prod"):  # what the Pulumi engine leaves there
        (work / stack).mkdir(parents=True)
        (work / stack / "Pulumi.yaml").write_text("name: fleet-example\nruntime: python\n")

    cli = start_fleet(env, tmp_path / "cli.log", "workload", "remove", "payments-prod", "--yes")
    try:
        wait_for(
            lambda: "start controlroom" in log.read_text().partition("destroy")[2],
            "the control room to start",
        )
        os.kill(cli.pid, signal.SIGKILL)  # the coordinator dies after the destroy
        cli.wait(30)
    finally:
        stop_process(cli)
    output = (tmp_path / "cli.log").read_text()
    rollout_id = re.search(r"\b(r-\d{8}-\d{4}-[0-9a-f]{4})\b", output).group(1)  # type: ignore[union-attr]
    assert "end payments-prod" in log.read_text()
    assert (inventory / "workloads" / "payments-prod.yaml").exists()  # not half-removed
    assert (work / "payments-prod" / "Pulumi.yaml").exists()
    refused = run_fleet(env, "rollout", "payments-prod", "--yes")
    assert refused.returncode == 2 and f"being offboarded (rollout {rollout_id})" in refused.stderr

    write_script(script, log=str(log))
    resumed = run_fleet(env, "workload", "remove", "payments-prod", "--yes")

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"Continuing the offboarding of payments-prod (rollout {rollout_id})" in resumed.stdout
    assert not (inventory / "workloads" / "payments-prod.yaml").exists()
    assert sorted(path.name for path in work.iterdir()) == ["analytics-prod"]  # its work dir went too
    runs = [line.split() for line in log.read_text().splitlines() if line.startswith("start ")]
    assert [(run[1], run[3]) for run in runs if run[1] == "payments-prod"][-1] == ("payments-prod", "destroy")
    assert sum(1 for run in runs if run[1] == "payments-prod" and run[3] == "destroy") == 1  # never again
    with Journal(journal_url_for(inventory)) as journal:
        detail = journal.get_rollout(rollout_id)
        assert detail.rollout.kind is RolloutKind.OFFBOARD
        assert detail.rollout.status is RolloutStatus.SUCCEEDED
        assert {state.stack: state.status for state in detail.stacks} == {
            "payments-prod": StackStatus.SUCCEEDED,
            "controlroom": StackStatus.SUCCEEDED,
        }
        recorded = journal.deployed_fingerprints(["controlroom"])["controlroom"]
    # The control room was rolled out without the workload: what it now is, once the file went.
    assert recorded == fingerprint(load_inventory(inventory), "controlroom") != expected

    status = {row["stack"] for row in json.loads(run_fleet(env, "status", "-o", "json").stdout)}
    assert status == {"controlroom", "analytics-prod", "search-staging"}
    history = json.loads(run_fleet(env, "history", "-o", "json").stdout)
    assert history[0]["id"] == rollout_id and history[0]["status"] == "succeeded"


def test_a_dry_run_lists_every_resource_to_delete_and_changes_nothing(
    inventory: Path, tmp_path: Path
) -> None:
    env = fleet_env(inventory, write_script(tmp_path / "script.json"), None)

    result = run_fleet(env, "workload", "remove", "payments-prod", "--dry-run")

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    count = int(re.match(r"payments-prod: (\d+) to delete", lines[0]).group(1))  # type: ignore[union-attr]
    deletions = [line for line in lines if line.startswith("  - delete ")]
    assert count == len(deletions) > 5
    assert any("kubernetes:helm.sh/v4:Chart" in line for line in deletions)
    assert (inventory / "workloads" / "payments-prod.yaml").exists()
    assert not (inventory / ".fleet").exists()  # nothing recorded, no plan written


def test_without_a_terminal_remove_needs_yes(inventory: Path, tmp_path: Path) -> None:
    env = fleet_env(inventory, write_script(tmp_path / "script.json"), None)

    result = run_fleet(env, "workload", "remove", "payments-prod")

    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == "error: workload remove payments-prod: not on a terminal; pass --yes to remove it"
    )
    assert (inventory / "workloads" / "payments-prod.yaml").exists()
