"""Alloy's Kubernetes pod discovery and relabel rules, as writer blocks: what the workload's Alloy
and the hub's collector both find their scrape targets with, the kubelets' and cAdvisor's
through the API server's node proxy included."""

from __future__ import annotations

from collections.abc import Sequence

from kit.alloy.syntax import Block, Item
from kit.alloy.writer import attr, ref

__all__ = ["api_server_client", "copy_label", "match", "node_proxy_rules", "rule", "selected_pods"]

API_SERVER = "kubernetes.default.svc:443"
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
KUBELET_PATH = "metrics"
"""The kubelet's own metrics (``kubelet_*``, its volume stats among them), under a node's proxy."""
CADVISOR_PATH = "metrics/cadvisor"
"""cAdvisor's (``container_*``), under a node's proxy."""


def rule(*items: Item) -> Block:
    """One ``rule`` block of a ``discovery.relabel``."""
    return Block("rule", None, tuple(items))


def copy_label(source: str, target: str) -> Block:
    """A rule copying label ``source`` to ``target``."""
    return rule(attr("source_labels", [source]), attr("target_label", target))


def match(label: str, regex: str, action: str = "keep") -> Block:
    """A rule keeping (or, with ``action="drop"``, dropping) the targets whose ``label`` matches."""
    return rule(attr("source_labels", [label]), attr("regex", regex), attr("action", action))


def selected_pods(
    name: str, rules: Sequence[Block], *, namespaces: Sequence[str] = (), selector: str | None = None
) -> list[Block]:
    """``discovery.kubernetes`` ``name`` of the pods in ``namespaces`` (every namespace when
    empty) that ``selector`` matches (every pod when None), and ``discovery.relabel`` ``name``
    applying ``rules`` to them."""
    scope: list[Item] = [attr("role", "pod")]
    if namespaces:
        scope.append(Block("namespaces", None, (attr("names", list(namespaces)),)))
    if selector is not None:
        scope.append(Block("selectors", None, (attr("role", "pod"), attr("label", selector))))
    return [
        Block("discovery.kubernetes", name, tuple(scope)),
        Block(
            "discovery.relabel", name, (attr("targets", ref(f"discovery.kubernetes.{name}.targets")), *rules)
        ),
    ]


def node_proxy_rules(path: str) -> list[Block]:
    """Rules sending a ``discovery.kubernetes`` node target to the API server's proxy of that
    node's ``path`` (:data:`KUBELET_PATH`, :data:`CADVISOR_PATH`), named after the node
    (``instance`` and ``node``). Through the proxy because the API server's certificate is
    verified with the service-account CA, where kubelets often serve self-signed ones; the
    scraper needs get on ``nodes/proxy`` and ``nodes/metrics``."""
    return [
        rule(attr("target_label", "__address__"), attr("replacement", API_SERVER)),
        rule(
            attr("source_labels", ["__meta_kubernetes_node_name"]),
            attr("regex", "(.+)"),
            attr("replacement", f"/api/v1/nodes/$1/proxy/{path}"),
            attr("target_label", "__metrics_path__"),
        ),
        # Every target has the API server's address: name the node instead.
        copy_label("__meta_kubernetes_node_name", "instance"),
        copy_label("__meta_kubernetes_node_name", "node"),
    ]


def api_server_client() -> list[Item]:
    """A ``prometheus.scrape``'s client settings for :func:`node_proxy_rules` targets: HTTPS to
    the API server as the pod's service account."""
    return [
        attr("scheme", "https"),
        attr("bearer_token_file", f"{SERVICE_ACCOUNT_DIR}/token"),
        Block("tls_config", None, (attr("ca_file", f"{SERVICE_ACCOUNT_DIR}/ca.crt"),)),
    ]
