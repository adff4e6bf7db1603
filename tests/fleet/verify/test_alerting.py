"""The proofs over rules and dashboards: metric names read by a real PromQL parser, blind alerts
found for a central.metrics filter, unparsable queries named, recording rules' series a
dashboard reads and nothing records named."""

from __future__ import annotations

import pytest

from fleet.inventory.models import AlertThresholds
from fleet.verify.alerting import (
    QueryError,
    blinded_alerts,
    kept_by,
    metric_names,
    query_errors,
    recording_rule_series,
    unrecorded_series,
)
from kit.alerting.catalogue import controlroom_rule_groups
from kit.dashboards import all_queries, controlroom_dashboards, workload_dashboards


def _workload_alerts() -> list[tuple[str, str]]:
    groups = {group.name: group for group in controlroom_rule_groups(("a",), AlertThresholds())}
    return [(alert.name, alert.expr) for alert in groups["fleet-workloads"].alerts()]


def test_metric_names_come_from_the_selectors() -> None:
    expr = 'sum by (w) (rate(a_total{x="1"}[5m])) / on (w) group_left () (b or {__name__="c"} * 0)'
    assert metric_names(expr) == {"a_total", "b", "c"}


@pytest.mark.parametrize("expr", ['{job="x"}', '{__name__=~"a|b"}', "sum(rate(a[5m])"])
def test_no_proof_without_names_or_a_parse(expr: str) -> None:
    with pytest.raises(QueryError):
        metric_names(expr)


def test_every_shipped_alert_and_dashboard_query_names_its_metrics() -> None:
    for _, expr in _workload_alerts():
        assert metric_names(expr)
    dashboards = [*controlroom_dashboards("fleet-mimir", 3), *workload_dashboards("mimir", "a")]
    for query in all_queries(dashboards):
        assert metric_names(query)


def test_no_filter_blinds_nothing() -> None:
    assert blinded_alerts(_workload_alerts(), []) == []


def test_a_narrow_filter_blinds_the_alerts_whose_metrics_it_drops() -> None:
    blind = blinded_alerts(_workload_alerts(), ["node_.*", "up"])
    assert "FleetWorkloadSilent reads up" not in blind
    assert "FleetAlloyWriteFailures reads prometheus_remote_storage_samples_failed_total" in blind
    assert any(line.startswith("FleetLocalLokiRejecting reads loki_") for line in blind)


def test_filters_are_anchored_like_alloys_relabeling() -> None:
    assert kept_by(["up"], "up")
    assert not kept_by(["up"], "upstream_total")
    assert kept_by(["prometheus_remote_storage_.*"], "prometheus_remote_storage_samples_total")


def test_query_errors_name_where() -> None:
    assert query_errors([("ok", "up"), ("panel 3", "sum(")]) == [
        "panel 3: does not parse: " + query_errors([("x", "sum(")])[0].split(": ", 2)[2]
    ]


def test_recording_rule_series_are_the_names_with_a_colon() -> None:
    expr = 'histogram_quantile(0.99, sum by (le) (a:b_bucket:sum_rate{job="x"})) / on () c_total + d:e'
    assert recording_rule_series(expr) == {"a:b_bucket:sum_rate", "d:e"}
    assert recording_rule_series("sum(rate(a_total[5m])") == set()  # the parse proof names it


def test_unrecorded_series_name_the_panel_and_the_series() -> None:
    queries = [("w.json panel 'Latency'", "sum(a:b:rate5m) + sum(c:d:rate5m)"), ("w.json panel 'Up'", "up")]
    (violation,) = unrecorded_series(queries, {"a:b:rate5m"})
    assert violation.component == "w.json"
    assert violation.message == "w.json panel 'Latency' reads c:d:rate5m, which no rule records"
    assert unrecorded_series(queries, {"a:b:rate5m", "c:d:rate5m"}) == []
