"""Drift: the plan diff (pure), and ``fleet drift`` through the CLI on the example inventory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fleet.cli.main import app
from fleet.drift import ResourceChange, diff_plans
from fleet.journal import Journal, journal_url_for

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "inventory"
runner = CliRunner()


def plan(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"stack": "w", "resources": list(resources), "outputs": {}}


def resource(name: str, inputs: dict[str, Any], type_: str = "kubernetes:core/v1:Secret") -> dict[str, Any]:
    return {"type": type_, "name": name, "parent": "w", "inputs": inputs}


def test_diff_names_added_removed_and_changed_paths_without_values() -> None:
    before = plan(
        resource("a", {"data": {"password": "[secret]"}, "replicas": 1, "args": ["x", "y"]}),
        resource("gone", {}),
    )
    after = plan(
        resource("a", {"data": {"password": "[secret]", "user": "u"}, "replicas": 2, "args": ["x", "z"]}),
        resource("new", {"k": 1}),
    )
    assert diff_plans(before, after) == (
        ResourceChange("changed", "kubernetes:core/v1:Secret", "a", ("args[1]", "data.user", "replicas")),
        ResourceChange("removed", "kubernetes:core/v1:Secret", "gone"),
        ResourceChange("added", "kubernetes:core/v1:Secret", "new"),
    )
    assert (
        str(diff_plans(before, after)[0])
        == "changed kubernetes:core/v1:Secret a (args[1], data.user, replicas)"
    )


def test_identical_plans_do_not_drift() -> None:
    same = plan(resource("a", {"x": [1, {"y": 2}]}))
    assert diff_plans(same, json.loads(json.dumps(same))) == ()


@pytest.fixture
def inv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    target = tmp_path / "inv"
    shutil.copytree(EXAMPLE, target)
    monkeypatch.delenv("FLEET_DATABASE_URL", raising=False)
    return target


def test_drift_dry_run_records_a_baseline_then_finds_a_change(inv: Path) -> None:
    first = runner.invoke(app, ["-i", str(inv), "drift", "payments-prod", "--dry-run"])
    assert first.exit_code == 0, first.output
    assert first.stdout == "payments-prod: no earlier render; recorded this one as the baseline\n"

    path = inv / "workloads" / "payments-prod.yaml"
    path.write_text(path.read_text().replace("mimir: {replicas: 3", "mimir: {replicas: 5"))
    second = runner.invoke(app, ["-i", str(inv), "drift", "payments-prod", "--dry-run", "-o", "json"])
    assert second.exit_code == 1, second.output
    report = json.loads(second.stdout)
    assert report["drifted"] == ["payments-prod"]
    (change,) = report["stacks"][0]["changes"]
    assert change == {
        "kind": "changed",
        "type": "kubernetes:helm.sh/v4:Chart",
        "name": "mimir-chart",
        "paths": ["values.distributor.replicas", "values.ingester.replicas"],
    }
    with Journal(journal_url_for(inv)) as journal:
        baseline = journal.last_render("payments-prod")
        assert baseline is not None and '"replicas":3' in baseline.plan  # not overwritten without --record


def test_live_drift_needs_the_pulumi_cli(inv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(inv))  # no pulumi here
    result = runner.invoke(app, ["-i", str(inv), "drift", "--all"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: the pulumi CLI is not on PATH")


def test_drift_needs_stacks(inv: Path) -> None:
    result = runner.invoke(app, ["-i", str(inv), "drift"])
    assert result.exit_code == 2
    assert "name the stacks to check, or use --all" in result.stderr
