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
  namespace: a scrape of ``prometheus.exporter.self`` forwarding to that writer.

A metric of a rule that none of these produce is named with the rule reading it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from fleet.verify.dataflow import Violation
from kit.alloy.parser import parse
from kit.alloy.syntax import Array, Block, Document, Expr, Literal, Object, components, reference_chain

__all__ = ["HubCollection", "check_hub_collection", "hub_collection"]

DEFAULT_COUNTER_PREFIX = "loki_process_custom_"
"""``stage.metrics``' default prefix (Alloy's ``defaultMetricsPrefix``)."""
MIMIR_PREFIXES = ("cortex_", "thanos_")
"""The prefixes of the metrics Mimir's components expose."""


@dataclass
class HubCollection:
    """What one collector configuration writes into the owner tenant."""

    writes_owner: bool = False
    scraped_namespaces: set[str] = field(default_factory=set)
    scrapes_itself: bool = False
    scrapes: bool = False
    counters: dict[str, set[str]] = field(default_factory=dict)
    """Counter name -> the namespaces its logs are tailed in."""

    def collects(self, metric: str, mimir_namespace: str) -> bool:
        if metric == "up":
            return self.scrapes
        if metric.startswith(MIMIR_PREFIXES):
            return mimir_namespace in self.scraped_namespaces
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
