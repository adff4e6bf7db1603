"""Proofs ``urls`` and ``alloy``: how a stack's parts find each other in the rendered objects.

- ``urls``: every in-cluster URL in the Alloy configurations (the DaemonSet's and the events
  collector's) and Grafana's provisioned datasources names a Service of the stack, with that port;
- ``alloy``: the Alloy DaemonSet runs the configuration fleet writes (its ConfigMap and key), as
  the one ServiceAccount that RBAC lets read the central credential; the events collector is one
  Deployment replica, recreated rather than rolled, that runs its own configuration and may
  watch events.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import yaml

from fleet.charts.expand import KubeObject
from fleet.charts.helm import load_yaml
from fleet.verify.dataflow import Violation
from fleet.verify.objects import StackObjects, pod_spec

__all__ = ["check_alloy", "check_urls", "event_watchers", "secret_readers"]

_SECRET_READ = {"get", "list", "watch", "*"}


# --- urls ---------------------------------------------------------------------------------------

_URL = re.compile(r"https?://[^\s\"'<>]+")


def _service_target(url: str, default_namespace: str) -> tuple[str, str, int] | None:
    """(namespace, service, port) of an in-cluster URL, else None."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return None
    labels = host.split(".")
    if len(labels) == 1:
        namespace = default_namespace
    elif len(labels) >= 3 and labels[2] == "svc" and host.endswith((".svc", ".svc.cluster.local")):
        namespace = labels[1]
    else:
        return None
    return namespace, labels[0], port or (443 if parts.scheme == "https" else 80)


def _urls_in_alloy(stack: StackObjects) -> Iterator[tuple[KubeObject, str, str]]:
    configs = []
    if stack.expect.alloy is not None:
        configs.append(stack.expect.alloy[:2])
    if stack.expect.events is not None:
        configs.append((stack.expect.events[0], stack.expect.events[2]))
    for namespace, name in configs:
        config = stack.find("ConfigMap", namespace, name)
        if config is None:
            continue
        for key, text in (config.manifest.get("data") or {}).items():
            for url in _URL.findall(str(text)):
                yield config, f"{key}: {url}", url


def _urls_in_datasources(stack: StackObjects) -> Iterator[tuple[KubeObject, str, str]]:
    for config in stack.of_kind("ConfigMap"):
        for key, text in (config.manifest.get("data") or {}).items():
            if not str(key).startswith("datasources") or not isinstance(text, str):
                continue
            try:
                document = load_yaml(text)
            except yaml.YAMLError:
                continue
            for source in (document or {}).get("datasources") or []:
                url = source.get("url")
                if isinstance(url, str):
                    yield config, f"{key}: datasource {source.get('name')!r} {url}", url


def check_urls(stack: StackObjects) -> list[Violation]:
    """Every in-cluster URL in the Alloy configuration and in Grafana's provisioned datasources
    names a Service of this stack that exposes the URL's port."""
    violations: list[Violation] = []
    for config, where, url in [*_urls_in_alloy(stack), *_urls_in_datasources(stack)]:
        target = _service_target(url, config.namespace or "")
        if target is None:
            continue
        namespace, name, port = target
        service = stack.find("Service", namespace, name)
        if service is None:
            violations.append(
                Violation("urls", config.label, f"{where}: no Service {namespace}/{name} in the stack")
            )
            continue
        ports = {int(p.get("port")) for p in (service.manifest.get("spec") or {}).get("ports") or []}
        if port not in ports:
            violations.append(
                Violation(
                    "urls",
                    config.label,
                    f"{where}: Service {namespace}/{name} has no port {port} (it has {sorted(ports)})",
                )
            )
    return violations


# --- alloy --------------------------------------------------------------------------------------


def _rule_reads_secret(rule: Mapping[str, Any], secret: str) -> bool:
    groups = rule.get("apiGroups") or []
    resources = rule.get("resources") or []
    verbs = rule.get("verbs") or []
    names = rule.get("resourceNames") or []
    return (
        ("" in groups or "*" in groups)
        and ("secrets" in resources or "*" in resources)
        and bool(_SECRET_READ & set(verbs))
        and (not names or secret in names)
    )


def secret_readers(stack: StackObjects, namespace: str, secret: str) -> set[tuple[str, str]]:
    """The ServiceAccounts (namespace, name) that RBAC in the stack lets read ``secret``."""
    readers: set[tuple[str, str]] = set()
    for binding in stack.of_kind("RoleBinding", "ClusterRoleBinding"):
        if binding.kind == "RoleBinding" and binding.namespace != namespace:
            continue
        ref = binding.manifest.get("roleRef") or {}
        role_namespace = binding.namespace if ref.get("kind") == "Role" else None
        role = stack.find(str(ref.get("kind")), role_namespace, str(ref.get("name")))
        if role is None or not any(_rule_reads_secret(r, secret) for r in role.manifest.get("rules") or []):
            continue
        for subject in binding.manifest.get("subjects") or []:
            if subject.get("kind") == "ServiceAccount":
                readers.add((str(subject.get("namespace") or binding.namespace), str(subject.get("name"))))
    return readers


def _loads_config(
    stack: StackObjects, controller: KubeObject, namespace: str, config_map: str, key: str
) -> list[Violation]:
    """``controller``'s Alloy container runs ``config_map``'s ``key`` (mounted from that ConfigMap)."""
    spec = pod_spec(controller) or {}
    volumes = {v.get("name"): v for v in spec.get("volumes") or []}
    containers = spec.get("containers") or []
    alloy = next((c for c in containers if "run" in (c.get("args") or [])), None)
    if alloy is None:
        return [Violation("alloy", controller.label, "no container runs `alloy run <config>`")]
    args = list(alloy.get("args") or [])
    path = str(args[args.index("run") + 1]) if args.index("run") + 1 < len(args) else ""
    directory, filename = posixpath.split(path)
    mount = next((m for m in alloy.get("volumeMounts") or [] if m.get("mountPath") == directory), None)
    source = (volumes.get(mount.get("name")) or {}).get("configMap") if mount else None
    if source is None:
        return [Violation("alloy", controller.label, f"loads {path}, which no ConfigMap volume provides")]
    if source.get("name") != config_map:
        return [
            Violation(
                "alloy",
                controller.label,
                f"loads {path} from ConfigMap {source.get('name')}, not {config_map}",
            )
        ]
    data = (stack.find("ConfigMap", namespace, config_map) or KubeObject({})).manifest.get("data") or {}
    if filename != key or filename not in data:
        return [
            Violation(
                "alloy",
                controller.label,
                f"loads {path}: ConfigMap {namespace}/{config_map} has keys {sorted(data)}, "
                f"fleet's configuration is {key}",
            )
        ]
    return []


def check_alloy(stack: StackObjects) -> list[Violation]:
    """The Alloy DaemonSet runs the configuration fleet writes (its ConfigMap, and the key the
    container loads), as the ServiceAccount that may read the central credential, and no other
    ServiceAccount may read it; the events collector, when on, is one Deployment of one replica
    that is never rolled (two would send every event twice), runs its own configuration and may
    watch events."""
    expected = stack.expect.alloy
    if expected is None:
        return []
    namespace, config_map, key, secret = expected
    daemonsets = [d for d in stack.of_kind("DaemonSet") if d.namespace == namespace and d.chart is not None]
    if len(daemonsets) != 1:
        return [
            Violation(
                "alloy", stack.stack, f"expected one Alloy DaemonSet in {namespace}, found {len(daemonsets)}"
            )
        ]
    daemonset = daemonsets[0]
    spec = pod_spec(daemonset) or {}
    violations = _loads_config(stack, daemonset, namespace, config_map, key)
    account = str(spec.get("serviceAccountName") or "default")
    readers = secret_readers(stack, namespace, secret)
    if (namespace, account) not in readers:
        violations.append(
            Violation(
                "alloy",
                daemonset.label,
                f"runs as ServiceAccount {account}, which may not read Secret {secret}",
            )
        )
    others = sorted(f"{ns}/{name}" for ns, name in readers - {(namespace, account)})
    if others:
        violations.append(
            Violation(
                "alloy",
                f"Secret {namespace}/{secret}",
                f"is readable by other ServiceAccounts: {', '.join(others)}",
            )
        )
    return violations + _check_events(stack)


def _check_events(stack: StackObjects) -> list[Violation]:
    expected = stack.expect.events
    if expected is None:
        return []
    namespace, _release, config_map, key = expected
    collectors = [
        item
        for item in stack.of_kind("Deployment", "StatefulSet", "DaemonSet")
        if item.namespace == namespace and config_map in _config_maps_mounted(item)
    ]
    if len(collectors) != 1:
        return [
            Violation(
                "alloy",
                stack.stack,
                f"expected one events collector running ConfigMap {namespace}/{config_map}, "
                f"found {len(collectors)}",
            )
        ]
    collector = collectors[0]
    spec = collector.manifest.get("spec") or {}
    violations = _loads_config(stack, collector, namespace, config_map, key)
    if collector.kind != "Deployment" or spec.get("replicas") != 1:
        violations.append(
            Violation(
                "alloy",
                collector.label,
                f"is a {collector.kind} of {spec.get('replicas', 'one pod per node')} replicas: every "
                "replica reads every event, so the collector is one Deployment of one replica",
            )
        )
    elif (spec.get("strategy") or {}).get("type") != "Recreate":
        violations.append(
            Violation(
                "alloy",
                collector.label,
                "is rolled with a surge: the old and new replica read every event twice; use Recreate",
            )
        )
    account = str((pod_spec(collector) or {}).get("serviceAccountName") or "default")
    if (namespace, account) not in event_watchers(stack):
        violations.append(
            Violation(
                "alloy",
                collector.label,
                f"runs as ServiceAccount {account}, which may not list and watch events cluster-wide",
            )
        )
    return violations


def _config_maps_mounted(item: KubeObject) -> set[str]:
    volumes = (pod_spec(item) or {}).get("volumes") or []
    return {str((v.get("configMap") or {}).get("name")) for v in volumes if v.get("configMap")}


def event_watchers(stack: StackObjects) -> set[tuple[str, str]]:
    """The ServiceAccounts (namespace, name) that a ClusterRoleBinding lets get, list and watch
    core events in every namespace."""
    watchers: set[tuple[str, str]] = set()
    for binding in stack.of_kind("ClusterRoleBinding"):
        ref = binding.manifest.get("roleRef") or {}
        role = stack.find("ClusterRole", None, str(ref.get("name")))
        if role is None:
            continue
        granted: set[str] = set()
        for rule in role.manifest.get("rules") or []:
            groups = rule.get("apiGroups") or []
            resources = rule.get("resources") or []
            if ("" in groups or "*" in groups) and ("events" in resources or "*" in resources):
                granted |= set(rule.get("verbs") or [])
        if not ({"get", "list", "watch"} <= granted or "*" in granted):
            continue
        for subject in binding.manifest.get("subjects") or []:
            if subject.get("kind") == "ServiceAccount":
                watchers.add((str(subject.get("namespace") or ""), str(subject.get("name"))))
    return watchers
