"""The versions fleet's own inventories pin exist: in the (snapshot) index of the repository each
chart is configured to come from, and as an archive in ../shared/charts so ``fleet verify`` can
render them."""

from __future__ import annotations

from pathlib import Path

import pytest
from chart_repository import shared_charts, snapshot_index
from inventories import EXAMPLE_INVENTORY
from typer.testing import CliRunner

from fleet.charts.cache import archive_name
from fleet.charts.needs import chart_needs
from fleet.cli.main import app
from fleet.inventory.loader import load_inventory


@pytest.fixture(scope="module")
def scaffold(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("scaffold") / "inv"
    result = CliRunner().invoke(app, ["init", str(root)])
    assert result.exit_code == 0, result.output
    return root


@pytest.mark.parametrize("which", ["example", "scaffold"])
def test_every_pinned_version_is_published_and_archived(which: str, request: pytest.FixtureRequest) -> None:
    root = EXAMPLE_INVENTORY if which == "example" else request.getfixturevalue("scaffold")
    needs = chart_needs(load_inventory(root))
    assert {need.component for need in needs} == {"alloy", "mimir", "loki", "grafana"}
    for need in needs:
        index = snapshot_index(need.repository)
        assert index.entry(need.chart, need.version) is not None, (
            f"{which}: {need.label} is not published in {need.repository} ({', '.join(need.places)})"
        )
        assert (shared_charts() / archive_name(need.chart, need.version)).is_file(), (
            f"{which}: no archive of {need.label} in {shared_charts()} to render"
        )


def test_the_example_validates_against_the_cached_snapshot_indexes(tmp_path: Path) -> None:
    """An air-gapped site's path: import the archives and index snapshots, then validate offline."""
    env = {"FLEET_CHART_CACHE": str(tmp_path / "cache")}
    runner = CliRunner()
    pulled = runner.invoke(
        app, ["-i", str(EXAMPLE_INVENTORY), "charts", "pull", "--from", str(shared_charts())], env=env
    )
    assert pulled.exit_code == 0, pulled.output
    assert sorted(p.name for p in (tmp_path / "cache" / "index").iterdir()) == [
        "grafana-community.github.io_helm-charts.json",
        "grafana.github.io_helm-charts.json",
    ]
    result = runner.invoke(app, ["-i", str(EXAMPLE_INVENTORY), "validate"], env=env)
    assert result.exit_code == 0, result.output
