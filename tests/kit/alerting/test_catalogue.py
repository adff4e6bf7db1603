"""The shipped rules, judged by promtool: every file passes ``check rules``, and every alert has a
``test rules`` case whose series fire it and a near miss whose series must not.

A case lists input series (promtool's expanding notation: ``0+60x40`` is a counter growing 60 a
minute for 40 minutes) and the labels of the alerts expected at ``at``. The same cases run
against the control room's file and against a workload's local file where the alert exists in
both. A test fails when an alert of a file has no case, so a new rule cannot ship untested.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from promtool import check_rules, for_unit_tests, needs_promtool, run_rule_tests

from fleet.inventory.models import AlertThresholds
from kit.alerting.catalogue import (
    GATEWAY_REQUESTS,
    OWNER_TENANT,
    controlroom_rule_groups,
    local_log_rule_groups,
    local_rule_groups,
)
from kit.alerting.rules import alert_names, rule_file

pytestmark = needs_promtool

SHIPPED = "cortex_ingester_shipper_last_successful_upload_timestamp_seconds"
LIMITED = 'reason="per_user_series_limit"'
FAILURES = "thanos_objstore_bucket_operation_failures_total"

WORKLOADS = ("a", "b")
PIPELINE = ("alloy", "grafana", "loki", "mimir")
CENTRAL = 'component_id="prometheus.remote_write.central"'


@dataclass(frozen=True)
class Case:
    """Series under which ``alert`` must fire (``fire``, expecting ``labels``) and must not (``quiet``)."""

    alert: str
    fire: dict[str, str]
    quiet: dict[str, str]
    labels: list[dict[str, str]]
    at: str = "30m"
    interval: str = "1m"
    extra: dict[str, Any] = field(default_factory=dict)


def _series(series: dict[str, str], workload: str | None) -> list[dict[str, str]]:
    out = []
    for name, values in series.items():
        if workload is not None and "workload=" not in name:
            name = (
                name.replace("{", f'{{workload="{workload}", ', 1)
                if "{" in name
                else f'{name}{{workload="{workload}"}}'
            )
        out.append({"series": name, "values": values})
    return out


def _tests(cases: list[Case], workload: str | None = None) -> list[dict[str, Any]]:
    """promtool test entries: for each case one firing and one quiet run."""
    tests = []
    for case in cases:
        expected = [
            {
                "exp_labels": {
                    **labels,
                    **({"workload": workload} if workload and "workload" not in labels else {}),
                }
            }
            for labels in case.labels
        ]
        for outcome, series, alerts in (("fires", case.fire, expected), ("stays quiet", case.quiet, [])):
            tests.append(
                {
                    "name": f"{case.alert} {outcome}",
                    "interval": case.interval,
                    "input_series": _series(series, workload),
                    "alert_rule_test": [
                        {"eval_time": case.at, "alertname": case.alert, "exp_alerts": alerts}
                    ],
                }
            )
    return tests


def _alloy_cases() -> list[Case]:
    """Alloy's writers; the series carry ``workload`` (Alloy's external label)."""
    a = 'workload="a", instance="alloy-0"'
    central = f"{{{a}, {CENTRAL}"
    sent = f'{central}, remote_name="central", url="https://mimir.example/api/v1/push"}}'
    logs = f'{{{a}, component_id="loki.write.local", host="loki-gateway.loki.svc"'
    dropped = "prometheus_remote_storage_samples_dropped_total"
    where = {"workload": "a", "component_id": "prometheus.remote_write.central"}
    return [
        Case(
            "FleetAlloyWriteFailures",
            fire={
                f"prometheus_remote_storage_samples_failed_total{sent}": "0+60x40",
                f"prometheus_remote_storage_samples_total{sent}": "0+3000x40",
            },
            quiet={
                f"prometheus_remote_storage_samples_failed_total{sent}": "0+24x40",
                f"prometheus_remote_storage_samples_total{sent}": "0+3000x40",
            },
            labels=[{"severity": "warning", **where}],
        ),
        Case(
            "FleetAlloyDroppingSamples",
            fire={
                f'prometheus_remote_storage_samples_dropped_total{central}, reason="too_old"}}': "0+60x40",
                f"prometheus_remote_storage_samples_total{sent}": "0+3000x40",
            },
            # The central filter drops series on purpose: counted as dropped_series, never an alert.
            quiet={
                f'{dropped}{central}, reason="dropped_series"}}': "0+6000x40",
                f'prometheus_remote_storage_samples_dropped_total{central}, reason="too_old"}}': "0+6x40",
                f"prometheus_remote_storage_samples_total{sent}": "0+3000x40",
            },
            labels=[{"severity": "warning", **where}],
        ),
        Case(
            "FleetAlloyWriteBehind",
            fire={
                f"prometheus_remote_storage_highest_timestamp_in_seconds{central}}}": "1000+60x40",
                f"prometheus_remote_storage_queue_highest_sent_timestamp_seconds{sent}": "0+60x40",
            },
            quiet={
                f"prometheus_remote_storage_highest_timestamp_in_seconds{central}}}": "1000+60x40",
                f"prometheus_remote_storage_queue_highest_sent_timestamp_seconds{sent}": "500+60x40",
            },
            labels=[{"severity": "warning", **where}],
        ),
        Case(
            "FleetAlloyLogsDropped",
            # Nothing sent at all: every line dropped is the whole share.
            fire={f'loki_write_dropped_entries_total{logs}, reason="ingester_error"}}': "0+60x40"},
            quiet={
                f'loki_write_dropped_entries_total{logs}, reason="ingester_error"}}': "0+6x40",
                f"loki_write_sent_entries_total{logs}}}": "0+1200x40",
            },
            labels=[
                {
                    "severity": "warning",
                    "workload": "a",
                    "component_id": "loki.write.local",
                    "reason": "ingester_error",
                }
            ],
        ),
        Case(
            "FleetAlloyConfigReloadFailed",
            fire={f"alloy_config_last_load_successful{{{a}}}": "0x40"},
            quiet={f"alloy_config_last_load_successful{{{a}}}": "1x40"},
            labels=[{"severity": "warning", "workload": "a", "instance": "alloy-0"}],
        ),
        Case(
            "FleetAlloyComponentsUnhealthy",
            fire={f'alloy_component_controller_running_components{{{a}, health_type="unhealthy"}}': "2x40"},
            quiet={
                f'alloy_component_controller_running_components{{{a}, health_type="unhealthy"}}': "0x40",
                f'alloy_component_controller_running_components{{{a}, health_type="healthy"}}': "20x40",
            },
            labels=[{"severity": "warning", "workload": "a", "health_type": "unhealthy"}],
        ),
    ]


def _reject_cases() -> list[Case]:
    """The workload's local Mimir and Loki, as its Alloy scrapes them."""
    a = 'workload="a", instance="x"'
    return [
        Case(
            "FleetLocalMimirRejecting",
            fire={
                f'cortex_discarded_samples_total{{{a}, user="anonymous", {LIMITED}}}': "0+60x40",
                f'cortex_distributor_received_samples_total{{{a}, user="anonymous"}}': "0+1200x40",
            },
            quiet={
                f'cortex_discarded_samples_total{{{a}, user="anonymous", {LIMITED}}}': "0+6x40",
                f'cortex_distributor_received_samples_total{{{a}, user="anonymous"}}': "0+1200x40",
            },
            labels=[{"severity": "warning", "workload": "a", "reason": "per_user_series_limit"}],
        ),
        Case(
            "FleetLocalLokiRejecting",
            fire={
                f'loki_discarded_samples_total{{{a}, tenant="fake", reason="rate_limited"}}': "0+60x40",
                f'loki_distributor_lines_received_total{{{a}, tenant="fake"}}': "0+1200x40",
            },
            quiet={
                f'loki_discarded_samples_total{{{a}, tenant="fake", reason="rate_limited"}}': "0+6x40",
                f'loki_distributor_lines_received_total{{{a}, tenant="fake"}}': "0+1200x40",
            },
            labels=[{"severity": "warning", "workload": "a", "reason": "rate_limited"}],
        ),
    ]


def _silent_case() -> Case:
    # At 20m: a writes on; b's last sample is 15m old (silent); in the near miss it is 6m old.
    return Case(
        "FleetWorkloadSilent",
        fire={'up{workload="a", job="pods"}': "1x20", 'up{workload="b", job="pods"}': "1x5"},
        quiet={'up{workload="a", job="pods"}': "1x20", 'up{workload="b", job="pods"}': "1x14"},
        labels=[{"severity": "critical", "workload": "b"}],
        at="20m",
    )


def _health_cases(prefix: str) -> list[Case]:
    """A Mimir's own health: the hub's (prefix FleetHub) or a workload's local one (FleetLocal)."""
    push = 'cortex_request_duration_seconds_count{route="api_v1_push", instance="d-0"'
    return [
        Case(
            f"{prefix}PushErrors",
            fire={f'{push}, status_code="500"}}': "0+60x40", f'{push}, status_code="200"}}': "0+1200x40"},
            # Refused writes are the client's (4xx): not the hub failing.
            quiet={f'{push}, status_code="400"}}': "0+600x40", f'{push}, status_code="200"}}': "0+1200x40"},
            labels=[{"severity": "critical"}],
        ),
        Case(
            f"{prefix}CompactorNotRunning",
            # Hourly points: the last success stays at t=1s; at 26h it is more than 24h old.
            fire={'cortex_compactor_last_successful_run_timestamp_seconds{instance="c-0"}': "1x30"},
            quiet={'cortex_compactor_last_successful_run_timestamp_seconds{instance="c-0"}': "0+3600x30"},
            labels=[{"severity": "critical"}],
            at="26h",
            interval="1h",
        ),
        Case(
            f"{prefix}BlocksNotShipped",
            fire={
                f'{SHIPPED}{{instance="i-0"}}': "1x10",
                f'{SHIPPED}{{instance="i-1"}}': "0+3600x10",
            },
            # Never shipped yet (a fresh ingester) is not an alert.
            quiet={
                f'{SHIPPED}{{instance="i-0"}}': "0x10",
                f'{SHIPPED}{{instance="i-1"}}': "0+3600x10",
            },
            labels=[{"severity": "critical", "instance": "i-0"}],
            at="6h",
            interval="1h",
        ),
        Case(
            f"{prefix}ObjectStorageErrors",
            fire={
                f'{FAILURES}{{operation="upload", instance="i-0"}}': "0+60x40",
                'thanos_objstore_bucket_operations_total{operation="upload", instance="i-0"}': "0+1200x40",
            },
            quiet={
                f'{FAILURES}{{operation="upload", instance="i-0"}}': "0+6x40",
                'thanos_objstore_bucket_operations_total{operation="upload", instance="i-0"}': "0+1200x40",
            },
            labels=[{"severity": "warning", "operation": "upload"}],
        ),
        Case(
            f"{prefix}RuleEvaluationFailures",
            fire={'cortex_prometheus_rule_evaluation_failures_total{rule_group="g", user="u"}': "0+1x40"},
            quiet={'cortex_prometheus_rule_evaluation_failures_total{rule_group="g", user="u"}': "0x40"},
            labels=[{"severity": "critical", "rule_group": "g"}],
        ),
        Case(
            f"{prefix}RulerNotificationsFailing",
            fire={'cortex_prometheus_notifications_errors_total{user="u"}': "0+1x40"},
            quiet={'cortex_prometheus_notifications_errors_total{user="u"}': "0x40"},
            labels=[{"severity": "critical"}],
        ),
        Case(
            f"{prefix}AlertmanagerNotificationsFailing",
            fire={'cortex_alertmanager_notifications_failed_total{integration="slack", user="u"}': "0+1x40"},
            quiet={
                'cortex_alertmanager_notifications_failed_total{integration="slack", user="u"}': "0x40",
                'cortex_alertmanager_notifications_total{integration="slack", user="u"}': "0+5x40",
            },
            labels=[{"severity": "critical", "integration": "slack"}],
        ),
    ]


def _kubernetes_cases() -> list[Case]:
    """A workload's own Kubernetes basics, from kube-state-metrics and ``up`` (read locally)."""
    ingester = 'namespace="mimir", statefulset="mimir-ingester"'
    gateway = 'namespace="loki", deployment="loki-gateway"'
    ready = 'kube_node_status_condition{condition="Ready", node="n-1"'
    crash = 'kube_pod_container_status_waiting_reason{namespace="payments", pod="api-0", container="api"'
    return [
        Case(
            "FleetPipelineTargetDown",
            fire={
                'up{job="mimir/ingester", instance="i-0"}': "0x40",
                'up{job="mimir/ingester", instance="i-1"}': "1x40",
            },
            # An application's target is its team's business, not the pipeline's; the nginx
            # gateways serve no metrics at all.
            quiet={
                'up{job="mimir/ingester", instance="i-0"}': "1x40",
                'up{job="payments/api", instance="p-0"}': "0x40",
                'up{job="loki/nginx", instance="g-0"}': "0x40",
                'up{job="mimir/gateway", instance="g-1"}': "0x40",
            },
            labels=[{"severity": "warning", "job": "mimir/ingester"}],
        ),
        Case(
            "FleetPipelineReplicasUnavailable",
            fire={
                f"kube_statefulset_replicas{{{ingester}}}": "3x40",
                f"kube_statefulset_status_replicas_ready{{{ingester}}}": "2x40",
                f"kube_deployment_status_replicas_unavailable{{{gateway}}}": "1x40",
            },
            quiet={
                f"kube_statefulset_replicas{{{ingester}}}": "3x40",
                f"kube_statefulset_status_replicas_ready{{{ingester}}}": "3x40",
                'kube_deployment_status_replicas_unavailable{namespace="payments", deployment="api"}': "2x40",
                'kube_daemonset_status_number_unavailable{namespace="alloy", daemonset="alloy"}': "0x40",
            },
            labels=[
                {"severity": "warning", "namespace": "mimir", "statefulset": "mimir-ingester"},
                {"severity": "warning", "namespace": "loki", "deployment": "loki-gateway"},
            ],
        ),
        Case(
            "FleetKubePodCrashLooping",
            fire={f'{crash}, reason="CrashLoopBackOff"}}': "1x40"},
            # Crash-looping for 5 minutes only (less than pending), and another waiting reason.
            quiet={
                f'{crash}, reason="CrashLoopBackOff"}}': "_x25 1x15",
                'kube_pod_container_status_waiting_reason{namespace="payments", pod="api-1", '
                'container="api", reason="ContainerCreating"}': "1x40",
            },
            labels=[{"severity": "warning", "namespace": "payments", "pod": "api-0", "container": "api"}],
        ),
        Case(
            "FleetKubeNodeNotReady",
            fire={
                f'{ready}, status="true"}}': "0x40",
                f'{ready}, status="false"}}': "1x40",
                'kube_node_status_condition{condition="Ready", node="n-0", status="true"}': "1x40",
            },
            quiet={f'{ready}, status="true"}}': "1x40", f'{ready}, status="false"}}': "0x40"},
            labels=[{"severity": "warning", "node": "n-1"}],
        ),
    ]


def _hub_cases() -> list[Case]:
    return [
        Case(
            "FleetHubRejectingSamples",
            fire={
                'cortex_discarded_samples_total{user="a", reason="rate_limited"}': "0+60x40",
                'cortex_distributor_received_samples_total{user="a"}': "0+1200x40",
                'cortex_distributor_received_samples_total{user="b"}': "0+1200x40",
            },
            quiet={
                'cortex_discarded_samples_total{user="a", reason="rate_limited"}': "0+6x40",
                'cortex_distributor_received_samples_total{user="a"}': "0+1200x40",
            },
            labels=[{"severity": "warning", "workload": "a", "user": "a", "reason": "rate_limited"}],
        ),
        Case(
            "FleetGatewayUnauthorized",
            fire={
                f'{GATEWAY_REQUESTS}{{user="a", status="401"}}': "0+6x40",
                f'{GATEWAY_REQUESTS}{{user="b", status="204"}}': "0+60x40",
            },
            # Probes without credentials, and a workload's successful pushes, are not an alert.
            quiet={
                f'{GATEWAY_REQUESTS}{{user="-", status="401"}}': "0+60x40",
                f'{GATEWAY_REQUESTS}{{user="a", status="204"}}': "0+60x40",
            },
            labels=[{"severity": "critical", "workload": "a", "user": "a"}],
        ),
        Case(
            "FleetHubTargetDown",
            fire={
                'up{job="mimir/ingester", instance="i-0"}': "0x40",
                'up{job="mimir/ingester", instance="i-1"}': "1x40",
            },
            quiet={'up{job="mimir/ingester", instance="i-0"}': "1x40"},
            labels=[{"severity": "warning", "job": "mimir/ingester"}],
        ),
    ]


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _assert_every_alert_tested(groups: Any, cases: list[Case]) -> None:
    assert sorted(alert_names(groups)) == sorted(case.alert for case in cases)


def _run(path: Path, cases: list[Case], tmp_path: Path, workload: str | None = None) -> None:
    """One promtool run per case interval: hour-long cases are evaluated hourly, not every minute."""
    for interval in sorted({case.interval for case in cases}):
        chosen = [case for case in cases if case.interval == interval]
        run_rule_tests(path, _tests(chosen, workload), tmp_path, evaluation_interval=interval)


def test_controlroom_rules_pass_promtool_check(tmp_path: Path) -> None:
    groups = controlroom_rule_groups(WORKLOADS, AlertThresholds())
    check_rules(_write(tmp_path, "controlroom.yaml", rule_file(groups, prometheus=True)))


def test_controlroom_rules_fire_and_stay_quiet(tmp_path: Path) -> None:
    groups = controlroom_rule_groups(WORKLOADS, AlertThresholds())
    cases = [_silent_case(), *_alloy_cases(), *_reject_cases(), *_hub_cases(), *_health_cases("FleetHub")]
    _assert_every_alert_tested(groups, cases)
    path = _write(tmp_path, "controlroom.yaml", for_unit_tests(rule_file(groups, prometheus=True)))
    _run(path, cases, tmp_path)


def test_local_rules_pass_promtool_check(tmp_path: Path) -> None:
    groups = local_rule_groups("a", AlertThresholds(), namespaces=PIPELINE)
    check_rules(_write(tmp_path, "local.yaml", rule_file(groups)))


def test_local_rules_fire_and_stay_quiet(tmp_path: Path) -> None:
    groups = local_rule_groups("a", AlertThresholds(), namespaces=PIPELINE)
    no_data = Case(
        "FleetLocalNoData",
        fire={'up{workload="a", job="pods"}': "1x5"},
        quiet={'up{workload="a", job="pods"}': "1x14"},
        labels=[{"severity": "critical", "workload": "a"}],
        at="20m",
    )
    cases = [no_data, *_alloy_cases(), *_reject_cases(), *_health_cases("FleetLocal"), *_kubernetes_cases()]
    _assert_every_alert_tested(groups, cases)
    path = _write(tmp_path, "local.yaml", for_unit_tests(rule_file(groups)))
    _run(path, cases, tmp_path, workload="a")


def test_thresholds_from_the_inventory_move_the_line(tmp_path: Path) -> None:
    """A looser write_failure_ratio keeps quiet what the default fires on; silent_after moves too."""
    loose = AlertThresholds(write_failure_ratio=0.05, silent_after="20m")
    groups = controlroom_rule_groups(WORKLOADS, loose)
    failing = _alloy_cases()[0]
    silent = _silent_case()
    cases = [
        Case(failing.alert, fire={}, quiet=failing.fire, labels=[]),
        Case(silent.alert, fire={}, quiet=silent.fire, labels=[], at=silent.at),
    ]
    tests = [test for test in _tests(cases) if test["name"].endswith("stays quiet")]
    path = _write(tmp_path, "loose.yaml", for_unit_tests(rule_file(groups, prometheus=True)))
    run_rule_tests(path, tests, tmp_path)


def test_annotations_are_rendered(tmp_path: Path) -> None:
    groups = controlroom_rule_groups(WORKLOADS, AlertThresholds())
    path = _write(
        tmp_path, "controlroom.yaml", for_unit_tests(rule_file(groups, prometheus=True), annotations=True)
    )
    case = _silent_case()
    test = _tests([case])[0]
    test["alert_rule_test"][0]["exp_alerts"][0]["exp_annotations"] = {
        "summary": "Workload b sends no series to the control room",
        "description": "No series from workload b reached the control room for 10m: its Alloy is down, "
        "cannot reach the hub, or its credential is refused (see FleetGatewayUnauthorized).",
    }
    run_rule_tests(path, [test], tmp_path)


def test_workload_group_is_federated_over_the_inventory() -> None:
    groups = {group.name: group for group in controlroom_rule_groups(("b", "a", "a"), AlertThresholds())}
    assert groups["fleet-workloads"].source_tenants == ("a", "b")
    assert groups["fleet-hub"].source_tenants == ()
    text = yaml.safe_load(rule_file(tuple(groups.values())))
    assert text["groups"][0]["source_tenants"] == ["a", "b"]
    assert "source_tenants" not in text["groups"][1]
    assert OWNER_TENANT not in groups["fleet-workloads"].source_tenants


def test_without_workloads_only_the_hub_group_ships() -> None:
    assert [group.name for group in controlroom_rule_groups((), AlertThresholds())] == ["fleet-hub"]


@pytest.mark.parametrize("system_logs", [True, False])
def test_log_rules_follow_the_journal_setting(system_logs: bool) -> None:
    (group,) = local_log_rule_groups(AlertThresholds(), namespaces=("alloy", "loki"), system_logs=system_logs)
    assert ("FleetLogsOOMKills" in alert_names([group])) is system_logs
    assert 'namespace=~"alloy|loki"' in group.rules[0].expr


def test_the_metrics_alloy_always_sends_are_exactly_what_the_workload_rules_read() -> None:
    """Read back out of the rules by a real PromQL parser, not listed by hand twice."""
    from fleet.inventory.models import AlertThresholds
    from fleet.verify.alerting import metric_names
    from kit.alerting.catalogue import HUB_READS_FROM_WORKLOADS, controlroom_rule_groups

    (workloads,) = [
        g for g in controlroom_rule_groups(["a", "b"], AlertThresholds()) if g.name == "fleet-workloads"
    ]
    read: set[str] = set()
    for rule in workloads.rules:
        read |= metric_names(rule.expr)
    assert set(HUB_READS_FROM_WORKLOADS) == read
