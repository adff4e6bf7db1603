"""Proofs over the shipped rules and dashboards: every query parses, and no alert is blind.

An alert on the workloads' series can only fire if the metrics it reads reach the control room.
A workload's ``central.metrics`` filter keeps only the metric names it matches (Alloy's
``write_relabel_config`` keep rule, anchored at both ends), so a filter that drops a metric an
alert reads blinds that alert for that workload without a word. :func:`blinded_alerts` finds
those pairs; :func:`metric_names` reads the metric names out of a PromQL expression with a real
PromQL parser (``promql-parser``), never with a regex over the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import promql_parser

__all__ = ["blinded_alerts", "metric_names", "query_errors"]


class QueryError(ValueError):
    """A PromQL expression that does not parse, or reads series it does not name."""


def metric_names(expr: str) -> set[str]:
    """The metric names ``expr`` reads. QueryError when it does not parse, or when a selector
    names no metric (``{job="x"}`` or a regex on ``__name__``): no proof is possible then."""
    try:
        tree = promql_parser.parse(expr)
    except ValueError as error:
        raise QueryError(f"does not parse: {error}") from None
    names: set[str] = set()
    unnamed: list[str] = []

    def visit(node: object) -> None:
        if not isinstance(node, promql_parser.VectorSelector):
            return
        if node.name:
            names.add(node.name)
            return
        equal = [
            m.value
            for m in node.matchers.matchers
            if m.name == "__name__" and m.op == promql_parser.MatchOp.Equal
        ]
        if equal:
            names.update(equal)
        else:
            unnamed.append(str(node))

    promql_parser.walk(tree, visit)
    if unnamed:
        raise QueryError(f"selector {unnamed[0]} names no metric")
    return names


def query_errors(queries: Iterable[tuple[str, str]]) -> list[str]:
    """``"<where>: <problem>"`` for every ``(where, query)`` that does not parse."""
    problems = []
    for where, query in queries:
        try:
            promql_parser.parse(query)
        except ValueError as error:
            problems.append(f"{where}: does not parse: {error}")
    return problems


def kept_by(filters: Sequence[str], metric: str) -> bool:
    """Whether a workload whose ``central.metrics`` is ``filters`` sends ``metric`` centrally
    ([] keeps everything; each regex is anchored at both ends, as Alloy's relabeling is)."""
    return not filters or any(re.fullmatch(pattern, metric) for pattern in filters)


def blinded_alerts(alerts: Iterable[tuple[str, str]], filters: Sequence[str]) -> list[str]:
    """``"<alert> reads <metric>"`` for every metric an alert reads that ``filters`` drop.

    ``alerts`` are ``(name, expr)`` pairs of the alerts that read the workloads' series.
    """
    blind = []
    for name, expr in alerts:
        try:
            metrics = metric_names(expr)
        except QueryError as error:
            blind.append(f"{name}: {error}")
            continue
        blind += [f"{name} reads {metric}" for metric in sorted(metrics) if not kept_by(filters, metric)]
    return blind
