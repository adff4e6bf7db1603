"""NetworkPolicy semantics over rendered objects: which pods a policy selects, and whether a
connection from one pod (or from outside every pod) to another pod's port, or to an address
outside the pods, is admitted.

Plain functions over Kubernetes manifests (dicts), as the API server and a conforming CNI read
them: a pod is isolated for ingress (egress) when any policy of its namespace with ``Ingress``
(``Egress``) among its ``policyTypes`` selects it; an isolated pod admits a connection when a
rule of one of those policies admits both the peer and the port. A connection between two pods
needs both: the source's egress and the target's ingress. Namespaces carry
``kubernetes.io/metadata.name``. An ``ipBlock`` is read as addresses outside the pods, which is
what fleet uses it for (whether a CNI also matches pod addresses against it is left to the CNI
by the API: Calico does, Cilium does not).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Address", "Pod", "admits", "connects", "egress_admits", "pods_of", "selects"]

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


@dataclass(frozen=True)
class Address:
    """An address outside every pod (the API server, a bucket's endpoint, the hub)."""

    ip: str
    name: str = ""


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


def _port_admits(rule: Mapping[str, Any], target: Pod | Address, port: int, protocol: str = "TCP") -> bool:
    ports = rule.get("ports")
    if not ports:
        return True
    for entry in ports:
        if entry.get("protocol", "TCP") != protocol:
            continue
        wanted = entry.get("port")
        if wanted is None:
            return True
        if isinstance(wanted, str):
            number = target.ports.get(wanted) if isinstance(target, Pod) else None
        else:
            number = int(wanted)
        end = entry.get("endPort", number)
        if number is not None and number <= port <= end:
            return True
    return False


def admits(
    policies: Iterable[Mapping[str, Any]], source: Pod | None, target: Pod, port: int, protocol: str = "TCP"
) -> bool:
    """Whether a connection from ``source`` (None: an address outside every pod) to ``target``'s
    ``port`` is admitted by ``target``'s ingress policies (NetworkPolicy manifests)."""
    isolating = [
        policy
        for policy in policies
        if (policy.get("metadata") or {}).get("namespace") == target.namespace
        and "Ingress" in _types(policy)
        and selects((policy.get("spec") or {}).get("podSelector"), target.labels)
    ]
    if not isolating:
        return True
    for policy in isolating:
        for rule in (policy.get("spec") or {}).get("ingress") or []:
            peers = rule.get("from")
            source_ok = not peers or any(_peer_admits(peer, source, target.namespace) for peer in peers)
            if source_ok and _port_admits(rule, target, port, protocol):
                return True
    return False


def _types(policy: Mapping[str, Any]) -> list[str]:
    spec = policy.get("spec") or {}
    given = spec.get("policyTypes")
    if given:
        return list(given)
    return ["Ingress", *(["Egress"] if "egress" in spec else [])]


def _in_block(block: Mapping[str, Any], ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    network = ipaddress.ip_network(block["cidr"], strict=False)
    if address.version != network.version or address not in network:
        return False
    for excluded in block.get("except") or []:
        inner = ipaddress.ip_network(excluded, strict=False)
        if inner.version == address.version and address in inner:
            return False
    return True


def _egress_peer_admits(peer: Mapping[str, Any], target: Pod | Address, policy_namespace: str) -> bool:
    if "ipBlock" in peer:
        return isinstance(target, Address) and _in_block(peer["ipBlock"], target.ip)
    if isinstance(target, Address):
        return False
    namespace_selector = peer.get("namespaceSelector")
    if namespace_selector is None:
        in_namespace = target.namespace == policy_namespace
    else:
        in_namespace = selects(namespace_selector, _namespace_labels(target.namespace))
    return in_namespace and selects(peer.get("podSelector"), target.labels)


def egress_admits(
    policies: Iterable[Mapping[str, Any]],
    source: Pod,
    target: Pod | Address,
    port: int,
    protocol: str = "TCP",
) -> bool:
    """Whether ``source``'s egress policies let it open a ``protocol`` connection to ``target``'s
    ``port`` (a pod's, or an address outside the pods)."""
    isolating = [
        policy
        for policy in policies
        if (policy.get("metadata") or {}).get("namespace") == source.namespace
        and "Egress" in _types(policy)
        and selects((policy.get("spec") or {}).get("podSelector"), source.labels)
    ]
    if not isolating:
        return True
    for policy in isolating:
        for rule in (policy.get("spec") or {}).get("egress") or []:
            peers = rule.get("to")
            target_ok = not peers or any(
                _egress_peer_admits(peer, target, source.namespace) for peer in peers
            )
            if target_ok and _port_admits(rule, target, port, protocol):
                return True
    return False


def connects(
    policies: Iterable[Mapping[str, Any]],
    source: Pod | None,
    target: Pod | Address,
    port: int,
    protocol: str = "TCP",
) -> bool:
    """Whether a connection from ``source`` (None: outside every pod) reaches ``target``: the
    source's egress admits it and, for a pod, the target's ingress does."""
    policies = list(policies)
    if source is not None and not egress_admits(policies, source, target, port, protocol):
        return False
    if isinstance(target, Address):
        return True
    return admits(policies, source, target, port, protocol)
