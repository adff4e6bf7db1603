"""The rulers and Alertmanagers of a stack, wired as they read it: part of the ``alerting`` proof.

For every Mimir and Loki whose effective configuration (the rendered ConfigMap) keeps its rules
in a ``local`` store, and every Mimir whose Alertmanager reads a ``local`` store:

- each pod that runs the ruler mounts the shipped rule files in the directory of the tenant the
  rules are for (a single-tenant Mimir's ``no_auth_tenant``, an auth-less Loki's ``fake``), and
  every rule in them parses (PromQL for Mimir, LogQL's structure for Loki, ``fleet.verify.logql``);
- each Alertmanager pod finds that tenant's configuration at ``<path>/<tenant>.yaml``, and its
  route names a receiver it declares;
- the ruler's ``alertmanager_url`` names a Service of the stack, with the port its DNS SRV name
  asks for (``_http-metrics._tcp.<service>...``), so alerts have somewhere to go.

Every series a workload's local rules read is the workload's own (Alloy writes them all to its
Mimir; the logs stay in its Loki), so unlike the hub's there is no filter that could blind them;
what could is a source Alloy does not collect. So in a workload, each metric a local Mimir rule
reads must come from a scrape the rendered Alloy configuration has (:data:`SOURCES`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import promql_parser
import yaml

from fleet.charts.expand import KubeObject
from fleet.charts.helm import load_yaml
from fleet.verify.dataflow import Violation
from fleet.verify.logql import logql_problems
from fleet.verify.objects import StackObjects, pod_spec, volume_config_maps

__all__ = ["check_rulers", "recorded_series"]

_LOKI_RULERS = ("backend", "ruler", "single-binary")
_LOKI_NO_AUTH_TENANT = "fake"

SOURCES: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (("kube_",), "prometheus.scrape.kube_state_metrics", "kube-state-metrics"),
    (
        ("alloy_", "prometheus_remote_storage_", "loki_write_"),
        "prometheus.scrape.alloy",
        "Alloy's own metrics",
    ),
    (("cortex_", "thanos_", "loki_"), "prometheus.scrape.stack", "the stack's Mimir and Loki"),
)
"""(metric name prefixes, the Alloy component that collects them, what it scrapes), first match
wins; a metric no prefix matches (``up``) comes with every scrape."""


def _alloy_components(stack: StackObjects) -> set[str] | None:
    """The component names (``prometheus.scrape.stack``) of the Alloy configuration the workload
    runs; None in the control room or when it cannot be read (the ``alloy`` proof says why)."""
    from kit.alloy.parser import parse
    from kit.alloy.syntax import components

    expected = stack.expect.alloy
    if expected is None:
        return None
    namespace, name, key, _secret = expected
    config_map = stack.find("ConfigMap", namespace, name)
    text = (config_map.manifest.get("data") or {}).get(key) if config_map is not None else None
    if not isinstance(text, str):
        return None
    try:
        return {component for component, _block in components(parse(text))}
    except ValueError:
        return None


def _metric_names(expr: str) -> set[str]:
    names: set[str] = set()

    def visit(node: object) -> None:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.add(node.name)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def _unsourced(expr: str, collected: set[str]) -> list[str]:
    """``"reads <metric>, but Alloy has no <component> (<what>)"`` for each metric of ``expr``
    whose source the Alloy configuration lacks."""
    missing = []
    for metric in sorted(_metric_names(expr)):
        source = next((s for s in SOURCES if metric.startswith(s[0])), None)
        if source is not None and source[1] not in collected:
            missing.append(f"reads {metric}, but Alloy has no {source[1]} ({source[2]})")
    return missing


def _config(stack: StackObjects, resource: str, key: str) -> tuple[KubeObject, Mapping[str, Any]] | None:
    for item in stack.objects:
        if item.chart != resource or item.kind != "ConfigMap":
            continue
        text = (item.manifest.get("data") or {}).get(key)
        if isinstance(text, str):
            try:
                document = load_yaml(text)
            except yaml.YAMLError:
                return None
            return (item, document) if isinstance(document, Mapping) else None
    return None


def _component(item: KubeObject) -> str:
    return str(((item.manifest.get("metadata") or {}).get("labels") or {}).get("app.kubernetes.io/component"))


def _mounted(stack: StackObjects, pod: KubeObject, below: str) -> Iterator[tuple[str, KubeObject | None]]:
    """(mount path, ConfigMap or None when the plan has none) of every ConfigMap ``pod`` mounts
    at or below ``below`` (each source of a projected volume too)."""
    spec = pod_spec(pod) or {}
    volumes = volume_config_maps(spec)
    for container in spec.get("containers") or []:
        for mount in container.get("volumeMounts") or []:
            path = str(mount.get("mountPath", "")).rstrip("/")
            if mount.get("name") in volumes and (path + "/").startswith(below.rstrip("/") + "/"):
                for name in volumes[str(mount.get("name"))]:
                    yield path, stack.find("ConfigMap", pod.namespace, name)


def _rule_problems(text: str, logql: bool, collected: set[str] | None = None) -> list[str]:
    try:
        document = load_yaml(text)
    except yaml.YAMLError as error:
        return [f"is not YAML: {str(error).splitlines()[0]}"]
    groups = (document or {}).get("groups") if isinstance(document, Mapping) else None
    if not groups:
        return ["holds no rule group"]
    problems = []
    for group in groups:
        for rule in group.get("rules") or []:
            name = rule.get("alert") or rule.get("record")
            expr = str(rule.get("expr"))
            if logql:
                problems += [f"rule {name}: {problem}" for problem in logql_problems(expr)]
                continue
            try:
                promql_parser.parse(expr)
            except ValueError as error:
                problems.append(f"rule {name}: does not parse: {error}")
                continue
            if collected is not None:
                problems += [f"rule {name} {problem}" for problem in _unsourced(expr, collected)]
    return problems


def _rules(
    stack: StackObjects,
    resource: str,
    components: tuple[str, ...],
    directory: str,
    tenant: str | None,
    logql: bool,
) -> list[Violation]:
    """Each ruler pod mounts rule files at ``directory/<tenant>``; every rule in them parses and,
    in a workload's Mimir, reads metrics Alloy collects (each ConfigMap judged once)."""
    violations = []
    collected = None if logql else _alloy_components(stack)
    judged: set[str] = set()
    pods = [o for o in stack.of_kind("Deployment", "StatefulSet") if o.chart == resource]
    for pod in (p for p in pods if _component(p) in components):
        for path, config_map in _mounted(stack, pod, directory):
            if tenant is not None and path != f"{directory.rstrip('/')}/{tenant}":
                violations.append(
                    Violation(
                        "alerting",
                        pod.label,
                        f"rules mounted at {path}: the ruler reads tenant {tenant}'s "
                        f"at {directory.rstrip('/')}/{tenant}",
                    )
                )
            if config_map is None or config_map.label in judged:
                continue
            judged.add(config_map.label)
            for key, text in (config_map.manifest.get("data") or {}).items():
                where = f"ConfigMap {config_map.namespace}/{config_map.name} {key}"
                problems = _rule_problems(str(text), logql, collected)
                violations += [Violation("alerting", where, problem) for problem in problems]
    return violations


def _alertmanager(stack: StackObjects, resource: str, path: str, tenant: str | None) -> list[Violation]:
    violations = []
    pods = [o for o in stack.of_kind("StatefulSet", "Deployment") if o.chart == resource]
    for pod in (p for p in pods if _component(p) == "alertmanager"):
        files = {
            key: text
            for _path, config_map in _mounted(stack, pod, path)
            if config_map is not None
            for key, text in (config_map.manifest.get("data") or {}).items()
        }
        wanted = [f"{tenant}.yaml"] if tenant is not None else sorted(files)
        for key in wanted:
            if key not in files:
                violations.append(
                    Violation(
                        "alerting", pod.label, f"finds no {path}/{key}: tenant {tenant} has no Alertmanager"
                    )
                )
                continue
            config = load_yaml(str(files[key])) or {}
            receiver = (config.get("route") or {}).get("receiver")
            names = {r.get("name") for r in config.get("receivers") or []}
            if receiver not in names:
                violations.append(
                    Violation(
                        "alerting", pod.label, f"{key}: the route's receiver {receiver!r} is not declared"
                    )
                )
    return violations


def _alertmanager_url(stack: StackObjects, where: str, url: str) -> list[Violation]:
    """The ruler's Alertmanager URL (``dnssrvnoa+http://_port._tcp.svc.ns.svc.cluster.local./path``
    or a plain in-cluster URL) names a Service of the stack with that port."""
    if not url:
        return [Violation("alerting", where, "the ruler has no alertmanager_url: its alerts go nowhere")]
    plain = url.split("+", 1)[1] if "+" in url.split("://", 1)[0] else url
    host = (urlsplit(plain).hostname or "").rstrip(".")
    labels = host.split(".")
    port_name = None
    if labels and labels[0].startswith("_") and len(labels) > 2 and labels[1] == "_tcp":
        port_name, labels = labels[0][1:], labels[2:]
    if len(labels) < 3 or labels[2] != "svc":
        return [Violation("alerting", where, f"alertmanager_url {url} is not an in-cluster Service")]
    service = stack.find("Service", labels[1], labels[0])
    if service is None:
        return [Violation("alerting", where, f"alertmanager_url {url}: no Service {labels[1]}/{labels[0]}")]
    ports = (service.manifest.get("spec") or {}).get("ports") or []
    if port_name is not None and not any(p.get("name") == port_name for p in ports):
        return [
            Violation(
                "alerting", where, f"alertmanager_url {url}: Service {labels[0]} has no port {port_name}"
            )
        ]
    return []


def check_rulers(stack: StackObjects) -> list[Violation]:
    """Every local rule store and Alertmanager store of the stack's Mimir and Loki is wired (see
    the module's docstring)."""
    violations: list[Violation] = []
    for chart in stack.charts:
        if chart.chart == "mimir-distributed":
            found = _config(stack, chart.resource, "mimir.yaml")
            if found is None:
                continue
            item, config = found
            tenant = (
                None
                if config.get("multitenancy_enabled", True)
                else str(config.get("no_auth_tenant") or "anonymous")
            )
            rules = config.get("ruler_storage") or {}
            if rules.get("backend") == "local":
                directory = str((rules.get("local") or {}).get("directory") or "")
                violations += _rules(stack, chart.resource, ("ruler",), directory, tenant, logql=False)
                url = str((config.get("ruler") or {}).get("alertmanager_url") or "")
                violations += _alertmanager_url(stack, item.label, url)
            alertmanager = config.get("alertmanager_storage") or {}
            if alertmanager.get("backend") == "local":
                path = str((alertmanager.get("local") or {}).get("path") or "")
                violations += _alertmanager(stack, chart.resource, path, tenant)
        if chart.chart == "loki":
            found = _config(stack, chart.resource, "config.yaml")
            if found is None:
                continue
            item, config = found
            ruler = config.get("ruler") or {}
            storage = ruler.get("storage") or {}
            if storage.get("type") != "local":
                continue
            tenant = None if config.get("auth_enabled", True) else _LOKI_NO_AUTH_TENANT
            directory = str((storage.get("local") or {}).get("directory") or "")
            violations += _rules(stack, chart.resource, _LOKI_RULERS, directory, tenant, logql=True)
            violations += _alertmanager_url(stack, item.label, str(ruler.get("alertmanager_url") or ""))
    return violations


def recorded_series(stack: StackObjects) -> set[str]:
    """The series recorded by the rules every Mimir ruler of the stack loads from its ``local``
    store (the rule files mounted in its rule directory, each source of a projected volume too)."""
    recorded: set[str] = set()
    for chart in stack.charts:
        if chart.chart != "mimir-distributed":
            continue
        found = _config(stack, chart.resource, "mimir.yaml")
        rules = (found[1].get("ruler_storage") or {}) if found is not None else {}
        if rules.get("backend") != "local":
            continue
        directory = str((rules.get("local") or {}).get("directory") or "")
        pods = [o for o in stack.of_kind("Deployment", "StatefulSet") if o.chart == chart.resource]
        for pod in (p for p in pods if _component(p) == "ruler"):
            for _path, config_map in _mounted(stack, pod, directory):
                for text in ((config_map.manifest.get("data") or {}) if config_map else {}).values():
                    try:
                        document = load_yaml(str(text))
                    except yaml.YAMLError:
                        continue
                    groups = document.get("groups") if isinstance(document, Mapping) else None
                    for group in groups or []:
                        recorded.update(str(r["record"]) for r in group.get("rules") or [] if r.get("record"))
    return recorded
