"""The Grafana Alloy configuration of a workload cluster, generated from a typed model.

Alloy runs as a DaemonSet with clustering enabled. Cluster-wide targets (pods, kubelets,
kube-state-metrics, pod logs) are discovered by every instance and shared out between them by
clustering, so each is collected once; the node's systemd journal and its node_exporter metrics
(``prometheus.exporter.unix`` over the node's ``/proc``, ``/sys`` and ``/`` mounted read-only)
are read by the instance on that node. Every metric goes to two ``prometheus.remote_write``
components: ``local`` (the workload's own Mimir, in-cluster, no auth) and ``central`` (the
control room's Mimir, basic auth with the workload's name and a password Alloy reads from a
Kubernetes Secret at run time, optionally filtered by metric name). Logs go only to the
in-cluster ``loki.write "local"``.

The text is built as a small tree of blocks and attributes and then written out
(:mod:`kit.alloy.writer`), so every value that comes from the inventory ends up inside an
escaped string literal: a namespace or a regex cannot close a block or inject a component.
``fleet verify`` parses this text back and proves the data path from it (see :mod:`fleet.verify.dataflow`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from fleet.inventory.models import re2_problem
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
from kit.alloy.writer import attr, call, index, ref, write_block

__all__ = ["AlloyPipeline", "render_alloy_config"]

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


@dataclass(frozen=True)
class AlloyPipeline:
    """What one workload's Alloy collects and where it sends it."""

    workload: str
    """The workload's name (a DNS-1123 label): the central username and the ``workload`` label."""
    local_metrics_url: str
    """The in-cluster Mimir push URL, e.g. ``http://mimir-gateway.mimir.svc.cluster.local/api/v1/push``."""
    central_metrics_url: str
    """The control room's push URL, ``https://mimir.<domain>/api/v1/push``."""
    central_secret_namespace: str
    """Namespace of the Secret holding the central password (Alloy's own namespace)."""
    central_secret_name: str = "mimir-auth"
    central_secret_key: str = "password"
    local_logs_url: str = "http://loki-gateway.loki.svc.cluster.local/loki/api/v1/push"
    namespaces: tuple[str, ...] = ()
    """Namespaces whose pods are scraped and whose logs are collected; empty: all."""
    central_metric_filters: tuple[str, ...] = ()
    """Metric-name regexes sent to the control room; empty: every metric."""
    system_logs: bool = True
    """Collect the nodes' systemd journal."""
    kube_state_metrics_selector: str = "app.kubernetes.io/name=kube-state-metrics"
    """Label selector of the kube-state-metrics pods."""
    host_root: str = "/host/root"
    """Where the node's ``/`` is mounted (read-only) in the Alloy container, for node metrics."""
    procfs_path: str = "/host/proc"
    """Where the node's ``/proc`` is mounted (read-only) in the Alloy container."""
    sysfs_path: str = "/host/sys"
    """Where the node's ``/sys`` is mounted (read-only) in the Alloy container."""
    stack_namespaces: tuple[str, ...] = ()
    """Namespaces of the stack's own Mimir, Loki and Grafana, scraped whatever ``namespaces``
    says (self-monitoring: the hub's alerts read their metrics)."""
    central_required_metrics: tuple[str, ...] = ()
    """Metric names always sent to the control room, whatever ``central_metric_filters`` keep:
    the series the hub's alert rules read."""
    events_collector_selector: str | None = None
    """Label selector of the events collector's pods (in Alloy's namespace), scraped like each
    Alloy scrapes itself; None: no events collector."""

    def __post_init__(self) -> None:
        if len(self.workload) > 63 or not _DNS_LABEL.fullmatch(self.workload):
            raise ValueError(f"workload name {self.workload!r} is not a DNS-1123 label")
        for field in ("local_metrics_url", "central_metrics_url", "local_logs_url"):
            url = getattr(self, field)
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{field} {url!r} is not an http(s) URL")
        if urlsplit(self.central_metrics_url).scheme != "https":
            raise ValueError("central_metrics_url must use https: it carries a password")
        for field in ("central_secret_namespace", "central_secret_name", "central_secret_key"):
            if not getattr(self, field):
                raise ValueError(f"{field} must not be empty")
        for pattern in self.central_metric_filters:
            problem = re2_problem(pattern)
            if problem is not None:
                raise ValueError(f"metric filter: {problem}")
        if any(not namespace for namespace in self.namespaces):
            raise ValueError("namespaces must not contain an empty name")
        for field in ("host_root", "procfs_path", "sysfs_path"):
            path = getattr(self, field)
            if not path.startswith("/") or "\n" in path:
                raise ValueError(f"{field} {path!r} is not an absolute path")


PORT_NAME = "__meta_kubernetes_pod_container_port_name"
"""The discovery label of a pod's container port's name, which scrapes select by."""


def render_alloy_config(pipeline: AlloyPipeline) -> str:
    """The Alloy configuration text for ``pipeline``; the same pipeline gives the same bytes."""
    blocks = [
        *_metrics_destinations(pipeline),
        *_pod_metrics(pipeline),
        *_node_metrics(),
        *_node_exporter(pipeline),
        *_kube_state_metrics(pipeline),
        *_self_monitoring(pipeline),
        *_logs(pipeline),
    ]
    header = (
        "// Generated by fleet; edits are overwritten by the next rollout.\n"
        "// Metrics: every scrape forwards to prometheus.remote_write.local and .central.\n"
        "// Logs: only loki.write.local (in-cluster); they never leave the workload.\n"
    )
    return header + "".join("\n" + write_block(block, 0) for block in blocks)


_BOTH_WRITERS = ("prometheus.remote_write.local.receiver", "prometheus.remote_write.central.receiver")


def _workload_labels(pipeline: AlloyPipeline) -> Item:
    return attr("external_labels", {"workload": pipeline.workload})


def _metrics_destinations(pipeline: AlloyPipeline) -> list[Block]:
    central_endpoint: list[Item] = [
        attr("url", pipeline.central_metrics_url),
        Block(
            "basic_auth",
            None,
            (
                attr("username", pipeline.workload),
                # Read at run time from the Secret: the password is never in this text.
                attr(
                    "password",
                    index(
                        ref("remote.kubernetes.secret.central_auth.data"),
                        pipeline.central_secret_key,
                    ),
                ),
            ),
        ),
    ]
    filters = list(dict.fromkeys(pipeline.central_metric_filters))
    if filters and pipeline.central_required_metrics:
        # The hub's alerts read these: a filter must never blind them.
        filters.append("|".join(re.escape(name) for name in sorted(set(pipeline.central_required_metrics))))
    if filters:
        # One keep rule over the alternation: several keep rules would keep only the
        # intersection. A write_relabel_config filters the central endpoint alone.
        central_endpoint.append(
            Block(
                "write_relabel_config",
                None,
                (
                    attr("source_labels", ["__name__"]),
                    attr("regex", "|".join(f"(?:{pattern})" for pattern in filters)),
                    attr("action", "keep"),
                ),
            )
        )
    return [
        Block(
            "remote.kubernetes.secret",
            "central_auth",
            (
                attr("namespace", pipeline.central_secret_namespace),
                attr("name", pipeline.central_secret_name),
            ),
        ),
        Block(
            "prometheus.remote_write",
            "local",
            (
                Block("endpoint", None, (attr("url", pipeline.local_metrics_url),)),
                _workload_labels(pipeline),
            ),
        ),
        Block(
            "prometheus.remote_write",
            "central",
            (Block("endpoint", None, tuple(central_endpoint)), _workload_labels(pipeline)),
        ),
    ]


def _pod_discovery(pipeline: AlloyPipeline) -> Block:
    body: list[Item] = [attr("role", "pod")]
    if pipeline.namespaces:
        body.append(Block("namespaces", None, (attr("names", list(pipeline.namespaces)),)))
    return Block("discovery.kubernetes", "pods", tuple(body))


def _scrape(label: str, targets: str, *extra: Item, clustering: bool = True) -> Block:
    body: list[Item] = [
        attr("targets", ref(targets)),
        *extra,
        attr("forward_to", [ref(writer) for writer in _BOTH_WRITERS]),
    ]
    if clustering:
        body.append(Block("clustering", None, (attr("enabled", True),)))
    return Block("prometheus.scrape", label, tuple(body))


def _pod_metrics(pipeline: AlloyPipeline) -> list[Block]:
    # Opt-in by annotation (prometheus.io/scrape: "true" and prometheus.io/port, optionally
    # prometheus.io/path and prometheus.io/scheme) rather than by port: scraping every declared
    # container port would hit ports that serve no metrics, and the app team, who owns the
    # cardinality of what it exposes, decides what the control room pays for.
    annotation = "__meta_kubernetes_pod_annotation_prometheus_io_"
    rules = (
        Block(
            "rule",
            None,
            (
                attr("source_labels", [annotation + "scrape"]),
                attr("regex", "true"),
                attr("action", "keep"),
            ),
        ),
        # Discovery yields one target per container port: keep the annotated one only.
        Block(
            "rule",
            None,
            (
                attr("source_labels", ["__meta_kubernetes_pod_container_port_number"]),
                attr("target_label", annotation + "port"),
                attr("action", "keepequal"),
            ),
        ),
        Block(
            "rule",
            None,
            (
                attr("source_labels", ["__meta_kubernetes_pod_phase"]),
                attr("regex", "Pending|Succeeded|Failed|Unknown"),
                attr("action", "drop"),
            ),
        ),
        Block(
            "rule",
            None,
            (
                attr("source_labels", [annotation + "path"]),
                attr("regex", "(.+)"),
                attr("target_label", "__metrics_path__"),
            ),
        ),
        Block(
            "rule",
            None,
            (
                attr("source_labels", [annotation + "scheme"]),
                attr("regex", "(https?)"),
                attr("target_label", "__scheme__"),
            ),
        ),
        copy_label("__meta_kubernetes_namespace", "namespace"),
        copy_label("__meta_kubernetes_pod_name", "pod"),
        copy_label("__meta_kubernetes_pod_container_name", "container"),
    )
    return [
        _pod_discovery(pipeline),
        Block(
            "discovery.relabel",
            "pod_metrics",
            (attr("targets", ref("discovery.kubernetes.pods.targets")), *rules),
        ),
        _scrape("pods", "discovery.relabel.pod_metrics.output"),
    ]


def _node_metrics() -> list[Block]:
    # Kubelet and cAdvisor through the API server's node proxy (kit.alloy.discovery).
    # Needs RBAC: get on nodes/proxy and nodes/metrics.
    blocks: list[Block] = [Block("discovery.kubernetes", "nodes", (attr("role", "node"),))]
    for label, path in (("kubelet", KUBELET_PATH), ("cadvisor", CADVISOR_PATH)):
        blocks.append(
            Block(
                "discovery.relabel",
                label,
                (attr("targets", ref("discovery.kubernetes.nodes.targets")), *node_proxy_rules(path)),
            )
        )
        blocks.append(
            _scrape(label, f"discovery.relabel.{label}.output", attr("job_name", label), *api_server_client())
        )
    return blocks


def _node_exporter(pipeline: AlloyPipeline) -> list[Block]:
    # node_exporter built into Alloy, reading the node's /proc, /sys and / from read-only
    # hostPath mounts. Each DaemonSet pod exports its own node, so the scrape is not clustered
    # (clustering would hand this pod's target to another pod, which cannot reach it). The
    # exporter names the target after the container's hostname (the pod); the Alloy chart sets
    # HOSTNAME to the node's name, which is what the series should carry.
    node_name = call("sys.env", "HOSTNAME")
    return [
        Block(
            "prometheus.exporter.unix",
            "node",
            (
                attr("procfs_path", pipeline.procfs_path),
                attr("sysfs_path", pipeline.sysfs_path),
                attr("rootfs_path", pipeline.host_root),
                attr("udev_data_path", pipeline.host_root.rstrip("/") + "/run/udev/data"),
            ),
        ),
        Block(
            "discovery.relabel",
            "node_exporter",
            (
                attr("targets", ref("prometheus.exporter.unix.node.targets")),
                Block("rule", None, (attr("target_label", "instance"), attr("replacement", node_name))),
                Block("rule", None, (attr("target_label", "node"), attr("replacement", node_name))),
            ),
        ),
        _scrape(
            "node_exporter",
            "discovery.relabel.node_exporter.output",
            attr("job_name", "node-exporter"),
            clustering=False,
        ),
    ]


def _kube_state_metrics(pipeline: AlloyPipeline) -> list[Block]:
    # Cluster-scoped objects: not limited to ``namespaces``.
    return [
        *selected_pods(
            "kube_state_metrics",
            [match(PORT_NAME, "http")],
            selector=pipeline.kube_state_metrics_selector,
        ),
        # kube-state-metrics' own namespace/pod labels describe the objects: keep them.
        _scrape(
            "kube_state_metrics",
            "discovery.relabel.kube_state_metrics.output",
            attr("job_name", "kube-state-metrics"),
            attr("honor_labels", True),
        ),
    ]


def _self_monitoring(pipeline: AlloyPipeline) -> list[Block]:
    """Alloy's own metrics (each instance its own: write errors, dropped samples, queue lag) and
    the metrics ports of the stack's Mimir, Loki and Grafana pods, found by port name."""
    blocks = _self_metrics() + _events_collector_metrics(pipeline)
    if not pipeline.stack_namespaces:
        return blocks
    return [
        *blocks,
        *selected_pods(
            "stack",
            [
                # Mimir's and Loki's charts name their metrics port http-metrics; Grafana's is grafana.
                match(PORT_NAME, "http-metrics|grafana"),
                match("__meta_kubernetes_pod_phase", "Pending|Succeeded|Failed|Unknown", "drop"),
                copy_label("__meta_kubernetes_namespace", "namespace"),
                copy_label("__meta_kubernetes_pod_name", "pod"),
                copy_label("__meta_kubernetes_pod_container_name", "container"),
                rule(
                    attr(
                        "source_labels",
                        ["__meta_kubernetes_namespace", "__meta_kubernetes_pod_container_name"],
                    ),
                    attr("separator", "/"),
                    attr("target_label", "job"),
                ),
            ],
            namespaces=pipeline.stack_namespaces,
        ),
        _scrape("stack", "discovery.relabel.stack.output"),
    ]


def _events_collector_metrics(pipeline: AlloyPipeline) -> list[Block]:
    # The events collector's own metrics (its loki.write's sent and dropped lines), under the
    # same job as every Alloy's, so the pipeline's alerts and dashboards cover it.
    if pipeline.events_collector_selector is None:
        return []
    return [
        *selected_pods(
            "alloy_events",
            [match(PORT_NAME, "http-metrics"), copy_label("__meta_kubernetes_pod_name", "instance")],
            namespaces=[pipeline.central_secret_namespace],
            selector=pipeline.events_collector_selector,
        ),
        _scrape("alloy_events", "discovery.relabel.alloy_events.output", attr("job_name", "alloy")),
    ]


def _self_metrics() -> list[Block]:
    # Each Alloy's own metrics (remote-write failures, drops and lag, component health): what the
    # fleet's alerts on a workload's pipeline read. Each pod scrapes itself, so no clustering; the
    # instance is the node, as for node_exporter.
    node_name = call("sys.env", "HOSTNAME")
    return [
        Block("prometheus.exporter.self", "alloy", ()),
        Block(
            "discovery.relabel",
            "alloy",
            (
                attr("targets", ref("prometheus.exporter.self.alloy.targets")),
                Block("rule", None, (attr("target_label", "instance"), attr("replacement", node_name))),
            ),
        ),
        _scrape("alloy", "discovery.relabel.alloy.output", attr("job_name", "alloy"), clustering=False),
    ]


def _logs(pipeline: AlloyPipeline) -> list[Block]:
    local_writer = ref("loki.write.local.receiver")
    blocks = [
        Block(
            "loki.write",
            "local",
            (
                Block("endpoint", None, (attr("url", pipeline.local_logs_url),)),
                _workload_labels(pipeline),
            ),
        ),
        Block(
            "discovery.relabel",
            "pod_logs",
            (
                attr("targets", ref("discovery.kubernetes.pods.targets")),
                copy_label("__meta_kubernetes_namespace", "namespace"),
                copy_label("__meta_kubernetes_pod_name", "pod"),
                copy_label("__meta_kubernetes_pod_container_name", "container"),
                copy_label("__meta_kubernetes_pod_node_name", "node"),
            ),
        ),
        Block(
            "loki.source.kubernetes",
            "pods",
            (
                attr("targets", ref("discovery.relabel.pod_logs.output")),
                attr("forward_to", [ref("loki.process.pods.receiver")]),
                Block("clustering", None, (attr("enabled", True),)),
            ),
        ),
        # After a restart the API can replay old lines; Loki would reject them as too old.
        Block(
            "loki.process",
            "pods",
            (
                attr("forward_to", [local_writer]),
                Block(
                    "stage.drop",
                    None,
                    (attr("older_than", "1h"), attr("drop_counter_reason", "too_old")),
                ),
            ),
        ),
    ]
    if pipeline.system_logs:
        # The journal is node-local: each DaemonSet pod reads its own node's, no clustering.
        # loki.relabel here only lends its rules; nothing is forwarded through it.
        blocks += [
            Block(
                "loki.relabel",
                "journal",
                (
                    attr("forward_to", []),
                    copy_label("__journal__systemd_unit", "unit"),
                    copy_label("__journal__hostname", "node"),
                    copy_label("__journal_priority_keyword", "level"),
                ),
            ),
            Block(
                "loki.source.journal",
                "system",
                (
                    attr("max_age", "12h"),
                    attr("relabel_rules", ref("loki.relabel.journal.rules")),
                    attr("labels", {"job": "systemd-journal"}),
                    attr("forward_to", [local_writer]),
                ),
            ),
        ]
    return blocks
