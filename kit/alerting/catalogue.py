"""The rules fleet ships: what the control room alerts on, and what a workload may alert on locally.

Control room (tenant :data:`OWNER_TENANT`, the hub's own; its Alertmanager gets every alert):

- ``fleet-workloads``, a **federated** group over every workload's tenant (``source_tenants``):
  a workload went silent, its Alloy fails, drops or lags behind on a write, its config or
  components are broken, its local Mimir or Loki rejects data. Every series carries
  ``workload="<name>"`` (Alloy's external label), so each alert names its workload.
- ``fleet-hub``, over the hub's own series: the hub rejects a workload's samples, the gateway
  answers a workload with 401 (a wrong or rotated credential), and the hub's own ingestion,
  storage, ruler and Alertmanager health.

Workload (optional, ``spec.alerting.enabled``): ``fleet-local`` on the local Mimir (the same Alloy
and reject rules, a no-data rule, the local Mimir's health), ``fleet-local-kubernetes`` on the same
Mimir (the pipeline's pods down or short of replicas, pods crash-looping, nodes not ready, from
kube-state-metrics and ``up``) and ``fleet-local-logs`` on the local Loki (LogQL: errors logged by
the pipeline's own components, the kernel's OOM killer).

Why federated rather than per tenant: docs/architecture.md, "Alerting".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fleet.inventory.durations import parse_duration
from fleet.inventory.models import CONTROLROOM, AlertThresholds
from kit.alerting.rules import AlertRule, RuleGroup, promql_duration, promql_string

__all__ = [
    "GATEWAY_REQUESTS",
    "OWNER_TENANT",
    "controlroom_rule_groups",
    "local_log_rule_groups",
    "local_rule_groups",
]

OWNER_TENANT = CONTROLROOM
"""The tenant that owns the control room's rule groups: the hub's own (no workload can take the name)."""
GATEWAY_REQUESTS = "fleet_gateway_requests_total"
"""Requests the hub's gateway answered, by ``user`` (the basic-auth user tried) and ``status``:
counted from the gateway's access log by the control room's Alloy."""
RATE = "5m"

HUB_READS_FROM_WORKLOADS: tuple[str, ...] = (
    "alloy_component_controller_running_components",
    "alloy_config_last_load_successful",
    "cortex_discarded_samples_total",
    "cortex_distributor_received_samples_total",
    "loki_discarded_samples_total",
    "loki_distributor_lines_received_total",
    "loki_write_dropped_entries_total",
    "loki_write_sent_entries_total",
    "prometheus_remote_storage_highest_timestamp_in_seconds",
    "prometheus_remote_storage_queue_highest_sent_timestamp_seconds",
    "prometheus_remote_storage_samples_dropped_total",
    "prometheus_remote_storage_samples_failed_total",
    "prometheus_remote_storage_samples_total",
    "up",
)
"""Every metric the ``fleet-workloads`` rules read from the workloads' tenants: each workload's
Alloy sends them centrally whatever its ``central.metrics`` filter keeps (a test reads them
back out of the rules with a real PromQL parser)."""
"""The window every ``rate()`` of the shipped rules looks back over."""
PUSH_ROUTES = "api_v1_push|otlp_v1_metrics|/distributor.Distributor/Push"


@dataclass(frozen=True)
class _Scope:
    """Where a family of rules runs: the labels it groups by and how its alerts are named."""

    prefix: str
    by: tuple[str, ...]
    where: str

    def by_(self, *extra: str) -> str:
        return ", ".join((*self.by, *extra))


def _seconds(duration: str) -> float:
    return parse_duration(duration)


def _rate(selector: str, by: str) -> str:
    return f"sum by ({by}) (rate({selector}[{RATE}]))"


def _share(bad: str, good: str, by: str, detail: str, ratio: float) -> str:
    """Per ``by`` and ``detail``: bad / (bad + good) above ``ratio``; a missing ``good`` counts as 0."""
    total = _rate(bad, by)
    return (
        f"{_rate(bad, f'{by}, {detail}')}\n"
        f"/ on ({by}) group_left ()\n"
        f"(\n  {total}\n  + ({_rate(good, by)} or {total} * 0)\n)\n"
        f"> {ratio!r}"
    )


# --- the workloads' pipelines (read from the workloads' own series) ---------------------------


def _silent(workloads: Sequence[str], thresholds: AlertThresholds) -> AlertRule:
    window = promql_duration(_seconds(thresholds.silent_after))
    # The inventory names the workloads to expect, so one that never wrote is silent too.
    expected = "\n  or ".join(
        f'label_replace(vector(1), "workload", {promql_string(name)}, "", "")' for name in workloads
    )
    return AlertRule(
        "FleetWorkloadSilent",
        f"(\n  {expected}\n)\nunless on (workload)\ngroup by (workload) (count_over_time(up[{window}]))",
        "critical",
        "Workload {{ $labels.workload }} sends no series to the control room",
        f"No series from workload {{{{ $labels.workload }}}} reached the control room for {window}: "
        "its Alloy is down, cannot reach the hub, or its credential is refused "
        "(see FleetGatewayUnauthorized).",
    )


def _no_local_data(workload: str, thresholds: AlertThresholds) -> AlertRule:
    window = promql_duration(_seconds(thresholds.silent_after))
    return AlertRule(
        "FleetLocalNoData",
        f"absent_over_time(up{{workload={promql_string(workload)}}}[{window}])",
        "critical",
        "No series reach this workload's Mimir",
        f"No scrape of workload {workload} reached its local Mimir for {window}: "
        "Alloy is down or cannot write.",
    )


def _alloy_alerts(scope: _Scope, thresholds: AlertThresholds) -> list[AlertRule]:
    pending = promql_duration(_seconds(thresholds.pending))
    lag = _seconds(thresholds.write_lag)
    ratio = thresholds.write_failure_ratio
    by = scope.by_("component_id")
    dropped = 'prometheus_remote_storage_samples_dropped_total{reason!="dropped_series"}'
    return [
        AlertRule(
            "FleetAlloyWriteFailures",
            f"{_rate('prometheus_remote_storage_samples_failed_total', by)}\n"
            f"/\n{_rate('prometheus_remote_storage_samples_total', by)}\n> {ratio!r}",
            "warning",
            "Alloy of {{ $labels.workload }} fails writes in {{ $labels.component_id }}",
            "{{ $value | humanizePercentage }} of the samples {{ $labels.component_id }} sends are refused "
            "(a 4xx other than 429: limits, validation) and lost.",
            for_=pending,
        ),
        AlertRule(
            "FleetAlloyDroppingSamples",
            f"{_rate(dropped, by)}\n/\n{_rate('prometheus_remote_storage_samples_total', by)}\n> {ratio!r}",
            "warning",
            "Alloy of {{ $labels.workload }} drops samples in {{ $labels.component_id }}",
            "{{ $value | humanizePercentage }} of the samples of {{ $labels.component_id }} are dropped "
            "before they are sent (too old after a long outage, or lost series).",
            for_=pending,
        ),
        AlertRule(
            "FleetAlloyWriteBehind",
            f"max by ({by}) (\n"
            "  prometheus_remote_storage_highest_timestamp_in_seconds\n"
            "  - ignoring (remote_name, url) group_right\n"
            "  prometheus_remote_storage_queue_highest_sent_timestamp_seconds\n"
            f") > {lag:g}",
            "warning",
            "Alloy of {{ $labels.workload }} is behind in {{ $labels.component_id }}",
            "{{ $labels.component_id }} is {{ $value | humanizeDuration }} behind: its endpoint is slow, "
            "down or answers 5xx/429, and the samples wait in the write-ahead log.",
            for_=pending,
        ),
        AlertRule(
            "FleetAlloyLogsDropped",
            _share(
                "loki_write_dropped_entries_total",
                "loki_write_sent_entries_total",
                by,
                "reason",
                ratio,
            ),
            "warning",
            "Alloy of {{ $labels.workload }} drops log lines ({{ $labels.reason }})",
            "{{ $value | humanizePercentage }} of the log lines {{ $labels.component_id }} handles are "
            "dropped ({{ $labels.reason }}): Loki refused or rate-limited them past every retry.",
            for_=pending,
        ),
        AlertRule(
            "FleetAlloyConfigReloadFailed",
            f"min by ({scope.by_('instance')}) (alloy_config_last_load_successful) == 0",
            "warning",
            "Alloy of {{ $labels.workload }} could not load its configuration",
            "Alloy on {{ $labels.instance }} runs on its last good configuration: "
            "the new one failed to load.",
            for_=pending,
        ),
        AlertRule(
            "FleetAlloyComponentsUnhealthy",
            f"sum by ({scope.by_('health_type')}) "
            '(alloy_component_controller_running_components{health_type!="healthy"}) > 0',
            "warning",
            "Alloy of {{ $labels.workload }} has {{ $labels.health_type }} components",
            "{{ $value }} Alloy components are {{ $labels.health_type }}; see Alloy's UI or logs.",
            for_=pending,
        ),
    ]


def _store_rejects(scope: _Scope, thresholds: AlertThresholds) -> list[AlertRule]:
    pending = promql_duration(_seconds(thresholds.pending))
    ratio = thresholds.reject_ratio
    by = scope.by_()
    return [
        AlertRule(
            f"{scope.prefix}MimirRejecting",
            _share(
                "cortex_discarded_samples_total",
                "cortex_distributor_received_samples_total",
                by,
                "reason",
                ratio,
            ),
            "warning",
            "The local Mimir of {{ $labels.workload }} rejects samples ({{ $labels.reason }})",
            "{{ $value | humanizePercentage }} of the samples written to the local Mimir are rejected "
            "({{ $labels.reason }}): raise the limit or fix the source.",
            for_=pending,
        ),
        AlertRule(
            f"{scope.prefix}LokiRejecting",
            _share(
                "loki_discarded_samples_total", "loki_distributor_lines_received_total", by, "reason", ratio
            ),
            "warning",
            "The local Loki of {{ $labels.workload }} rejects log lines ({{ $labels.reason }})",
            "{{ $value | humanizePercentage }} of the log lines written to the local Loki are rejected "
            "({{ $labels.reason }}).",
            for_=pending,
        ),
    ]


# --- a Mimir's own health (the hub's, or a workload's local one) ------------------------------


def _mimir_health(scope: _Scope, thresholds: AlertThresholds) -> list[AlertRule]:
    pending = promql_duration(_seconds(thresholds.pending))
    ratio = thresholds.write_failure_ratio
    stale = _seconds(thresholds.compactor_stale_after)
    by = scope.by_()
    group = f" by ({by})" if by else ""
    push = f'cortex_request_duration_seconds_count{{route=~"{PUSH_ROUTES}"'
    return [
        AlertRule(
            f"{scope.prefix}PushErrors",
            f'sum{group} (rate({push}, status_code=~"5.."}}[{RATE}]))\n'
            f"/\nsum{group} (rate({push}}}[{RATE}]))\n> {ratio!r}",
            "critical",
            f"{scope.where} fails writes",
            f"{{{{ $value | humanizePercentage }}}} of the writes to {scope.where} end in a 5xx.",
            for_=pending,
        ),
        AlertRule(
            f"{scope.prefix}CompactorNotRunning",
            f"(time() - max{group} (cortex_compactor_last_successful_run_timestamp_seconds)) > {stale:g}\n"
            f"and\nmax{group} (cortex_compactor_last_successful_run_timestamp_seconds) > 0",
            "critical",
            f"The compactor of {scope.where} has not succeeded for {thresholds.compactor_stale_after}",
            f"Blocks of {scope.where} are not compacted: queries slow down and retention stops deleting.",
        ),
        AlertRule(
            f"{scope.prefix}BlocksNotShipped",
            f"(time() - max by ({scope.by_('instance')}) "
            "(cortex_ingester_shipper_last_successful_upload_timestamp_seconds)) > 14400\n"
            f"and\nmax by ({scope.by_('instance')}) "
            "(cortex_ingester_shipper_last_successful_upload_timestamp_seconds) > 0",
            "critical",
            f"An ingester of {scope.where} has shipped no block for 4h",
            "{{ $labels.instance }} keeps its blocks on local disk only: object storage refuses them or "
            "the ingester is stuck.",
        ),
        AlertRule(
            f"{scope.prefix}ObjectStorageErrors",
            f"sum by ({scope.by_('operation')}) "
            f"(rate(thanos_objstore_bucket_operation_failures_total[{RATE}]))\n"
            f"/\nsum by ({scope.by_('operation')}) (rate(thanos_objstore_bucket_operations_total[{RATE}]))\n"
            f"> {ratio!r}",
            "warning",
            f"Object storage fails {scope.where}'s {{{{ $labels.operation }}}} operations",
            "{{ $value | humanizePercentage }} of the {{ $labels.operation }} operations on the bucket fail: "
            "check the bucket, its permissions and the pods' cloud identity.",
            for_=pending,
        ),
        AlertRule(
            f"{scope.prefix}RuleEvaluationFailures",
            f"sum by ({scope.by_('rule_group')}) "
            f"(rate(cortex_prometheus_rule_evaluation_failures_total[{RATE}])) > 0",
            "critical",
            f"The ruler of {scope.where} fails to evaluate {{{{ $labels.rule_group }}}}",
            "Alerts of this group are not evaluated: they can neither fire nor resolve.",
            for_=pending,
        ),
        AlertRule(
            f"{scope.prefix}RulerNotificationsFailing",
            f"sum{group} (rate(cortex_prometheus_notifications_errors_total[{RATE}])) > 0",
            "critical",
            f"The ruler of {scope.where} cannot hand alerts to Alertmanager",
            "Alerts fire but do not reach Alertmanager.",
            for_=pending,
        ),
        AlertRule(
            f"{scope.prefix}AlertmanagerNotificationsFailing",
            f"sum by ({scope.by_('integration')}) "
            f"(rate(cortex_alertmanager_notifications_failed_total[{RATE}])) > 0",
            "critical",
            f"Alertmanager of {scope.where} cannot notify {{{{ $labels.integration }}}}",
            "Notifications to {{ $labels.integration }} fail: check the receiver's secret and reachability.",
            for_=pending,
        ),
    ]


def _hub_alerts(thresholds: AlertThresholds) -> list[AlertRule]:
    pending = promql_duration(_seconds(thresholds.pending))
    ratio = thresholds.reject_ratio
    rejects = _share(
        "cortex_discarded_samples_total", "cortex_distributor_received_samples_total", "user", "reason", ratio
    )
    return [
        AlertRule(
            "FleetHubRejectingSamples",
            f'label_replace(\n{rejects},\n"workload", "$1", "user", "(.*)"\n)',
            "warning",
            "The control room rejects samples of {{ $labels.workload }} ({{ $labels.reason }})",
            "{{ $value | humanizePercentage }} of the samples {{ $labels.workload }} sends are rejected by "
            "the hub ({{ $labels.reason }}); Alloy counts them as failed. Raise the tenant's limit or "
            "narrow central.metrics.",
            for_=pending,
        ),
        AlertRule(
            "FleetGatewayUnauthorized",
            "label_replace(\n"
            f'  sum by (user) (rate({GATEWAY_REQUESTS}{{status="401", user!~"|-"}}[{RATE}])) > 0,\n'
            '  "workload", "$1", "user", "(.*)"\n)',
            "critical",
            "The control room refuses the credential of {{ $labels.workload }}",
            "The gateway answers {{ $labels.workload }}'s pushes with 401: its password is wrong or was "
            "rotated without rolling the workload out (fleet rollout {{ $labels.workload }}).",
            for_=pending,
        ),
        AlertRule(
            "FleetHubTargetDown",
            "count by (job) (up == 0) > 0",
            "warning",
            "{{ $value }} targets of {{ $labels.job }} in the control room are down",
            "The control room's Alloy cannot scrape them: the hub's self-monitoring is partly blind.",
            for_=pending,
        ),
    ]


def controlroom_rule_groups(workloads: Sequence[str], thresholds: AlertThresholds) -> tuple[RuleGroup, ...]:
    """The control room's rule groups, stored under :data:`OWNER_TENANT`.

    ``fleet-workloads`` reads every workload's tenant (federated; absent without workloads),
    ``fleet-hub`` the hub's own series.
    """
    hub = _Scope("FleetHub", (), "the control room's Mimir")
    groups = []
    names = tuple(sorted(set(workloads)))
    if names:
        fleet_scope = _Scope("FleetLocal", ("workload",), "")
        groups.append(
            RuleGroup(
                "fleet-workloads",
                (
                    _silent(names, thresholds),
                    *_alloy_alerts(fleet_scope, thresholds),
                    *_store_rejects(fleet_scope, thresholds),
                ),
                source_tenants=names,
            )
        )
    groups.append(RuleGroup("fleet-hub", (*_hub_alerts(thresholds), *_mimir_health(hub, thresholds))))
    return tuple(groups)


# --- a workload's Kubernetes basics (kube-state-metrics and ``up``, read locally) ----------------


def _kubernetes_alerts(namespaces: Sequence[str], thresholds: AlertThresholds) -> list[AlertRule]:
    """The pipeline's own pods (in ``namespaces``) down or short of replicas, and the cluster's
    pods crash-looping and nodes not ready. kube-state-metrics' ``namespace``/``pod`` labels
    describe the objects (Alloy scrapes it with ``honor_labels``)."""
    pending = promql_duration(_seconds(thresholds.pending))
    names = sorted(set(namespaces))
    pipeline = f"namespace=~{promql_string('|'.join(names))}"
    jobs = promql_string("|".join(["alloy", "kube-state-metrics", *(f"{name}/.+" for name in names)]))
    statefulsets = "workload, namespace, statefulset"
    # The Mimir and Loki gateways are nginx: their http-metrics port serves no /metrics, so Alloy's
    # scrape of them always fails (job mimir/gateway, loki/nginx); their health shows in the
    # replicas rule below and in the write errors of Alloy.
    gateways = promql_string(".+/(gateway|nginx)")
    return [
        AlertRule(
            "FleetPipelineTargetDown",
            f"count by (workload, job) (up{{job=~{jobs}, job!~{gateways}}} == 0) > 0",
            "warning",
            "{{ $value }} targets of {{ $labels.job }} are down in {{ $labels.workload }}",
            "Alloy cannot scrape them: the component is unhealthy, and the alerts on its metrics are blind.",
            for_=pending,
        ),
        AlertRule(
            "FleetPipelineReplicasUnavailable",
            f"sum by (workload, namespace, deployment) "
            f"(kube_deployment_status_replicas_unavailable{{{pipeline}}}) > 0\n"
            f"or\nsum by (workload, namespace, daemonset) "
            f"(kube_daemonset_status_number_unavailable{{{pipeline}}}) > 0\n"
            f"or\n(\n  max by ({statefulsets}) (kube_statefulset_replicas{{{pipeline}}})\n"
            f"  - max by ({statefulsets}) (kube_statefulset_status_replicas_ready{{{pipeline}}})\n) > 0",
            "warning",
            "The observability pipeline of {{ $labels.workload }} misses replicas in {{ $labels.namespace }}",
            "{{ $value }} replicas of "
            "{{ $labels.deployment }}{{ $labels.daemonset }}{{ $labels.statefulset }} in "
            "{{ $labels.namespace }} are not ready: pods pending, crashing or evicted.",
            for_=pending,
        ),
        AlertRule(
            "FleetKubePodCrashLooping",
            "max by (workload, namespace, pod, container) "
            '(kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff"}) > 0',
            "warning",
            "{{ $labels.namespace }}/{{ $labels.pod }} is crash-looping",
            "Container {{ $labels.container }} of {{ $labels.namespace }}/{{ $labels.pod }} keeps "
            "restarting (CrashLoopBackOff).",
            for_=pending,
        ),
        AlertRule(
            "FleetKubeNodeNotReady",
            'max by (workload, node) (kube_node_status_condition{condition="Ready", status="true"}) == 0',
            "warning",
            "Node {{ $labels.node }} of {{ $labels.workload }} is not ready",
            "The kubelet of {{ $labels.node }} does not report Ready: its pods are not scheduled or run "
            "unobserved.",
            for_=pending,
        ),
    ]


def local_rule_groups(
    workload: str, thresholds: AlertThresholds, *, namespaces: Sequence[str]
) -> tuple[RuleGroup, ...]:
    """The rules a workload's own Mimir runs when its local alerting is on.

    ``namespaces`` are the pipeline's own (Alloy, Mimir, Loki, Grafana): their pods' health is
    ``fleet-local-kubernetes``'s business.
    """
    scope = _Scope("FleetLocal", ("workload",), "this workload's Mimir")
    return (
        RuleGroup(
            "fleet-local",
            (
                _no_local_data(workload, thresholds),
                *_alloy_alerts(scope, thresholds),
                *_store_rejects(scope, thresholds),
                *_mimir_health(scope, thresholds),
            ),
        ),
        RuleGroup("fleet-local-kubernetes", tuple(_kubernetes_alerts(namespaces, thresholds))),
    )


def local_log_rule_groups(
    thresholds: AlertThresholds, *, namespaces: Sequence[str], system_logs: bool
) -> tuple[RuleGroup, ...]:
    """The LogQL rules a workload's own Loki runs when its local alerting is on.

    ``namespaces`` are the pipeline's own (Alloy, Mimir, Loki, Grafana): errors they log mean the
    pipeline itself is in trouble. With ``system_logs`` (the nodes' journal is collected), the
    kernel's OOM killer is watched too. Every stream carries ``workload`` (Alloy's external
    label), kept by each rule as the Mimir rules keep it, for the same routes and grouping.
    """
    pending = promql_duration(_seconds(thresholds.pending))
    pattern = "|".join(sorted(set(namespaces)))
    rules = [
        AlertRule(
            "FleetLogsPipelineErrors",
            f"sum by (workload, namespace, container) (count_over_time("
            f'{{namespace=~{promql_string(pattern)}}} |= "level=error" [{RATE}])) > 5',
            "warning",
            "{{ $labels.namespace }}/{{ $labels.container }} logs errors",
            "{{ $value }} error lines in 5 minutes from {{ $labels.container }} in {{ $labels.namespace }}: "
            "the observability pipeline itself reports trouble.",
            for_=pending,
        )
    ]
    if system_logs:
        rules.append(
            AlertRule(
                "FleetLogsOOMKills",
                "sum by (workload, node) (count_over_time("
                f'{{job="systemd-journal"}} |= "Out of memory: Killed process" [{RATE}])) > 0',
                "warning",
                "The kernel's OOM killer struck on {{ $labels.node }}",
                "{{ $value }} processes were killed for lack of memory on {{ $labels.node }} in 5 minutes.",
            )
        )
    return (RuleGroup("fleet-local-logs", tuple(rules)),)
