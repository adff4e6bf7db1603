"""Real rollouts install the chart cache's checked archives (fleet/charts/deploy.py): the Pulumi
engine's program, run under the mock runtime, declares every ``helm.v4.Chart`` with ``chart`` = the
cached archive's path; without a cached archive it names the repository, unless
FLEET_CHARTS_OFFLINE forbids that; a cached archive that fails its checks fails the stack."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from charts import SHARED_CHARTS
from inventories import copy_example
from typer.testing import CliRunner

from fleet.charts.cache import ChartCache
from fleet.charts.deploy import CachedChartMismatch
from fleet.charts.needs import chart_needs
from fleet.charts.pull import import_from
from fleet.cli.main import app
from fleet.engines.mock_runtime import Recorder, cloud_context, run_program
from fleet.engines.pulumi import PulumiEngine, chart_archives, stack_program
from fleet.engines.render import render_config
from fleet.errors import UserError
from fleet.inventory.loader import Inventory, load_inventory
from fleet.inventory.models import (
    CONTROLROOM,
    GRAFANA_COMMUNITY_REPOSITORY,
    GRAFANA_REPOSITORY,
    pulumi_project,
)
from fleet.journal import Journal, journal_url_for
from fleet.kinds import Action
from fleet.rollout.waves import Wave
from fleet.settings import Settings

CHART = "kubernetes:helm.sh/v4:Chart"


@pytest.fixture
def inventory(tmp_path: Path) -> Inventory:
    return load_inventory(copy_example(tmp_path / "inventory"))


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ChartCache:
    """An empty chart cache of the test's own (FLEET_CHART_CACHE)."""
    root = tmp_path / "chart-cache"
    monkeypatch.setenv("FLEET_CHART_CACHE", str(root))
    monkeypatch.delenv("FLEET_CHARTS_OFFLINE", raising=False)
    return ChartCache(root)


@pytest.fixture
def filled(cache: ChartCache, inventory: Inventory) -> ChartCache:
    """The cache after `fleet charts pull --from` the shared archives and index snapshots."""
    if not any(SHARED_CHARTS.glob("*.tgz")):
        pytest.skip(f"no chart archives in {SHARED_CHARTS} (see its README)")
    result = import_from(SHARED_CHARTS, cache, chart_needs(inventory))
    assert not result.missing and set(result.indexes) == {GRAFANA_REPOSITORY, GRAFANA_COMMUNITY_REPOSITORY}
    return cache


def charts_of(inventory: Inventory, stack: str, archives: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The ``helm.v4.Chart`` inputs the Pulumi engine's program for ``stack`` declares, by
    resource name, run under the mock runtime."""
    password: str | None = None
    if stack == CONTROLROOM:
        account: Any = inventory.fleet.spec.control_room
    else:
        account = inventory.workload(stack).spec
        password = "p" * 32  # what the engine hands a workload's program
    recorder = Recorder(stack, cloud_context(account))
    program = stack_program(inventory, stack, archives)(password)
    config = render_config(inventory.fleet.name, stack, account)
    run_program(program, pulumi_project(inventory.fleet.name), stack, recorder, config)
    return {name: inputs for type_, name, _parent, inputs in recorder.resources if type_ == CHART}


def test_the_control_room_installs_the_cached_archives(inventory: Inventory, filled: ChartCache) -> None:
    archives = chart_archives(inventory, CONTROLROOM)
    charts = charts_of(inventory, CONTROLROOM, archives)
    expected = {
        "mimir-chart": filled.root / "mimir-distributed-6.0.0.tgz",
        "grafana-chart": filled.root / "grafana-10.1.4.tgz",
    }
    assert {name: inputs["chart"] for name, inputs in charts.items()} == {
        name: str(path.resolve()) for name, path in expected.items()
    }
    for inputs in charts.values():
        assert "repositoryOpts" not in inputs  # nothing for the provider's Helm to download
        assert Path(inputs["chart"]).is_absolute()


def test_a_workload_installs_its_pinned_versions_from_the_cache(
    inventory: Inventory, filled: ChartCache
) -> None:
    charts = charts_of(inventory, "analytics-prod", chart_archives(inventory, "analytics-prod"))
    assert {name: Path(inputs["chart"]).name for name, inputs in charts.items()} == {
        "mimir-chart": "mimir-distributed-6.0.0.tgz",
        "loki-chart": "loki-6.30.1.tgz",  # the workload's pin, not the fleet's 6.46.0
        "grafana-chart": "grafana-10.1.4.tgz",
        "alloy-chart": "alloy-1.4.0.tgz",
        "alloy-events-chart": "alloy-1.4.0.tgz",  # the events collector: the same Alloy chart
    }
    assert all("repositoryOpts" not in inputs for inputs in charts.values())
    assert {inputs["name"] for inputs in charts.values()} == {
        "mimir",
        "loki",
        "grafana",
        "alloy",
        "alloy-events",
    }


def test_without_a_cached_archive_the_chart_comes_from_its_repository(
    inventory: Inventory, cache: ChartCache
) -> None:
    assert chart_archives(inventory, "payments-prod") == {}
    charts = charts_of(inventory, "payments-prod", {})
    assert {name: (inputs["chart"], inputs["repositoryOpts"]["repo"]) for name, inputs in charts.items()} == {
        "mimir-chart": ("mimir-distributed", GRAFANA_REPOSITORY),
        "loki-chart": ("loki", GRAFANA_REPOSITORY),
        "grafana-chart": ("grafana", GRAFANA_COMMUNITY_REPOSITORY),
        "alloy-chart": ("alloy", GRAFANA_REPOSITORY),
        "alloy-events-chart": ("alloy", GRAFANA_REPOSITORY),
    }


def test_offline_a_chart_missing_from_the_cache_fails_the_stack_before_pulumi_runs(
    inventory: Inventory, cache: ChartCache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran = fake_pulumi(tmp_path, monkeypatch)
    monkeypatch.setenv("FLEET_CHARTS_OFFLINE", "true")
    outcome = PulumiEngine(Settings.from_environment()).run(inventory, CONTROLROOM, Action.up)
    assert not outcome.ok and not outcome.transient
    assert outcome.error is not None
    assert outcome.error.startswith(
        "chart mimir-distributed 6.0.0 (mimir-distributed-6.0.0.tgz) is not in the chart cache"
    )
    assert "FLEET_CHARTS_OFFLINE" in outcome.error and "fleet charts pull" in outcome.error
    assert not ran.exists()


def test_offline_with_every_chart_cached_is_fine(inventory: Inventory, filled: ChartCache) -> None:
    offline = Settings(charts_offline=True)
    assert set(chart_archives(inventory, "analytics-prod", offline)) == {"mimir", "loki", "grafana", "alloy"}


def fake_pulumi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `pulumi` on PATH that fails; returns the file it touches when it runs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    ran = tmp_path / "pulumi-ran"
    fake = bin_dir / "pulumi"
    fake.write_text(f"#!/bin/sh\ntouch {ran}\necho 'error: no cluster here' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "not-used")
    return ran


def test_the_attempt_records_the_digest_of_every_archive_it_installed(
    inventory: Inventory, filled: ChartCache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran = fake_pulumi(tmp_path, monkeypatch)
    outcome = PulumiEngine(Settings.from_environment()).run(inventory, CONTROLROOM, Action.up)
    assert ran.exists() and not outcome.ok  # the fake CLI ran, and failed
    mimir = filled.root / "mimir-distributed-6.0.0.tgz"
    grafana = filled.root / "grafana-10.1.4.tgz"
    assert outcome.summary["charts"] == {
        "mimir": f"mimir-distributed-6.0.0.tgz sha256:{hashlib.sha256(mimir.read_bytes()).hexdigest()}",
        "grafana": f"grafana-10.1.4.tgz sha256:{hashlib.sha256(grafana.read_bytes()).hexdigest()}",
    }


def test_the_attempt_records_a_chart_taken_from_its_repository(
    inventory: Inventory, cache: ChartCache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_pulumi(tmp_path, monkeypatch)
    outcome = PulumiEngine(Settings.from_environment()).run(inventory, CONTROLROOM, Action.up)
    assert outcome.summary["charts"] == {
        "mimir": f"mimir-distributed 6.0.0 from {GRAFANA_REPOSITORY}",
        "grafana": f"grafana 10.1.4 from {GRAFANA_COMMUNITY_REPOSITORY}",
    }


def test_a_cached_archive_holding_another_version_fails_the_stack(
    inventory: Inventory, filled: ChartCache
) -> None:
    shutil.copy(filled.root / "alloy-1.11.1.tgz", filled.root / "alloy-1.4.0.tgz")
    with pytest.raises(
        CachedChartMismatch, match=r"alloy-1\.4\.0\.tgz: the archive holds alloy 1\.11\.1, not alloy 1\.4\.0"
    ):
        chart_archives(inventory, "payments-prod")


def test_an_archive_without_an_index_is_checked_by_its_chart_yaml(
    inventory: Inventory, filled: ChartCache
) -> None:
    """Imported from a folder without index snapshots (or pulled from OCI): no digest to compare."""
    shutil.rmtree(filled.index_dir)
    assert set(chart_archives(inventory, CONTROLROOM)) == {"mimir", "grafana"}
    (filled.root / "mimir-distributed-6.0.0.tgz").write_bytes(b"not a chart")
    with pytest.raises(CachedChartMismatch, match="not a chart archive"):
        chart_archives(inventory, CONTROLROOM)


def test_offline_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEET_CHARTS_OFFLINE", "yes-please")
    with pytest.raises(UserError, match="FLEET_CHARTS_OFFLINE"):
        Settings.from_environment()
    monkeypatch.setenv("FLEET_CHARTS_OFFLINE", "1")
    assert Settings.from_environment().charts_offline


def test_rollout_show_lists_each_attempts_charts(inventory: Inventory) -> None:
    charts = {"mimir": "mimir-distributed-6.0.0.tgz sha256:" + "a" * 64}
    with Journal(journal_url_for(inventory.root)) as journal:
        rollout = journal.create_rollout(
            [Wave(0, "all", (CONTROLROOM,))], kind="rollout", dry_run=False, policy={}, versions={}
        )
        journal.set_status(rollout.id, "running")
        claim = journal.claim(rollout.id, CONTROLROOM, worker="test")
        assert claim.attempt is not None
        journal.finish(rollout.id, CONTROLROOM, claim.attempt, "succeeded", summary={"charts": charts})
        journal.set_status(rollout.id, "succeeded")
    result = CliRunner().invoke(app, ["-i", str(inventory.root), "rollout", "show", rollout.id, "-o", "json"])
    assert result.exit_code == 0, result.output
    [stack] = json.loads(result.stdout)["stack_states"]
    assert [attempt["charts"] for attempt in stack["attempts"]] == [charts]
