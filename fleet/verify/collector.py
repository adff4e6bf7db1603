"""Proof on the control room's rendered objects: the hub's collector collects every metric the
``fleet-hub`` rules read, into the tenant those rules are evaluated in.

The collector's Alloy configuration is read back out of its ConfigMap and parsed (never taken
from the program's model). What it collects, by the configuration's own components:

- a ``prometheus.remote_write`` whose endpoint sends ``X-Scope-OrgID: <owner tenant>``;
- Mimir's metrics (``cortex_*``, ``thanos_*``): a ``prometheus.scrape`` forwarding to that writer
  whose targets come, through relabelings, from a ``discovery.kubernetes`` over Mimir's namespace;
- ``up``: any scrape forwarding to that writer;
- the counters its ``loki.process`` stages make (``stage.metrics``: prefix + name, the prefix
  defaulting to ``loki_process_custom_``) from a ``loki.source.kubernetes`` on Mimir's
  namespace: a scrape of ``prometheus.exporter.self`` forwarding to that writer;
- Mimir's containers and objects (:data:`RESOURCE_SOURCES`): cAdvisor's ``container_*`` and the
  kubelet's ``kubelet_*``, a scrape of ``discovery.kubernetes`` nodes whose relabelings send it
  to a node's proxy path (``.../proxy/metrics/cadvisor``, ``.../proxy/metrics``);
  ``kube_*``, a scrape of the pods selected by ``app.kubernetes.io/name=kube-state-metrics``;
  either forwarding to that writer through ``prometheus.relabel`` components whose rules keep
  a series of that name in Mimir's namespace.

A metric of a rule that none of these produce is named with the rule reading it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import re2

from fleet.verify.dataflow import Violation
from kit.alloy.parser import parse
from kit.alloy.syntax import Array, Block, Document, Expr, Literal, Object, components, reference_chain

__all__ = ["HubCollection", "ResourceScrape", "check_hub_collection", "hub_collection"]

DEFAULT_COUNTER_PREFIX = "loki_process_custom_"
"""``stage.metrics``' default prefix (Alloy's ``defaultMetricsPrefix``)."""
MIMIR_PREFIXES = ("cortex_", "thanos_")
"""The prefixes of the metrics Mimir's components expose."""
RESOURCE_SOURCES = {"container_": "cadvisor", "kubelet_": "kubelet", "kube_": "kube-state-metrics"}
"""Which source exposes the metrics of a prefix."""
KUBE_STATE_METRICS_SELECTOR = "app.kubernetes.io/name=kube-state-metrics"
_PROXY_PATHS = (("/proxy/metrics/cadvisor", "cadvisor"), ("/proxy/metrics", "kubelet"))


def relabeled(rules: Sequence[Block], labels: Mapping[str, str]) -> dict[str, str] | None:
    """``labels`` after Prometheus relabeling ``rules`` (``replace``, ``keep``, ``drop``), None when
    dropped, or when a rule does something else (not proven either way)."""
    result = dict(labels)
    for rule in rules:
        sources = rule.attribute("source_labels")
        names = [str(_literal(item)) for item in sources.items] if isinstance(sources, Array) else []
        separator = _literal(rule.attribute("separator"))
        value = (separator if isinstance(separator, str) else ";").join(result.get(n, "") for n in names)
        regex = _literal(rule.attribute("regex"))
        action = _literal(rule.attribute("action")) or "replace"
        found = re2.fullmatch(regex if isinstance(regex, str) else "(.*)", value)
        if (action == "keep" and found is None) or (action == "drop" and found is not None):
            return None
        if action == "replace":
            target = _literal(rule.attribute("target_label"))
            replacement = _literal(rule.attribute("replacement"))
            if found is not None and isinstance(target, str):
                text = replacement if isinstance(replacement, str) else "$1"
                for number, group in reversed(list(enumerate((found.group(0), *found.groups())))):
                    text = text.replace(f"${number}", group or "")
                result[target] = text
        elif action not in ("keep", "drop"):
            return None
    return result


@dataclass(frozen=True)
class ResourceScrape:
    """A scrape of cAdvisor, the kubelets or kube-state-metrics, and the relabel rules of one path
    from it to the owner tenant's writer."""

    source: str
    rules: tuple[Block, ...]

    def admits(self, metric: str, namespace: str) -> bool:
        return relabeled(self.rules, {"__name__": metric, "namespace": namespace}) is not None


@dataclass
class HubCollection:
    """What one collector configuration writes into the owner tenant."""

    writes_owner: bool = False
    scraped_namespaces: set[str] = field(default_factory=set)
    scrapes_itself: bool = False
    scrapes: bool = False
    counters: dict[str, set[str]] = field(default_factory=dict)
    """Counter name -> the namespaces its logs are tailed in."""
    resources: list[ResourceScrape] = field(default_factory=list)

    def collects(self, metric: str, mimir_namespace: str) -> bool:
        if metric == "up":
            return self.scrapes
        if metric.startswith(MIMIR_PREFIXES):
            return mimir_namespace in self.scraped_namespaces
        for prefix, source in RESOURCE_SOURCES.items():
            if metric.startswith(prefix):
                return any(s.source == source and s.admits(metric, mimir_namespace) for s in self.resources)
        return self.scrapes_itself and mimir_namespace in self.counters.get(metric, set())


def _literal(expr: Expr | None) -> object:
    return expr.value if isinstance(expr, Literal) else None


def _refs(expr: Expr | None) -> Iterator[str]:
    items = expr.items if isinstance(expr, Array) else (() if expr is None else (expr,))
    for item in items:
        chain = reference_chain(item)
        if chain is not None and len(chain) > 2:
            yield ".".join(chain[:-1])


def _namespaces(block: Block) -> set[str]:
    found: set[str] = set()
    for names in block.blocks("namespaces"):
        value = names.attribute("names")
        if isinstance(value, Array):
            found |= {str(_literal(item)) for item in value.items}
    return found


def _sources(found: dict[str, Block], component: str, seen: frozenset[str] = frozenset()) -> Iterator[Block]:
    """The discovery or exporter components ``component``'s targets come from (through relabels)."""
    block = found.get(component)
    if block is None or component in seen:
        return
    if block.name in ("discovery.kubernetes", "prometheus.exporter.self"):
        yield block
        return
    for source in _refs(block.attribute("targets")):
        yield from _sources(found, source, seen | {component})


def _target_rules(found: dict[str, Block], component: str, seen: frozenset[str] = frozenset()) -> list[Block]:
    """The ``discovery.relabel`` rules between ``component`` and its discovery (one chain)."""
    block = found.get(component)
    if block is None or component in seen or block.name == "discovery.kubernetes":
        return []
    for source in _refs(block.attribute("targets")):
        earlier = _target_rules(found, source, seen | {component})
        return earlier + (block.blocks("rule") if block.name == "discovery.relabel" else [])
    return []


def _resource_source(found: dict[str, Block], scrape: str) -> str | None:
    """``cadvisor``, ``kubelet`` or ``kube-state-metrics``: what ``scrape`` scrapes, if one of them."""
    for discovery in _sources(found, scrape):
        role = _literal(discovery.attribute("role"))
        if role == "pod" and any(
            KUBE_STATE_METRICS_SELECTOR in str(_literal(selector.attribute("label")))
            for selector in discovery.blocks("selectors")
        ):
            return "kube-state-metrics"
        if role == "node":
            for rule in _target_rules(found, scrape):
                replacement = _literal(rule.attribute("replacement"))
                if _literal(rule.attribute("target_label")) != "__metrics_path__":
                    continue
                for suffix, source in _PROXY_PATHS:
                    if isinstance(replacement, str) and replacement.endswith(suffix):
                        return source
    return None


def _paths_to(
    found: dict[str, Block], component: str, writers: set[str], seen: frozenset[str] = frozenset()
) -> Iterator[tuple[Block, ...]]:
    """The relabel rules of each path from ``component``'s ``forward_to`` to one of ``writers``."""
    block = found.get(component)
    if block is None or component in seen:
        return
    for target in _refs(block.attribute("forward_to")):
        if target in writers:
            yield ()
        elif target in found and found[target].name == "prometheus.relabel":
            for rest in _paths_to(found, target, writers, seen | {component}):
                yield (*found[target].blocks("rule"), *rest)


def _owner_writers(found: dict[str, Block], tenant: str) -> set[str]:
    writers = set()
    for component, block in found.items():
        if block.name != "prometheus.remote_write":
            continue
        for endpoint in block.blocks("endpoint"):
            headers = endpoint.attribute("headers")
            if isinstance(headers, Object) and any(
                key.lower() == "x-scope-orgid" and _literal(value) == tenant for key, value in headers.fields
            ):
                writers.add(component)
    return writers


def hub_collection(document: Document, tenant: str) -> HubCollection:
    """What the collector ``document`` writes into ``tenant``."""
    found = dict(components(document))
    writers = _owner_writers(found, tenant)
    result = HubCollection(writes_owner=bool(writers))
    for component, block in found.items():
        if block.name == "prometheus.scrape":
            kind = _resource_source(found, component)
            if kind is not None:
                result.resources += [
                    ResourceScrape(kind, rules) for rules in _paths_to(found, component, writers)
                ]
        if block.name == "prometheus.scrape" and set(_refs(block.attribute("forward_to"))) & writers:
            result.scrapes = True
            for source in _sources(found, component):
                if source.name == "prometheus.exporter.self":
                    result.scrapes_itself = True
                else:
                    result.scraped_namespaces |= _namespaces(source)
        if block.name == "loki.source.kubernetes":
            tailed = {ns for source in _sources(found, component) for ns in _namespaces(source)}
            for process in _refs(block.attribute("forward_to")):
                stages = found.get(process)
                if stages is None or stages.name != "loki.process":
                    continue
                for counter in (b for b in stages.walk() if b.name == "metric.counter"):
                    prefix = _literal(counter.attribute("prefix")) or DEFAULT_COUNTER_PREFIX
                    name = f"{prefix}{_literal(counter.attribute('name'))}"
                    result.counters.setdefault(name, set()).update(tailed)
    return result


def check_hub_collection(
    configs: list[tuple[str, str]], reads: dict[str, set[str]], tenant: str, mimir_namespace: str
) -> list[Violation]:
    """Violations for every metric of ``reads`` (rule -> metric names) that no collector
    configuration of ``configs`` (``(where, Alloy text)``) collects into ``tenant``."""
    collections = [(where, hub_collection(parse(text), tenant)) for where, text in configs]
    writing = [(where, c) for where, c in collections if c.writes_owner]
    if not writing:
        return [
            Violation(
                "alerting",
                "the control room",
                f"no Alloy configuration writes tenant {tenant}: the rules evaluated there have no data",
            )
        ]
    violations = []
    for rule, metrics in sorted(reads.items()):
        for metric in sorted(metrics):
            if not any(c.collects(metric, mimir_namespace) for _, c in writing):
                where = ", ".join(w for w, _ in writing)
                violations.append(
                    Violation(
                        "alerting",
                        where,
                        f"{rule} reads {metric}, which the hub's collector does not collect",
                    )
                )
    return violations
