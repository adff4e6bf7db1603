"""fleet's dashboards: every query parsed by Prometheus's own parser (promtool), every panel on the
dashboard's datasource, and the JSON model the shape Grafana provisions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from promtool import check_queries, needs_promtool

from kit.dashboards import Dashboard, all_queries, controlroom_dashboards, dashboard_json, workload_dashboards

DASHBOARDS = [*controlroom_dashboards("fleet-mimir", 3), *workload_dashboards("mimir", "payments-prod")]


@needs_promtool
def test_every_query_parses(tmp_path: Path) -> None:
    queries = all_queries(DASHBOARDS)
    assert len(queries) > 20
    check_queries(queries, tmp_path)


@needs_promtool
def test_a_broken_query_is_caught(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="parse error"):
        check_queries(["sum(rate(up[5m])"], tmp_path)


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=lambda d: d.uid)
def test_the_json_model_is_what_grafana_provisions(dashboard: Dashboard) -> None:
    model = json.loads(dashboard_json(dashboard))
    assert model["uid"] == dashboard.uid
    assert [panel["id"] for panel in model["panels"]] == list(range(1, len(model["panels"]) + 1))
    for panel in model["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": dashboard.datasource_uid}
        assert panel["targets"], panel["title"]
        assert all(target["expr"] for target in panel["targets"])
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24


def test_uids_are_unique_and_stable() -> None:
    uids = [dashboard.uid for dashboard in DASHBOARDS]
    assert len(set(uids)) == len(uids)
    assert dashboard_json(DASHBOARDS[0]) == dashboard_json(controlroom_dashboards("fleet-mimir", 3)[0])


def test_the_workload_name_is_a_literal_in_queries() -> None:
    (pipeline, _) = workload_dashboards("mimir", 'a"b')
    assert 'up{workload="a\\"b"}' in "\n".join(pipeline.queries())


@pytest.mark.parametrize("archive", ["grafana-10.1.4.tgz", "grafana-12.11.1.tgz"])
def test_the_grafana_chart_provisions_the_dashboards(archive: str) -> None:
    """Rendered for real by Helm: one ConfigMap holds every dashboard as ``<uid>.json``, mounted
    where the provider reads, and the provider file names that path."""
    from charts import real_charts

    from fleet.charts.helm import template
    from kit.dashboards import DASHBOARD_PROVIDER, grafana_dashboard_values

    dashboards = workload_dashboards("mimir", "payments-prod")
    with real_charts() as cache:
        objects = template(
            cache / archive,
            release="grafana",
            namespace="grafana",
            values=grafana_dashboard_values(dashboards),
            kube_version="1.31",
        )
    by_kind = {
        (o.manifest["kind"], o.manifest["metadata"]["name"]): o.manifest for o in objects if o.hook is None
    }
    config_map = by_kind[("ConfigMap", f"grafana-dashboards-{DASHBOARD_PROVIDER}")]
    assert {json.loads(text)["uid"] for text in config_map["data"].values()} == {d.uid for d in dashboards}
    path = f"/var/lib/grafana/dashboards/{DASHBOARD_PROVIDER}"
    providers = by_kind[("ConfigMap", "grafana")]["data"]["dashboardproviders.yaml"]
    assert f"path: {path}" in providers
    pod = by_kind[("Deployment", "grafana")]["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    # One subPath mount a dashboard file, from that ConfigMap (the pod restarts on a change: the
    # chart's checksum annotation covers the dashboards).
    mounts = [
        m for c in pod["containers"] for m in c.get("volumeMounts", []) if m["mountPath"].startswith(path)
    ]
    assert sorted(m["subPath"] for m in mounts) == sorted(config_map["data"])
    assert {volumes[m["name"]]["configMap"]["name"] for m in mounts} == {config_map["metadata"]["name"]}
