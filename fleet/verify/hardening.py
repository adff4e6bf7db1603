"""The production proofs over a stack's rendered objects:

- ``resources``: every container (init containers too) has CPU and memory requests and limits;
- ``security``: every container runs restricted (not root, no privilege escalation, every
  capability dropped, a RuntimeDefault seccomp profile, a read-only root filesystem), or its
  object names an exception from :data:`kit.security.EXCEPTIONS` (reason given there);
- ``network``: the NetworkPolicies select rendered pods, admit each hop of the data path (the
  source's egress and the target's ingress) and no pod from outside the stack (nor, in the
  control room, any pod but the gateway to the distributor's and query-frontend's HTTP port);
  with egress restricted, every pod resolves names, reaches the addresses outside the pods it
  needs (API server, object storage, the hub, notification receivers) and no pod outside the
  stack but Alloy (which scrapes them), judged by :mod:`fleet.verify.netpol`;
- ``limits``: every Mimir's effective configuration sets its ingestion limits (the control
  room's runtime overrides name every workload's tenant), and every Loki's sets its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from fleet.verify.dataflow import Violation
from fleet.verify.netpol import Address, Pod, admits, connects, pods_of, selects
from fleet.verify.objects import StackObjects, pod_spec
from kit.network import HTTP_ENTRY_EXCEPTIONS
from kit.security import EXCEPTIONS

__all__ = [
    "HARDENING_INVARIANTS",
    "check_hardening",
    "check_limits",
    "check_network",
    "check_resources",
    "check_security",
]

HARDENING_INVARIANTS = ("resources", "security", "network", "limits")
MIMIR_LIMITS = ("max_global_series_per_user", "ingestion_rate", "ingestion_burst_size")
LOKI_LIMITS = ("ingestion_rate_mb", "ingestion_burst_size_mb", "max_global_streams_per_user")
OUTSIDER = Pod("fleet-verify-outsider", {}, "a pod outside the stack")
"""A pod in a namespace the stack does not own, with no labels."""
KUBE_DNS = Pod("kube-system", {"k8s-app": "kube-dns"}, "the cluster's DNS")
OUTSIDE_PORTS = (53, 80, 443, 3100, 8080, 9095)
"""Ports a pod outside the stack is tried on: no pod of the stack but Alloy may reach them."""


def _containers(stack: StackObjects) -> Iterator[tuple[Any, Mapping[str, Any], Mapping[str, Any]]]:
    """(object, pod spec, container) for every container an object of the stack runs."""
    for item in stack.objects:
        spec = pod_spec(item)
        if not spec:
            continue
        for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
            yield item, spec, container


def check_resources(stack: StackObjects) -> list[Violation]:
    violations = []
    for item, _, container in _containers(stack):
        resources = container.get("resources") or {}
        missing = [
            f"{kind} {what}"
            for kind in ("requests", "limits")
            for what in ("cpu", "memory")
            if not (resources.get(kind) or {}).get(what)
        ]
        if missing:
            violations.append(
                Violation(
                    "resources",
                    f"{item.label} container {container.get('name')}",
                    "has no " + ", no ".join(missing),
                )
            )
    return violations


def _rules_broken(pod: Mapping[str, Any], container: Mapping[str, Any]) -> list[tuple[str, str]]:
    pod_context = pod.get("securityContext") or {}
    context = container.get("securityContext") or {}

    def effective(key: str) -> Any:
        return context[key] if key in context else pod_context.get(key)

    broken = []
    if effective("runAsNonRoot") is not True or effective("runAsUser") == 0:
        broken.append(("runAsNonRoot", "may run as root"))
    if context.get("privileged"):
        broken.append(("privileged", "is privileged"))
    if context.get("allowPrivilegeEscalation") is not False:
        broken.append(("allowPrivilegeEscalation", "may escalate privileges"))
    capabilities = context.get("capabilities") or {}
    if "ALL" not in (capabilities.get("drop") or []) or capabilities.get("add"):
        broken.append(("capabilities", "does not drop every capability"))
    seccomp = (effective("seccompProfile") or {}).get("type")
    if seccomp not in ("RuntimeDefault", "Localhost"):
        broken.append(("seccompProfile", "has no RuntimeDefault seccomp profile"))
    if context.get("readOnlyRootFilesystem") is not True:
        broken.append(("readOnlyRootFilesystem", "has a writable root filesystem"))
    return broken


def check_security(stack: StackObjects) -> list[Violation]:
    violations = []
    for item, pod, container in _containers(stack):
        for rule, message in _rules_broken(pod, container):
            if (item.name, rule) in EXCEPTIONS:
                continue
            violations.append(
                Violation(
                    "security",
                    f"{item.label} container {container.get('name')}",
                    f"{message} ({rule}), and kit.security.EXCEPTIONS names no reason for it",
                )
            )
    return violations


# --- network ------------------------------------------------------------------------------------


def _find(
    pods: list[Pod],
    name: str,
    component: str | None = None,
    namespace: str | None = None,
    instance: str | None = None,
) -> Pod | None:
    for pod in pods:
        labels = pod.labels
        if labels.get("app.kubernetes.io/name") != name:
            continue
        if instance is not None and labels.get("app.kubernetes.io/instance") != instance:
            continue
        if component is not None and labels.get("app.kubernetes.io/component") != component:
            continue
        if namespace is not None and pod.namespace != namespace:
            continue
        return pod
    return None


def _hops(
    stack: StackObjects, pods: list[Pod]
) -> tuple[list[tuple[str, Pod | None, str, Pod | None, str]], list[str]]:
    """(source name, source, target name, target, port name) that must be admitted, and the
    names of pods not found."""
    expect = stack.expect
    ingress = Pod(expect.ingress_namespace, {}, f"the ingress controller ({expect.ingress_namespace})")
    mimir_gateway = _find(pods, "mimir", "gateway")
    hops: list[tuple[str, Pod | None, str, Pod | None, str]] = []
    if expect.alloy is None:
        grafana = _find(pods, "grafana")
        collector = _find(pods, "alloy")
        hops += [
            (
                "the hub collector",
                collector,
                f"Mimir's {component}",
                _find(pods, "mimir", component),
                "http-metrics",
            )
            for component in (
                "distributor",
                "ingester",
                "query-frontend",
                "compactor",
                "ruler",
                "alertmanager",
            )
        ]
        hops += [
            (
                "the gateway",
                mimir_gateway,
                "the distributor",
                _find(pods, "mimir", "distributor"),
                "http-metrics",
            ),
            (
                "the gateway",
                mimir_gateway,
                "the query-frontend",
                _find(pods, "mimir", "query-frontend"),
                "http-metrics",
            ),
            ("the ingress controller", ingress, "the gateway", mimir_gateway, "http-metrics"),
            ("Grafana", grafana, "the gateway", mimir_gateway, "http-metrics"),
            ("the hub collector", collector, "kube-state-metrics", _find(pods, "kube-state-metrics"), "http"),
        ]
    else:
        alloy, grafana = _find(pods, "alloy", instance="alloy"), _find(pods, "grafana")
        loki_gateway = _find(pods, "loki", "gateway")
        if expect.events is not None:
            events = _find(pods, "alloy", instance=expect.events[1])
            hops.append(("the events collector", events, "the Loki gateway", loki_gateway, "http-metrics"))
            hops.append(("Alloy", alloy, "the events collector", events, "http-metrics"))
        for source_name, source in (("Alloy", alloy), ("Grafana", grafana)):
            hops += [
                (source_name, source, "the Mimir gateway", mimir_gateway, "http-metrics"),
                (source_name, source, "the Loki gateway", loki_gateway, "http-metrics"),
            ]
        hops += [
            (
                "the Mimir gateway",
                mimir_gateway,
                "the distributor",
                _find(pods, "mimir", "distributor"),
                "http-metrics",
            ),
            (
                "the Mimir gateway",
                mimir_gateway,
                "the query-frontend",
                _find(pods, "mimir", "query-frontend"),
                "http-metrics",
            ),
            (
                "the Loki gateway",
                loki_gateway,
                "Loki's write path",
                _find(pods, "loki", "write"),
                "http-metrics",
            ),
            (
                "the Loki gateway",
                loki_gateway,
                "Loki's read path",
                _find(pods, "loki", "read"),
                "http-metrics",
            ),
        ]
        hops.append(("Alloy", alloy, "kube-state-metrics", _find(pods, "kube-state-metrics"), "http"))
        # Self-monitoring: Alloy scrapes the stack's metrics ports.
        hops += [
            ("Alloy", alloy, "Mimir's ingesters", _find(pods, "mimir", "ingester"), "http-metrics"),
            ("Alloy", alloy, "Loki's write path", _find(pods, "loki", "write"), "http-metrics"),
            ("Alloy", alloy, "Grafana", grafana, "grafana"),
        ]
        alertmanager = _find(pods, "mimir", "alertmanager")
        if alertmanager is not None:  # local alerting: Loki's ruler sends to it
            hops.append(
                (
                    "Loki's ruler",
                    _find(pods, "loki", "backend"),
                    "the Alertmanager",
                    alertmanager,
                    "http-metrics",
                )
            )
        if expect.grafana_ingress:
            hops.append(("the ingress controller", ingress, "Grafana", grafana, "grafana"))
    missing = sorted(
        {name for s_name, s, t_name, t, _ in hops for name, pod in ((s_name, s), (t_name, t)) if pod is None}
    )
    return hops, missing


def _external_hops(stack: StackObjects, pods: list[Pod]) -> list[tuple[str, Pod | None, str]]:
    """(source name, source, destination) of every connection to an address outside the pods."""
    storage_users = [("mimir", c) for c in ("ingester", "store-gateway", "compactor")]
    if stack.expect.alloy is not None:
        storage_users += [("loki", c) for c in ("write", "read", "backend")]
    hops: list[tuple[str, Pod | None, str]] = [
        (f"{name}'s {component}", _find(pods, name, component), "object_storage")
        for name, component in storage_users
    ]
    hops.append(("the rollout-operator", _find(pods, "rollout-operator"), "api_server"))
    if stack.expect.alloy is None:
        hops += [
            ("Mimir's alertmanager", _find(pods, "mimir", "alertmanager"), "notifications"),
            # Grafana's dashboards sidecar watches the ConfigMaps of Mimir's dashboards.
            ("Grafana (its dashboards sidecar)", _find(pods, "grafana"), "api_server"),
            ("the hub collector", _find(pods, "alloy"), "api_server"),
            ("kube-state-metrics", _find(pods, "kube-state-metrics"), "api_server"),
        ]
        return hops
    hops += [
        ("Alloy", _find(pods, "alloy", instance="alloy"), "api_server"),
        ("Alloy", _find(pods, "alloy", instance="alloy"), "control_room"),
        ("kube-state-metrics", _find(pods, "kube-state-metrics"), "api_server"),
    ]
    if stack.expect.events is not None:
        events = _find(pods, "alloy", instance=stack.expect.events[1])
        hops.append(("the events collector", events, "api_server"))
    alertmanager = _find(pods, "mimir", "alertmanager")
    if alertmanager is not None:  # local alerting: the workload's own receivers
        hops.append(("Mimir's alertmanager", alertmanager, "notifications"))
    return hops


def _check_egress(stack: StackObjects, policies: list[Any], pods: list[Pod]) -> list[Violation]:
    addresses = stack.expect.egress
    if addresses is None:
        return []
    violations: list[Violation] = []
    for pod in pods:
        for protocol in ("UDP", "TCP"):
            if not connects(policies, pod, KUBE_DNS, 53, protocol):
                violations.append(
                    Violation("network", pod.name, f"may not resolve names (kube-dns, {protocol} 53)")
                )
    for source_name, source, destination in _external_hops(stack, pods):
        if source is None:
            violations.append(Violation("network", stack.stack, f"renders no pod for {source_name}"))
            continue
        ip, port = addresses[destination]
        if not connects(policies, source, Address(ip, destination), port):
            violations.append(
                Violation(
                    "network",
                    source.name,
                    f"does not let {source_name} reach {destination} ({ip}:{port}, cluster.egress)",
                )
            )
    # Mimir's ingest storage: its brokers, wherever they run.
    for component in ("distributor", "ingester"):
        source = _find(pods, "mimir", component)
        for port in stack.expect.kafka_ports:
            if source is not None and not connects(policies, source, Address("0.0.0.1", "kafka"), port):
                violations.append(
                    Violation(
                        "network", source.name, f"does not let Mimir's {component} reach Kafka on {port}"
                    )
                )
    # Nothing else in-cluster: no pod reaches a pod outside the stack, but Alloy, whose job is
    # to scrape and read every pod.
    for pod in pods:
        if pod.labels.get("app.kubernetes.io/name") == "alloy" and (
            pod.labels.get("app.kubernetes.io/instance") == "alloy"
        ):
            continue
        open_ports = [port for port in OUTSIDE_PORTS if connects(policies, pod, OUTSIDER, port)]
        if open_ports:
            violations.append(
                Violation(
                    "network",
                    pod.name,
                    f"may connect to a pod outside the stack (ports {', '.join(map(str, open_ports))})",
                )
            )
    return violations


def check_network(stack: StackObjects) -> list[Violation]:
    policies = [item.manifest for item in stack.of_kind("NetworkPolicy")]
    pods = pods_of((item.manifest for item in stack.objects if pod_spec(item)), "default")
    violations: list[Violation] = []
    if not policies:
        return [Violation("network", stack.stack, "has no NetworkPolicy: every pod admits every connection")]
    for policy in policies:
        namespace = (policy.get("metadata") or {}).get("namespace")
        selector = (policy.get("spec") or {}).get("podSelector")
        if not any(pod.namespace == namespace and selects(selector, pod.labels) for pod in pods):
            name = (policy.get("metadata") or {}).get("name")
            violations.append(
                Violation("network", f"NetworkPolicy {namespace}/{name}", "selects no rendered pod")
            )
    hops, missing = _hops(stack, pods)
    for name in missing:
        violations.append(Violation("network", stack.stack, f"renders no pod for {name}"))
    for source_name, source, target_name, target, port_name in hops:
        if source is None or target is None:
            continue
        port = target.ports.get(port_name)
        if port is None or not connects(policies, source, target, port):
            violations.append(
                Violation(
                    "network",
                    target.name,
                    f"does not admit {source_name} to {target_name} on {port_name} ({port})",
                )
            )
    # Nothing from outside: no pod in another namespace reaches any port of the stack's pods but
    # the admission webhooks the API server calls.
    for target in pods:
        for port_name, port in target.ports.items():
            if target.labels.get("app.kubernetes.io/name") == "rollout-operator" and port_name == "https":
                continue
            if admits(policies, OUTSIDER, target, port):
                violations.append(
                    Violation("network", target.name, f"admits any pod on {port_name} ({port})")
                )
    violations += _check_egress(stack, policies, pods)
    if stack.expect.alloy is None:
        # In the control room only the gateway speaks HTTP to the entry components (and the
        # collectors kit.network.HTTP_ENTRY_EXCEPTIONS names, with the reason).
        for component in ("distributor", "query-frontend"):
            entry = _find(pods, "mimir", component)
            if entry is None or "http-metrics" not in entry.ports:
                continue
            for source in pods:
                if source is entry or source.labels.get("app.kubernetes.io/component") == "gateway":
                    continue
                if (
                    source.labels.get("app.kubernetes.io/name") == "alloy"
                    and source.labels.get("app.kubernetes.io/instance") in HTTP_ENTRY_EXCEPTIONS
                ):
                    continue
                if admits(policies, source, entry, entry.ports["http-metrics"]):
                    violations.append(
                        Violation(
                            "network", entry.name, f"admits {source.name} over HTTP: only the gateway may"
                        )
                    )
    return violations


# --- limits -------------------------------------------------------------------------------------


def _config(item: Any, key: str) -> Mapping[str, Any] | None:
    text = (item.manifest.get("data") or {}).get(key)
    if not isinstance(text, str):
        return None
    loaded = yaml.safe_load(text)
    return loaded if isinstance(loaded, Mapping) else None


def check_limits(stack: StackObjects) -> list[Violation]:
    violations: list[Violation] = []
    for chart in stack.charts:
        configs = [o for o in stack.objects if o.chart == chart.resource and o.kind == "ConfigMap"]
        if chart.chart == "mimir-distributed":
            found = [(o, c) for o in configs if (c := _config(o, "mimir.yaml")) is not None]
            for item, config in found:
                limits = config.get("limits") or {}
                unset = [key for key in MIMIR_LIMITS if limits.get(key) is None]
                if unset:
                    violations.append(
                        Violation(
                            "limits", item.label, f"sets no {', '.join(unset)}: Mimir's defaults drop data"
                        )
                    )
            if stack.expect.tenants:
                runtime = [(o, c) for o in configs if (c := _config(o, "runtime.yaml")) is not None]
                overrides = {} if not runtime else dict(runtime[0][1].get("overrides") or {})
                for tenant in stack.expect.tenants:
                    given = overrides.get(tenant) or {}
                    unset = [key for key in MIMIR_LIMITS if given.get(key) is None]
                    if unset:
                        violations.append(
                            Violation(
                                "limits",
                                f"tenant {tenant}",
                                f"has no runtime override for {', '.join(unset)} in the central Mimir",
                            )
                        )
        if chart.chart == "loki":
            for item in configs:
                loki_config = _config(item, "config.yaml")
                if loki_config is None:
                    continue
                limits = loki_config.get("limits_config") or {}
                unset = [key for key in LOKI_LIMITS if limits.get(key) is None]
                if unset:
                    violations.append(
                        Violation(
                            "limits", item.label, f"sets no {', '.join(unset)}: Loki's defaults drop logs"
                        )
                    )
    return violations


def check_hardening(stack: StackObjects) -> dict[str, list[Violation]]:
    """The four production proofs, by invariant."""
    return {
        "resources": check_resources(stack),
        "security": check_security(stack),
        "network": check_network(stack),
        "limits": check_limits(stack),
    }
