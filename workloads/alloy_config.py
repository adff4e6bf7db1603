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

The text is built as a small tree of blocks and attributes and then written out, so every value
that comes from the inventory ends up inside an escaped string literal: a namespace or a regex
cannot close a block or inject a component. ``fleet verify`` parses this text back and proves
the data path from it (see ``fleet/verify.py``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Union
from urllib.parse import urlsplit

__all__ = ["AlloyPipeline", "quote", "render_alloy_config"]

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"


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
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"metric filter {pattern!r} is not a regex ({exc})") from None
        if any(not namespace for namespace in self.namespaces):
            raise ValueError("namespaces must not contain an empty name")
        for field in ("host_root", "procfs_path", "sysfs_path"):
            path = getattr(self, field)
            if not path.startswith("/") or "\n" in path:
                raise ValueError(f"{field} {path!r} is not an absolute path")


def render_alloy_config(pipeline: AlloyPipeline) -> str:
    """The Alloy configuration text for ``pipeline``; the same pipeline gives the same bytes."""
    blocks = [
        *_metrics_destinations(pipeline),
        *_pod_metrics(pipeline),
        *_node_metrics(),
        *_node_exporter(pipeline),
        *_kube_state_metrics(pipeline),
        *_logs(pipeline),
    ]
    header = (
        "// Generated by fleet; edits are overwritten by the next rollout.\n"
        "// Metrics: every scrape forwards to prometheus.remote_write.local and .central.\n"
        "// Logs: only loki.write.local (in-cluster); they never leave the workload.\n"
    )
    return header + "".join("\n" + _write_block(block, 0) for block in blocks)


# --- the pipeline ------------------------------------------------------------------------------

_BOTH_WRITERS = ("prometheus.remote_write.local.receiver", "prometheus.remote_write.central.receiver")


def _workload_labels(pipeline: AlloyPipeline) -> _Attr:
    return _Attr("external_labels", {"workload": pipeline.workload})


def _metrics_destinations(pipeline: AlloyPipeline) -> list[_Block]:
    central_endpoint: list[_Item] = [
        _Attr("url", pipeline.central_metrics_url),
        _Block(
            "basic_auth",
            None,
            (
                _Attr("username", pipeline.workload),
                # Read at run time from the Secret: the password is never in this text.
                _Attr(
                    "password",
                    _Index(
                        _Ref("remote.kubernetes.secret.central_auth.data"),
                        pipeline.central_secret_key,
                    ),
                ),
            ),
        ),
    ]
    filters = list(dict.fromkeys(pipeline.central_metric_filters))
    if filters:
        # One keep rule over the alternation: several keep rules would keep only the
        # intersection. A write_relabel_config filters the central endpoint alone.
        central_endpoint.append(
            _Block(
                "write_relabel_config",
                None,
                (
                    _Attr("source_labels", ["__name__"]),
                    _Attr("regex", "|".join(f"(?:{pattern})" for pattern in filters)),
                    _Attr("action", "keep"),
                ),
            )
        )
    return [
        _Block(
            "remote.kubernetes.secret",
            "central_auth",
            (
                _Attr("namespace", pipeline.central_secret_namespace),
                _Attr("name", pipeline.central_secret_name),
            ),
        ),
        _Block(
            "prometheus.remote_write",
            "local",
            (
                _Block("endpoint", None, (_Attr("url", pipeline.local_metrics_url),)),
                _workload_labels(pipeline),
            ),
        ),
        _Block(
            "prometheus.remote_write",
            "central",
            (_Block("endpoint", None, tuple(central_endpoint)), _workload_labels(pipeline)),
        ),
    ]


def _pod_discovery(pipeline: AlloyPipeline) -> _Block:
    body: list[_Item] = [_Attr("role", "pod")]
    if pipeline.namespaces:
        body.append(_Block("namespaces", None, (_Attr("names", list(pipeline.namespaces)),)))
    return _Block("discovery.kubernetes", "pods", tuple(body))


def _copy_label(source: str, target: str) -> _Block:
    return _Block("rule", None, (_Attr("source_labels", [source]), _Attr("target_label", target)))


def _scrape(label: str, targets: str, *extra: _Item, clustering: bool = True) -> _Block:
    body: list[_Item] = [
        _Attr("targets", _Ref(targets)),
        *extra,
        _Attr("forward_to", [_Ref(writer) for writer in _BOTH_WRITERS]),
    ]
    if clustering:
        body.append(_Block("clustering", None, (_Attr("enabled", True),)))
    return _Block("prometheus.scrape", label, tuple(body))


def _pod_metrics(pipeline: AlloyPipeline) -> list[_Block]:
    # Opt-in by annotation (prometheus.io/scrape: "true" and prometheus.io/port, optionally
    # prometheus.io/path and prometheus.io/scheme) rather than by port: scraping every declared
    # container port would hit ports that serve no metrics, and the app team, who owns the
    # cardinality of what it exposes, decides what the control room pays for.
    annotation = "__meta_kubernetes_pod_annotation_prometheus_io_"
    rules = (
        _Block(
            "rule",
            None,
            (
                _Attr("source_labels", [annotation + "scrape"]),
                _Attr("regex", "true"),
                _Attr("action", "keep"),
            ),
        ),
        # Discovery yields one target per container port: keep the annotated one only.
        _Block(
            "rule",
            None,
            (
                _Attr("source_labels", ["__meta_kubernetes_pod_container_port_number"]),
                _Attr("target_label", annotation + "port"),
                _Attr("action", "keepequal"),
            ),
        ),
        _Block(
            "rule",
            None,
            (
                _Attr("source_labels", ["__meta_kubernetes_pod_phase"]),
                _Attr("regex", "Pending|Succeeded|Failed|Unknown"),
                _Attr("action", "drop"),
            ),
        ),
        _Block(
            "rule",
            None,
            (
                _Attr("source_labels", [annotation + "path"]),
                _Attr("regex", "(.+)"),
                _Attr("target_label", "__metrics_path__"),
            ),
        ),
        _Block(
            "rule",
            None,
            (
                _Attr("source_labels", [annotation + "scheme"]),
                _Attr("regex", "(https?)"),
                _Attr("target_label", "__scheme__"),
            ),
        ),
        _copy_label("__meta_kubernetes_namespace", "namespace"),
        _copy_label("__meta_kubernetes_pod_name", "pod"),
        _copy_label("__meta_kubernetes_pod_container_name", "container"),
    )
    return [
        _pod_discovery(pipeline),
        _Block(
            "discovery.relabel",
            "pod_metrics",
            (_Attr("targets", _Ref("discovery.kubernetes.pods.targets")), *rules),
        ),
        _scrape("pods", "discovery.relabel.pod_metrics.output"),
    ]


def _node_metrics() -> list[_Block]:
    # Kubelet and cAdvisor through the API server's node proxy: the API server's certificate is
    # verified with the service-account CA, where kubelets often serve self-signed certificates.
    # Needs RBAC: get on nodes/proxy and nodes/metrics.
    blocks: list[_Block] = [_Block("discovery.kubernetes", "nodes", (_Attr("role", "node"),))]
    for label, path in (("kubelet", "metrics"), ("cadvisor", "metrics/cadvisor")):
        blocks.append(
            _Block(
                "discovery.relabel",
                label,
                (
                    _Attr("targets", _Ref("discovery.kubernetes.nodes.targets")),
                    _Block(
                        "rule",
                        None,
                        (
                            _Attr("target_label", "__address__"),
                            _Attr("replacement", "kubernetes.default.svc:443"),
                        ),
                    ),
                    _Block(
                        "rule",
                        None,
                        (
                            _Attr("source_labels", ["__meta_kubernetes_node_name"]),
                            _Attr("regex", "(.+)"),
                            _Attr("replacement", f"/api/v1/nodes/$1/proxy/{path}"),
                            _Attr("target_label", "__metrics_path__"),
                        ),
                    ),
                    # Every target has the API server's address: name the node instead.
                    _copy_label("__meta_kubernetes_node_name", "instance"),
                    _copy_label("__meta_kubernetes_node_name", "node"),
                ),
            )
        )
        blocks.append(
            _scrape(
                label,
                f"discovery.relabel.{label}.output",
                _Attr("job_name", label),
                _Attr("scheme", "https"),
                _Attr("bearer_token_file", f"{_SERVICE_ACCOUNT}/token"),
                _Block("tls_config", None, (_Attr("ca_file", f"{_SERVICE_ACCOUNT}/ca.crt"),)),
            )
        )
    return blocks


def _node_exporter(pipeline: AlloyPipeline) -> list[_Block]:
    # node_exporter built into Alloy, reading the node's /proc, /sys and / from read-only
    # hostPath mounts. Each DaemonSet pod exports its own node, so the scrape is not clustered
    # (clustering would hand this pod's target to another pod, which cannot reach it). The
    # exporter names the target after the container's hostname (the pod); the Alloy chart sets
    # HOSTNAME to the node's name, which is what the series should carry.
    node_name = _Call("sys.env", ("HOSTNAME",))
    return [
        _Block(
            "prometheus.exporter.unix",
            "node",
            (
                _Attr("procfs_path", pipeline.procfs_path),
                _Attr("sysfs_path", pipeline.sysfs_path),
                _Attr("rootfs_path", pipeline.host_root),
                _Attr("udev_data_path", pipeline.host_root.rstrip("/") + "/run/udev/data"),
            ),
        ),
        _Block(
            "discovery.relabel",
            "node_exporter",
            (
                _Attr("targets", _Ref("prometheus.exporter.unix.node.targets")),
                _Block("rule", None, (_Attr("target_label", "instance"), _Attr("replacement", node_name))),
                _Block("rule", None, (_Attr("target_label", "node"), _Attr("replacement", node_name))),
            ),
        ),
        _scrape(
            "node_exporter",
            "discovery.relabel.node_exporter.output",
            _Attr("job_name", "node-exporter"),
            clustering=False,
        ),
    ]


def _kube_state_metrics(pipeline: AlloyPipeline) -> list[_Block]:
    # Cluster-scoped objects: not limited to ``namespaces``.
    return [
        _Block(
            "discovery.kubernetes",
            "kube_state_metrics",
            (
                _Attr("role", "pod"),
                _Block(
                    "selectors",
                    None,
                    (_Attr("role", "pod"), _Attr("label", pipeline.kube_state_metrics_selector)),
                ),
            ),
        ),
        _Block(
            "discovery.relabel",
            "kube_state_metrics",
            (
                _Attr("targets", _Ref("discovery.kubernetes.kube_state_metrics.targets")),
                _Block(
                    "rule",
                    None,
                    (
                        _Attr("source_labels", ["__meta_kubernetes_pod_container_port_name"]),
                        _Attr("regex", "http"),
                        _Attr("action", "keep"),
                    ),
                ),
            ),
        ),
        # kube-state-metrics' own namespace/pod labels describe the objects: keep them.
        _scrape(
            "kube_state_metrics",
            "discovery.relabel.kube_state_metrics.output",
            _Attr("job_name", "kube-state-metrics"),
            _Attr("honor_labels", True),
        ),
    ]


def _logs(pipeline: AlloyPipeline) -> list[_Block]:
    local_writer = _Ref("loki.write.local.receiver")
    blocks = [
        _Block(
            "loki.write",
            "local",
            (
                _Block("endpoint", None, (_Attr("url", pipeline.local_logs_url),)),
                _workload_labels(pipeline),
            ),
        ),
        _Block(
            "discovery.relabel",
            "pod_logs",
            (
                _Attr("targets", _Ref("discovery.kubernetes.pods.targets")),
                _copy_label("__meta_kubernetes_namespace", "namespace"),
                _copy_label("__meta_kubernetes_pod_name", "pod"),
                _copy_label("__meta_kubernetes_pod_container_name", "container"),
                _copy_label("__meta_kubernetes_pod_node_name", "node"),
            ),
        ),
        _Block(
            "loki.source.kubernetes",
            "pods",
            (
                _Attr("targets", _Ref("discovery.relabel.pod_logs.output")),
                _Attr("forward_to", [_Ref("loki.process.pods.receiver")]),
                _Block("clustering", None, (_Attr("enabled", True),)),
            ),
        ),
        # After a restart the API can replay old lines; Loki would reject them as too old.
        _Block(
            "loki.process",
            "pods",
            (
                _Attr("forward_to", [local_writer]),
                _Block(
                    "stage.drop",
                    None,
                    (_Attr("older_than", "1h"), _Attr("drop_counter_reason", "too_old")),
                ),
            ),
        ),
    ]
    if pipeline.system_logs:
        # The journal is node-local: each DaemonSet pod reads its own node's, no clustering.
        # loki.relabel here only lends its rules; nothing is forwarded through it.
        blocks += [
            _Block(
                "loki.relabel",
                "journal",
                (
                    _Attr("forward_to", []),
                    _copy_label("__journal__systemd_unit", "unit"),
                    _copy_label("__journal__hostname", "node"),
                    _copy_label("__journal_priority_keyword", "level"),
                ),
            ),
            _Block(
                "loki.source.journal",
                "system",
                (
                    _Attr("max_age", "12h"),
                    _Attr("relabel_rules", _Ref("loki.relabel.journal.rules")),
                    _Attr("labels", {"job": "systemd-journal"}),
                    _Attr("forward_to", [local_writer]),
                ),
            ),
        ]
    return blocks


# --- a tiny typed writer -----------------------------------------------------------------------

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_REFERENCE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_NAMED_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


@dataclass(frozen=True)
class _Ref:
    """A reference to another component's export; only ever built from constants."""

    path: str

    def __post_init__(self) -> None:
        if not _REFERENCE.fullmatch(self.path):
            raise ValueError(f"{self.path!r} is not a reference")


@dataclass(frozen=True)
class _Index:
    """``ref["key"]``."""

    ref: _Ref
    key: str


@dataclass(frozen=True)
class _Call:
    """``function("arg", ...)`` of a standard-library function; only ever built from constants."""

    function: str
    args: tuple[str, ...]

    def __post_init__(self) -> None:
        if not _REFERENCE.fullmatch(self.function):
            raise ValueError(f"{self.function!r} is not a function name")


_Value = Union[str, int, bool, _Ref, _Index, _Call, Sequence["_Value"], dict[str, "_Value"]]  # noqa: UP007


@dataclass(frozen=True)
class _Attr:
    name: str
    value: _Value


@dataclass(frozen=True)
class _Block:
    name: str
    label: str | None
    body: tuple[_Item, ...]

    def __post_init__(self) -> None:
        if not _REFERENCE.fullmatch(self.name):
            raise ValueError(f"{self.name!r} is not a block name")
        if self.label is not None and not _IDENTIFIER.fullmatch(self.label):
            raise ValueError(f"{self.label!r} is not a component label")


_Item = Union[_Attr, _Block]  # noqa: UP007


def quote(value: str) -> str:
    """``value`` as an Alloy string literal, with every special or control character escaped."""
    out = ['"']
    for char in value:
        code = ord(char)
        if char in _NAMED_ESCAPES:
            out.append(_NAMED_ESCAPES[char])
        elif 0xD800 <= code <= 0xDFFF:
            raise ValueError("string contains a lone surrogate, which Alloy cannot represent")
        elif code < 0x20 or 0x7F <= code < 0xA0 or char in "\u2028\u2029":
            out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _write_value(value: _Value, indent: int) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, _Ref):
        return value.path
    if isinstance(value, _Index):
        return f"{value.ref.path}[{quote(value.key)}]"
    if isinstance(value, _Call):
        return f"{value.function}({', '.join(quote(arg) for arg in value.args)})"
    if isinstance(value, dict):
        if not value:
            return "{}"
        pad = "  " * (indent + 1)
        keys = {key: key if _IDENTIFIER.fullmatch(key) else quote(key) for key in value}
        width = max(len(key) for key in keys.values())
        lines = [
            f"{pad}{keys[key].ljust(width)} = {_write_value(item, indent + 1)},\n"
            for key, item in value.items()
        ]
        return "{\n" + "".join(lines) + "  " * indent + "}"
    return "[" + ", ".join(_write_value(item, indent) for item in value) + "]"


def _write_block(block: _Block, indent: int) -> str:
    pad = "  " * indent
    head = block.name if block.label is None else f"{block.name} {quote(block.label)}"
    chunks: list[str] = []
    # Align the '=' of consecutive attributes, as `alloy fmt` does; blank lines between blocks.
    run: list[_Attr] = []

    def flush() -> None:
        if run:
            width = max(len(attr.name) for attr in run)
            chunks.append(
                "".join(
                    f"{pad}  {attr.name.ljust(width)} = {_write_value(attr.value, indent + 1)}\n"
                    for attr in run
                )
            )
            run.clear()

    for item in block.body:
        if isinstance(item, _Attr):
            if not _IDENTIFIER.fullmatch(item.name):
                raise ValueError(f"{item.name!r} is not an attribute name")
            run.append(item)
        else:
            flush()
            chunks.append(_write_block(item, indent + 1))
    flush()
    lines = [f"{pad}{head} {{\n", "\n".join(chunks)]
    lines.append(f"{pad}}}\n")
    return "".join(lines)
