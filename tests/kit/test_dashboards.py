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
