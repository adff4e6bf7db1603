"""NetworkPolicy semantics over rendered objects: which pods a policy selects, and whether a
connection from one pod (or from outside every pod) to another pod's port is admitted.

Plain functions over Kubernetes manifests (dicts), as the API server and a conforming CNI read
them: a pod is isolated for ingress when any policy of its namespace with ``Ingress`` among its
``policyTypes`` selects it; an isolated pod admits a connection when a rule of one of those
policies admits both the source and the port. Namespaces carry ``kubernetes.io/metadata.name``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Pod", "admits", "pods_of", "selects"]

_WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job")


@dataclass(frozen=True)
class Pod:
    """A pod as its controller's template describes it."""

    namespace: str
    labels: Mapping[str, str]
    name: str = ""
    """The controller's kind/name, for messages."""
    ports: Mapping[str, int] = field(default_factory=dict)
    """Named container ports → numbers (a policy may name a port)."""


def pods_of(objects: Iterable[Mapping[str, Any]], default_namespace: str) -> list[Pod]:
    """The pods the workload controllers among ``objects`` create (one per controller)."""
    pods = []
    for item in objects:
        if item.get("kind") not in _WORKLOAD_KINDS:
            continue
        metadata = item.get("metadata") or {}
        template = (item.get("spec") or {}).get("template") or {}
        labels = (template.get("metadata") or {}).get("labels") or {}
        ports = {
            port["name"]: int(port["containerPort"])
            for container in (template.get("spec") or {}).get("containers") or []
            for port in container.get("ports") or []
            if port.get("name")
        }
        pods.append(
            Pod(
                namespace=metadata.get("namespace") or default_namespace,
                labels={str(k): str(v) for k, v in labels.items()},
                name=f"{item['kind']}/{metadata.get('name', '?')}",
                ports=ports,
            )
        )
    return pods


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Whether a label selector (``matchLabels``, ``matchExpressions``) selects ``labels``; an
    empty selector selects everything."""
    if not selector:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def _namespace_labels(namespace: str) -> dict[str, str]:
    return {"kubernetes.io/metadata.name": namespace}


def _peer_admits(peer: Mapping[str, Any], source: Pod | None, policy_namespace: str) -> bool:
    if "ipBlock" in peer:
        return source is None  # addresses outside the pods (the API server, a load balancer)
    if source is None:
        return False
    namespace_selector = peer.get("namespaceSelector")
    if namespace_selector is None:
        in_namespace = source.namespace == policy_namespace
    else:
        in_namespace = selects(namespace_selector, _namespace_labels(source.namespace))
    return in_namespace and selects(peer.get("podSelector"), source.labels)


def _port_admits(rule: Mapping[str, Any], target: Pod, port: int) -> bool:
    ports = rule.get("ports")
    if not ports:
        return True
    for entry in ports:
        if entry.get("protocol", "TCP") != "TCP":
            continue
        wanted = entry.get("port")
        if wanted is None:
            return True
        number = target.ports.get(wanted) if isinstance(wanted, str) else int(wanted)
        end = entry.get("endPort", number)
        if number is not None and number <= port <= end:
            return True
    return False


def admits(policies: Iterable[Mapping[str, Any]], source: Pod | None, target: Pod, port: int) -> bool:
    """Whether a TCP connection from ``source`` (None: an address outside every pod) to
    ``target``'s ``port`` is admitted by ``policies`` (NetworkPolicy manifests)."""
    isolating = [
        policy
        for policy in policies
        if (policy.get("metadata") or {}).get("namespace") == target.namespace
        and "Ingress" in ((policy.get("spec") or {}).get("policyTypes") or ["Ingress"])
        and selects((policy.get("spec") or {}).get("podSelector"), target.labels)
    ]
    if not isolating:
        return True
    for policy in isolating:
        for rule in (policy.get("spec") or {}).get("ingress") or []:
            peers = rule.get("from")
            source_ok = not peers or any(_peer_admits(peer, source, target.namespace) for peer in peers)
            if source_ok and _port_admits(rule, target, port):
                return True
    return False
