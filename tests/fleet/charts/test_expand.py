"""Expanding a plan's chart resources from the cache, whatever repository they name."""

from __future__ import annotations

from pathlib import Path

import pytest
from chart_repository import shared_charts

from fleet.charts.cache import ChartCache
from fleet.charts.expand import CHART_TYPE, ChartNotCached, expand_chart


def resource(chart: str, version: str) -> dict[str, object]:
    return {
        "type": CHART_TYPE,
        "name": "alloy-chart",
        "inputs": {
            "chart": chart,
            "version": version,
            "name": "alloy",
            "namespace": "collectors",
            "values": {},
        },
    }


@pytest.mark.parametrize("chart", ["alloy", "oci://registry.example.com/helm/alloy"])
def test_a_chart_from_any_repository_renders_from_its_cached_archive(chart: str) -> None:
    expanded = expand_chart(resource(chart, "1.4.0"), ChartCache(shared_charts()), "1.31")
    assert (expanded.chart, expanded.archive.name) == ("alloy", "alloy-1.4.0.tgz")
    assert ("DaemonSet", "collectors") in {
        (o["kind"], o["metadata"].get("namespace")) for o in expanded.objects
    }


def test_an_uncached_oci_chart_is_named_by_its_chart(tmp_path: Path) -> None:
    with pytest.raises(ChartNotCached, match=r"chart alloy 9.9.9 is not in the chart cache"):
        expand_chart(resource("oci://registry.example.com/helm/alloy", "9.9.9"), ChartCache(tmp_path), "1.31")
