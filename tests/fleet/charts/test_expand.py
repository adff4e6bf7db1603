"""A plan's chart resources expanded as helm.v4.Chart expands them: the release, the namespace,
hooks apart, Secrets redacted in what `fleet render` writes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chart_repository import shared_charts
from charts import real_charts

from fleet.charts.cache import ChartCache
from fleet.charts.expand import (
    CHART_TYPE,
    ChartNotCached,
    ExpandedChart,
    expand_chart,
    kubernetes_objects,
    redact_secret,
)
from fleet.engines.base import REDACTED


@pytest.fixture(scope="module")
def cache() -> Iterator[ChartCache]:
    with real_charts() as path:
        yield ChartCache(path)


def chart(resource: str, /, **inputs: Any) -> dict[str, Any]:
    return {"type": "kubernetes:helm.sh/v4:Chart", "name": resource, "provider": "cluster", "inputs": inputs}


def test_the_release_is_the_name_input_else_the_resource_name(cache: ChartCache) -> None:
    named = expand_chart(
        chart("alloy-chart", chart="alloy", version="1.4.0", namespace="alloy", name="alloy"), cache, "1.31"
    )
    unnamed = expand_chart(
        chart("alloy-chart", chart="alloy", version="1.4.0", namespace="alloy"), cache, "1.31"
    )
    assert (named.release, unnamed.release) == ("alloy", "alloy-chart")
    names = {o["metadata"]["name"] for o in unnamed.objects}
    assert "alloy-chart" in names  # the chart's fullname follows the release
    # Namespaced objects land in the chart's namespace; cluster-scoped ones have none.
    for manifest in unnamed.objects:
        namespace = manifest["metadata"].get("namespace")
        cluster_scoped = (
            manifest["kind"].startswith("Cluster") or manifest["kind"] == "CustomResourceDefinition"
        )
        assert namespace == (None if cluster_scoped else "alloy")


def test_a_chart_not_in_the_cache(tmp_path: Path) -> None:
    with pytest.raises(ChartNotCached, match=r"chart loki 9\.9\.9 is not in the chart cache"):
        expand_chart(
            chart("loki-chart", chart="loki", version="9.9.9", namespace="loki"), ChartCache(tmp_path), "1.31"
        )


def test_secrets_are_redacted_in_the_summary() -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "c2VjcmV0"}}
    assert redact_secret(secret)["data"] == {"k": REDACTED}
    assert secret["data"] == {"k": "c2VjcmV0"}
    expanded = ExpandedChart("c", "x", "1", "r", "ns", {}, Path("x.tgz"), objects=[secret], hooks=[])
    assert expanded.summary(redact=True)["objects"][0]["manifest"]["data"] == {"k": REDACTED}
    assert expanded.summary(redact=False)["objects"][0]["manifest"]["data"] == {"k": "c2VjcmV0"}


def test_the_programs_own_objects_join_the_charts() -> None:
    plan = {
        "resources": [
            {
                "type": "kubernetes:rbac.authorization.k8s.io/v1:Role",
                "name": "reader",
                "provider": "cluster",
                "inputs": {"metadata": {"name": "r", "namespace": "a"}, "rules": []},
            },
            {
                "type": "kubernetes:core/v1:Secret",
                "name": "auth",
                "provider": None,
                "inputs": {"metadata": {"name": "s", "namespace": "a"}, "stringData": REDACTED},
            },
            {"type": "aws:s3/bucket:Bucket", "name": "b", "provider": "aws", "inputs": {}},
        ]
    }
    objects = kubernetes_objects(plan, [])
    assert [(o.label, o.provider) for o in objects] == [("Role a/r", "cluster"), ("Secret a/s", None)]
    assert objects[0].manifest["apiVersion"] == "rbac.authorization.k8s.io/v1"
    assert objects[1].manifest["stringData"] == {}  # redacted: keys unknown


# --- whatever repository the chart comes from -----------------------------------------------------


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
