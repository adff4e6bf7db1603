"""The upgrade commands as a user runs them, on a copy of the example inventory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from inventories import copy_example
from typer.testing import CliRunner

from fleet.cli.main import app
from fleet.journal import Journal, RolloutKind, RolloutStatus, journal_url_for
from fleet.rollout.waves import Wave

OLD = {"alloy": "1.4.0", "mimir": "6.0.0", "loki": "6.46.0", "grafana": "10.1.4"}
runner = CliRunner()


@pytest.fixture
def inv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    target = tmp_path / "inv"
    copy_example(target)
    for name in ("FLEET_DATABASE_URL", "FLEET_BROKER_URL", "FLEET_ENGINE", "FLEET_INVENTORY"):
        monkeypatch.delenv(name, raising=False)
    return target


def fleet(*args: str | Path, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, [str(a) for a in args], env=env)


def deploy_all(root: Path) -> None:
    """Record every stack as deployed with the example's current versions."""
    with Journal(journal_url_for(root)) as journal:
        stacks = ("controlroom", "analytics-prod", "payments-prod", "search-staging")
        rollout = journal.create_rollout(
            [Wave(0, "all", stacks)], kind="rollout", dry_run=False, policy={}, versions={}
        )
        journal.set_status(rollout.id, "running")
        for stack in stacks:
            claim = journal.claim(rollout.id, stack, worker="test")
            assert claim.attempt is not None
            versions = {**OLD, "loki": "6.30.1"} if stack == "analytics-prod" else OLD
            journal.finish(rollout.id, stack, claim.attempt, "succeeded", versions=versions)
        journal.set_status(rollout.id, "succeeded")


def test_plan_as_json(inv: Path) -> None:
    deploy_all(inv)
    result = fleet("-i", inv, "upgrade", "plan", "--to", "alloy=1.5.0,loki=6.47.0", "-o", "json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    # The control room first: its collector is an Alloy too.
    assert [s["stack"] for s in plan["stacks"]] == [
        "controlroom",
        "analytics-prod",
        "payments-prod",
        "search-staging",
    ]
    assert plan["held"] == [
        {"workload": "analytics-prod", "component": "loki", "pinned": "6.30.1", "fleet": "6.47.0"}
    ]
    assert [w["name"] for w in plan["waves"]] == ["controlroom", "canary", "wave 1", "wave 2"]
    assert plan["window"]["start"].endswith("T03:00:00+00:00")


def test_plan_as_a_table(inv: Path) -> None:
    deploy_all(inv)
    result = fleet("-i", inv, "upgrade", "plan", "--to", "mimir=6.1.0")
    assert result.exit_code == 0, result.output
    assert "version set: mimir 6.0.0 -> 6.1.0" in result.stdout
    rows = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()[2:6]}
    assert rows["controlroom"] == ["mimir", "6.0.0", "->", "6.1.0", "controlroom"]
    assert rows["search-staging"] == ["mimir", "6.0.0", "->", "6.1.0", "canary"]
    assert "held:" not in result.stdout  # the pinned loki does not move


def test_a_bad_version_is_a_user_error(inv: Path) -> None:
    result = fleet("-i", inv, "upgrade", "plan", "--to", "alloy=latest")
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("error: --to alloy: 'latest' is not a chart version")


def test_apply_dry_run_writes_nothing(inv: Path) -> None:
    before = (inv / "fleet.yaml").read_bytes()
    result = fleet("-i", inv, "upgrade", "apply", "--to", "alloy=1.5.0", "--diff")
    assert result.exit_code == 0, result.output
    versions_line = next(
        number
        for number, text in enumerate(before.decode().splitlines(), start=1)
        if text.lstrip().startswith("versions:")
    )
    assert f'fleet.yaml:{versions_line}: + versions: {{alloy: "1.5.0"' in result.stdout
    assert (inv / "fleet.yaml").read_bytes() == before


def test_apply_at_next_window_writes_fleet_yaml_and_leaves_the_rollout_to_the_schedule(inv: Path) -> None:
    before = (inv / "fleet.yaml").read_bytes()
    result = fleet("-i", inv, "upgrade", "apply", "--to", "alloy=1.5.0", "--at", "next-window", "--yes")
    assert result.exit_code == 0, result.output
    assert (inv / "fleet.yaml").read_bytes() == before.replace(b'alloy: "1.4.0"', b'alloy: "1.5.0"')
    assert "The scheduler (fleet beat) upgrades 4 stack(s) in the window" in result.stdout
    with Journal(journal_url_for(inv)) as journal:
        assert journal.list_rollouts() == []


def test_apply_now_runs_an_upgrade_rollout(inv: Path, tmp_path: Path) -> None:
    deploy_all(inv)
    with (inv / "fleet.yaml").open("a") as handle:
        handle.write("  health: {enabled: false}\n")
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"default": {"duration": 0}}))
    env = {"FLEET_ENGINE": "scripted", "FLEET_ENGINE_SCRIPT": str(script), "FLEET_WORKERS": "2"}
    result = fleet("-i", inv, "upgrade", "apply", "--to", "alloy=1.5.0", "--yes", env=env)
    assert result.exit_code == 0, result.output
    assert "  gate after canary: skipped: health gates are disabled" in result.stdout
    with Journal(journal_url_for(inv)) as journal:
        upgrade = journal.list_rollouts(kind=RolloutKind.UPGRADE)[0]
        assert upgrade.rollout.status is RolloutStatus.SUCCEEDED
        assert journal.deployed_versions()["payments-prod"]["alloy"] == "1.5.0"

    versions = fleet("-i", inv, "versions", "-o", "json")
    assert versions.exit_code == 0, versions.output
    states = {(e["stack"], e["component"]): e["state"] for e in json.loads(versions.stdout)}
    assert set(states.values()) == {"current"}


def test_versions_of_a_fleet_never_deployed_says_so(inv: Path) -> None:
    result = fleet("-i", inv, "versions")
    assert result.exit_code == 0, result.output
    assert (
        "0 stack(s) differ from the inventory; 4 not deployed yet: "
        "controlroom, analytics-prod, payments-prod, search-staging\n"
    ) in result.stdout


def test_versions_shows_the_skew(inv: Path) -> None:
    deploy_all(inv)
    path = inv / "fleet.yaml"
    path.write_text(path.read_text().replace('alloy: "1.4.0"', 'alloy: "1.5.0"'))
    result = fleet("-i", inv, "versions")
    assert result.exit_code == 0, result.output
    assert "payments-prod   alloy      1.4.0     1.5.0" in result.stdout
    assert "analytics-prod  loki       6.30.1    6.30.1 (pinned)  current" in result.stdout
    assert result.stdout.rstrip().endswith(
        "4 stack(s) differ from the inventory: analytics-prod, controlroom, payments-prod, search-staging"
    )


def test_beat_needs_a_broker(inv: Path) -> None:
    result = fleet("-i", inv, "beat")
    assert result.exit_code == 2
    assert (
        result.stderr
        == "error: fleet beat needs a broker: set FLEET_BROKER_URL (e.g. redis://localhost:6379/0)\n"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["upgrade", "plan", "--to", "alloy=1.5.0"],
        ["upgrade", "plan", "--to", "alloy=1.5.0", "-o", "json"],
        ["upgrade", "apply", "--to", "alloy=1.5.0", "--diff"],
        ["upgrade", "apply", "--to", "alloy=1.5.0", "--diff", "--at", "next-window"],
    ],
)
def test_a_plan_or_a_diff_of_a_never_deployed_inventory_creates_no_journal(
    inv: Path, args: list[str]
) -> None:
    # "write nothing": it left an empty .fleet/fleet.db behind.
    result = fleet("-i", inv, *args)
    assert result.exit_code == 0, result.output
    assert "alloy 1.4.0 -> 1.5.0" in result.stdout or '"alloy": "1.5.0"' in result.stdout
    assert not (inv / ".fleet").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--stacks", "nonexistent"], "error: --stacks: unknown stack: nonexistent"),
        (["--stacks", "payments-prod,paymnets-prod"], "error: --stacks: unknown stack: paymnets-prod"),
        (["--stacks", " , "], "error: --stacks: no stack names; give names like payments-prod"),
        (["r-bogus"], "error: no rollout 'r-bogus': nothing is recorded for this inventory yet"),
    ],
)
def test_upgrade_run_refuses_unknown_stacks_and_ids_and_records_nothing(
    inv: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    # --stacks nonexistent recorded an upgrade rollout that "succeeded: no stacks", exit 0.
    script = tmp_path / "script.json"
    script.write_text("{}")
    env = {"FLEET_ENGINE": "scripted", "FLEET_ENGINE_SCRIPT": str(script)}
    result = fleet("-i", inv, "upgrade", "run", *args, env=env)
    assert result.exit_code == 2, result.output
    [line] = result.output.splitlines()
    assert line.startswith(message)
    assert not (inv / ".fleet").exists()


def test_apply_diff_for_scripts_is_one_document_with_the_plan_and_the_file_change(inv: Path) -> None:
    # -o json put everything on stderr: a script read an empty stdout.
    before = (inv / "fleet.yaml").read_bytes()
    result = fleet("-i", inv, "upgrade", "apply", "--to", "alloy=1.5.0", "--diff", "-o", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["written"] is False and document["started"] is None
    assert document["to"]["alloy"] == "1.5.0"
    [change] = document["fleet_yaml"]
    assert change["line"] == 16 and '"1.4.0"' in change["before"] and '"1.5.0"' in change["after"]
    assert "diff only: nothing written, nothing started." in result.stderr
    assert (inv / "fleet.yaml").read_bytes() == before


def test_apply_at_next_window_for_scripts_says_what_it_wrote_and_when(inv: Path) -> None:
    result = fleet(
        "-i", inv, "upgrade", "apply", "--to", "alloy=1.5.0", "--at", "next-window", "--yes", "-o", "json"
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["written"] is True and document["started"] is None
    assert document["window"]["start"] < document["window"]["end"]
    assert b'alloy: "1.5.0"' in (inv / "fleet.yaml").read_bytes()


def test_apply_of_the_versions_fleet_yaml_holds_writes_nothing_and_says_so_once(
    inv: Path, tmp_path: Path
) -> None:
    # It said "already holds these versions; nothing to write", then "Wrote the new version set".
    script = tmp_path / "script.json"
    script.write_text("{}")
    env = {"FLEET_ENGINE": "scripted", "FLEET_ENGINE_SCRIPT": str(script)}
    deploy_all(inv)
    before = (inv / "fleet.yaml").stat().st_mtime_ns
    result = fleet("-i", inv, "upgrade", "apply", "--to", "alloy=1.4.0", "--yes", "-o", "json", env=env)
    assert result.exit_code == 0, result.output
    assert "already holds these versions; nothing to write" in result.stderr
    assert "Wrote" not in result.output
    assert json.loads(result.stdout)["written"] is False
    assert (inv / "fleet.yaml").stat().st_mtime_ns == before
