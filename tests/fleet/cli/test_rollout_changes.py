"""Change-aware rollouts as a user sees them: unchanged stacks are skipped (and the plan says
why), ``--force`` runs them, a changed field is named in the plan."""

from __future__ import annotations

import json
from pathlib import Path

from fleet_services import RedisServer, Workers, fleet_env, run_fleet, write_script


def _starts(log: Path) -> list[str]:
    return [line.split()[1] for line in log.read_text().splitlines() if line.startswith("start ")]


def test_only_changed_stacks_run_through_real_workers(
    inventory: Path, redis_server: RedisServer, fleet_workers: Workers, tmp_path: Path
) -> None:
    log = tmp_path / "runs.log"
    env = fleet_env(inventory, write_script(tmp_path / "script.json", log=str(log)), redis_server.url)
    fleet_workers.start(env, concurrency=2)
    first = run_fleet(env, "rollout", "--all", "--yes")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "analytics-prod, payments-prod, search-staging: never deployed" in first.stdout
    assert len(_starts(log)) == 4

    again = run_fleet(env, "rollout", "--all", "--yes")

    assert again.returncode == 0, again.stdout + again.stderr
    assert "Nothing to do: 4 selected stacks unchanged since the last successful deploy" in again.stdout
    assert "skipped (--force runs them): controlroom, analytics-prod, payments-prod, search-staging" in (
        again.stdout
    )
    assert len(_starts(log)) == 4  # no stack ran
    assert len(json.loads(run_fleet(env, "history", "-o", "json").stdout)) == 1  # nothing recorded

    forced = run_fleet(env, "rollout", "--all", "--yes", "--force")

    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert "unchanged, run with --force" in forced.stdout
    assert sorted(_starts(log)[4:]) == ["analytics-prod", "controlroom", "payments-prod", "search-staging"]

    path = inventory / "workloads" / "payments-prod.yaml"
    path.write_text(path.read_text().replace("replicas: 3", "replicas: 4"))
    changed = run_fleet(env, "rollout", "--all", "--yes")

    assert changed.returncode == 0, changed.stdout + changed.stderr
    assert "payments-prod: changed: workload.spec.mimir.replicas" in changed.stdout
    assert "skipped (--force runs them): controlroom, analytics-prod, search-staging" in changed.stdout
    assert _starts(log)[8:] == ["payments-prod"]


def test_preview_shows_the_resources_per_stack_and_records_nothing(inventory: Path, tmp_path: Path) -> None:
    env = fleet_env(inventory, write_script(tmp_path / "script.json"), None)

    result = run_fleet(env, "rollout", "payments-prod", "--dry-run", "--preview")

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("payments-prod: ") and line.endswith(" to create") for line in lines)
    assert any(line.startswith("  + create kubernetes:helm.sh/v4:Chart ") for line in lines)
    assert json.loads(run_fleet(env, "history", "-o", "json").stdout) == []


def test_preview_for_scripts_is_one_document_on_stdout(inventory: Path, tmp_path: Path) -> None:
    # -o json printed the preview's text lines on stdout, which no script could parse.
    env = fleet_env(inventory, write_script(tmp_path / "script.json"), None)

    result = run_fleet(env, "rollout", "payments-prod", "--dry-run", "--preview", "-o", "json")

    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(result.stdout)
    assert document["preview"] is True
    by_stack = {stack["stack"]: stack for stack in document["stacks"]}
    assert set(by_stack) == {"controlroom", "payments-prod"}
    assert by_stack["payments-prod"]["error"] is None
    assert any(
        name.startswith("kubernetes:helm.sh/v4:Chart ") for name in by_stack["payments-prod"]["create"]
    )
    assert "Rollout plan:" in result.stderr
