"""The control room's own collector: an Alloy that gives the ``fleet-hub`` rules and Mimir's own
dashboards their data, written into the hub's own tenant (:data:`OWNER_TENANT`).

- **Mimir's components**: every pod of the central Mimir with an ``http-metrics`` port (the
  gateway's nginx has no metrics endpoint and is left out), labelled as the Mimir mixin's
  dashboards expect: ``cluster``, ``namespace``, ``pod`` and ``job="<namespace>/<component>"``;
  every 15 s (:data:`MIMIR_SCRAPE_INTERVAL`), which the mixin's recording rules need.
- **The gateway's requests**: its JSON access log, tailed through the Kubernetes API
  (``loki.source.kubernetes``), counted by workload and status into
  ``fleet_gateway_requests_total`` (:data:`kit.alerting.catalogue.GATEWAY_REQUESTS`); the
  ``user`` label is only ever a workload of the inventory, every other claimed name (anyone can
  claim one on a 401) leaves it empty, so the series stay bounded.
- **Itself**: Alloy's own metrics, which carry that counter.
- **Mimir's containers and objects**: what the mixin's resources, networking, rollout and scaling
  dashboards and its scaling rules read. cAdvisor (``job="cadvisor"``, every 15 s: the scaling
  rules take 1-minute rates of it) and the kubelets (``job="kubelet"``, volume stats) through
  the API server's node proxy (a ClusterRole of nodes, ``nodes/proxy`` and ``nodes/metrics``),
  and kube-state-metrics (``job="kube-state-metrics"``) in the collector's namespace, reporting
  only on Mimir's namespace and only the pods, Deployments, StatefulSets and HPAs the mixin
  reads (a Role there, no Secrets). Each scrape keeps only the metric names the mixin reads
  (:data:`CADVISOR_METRICS`, :data:`KUBELET_METRICS`, :data:`KUBE_STATE_METRICS`) of Mimir's
  namespace, so the hub's tenant stays small; their own ``namespace``, ``pod`` and ``container``
  labels are the ones the mixin selects, ``cluster`` is added.

Everything is written straight to the distributor with ``X-Scope-OrgID: controlroom``, not through
the gateway: Mimir serves ``/metrics`` on the same HTTP port as its write API, so scraping the
distributor and the query-frontend already needs that port, and the NetworkPolicy admitting the
collector there is the one scoped exception to "only the gateway speaks HTTP to the entry
components" (``kit.network.HTTP_ENTRY_EXCEPTIONS``, where the reason is kept for the proof).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from controlroom.gateway import HTTP_PORT, upstream_host
from controlroom.gateway import RELEASE as MIMIR_RELEASE
from controlroom.kube import namespace
from kit import kube_state_metrics as ksm
from kit.alerting.catalogue import GATEWAY_REQUESTS, OWNER_TENANT
from kit.alloy.chart import (
    ALLOY_USER,
    alloy_chart,
    chart_values,
    grant,
    single_replica_controller,
    storage_mount,
)
from kit.alloy.chart import CONFIG_KEY as CONFIG_KEY
from kit.alloy.chart import config_map as alloy_config_map
from kit.alloy.discovery import (
    CADVISOR_PATH,
    KUBELET_PATH,
    api_server_client,
    copy_label,
    match,
    node_proxy_rules,
    rule,
    selected_pods,
)
from kit.alloy.syntax import Block, Item
from kit.alloy.writer import attr, call, ref, write_block
from kit.network import HUB_COLLECTOR
from kit.security import pod_security_context
from kit.sizing import Sizing

NAMESPACE = "hub-collector"
RELEASE = HUB_COLLECTOR
"""The Alloy chart's release (and ``fullnameOverride``): its pods are ``app.kubernetes.io/name:
alloy``, ``app.kubernetes.io/instance: hub-collector``."""
CONFIG_MAP = "hub-collector-config"
GATEWAY_CONTAINER = "gateway"
"""The mimir-distributed chart's name for the gateway's nginx container."""
COUNTER_PREFIX = "fleet_gateway_"
COUNTER_NAME = GATEWAY_REQUESTS.removeprefix(COUNTER_PREFIX)
COUNTER_IDLE = "1h"
"""How long a (workload, status) series lives without a new request: longer than the rules' 5m
window, so a workload that fails now and then is counted from a standing series (a new series'
first sample shows no increase), and still bounded (workloads times statuses)."""
ACCESS_LOG = (
    r'^\{"time":"[^"]*","client":"[^"]*","user":"(?P<claimed>(?:[^"\\]|\\.)*)",'
    r'"method":"[^"]*","uri":"(?:[^"\\]|\\.)*","status":(?P<status>[0-9]{3}),'
)
"""One line of the gateway's JSON access log (``log_format json`` in :mod:`controlroom.gateway`,
escaped as JSON, so a claimed user name cannot end its field); other lines (nginx's own) do not
match and are not counted. Go's RE2 syntax; the tests run it on lines the real nginx wrote."""
MIXIN_CLUSTER = "controlroom"
"""The ``cluster`` label of every series the collector writes (the mixin dashboards select on it)."""
MIMIR_SCRAPE_INTERVAL = "15s"
"""How often Mimir's pods are scraped. The mixin's recording rules take ``rate(...[1m])``, and
Mimir 3 (Prometheus 3's PromQL) reads a range without its left end: at Alloy's default 60s a
1m window holds one sample and those rules record nothing; at 15s it holds four."""
CADVISOR_METRICS = (
    "container_cpu_usage_seconds_total",
    "container_fs_writes_bytes_total",
    "container_memory_rss",
    "container_memory_usage_bytes",
    "container_memory_working_set_bytes",
    "container_network_receive_bytes_total",
    "container_network_transmit_bytes_total",
    "container_spec_cpu_period",
    "container_spec_cpu_quota",
    "container_spec_memory_limit_bytes",
)
"""The cAdvisor series the Mimir mixin's dashboards and rules read (the tests derive them from
the chart's files)."""
KUBELET_METRICS = ("kubelet_volume_stats_capacity_bytes", "kubelet_volume_stats_used_bytes")
"""The kubelet's series the mixin reads: its volumes' fill."""
KUBE_STATE_METRICS = (
    "kube_deployment_spec_replicas",
    "kube_deployment_status_replicas",
    "kube_deployment_status_replicas_ready",
    "kube_deployment_status_replicas_unavailable",
    "kube_deployment_status_replicas_updated",
    "kube_horizontalpodautoscaler_info",
    "kube_horizontalpodautoscaler_spec_max_replicas",
    "kube_horizontalpodautoscaler_spec_min_replicas",
    "kube_horizontalpodautoscaler_spec_target_metric",
    "kube_horizontalpodautoscaler_status_current_replicas",
    "kube_pod_container_info",
    "kube_pod_container_resource_requests",
    "kube_statefulset_replicas",
    "kube_statefulset_status_replicas",
    "kube_statefulset_status_replicas_current",
    "kube_statefulset_status_replicas_ready",
    "kube_statefulset_status_replicas_updated",
)
"""The kube-state-metrics series the mixin reads (its rules' ``..._cpu_cores`` and
``..._memory_bytes`` alternatives are kube-state-metrics 1's, gone since 2.0)."""
KUBE_STATE_METRICS_RESOURCES: ksm.Resources = {
    "": ("pods",),
    "apps": ("deployments", "statefulsets"),
    "autoscaling": ("horizontalpodautoscalers",),
}
"""What the control room's kube-state-metrics reports on: the objects behind those series."""
_COMPONENT_LABEL = "__meta_kubernetes_pod_label_app_kubernetes_io_component"
_NAME_LABEL = "__meta_kubernetes_pod_label_app_kubernetes_io_name"


def workload_pattern(workloads: Sequence[str]) -> str | None:
    """The RE2 pattern that accepts exactly the inventory's workload names (None: no workload)."""
    names = sorted(set(workloads))
    if not names:
        return None
    return "^(?P<user>" + "|".join(re.escape(name) for name in names) + ")$"


def _mixin_labels() -> list[Block]:
    """``cluster``, ``namespace``, ``pod``, ``container`` and the mixin's ``job``:
    ``<namespace>/<component>``, or ``<namespace>/<name>`` for a pod without a component (the
    rollout-operator)."""
    return [
        rule(attr("target_label", "cluster"), attr("replacement", MIXIN_CLUSTER)),
        copy_label("__meta_kubernetes_namespace", "namespace"),
        copy_label("__meta_kubernetes_pod_name", "pod"),
        copy_label("__meta_kubernetes_pod_container_name", "container"),
        rule(
            attr("source_labels", ["__meta_kubernetes_namespace", _NAME_LABEL]),
            attr("separator", "/"),
            attr("target_label", "job"),
        ),
        rule(
            attr("source_labels", ["__meta_kubernetes_namespace", _COMPONENT_LABEL]),
            attr("separator", "/"),
            attr("regex", "(.+/.+)"),
            attr("target_label", "job"),
        ),
    ]


def _hub_scrape(
    name: str,
    *,
    job: str,
    interval: str | None = None,
    settings: Sequence[Item] = (),
    receiver: str = "prometheus.remote_write.hub.receiver",
) -> Block:
    """``prometheus.scrape`` ``name`` of ``discovery.relabel`` ``name``'s targets, every
    ``interval`` (None: Alloy's default, 60s), with further ``settings``, into ``receiver``
    (the hub tenant's writer)."""
    every = (attr("scrape_interval", interval),) if interval is not None else ()
    return Block(
        "prometheus.scrape",
        name,
        (
            attr("targets", ref(f"discovery.relabel.{name}.output")),
            attr("job_name", job),
            *every,
            *settings,
            attr("forward_to", [ref(receiver)]),
        ),
    )


def _mimir_series_only(name: str, mimir_namespace: str, metrics: Sequence[str]) -> Block:
    """``prometheus.relabel`` ``name``: of a scrape's series, only ``metrics`` of
    ``mimir_namespace``'s objects go on to the hub tenant (two keep rules: both must match)."""
    return Block(
        "prometheus.relabel",
        name,
        (
            attr("forward_to", [ref("prometheus.remote_write.hub.receiver")]),
            match("__name__", "|".join(re.escape(metric) for metric in metrics)),
            match("namespace", re.escape(mimir_namespace)),
        ),
    )


def _cluster_label() -> Block:
    return rule(attr("target_label", "cluster"), attr("replacement", MIXIN_CLUSTER))


def _node_scrapes(mimir_namespace: str) -> list[Block]:
    """cAdvisor and the kubelets through the API server's node proxy, Mimir's series only."""
    blocks = [Block("discovery.kubernetes", "nodes", (attr("role", "node"),))]
    sources = (
        ("kubelet", KUBELET_PATH, KUBELET_METRICS, None),
        # The scaling rules take rate(container_cpu_usage_seconds_total[1m]).
        ("cadvisor", CADVISOR_PATH, CADVISOR_METRICS, MIMIR_SCRAPE_INTERVAL),
    )
    for name, path, metrics, interval in sources:
        rules = [*node_proxy_rules(path), _cluster_label()]
        blocks += [
            Block(
                "discovery.relabel",
                name,
                (attr("targets", ref("discovery.kubernetes.nodes.targets")), *rules),
            ),
            _hub_scrape(
                name,
                job=name,
                interval=interval,
                settings=api_server_client(),
                receiver=f"prometheus.relabel.{name}.receiver",
            ),
            _mimir_series_only(name, mimir_namespace, metrics),
        ]
    return blocks


def _kube_state_metrics_scrape(mimir_namespace: str) -> list[Block]:
    """The collector's kube-state-metrics (in its own namespace), Mimir's series only; its own
    ``namespace``, ``pod`` and ``container`` labels describe the objects and are kept."""
    rules = [
        match("__meta_kubernetes_pod_container_port_name", ksm.PORT_NAME),
        match("__meta_kubernetes_pod_phase", "Pending|Succeeded|Failed|Unknown", "drop"),
        _cluster_label(),
    ]
    return [
        *selected_pods("kube_state_metrics", rules, namespaces=[NAMESPACE], selector=ksm.SELECTOR),
        _hub_scrape(
            "kube_state_metrics",
            job="kube-state-metrics",
            settings=[attr("honor_labels", True)],
            receiver="prometheus.relabel.kube_state_metrics.receiver",
        ),
        _mimir_series_only("kube_state_metrics", mimir_namespace, KUBE_STATE_METRICS),
    ]


def _mimir_scrape(mimir_namespace: str) -> list[Block]:
    rules = [
        match("__meta_kubernetes_pod_container_port_name", "http-metrics"),
        # The gateway's port serves fleet's nginx.conf, which has no metrics.
        match(_COMPONENT_LABEL, "gateway", "drop"),
        match("__meta_kubernetes_pod_phase", "Pending|Succeeded|Failed|Unknown", "drop"),
        *_mixin_labels(),
    ]
    return [
        *selected_pods("mimir", rules, namespaces=[mimir_namespace]),
        _hub_scrape("mimir", job="mimir", interval=MIMIR_SCRAPE_INTERVAL),
    ]


def _self_scrape() -> list[Block]:
    pod = call("sys.env", "HOSTNAME")
    return [
        Block("prometheus.exporter.self", "collector", ()),
        Block(
            "discovery.relabel",
            "collector",
            (
                attr("targets", ref("prometheus.exporter.self.collector.targets")),
                rule(attr("target_label", "cluster"), attr("replacement", MIXIN_CLUSTER)),
                rule(attr("target_label", "namespace"), attr("replacement", NAMESPACE)),
                rule(attr("target_label", "job"), attr("replacement", f"{NAMESPACE}/alloy")),
                rule(attr("target_label", "pod"), attr("replacement", pod)),
                rule(attr("target_label", "instance"), attr("replacement", pod)),
            ),
        ),
        _hub_scrape("collector", job="hub-collector"),
    ]


def _gateway_requests(mimir_namespace: str, workloads: Sequence[str]) -> list[Block]:
    selector = f"app.kubernetes.io/instance={MIMIR_RELEASE},app.kubernetes.io/component=gateway"
    stages: list[Block] = [Block("stage.regex", None, (attr("expression", ACCESS_LOG),))]
    pattern = workload_pattern(workloads)
    if pattern is not None:
        # Only a workload's name becomes the label: any other claimed name leaves it unset.
        stages.append(Block("stage.regex", None, (attr("source", "claimed"), attr("expression", pattern))))
    stages += [
        Block("stage.labels", None, (attr("values", {"user": "", "status": ""}),)),
        Block(
            "stage.metrics",
            None,
            (
                Block(
                    "metric.counter",
                    None,
                    (
                        attr("name", COUNTER_NAME),
                        # Without it the name would start loki_process_custom_.
                        attr("prefix", COUNTER_PREFIX),
                        attr("description", "Requests the hub's gateway answered, by workload and status."),
                        # Counted only where the access-log expression found a status.
                        attr("source", "status"),
                        attr("action", "inc"),
                        attr("max_idle_duration", COUNTER_IDLE),
                    ),
                ),
            ),
        ),
    ]
    keep = match("__meta_kubernetes_pod_container_name", GATEWAY_CONTAINER)
    return [
        *selected_pods("gateway", [keep], namespaces=[mimir_namespace], selector=selector),
        Block(
            "loki.source.kubernetes",
            "gateway",
            (
                attr("targets", ref("discovery.relabel.gateway.output")),
                attr("forward_to", [ref("loki.process.gateway.receiver")]),
            ),
        ),
        # The lines go nowhere: only the counter is kept (logs never leave a cluster's Loki).
        Block("loki.process", "gateway", (attr("forward_to", []), *stages)),
    ]


def remote_write_url(mimir_namespace: str) -> str:
    """The distributor's push endpoint inside the cluster."""
    return f"http://{upstream_host(mimir_namespace, 'distributor')}:{HTTP_PORT}/api/v1/push"


def collector_config(mimir_namespace: str, workloads: Sequence[str]) -> str:
    """The collector's Alloy configuration."""
    writer = Block(
        "prometheus.remote_write",
        "hub",
        (
            Block(
                "endpoint",
                None,
                (
                    attr("url", remote_write_url(mimir_namespace)),
                    attr("headers", {"X-Scope-OrgID": OWNER_TENANT}),
                ),
            ),
        ),
    )
    blocks = [
        writer,
        *_mimir_scrape(mimir_namespace),
        *_self_scrape(),
        *_gateway_requests(mimir_namespace, workloads),
        *_node_scrapes(mimir_namespace),
        *_kube_state_metrics_scrape(mimir_namespace),
    ]
    header = "// Generated by fleet (controlroom/collector.py); edits are overwritten by the next rollout.\n"
    return header + "".join("\n" + write_block(block) for block in blocks)


RBAC_RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list", "watch"]},
]
"""What the collector reads, in Mimir's namespace only: its pods (discovery) and the gateway's logs."""
NODE_RULES = [
    k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["nodes"], verbs=["get", "list", "watch"]),
    k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["nodes/metrics", "nodes/proxy"], verbs=["get"]),
]
"""What it reads of the cluster: the nodes (discovery), their kubelets and cAdvisor through the
API server's proxy."""
OWN_POD_RULES = [
    k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["pods"], verbs=["get", "list", "watch"]),
]
"""What it reads in its own namespace: the pods (to find kube-state-metrics)."""


def collector_values(mimir_namespace: str, sizing: Sizing | None = None) -> dict[str, Any]:
    """The Alloy chart's values: one replica (the log tail must count each line once), fleet's
    ConfigMap, a Role in Mimir's namespace only, sized and restricted."""
    sizing = sizing or Sizing()
    return chart_values(
        release=RELEASE,
        config_map=CONFIG_MAP,
        pod_security_context=pod_security_context(ALLOY_USER),
        controller=single_replica_controller(),
        clustering=False,
        mounts=[storage_mount()],
        resources=sizing.resources("hub-collector"),
        rbac={"create": True, "namespaces": [mimir_namespace], "rules": RBAC_RULES},
    )


@dataclass(frozen=True)
class HubCollectorArgs:
    version: str
    """alloy chart version, from the fleet's version set (the one the workloads run)."""
    repository: str
    mimir_namespace: str
    workloads: Sequence[str]
    sizing: Sizing = field(default_factory=Sizing)
    archive: str | None = None
    """The chart's cached archive (an absolute path) when the deploying engine installs from
    fleet's chart cache; None: from ``repository``."""


class HubCollector(pulumi.ComponentResource):
    """The control room's Alloy, its namespace, its configuration, its access to the nodes and its
    kube-state-metrics."""

    namespace: k8s.core.v1.Namespace
    config_text: str

    def __init__(self, name: str, args: HubCollectorArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleet:controlroom:HubCollector", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.namespace = namespace(f"{name}-namespace", NAMESPACE, child)
        self.config_text = collector_config(args.mimir_namespace, args.workloads)
        config_map = alloy_config_map(
            f"{name}-config", CONFIG_MAP, self.namespace.metadata.name, self.config_text, child
        )
        grants = [
            grant(
                f"{name}-{what}",
                role=f"{RELEASE}-{what}",
                rules=rules,
                service_account=RELEASE,
                service_account_namespace=self.namespace.metadata.name,
                namespace=where,
                parent=self,
            )[1]
            for what, rules, where in (
                ("nodes", NODE_RULES, None),
                ("pods", OWN_POD_RULES, self.namespace.metadata.name),
            )
        ]
        self.kube_state_metrics = ksm.kube_state_metrics(
            f"{name}-kube-state-metrics",
            self.namespace.metadata.name,
            parent=self,
            sizing=args.sizing,
            resources=KUBE_STATE_METRICS_RESOURCES,
            watched=[args.mimir_namespace],
        )
        self.chart = alloy_chart(
            f"{name}-chart",
            RELEASE,
            args,
            namespace=self.namespace.metadata.name,
            values=collector_values(args.mimir_namespace, args.sizing),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[config_map, *grants]),
        )
        self.register_outputs({"config_map": CONFIG_MAP})
