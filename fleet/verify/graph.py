"""The component graph of a parsed Alloy configuration: where its data and its targets flow.

Data flows along references to a component's ``receiver`` (``prometheus.*``, ``loki.*``) or
``input`` (``otelcol.*``): ``forward_to = [prometheus.remote_write.central.receiver]`` is an edge
from the referencing component to ``prometheus.remote_write.central``. Discovery components and
exporters (``prometheus.exporter.*``) hand over targets, not data: the components that read their
``targets`` (or ``discovery.relabel``'s ``output``) consume them, and a ``prometheus.scrape`` at
the end of such a chain is where the exporter's metrics enter the data path.

``fleet verify`` walks this graph to prove the data path (:mod:`fleet.verify.dataflow`).
"""

from __future__ import annotations

from collections.abc import Iterator

from kit.alloy.parser import parse
from kit.alloy.syntax import (
    Access,
    Attribute,
    Block,
    Expr,
    Index,
    Literal,
    components,
    reference_chain,
    references,
)

__all__ = ["AlloyGraph", "endpoint_urls", "string_value"]

# Exports that receive data: Alloy's ``receiver`` (prometheus.*, loki.*) and ``input`` (otelcol.*).
_DATA_EXPORTS = ("receiver", "input")
# Exports that hand over targets: discovery.* and prometheus.exporter.* ``targets``,
# discovery.relabel's ``output``.
_TARGET_EXPORTS = ("targets", "output")
_METRIC_SOURCE_PREFIXES = ("prometheus.scrape", "prometheus.receive_", "prometheus.operator.")


class AlloyGraph:
    """The components of one configuration (by id, e.g. ``prometheus.scrape.pods``) and the data
    and target edges between them."""

    def __init__(self, blocks: list[tuple[str, Block]]) -> None:
        self.blocks = dict(blocks)
        # Data flows along ``edges`` (a component -> the receivers it forwards to); targets flow
        # along ``target_consumers`` (a component -> the components that read its targets).
        self.edges: dict[str, list[str]] = {}
        self.target_consumers: dict[str, list[str]] = {component_id: [] for component_id, _ in blocks}
        for component_id, block in blocks:
            targets: list[str] = []
            for chain in _block_references(block):
                if len(chain) < 2:
                    continue
                referenced = ".".join(chain[:-1])
                if chain[-1] in _DATA_EXPORTS and referenced not in targets:
                    targets.append(referenced)
                elif chain[-1] in _TARGET_EXPORTS and referenced in self.target_consumers:
                    consumers = self.target_consumers[referenced]
                    if component_id not in consumers:
                        consumers.append(component_id)
            self.edges[component_id] = targets

    @classmethod
    def from_text(cls, text: str) -> AlloyGraph:
        """The graph of an Alloy configuration text; raises AlloySyntaxError when it does not parse."""
        return cls(components(parse(text)))

    def of_kind(self, *prefixes: str) -> list[str]:
        """The components whose block name starts with one of ``prefixes``, in text order."""
        return [cid for cid, block in self.blocks.items() if block.name.startswith(prefixes)]

    def reachable(self, start: str) -> set[str]:
        """Every component ``start``'s data reaches (defined or not), ``start`` excluded unless a
        cycle leads back to it."""
        seen: set[str] = set()
        stack = list(self.edges.get(start, []))
        while stack:
            node = stack.pop()
            if node not in seen:
                seen.add(node)
                stack.extend(self.edges.get(node, []))
        return seen

    def scrapes_of(self, start: str) -> set[str]:
        """The ``prometheus.scrape`` components that scrape ``start``'s targets, via discovery."""
        scrapes: set[str] = set()
        seen: set[str] = set()
        stack = list(self.target_consumers.get(start, []))
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            name = self.blocks[node].name
            if name == "prometheus.scrape":
                scrapes.add(node)
            elif name.startswith("discovery."):
                stack.extend(self.target_consumers[node])
        return scrapes

    def metric_sources(self) -> list[str]:
        """The components where metrics enter the data path: scrapes, Prometheus receivers, and
        OpenTelemetry receivers with a metrics output."""
        sources = self.of_kind(*_METRIC_SOURCE_PREFIXES)
        for receiver in self.of_kind("otelcol.receiver."):
            outputs = self.blocks[receiver].blocks("output")
            if any(output.attribute("metrics") is not None for output in outputs):
                sources.append(receiver)
        return sources

    def reads_kubernetes_secret(self, expr: Expr) -> bool:
        """``remote.kubernetes.secret.<label>.data["key"]`` (or ``.data.key``) of a defined component."""
        if isinstance(expr, Index):
            if string_value(expr.index) is None:
                return False
            chain = reference_chain(expr.value)
        elif isinstance(expr, Access):
            chain = reference_chain(expr.value)
        else:
            return False
        if chain is None or len(chain) != 5 or chain[-1] != "data":
            return False
        component_id = ".".join(chain[:4])
        block = self.blocks.get(component_id)
        return block is not None and block.name == "remote.kubernetes.secret"


def _block_references(block: Block) -> Iterator[tuple[str, ...]]:
    for item in block.body:
        if isinstance(item, Attribute):
            yield from references(item.value)
        else:
            yield from _block_references(item)


def string_value(expr: Expr | None) -> str | None:
    """The text of a string literal; None for any other expression (or none)."""
    if isinstance(expr, Literal) and isinstance(expr.value, str):
        return expr.value
    return None


def endpoint_urls(block: Block) -> list[str | None]:
    """Each ``endpoint`` block's URL, None where it is not a string literal."""
    return [string_value(endpoint.attribute("url")) for endpoint in block.blocks("endpoint")]
