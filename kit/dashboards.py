"""Grafana dashboards authored for fleet, as typed Python written out as Grafana's JSON model.

- ``fleet-overview`` (control room): every workload's last sample seen by the hub, ingestion
  rate, series against the limit, the versions it runs, its write errors, and the firing alerts.
- ``fleet-pipeline`` (each workload): Alloy's writers, the local Mimir and Loki.
- ``fleet-kubernetes`` (each workload): nodes, pods and volumes from node_exporter, cAdvisor and
  kube-state-metrics.

Mimir's own operational dashboards are not copied here: the mimir-distributed chart deploys its
maintained mixin dashboards itself (``metaMonitoring.dashboards.enabled``). Every query is plain
PromQL (no Grafana template variables), so ``fleet verify`` and the tests parse each as it is.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "Dashboard",
    "Panel",
    "Query",
    "controlroom_dashboards",
    "dashboard_json",
    "workload_dashboards",
]

PanelKind = Literal["timeseries", "stat", "table"]
RATE = "5m"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    instant: bool = False


@dataclass(frozen=True)
class Panel:
    title: str
    queries: tuple[Query, ...]
    kind: PanelKind = "timeseries"
    unit: str = "short"
    description: str = ""


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    panels: tuple[Panel, ...]
    datasource_uid: str
    tags: tuple[str, ...] = ("fleet",)

    def queries(self) -> list[str]:
        """Every PromQL query of the dashboard, in panel order."""
        return [query.expr for panel in self.panels for query in panel.queries]


def _panel_json(panel: Panel, index: int, datasource_uid: str) -> dict[str, Any]:
    width = 24 if panel.kind == "table" else 12
    per_row = 24 // width
    datasource = {"type": "prometheus", "uid": datasource_uid}
    targets = [
        {
            "refId": chr(ord("A") + number),
            "datasource": datasource,
            "expr": query.expr,
            "legendFormat": query.legend,
            "instant": query.instant or panel.kind != "timeseries",
            "range": panel.kind == "timeseries" and not query.instant,
            **({"format": "table"} if panel.kind == "table" else {}),
        }
        for number, query in enumerate(panel.queries)
    ]
    out: dict[str, Any] = {
        "id": index + 1,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": datasource,
        "gridPos": {"h": 8, "w": width, "x": (index % per_row) * width, "y": (index // per_row) * 8},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "targets": targets,
    }
    if panel.kind == "table" and len(targets) > 1:
        out["transformations"] = [{"id": "merge", "options": {}}]
    return out


def dashboard_json(dashboard: Dashboard) -> str:
    """The dashboard as Grafana's JSON model (what a provisioned dashboard file holds)."""
    model = {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "tags": list(dashboard.tags),
        "editable": False,
        "schemaVersion": 39,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "1m",
        "panels": [
            _panel_json(panel, index, dashboard.datasource_uid)
            for index, panel in enumerate(dashboard.panels)
        ],
    }
    return json.dumps(model, indent=2, sort_keys=True) + "\n"


def _rate(metric: str, by: str) -> str:
    return f"sum by ({by}) (rate({metric}[{RATE}]))"


def controlroom_dashboards(datasource_uid: str, replication_factor: int) -> tuple[Dashboard, ...]:
    """The control room's dashboards, reading the datasource that federates every tenant.

    ``replication_factor``: the hub's ingester replication, to count each series once.
    """
    series = (
        "sum by (user) (cortex_ingester_memory_series_created_total - "
        f"cortex_ingester_memory_series_removed_total) / {replication_factor}"
    )
    overview = Dashboard(
        "fleet-overview",
        "Fleet overview",
        (
            Panel(
                "Last sample seen by the hub",
                (
                    Query(
                        "time() - max by (user) (cortex_distributor_latest_seen_sample_timestamp_seconds)",
                        "{{user}}",
                    ),
                ),
                "table",
                "s",
                "Seconds since the hub last received a sample from each workload (tenant).",
            ),
            Panel(
                "Ingestion rate",
                (Query(_rate("cortex_distributor_received_samples_total", "user"), "{{user}}"),),
                unit="short",
                description="Samples per second the hub accepts, per workload.",
            ),
            Panel(
                "Series against the limit",
                (
                    Query(series, "{{user}}"),
                    Query(
                        'max(cortex_limits_defaults{limit_name="max_global_series_per_user"})',
                        "default limit",
                    ),
                ),
                description="In-memory series per workload at the hub, and the default per-tenant limit.",
            ),
            Panel(
                "Write errors",
                (
                    Query(
                        _rate("prometheus_remote_storage_samples_failed_total", "workload, component_id"),
                        "{{workload}} {{component_id}} failed",
                    ),
                    Query(
                        _rate("cortex_discarded_samples_total", "user, reason"),
                        "{{user}} rejected: {{reason}}",
                    ),
                ),
                description="Samples Alloy could not write; samples the hub rejected, per reason.",
            ),
            Panel(
                "Versions deployed",
                (
                    Query("count by (workload, version) (alloy_build_info)", instant=True),
                    Query("count by (workload, version) (cortex_build_info)", instant=True),
                    Query("count by (workload, version) (loki_build_info)", instant=True),
                ),
                "table",
                description="Alloy, Mimir and Loki versions each workload runs (pods per version).",
            ),
            Panel(
                "Firing alerts",
                (
                    Query(
                        'count by (alertname, workload, severity) (ALERTS{alertstate="firing"})', instant=True
                    ),
                ),
                "table",
            ),
        ),
        datasource_uid,
    )
    return (overview,)


def workload_dashboards(mimir_uid: str, workload: str) -> tuple[Dashboard, ...]:
    """A workload's dashboards: the pipeline, and Kubernetes basics, on its local Mimir."""
    name = json.dumps(workload)
    pipeline = Dashboard(
        "fleet-pipeline",
        f"Pipeline: {workload}",
        (
            Panel(
                "Samples sent by Alloy",
                (
                    Query(
                        _rate("prometheus_remote_storage_samples_total", "component_id"), "{{component_id}}"
                    ),
                ),
            ),
            Panel(
                "Samples failed or dropped by Alloy",
                (
                    Query(
                        _rate("prometheus_remote_storage_samples_failed_total", "component_id"),
                        "{{component_id}} failed",
                    ),
                    Query(
                        _rate(
                            'prometheus_remote_storage_samples_dropped_total{reason!="dropped_series"}',
                            "component_id, reason",
                        ),
                        "{{component_id}} dropped: {{reason}}",
                    ),
                ),
            ),
            Panel(
                "Writer lag",
                (
                    Query(
                        "max by (component_id) (prometheus_remote_storage_highest_timestamp_in_seconds - "
                        "ignoring (remote_name, url) group_right "
                        "prometheus_remote_storage_queue_highest_sent_timestamp_seconds)",
                        "{{component_id}}",
                    ),
                ),
                unit="s",
            ),
            Panel(
                "Log lines sent and dropped",
                (
                    Query(_rate("loki_write_sent_entries_total", "component_id"), "{{component_id}} sent"),
                    Query(
                        _rate("loki_write_dropped_entries_total", "component_id, reason"),
                        "dropped: {{reason}}",
                    ),
                ),
            ),
            Panel(
                "Alloy components by health",
                (
                    Query(
                        "sum by (health_type) (alloy_component_controller_running_components)",
                        "{{health_type}}",
                    ),
                ),
            ),
            Panel(
                "Local Mimir: received and rejected samples",
                (
                    Query(_rate("cortex_distributor_received_samples_total", "user"), "received"),
                    Query(_rate("cortex_discarded_samples_total", "reason"), "rejected: {{reason}}"),
                ),
            ),
            Panel(
                "Local Loki: received and rejected lines",
                (
                    Query(_rate("loki_distributor_lines_received_total", "tenant"), "received"),
                    Query(_rate("loki_discarded_samples_total", "reason"), "rejected: {{reason}}"),
                ),
            ),
            Panel(
                "Targets up",
                (Query(f"sum by (job) (up{{workload={name}}})", "{{job}}"),),
            ),
        ),
        mimir_uid,
    )
    kubernetes = Dashboard(
        "fleet-kubernetes",
        f"Kubernetes: {workload}",
        (
            Panel(
                "Node CPU busy",
                (Query('1 - avg by (node) (rate(node_cpu_seconds_total{mode="idle"}[5m]))', "{{node}}"),),
                unit="percentunit",
            ),
            Panel(
                "Node memory used",
                (Query("1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes", "{{node}}"),),
                unit="percentunit",
            ),
            Panel(
                "Container CPU by namespace",
                (
                    Query(
                        _rate('container_cpu_usage_seconds_total{container!=""}', "namespace"),
                        "{{namespace}}",
                    ),
                ),
            ),
            Panel(
                "Container memory by namespace",
                (
                    Query(
                        'sum by (namespace) (container_memory_working_set_bytes{container!=""})',
                        "{{namespace}}",
                    ),
                ),
                unit="bytes",
            ),
            Panel(
                "Pod restarts (1h)",
                (
                    Query(
                        "sum by (namespace, pod) "
                        "(increase(kube_pod_container_status_restarts_total[1h])) > 0",
                        instant=True,
                    ),
                ),
                "table",
            ),
            Panel(
                "Pods not ready",
                (
                    Query(
                        'sum by (namespace, pod) (kube_pod_status_ready{condition="false"}) > 0', instant=True
                    ),
                ),
                "table",
            ),
            Panel(
                "Volumes filling up",
                (
                    Query(
                        "max by (namespace, persistentvolumeclaim) (kubelet_volume_stats_used_bytes / "
                        "kubelet_volume_stats_capacity_bytes)",
                        "{{namespace}}/{{persistentvolumeclaim}}",
                    ),
                ),
                unit="percentunit",
            ),
        ),
        mimir_uid,
    )
    return (pipeline, kubernetes)


def all_queries(dashboards: Sequence[Dashboard]) -> list[str]:
    """Every query of ``dashboards``."""
    return [query for dashboard in dashboards for query in dashboard.queries()]


DASHBOARD_PROVIDER = "fleet"
"""The Grafana dashboard provider (and folder) fleet's dashboards are provisioned under."""


def grafana_dashboard_values(dashboards: Sequence[Dashboard]) -> dict[str, Any]:
    """Grafana chart values that provision ``dashboards`` from files: the chart writes them into
    one ConfigMap (``<release>-dashboards-fleet``) and mounts it where the provider reads."""
    return {
        "dashboardProviders": {
            "dashboardproviders.yaml": {
                "apiVersion": 1,
                "providers": [
                    {
                        "name": DASHBOARD_PROVIDER,
                        "orgId": 1,
                        "folder": "Fleet",
                        "type": "file",
                        # Provisioned by every rollout: edits in the UI would be overwritten.
                        "disableDeletion": True,
                        "editable": False,
                        "options": {"path": f"/var/lib/grafana/dashboards/{DASHBOARD_PROVIDER}"},
                    }
                ],
            }
        },
        "dashboards": {
            DASHBOARD_PROVIDER: {
                dashboard.uid: {"json": dashboard_json(dashboard)} for dashboard in dashboards
            }
        },
    }
