"""Proofs over the shipped rules and dashboards: every query parses, and no alert is blind.

An alert on the workloads' series can only fire if the metrics it reads reach the control room.
A workload's ``central.metrics`` filter keeps only the metric names it matches (Alloy's
``write_relabel_config`` keep rule, anchored at both ends), so a filter that drops a metric an
alert reads blinds that alert for that workload without a word. :func:`blinded_alerts` finds
those pairs; :func:`metric_names` reads the metric names out of a PromQL expression with a real
PromQL parser (``promql-parser``), never with a regex over the text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import promql_parser
import yaml

from fleet.inventory.models import AlertThresholds
from fleet.verify.dataflow import Violation

if TYPE_CHECKING:
    from fleet.verify.objects import StackObjects

__all__ = [
    "blinded_alerts",
    "check_alerting",
    "metric_names",
    "query_errors",
    "recording_rule_series",
    "unrecorded_series",
]

_THRESHOLDS = AlertThresholds()
"""Thresholds change numbers in the rules, never the metrics they read."""
_WORKLOADS = "fleet-workloads"


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


_BUILTIN_DURATIONS = ("__rate_interval", "__interval", "__range", "__auto")
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


def _templating(model: dict[str, object]) -> list[dict[str, object]]:
    templating = model.get("templating")
    found = templating.get("list") if isinstance(templating, dict) else None
    return [v for v in found or [] if isinstance(v, dict)]


def _variables(model: dict[str, object]) -> dict[str, str]:
    """A dashboard's template variables at a value each: the current one (a custom variable's
    ``\\,`` is its escaped comma), ``All`` as the variable's ``allValue`` (else ``.*``);
    Grafana's built-in intervals as ``5m``."""
    values = {name: "5m" for name in _BUILTIN_DURATIONS}
    values.update({"__interval_ms": "300000", "__range_s": "300", "__range_ms": "300000"})
    for variable in _templating(model):
        current = variable.get("current")
        value = current.get("value", "") if isinstance(current, dict) else ""
        if isinstance(value, list):
            value = "|".join(str(v) for v in value)
        if value in ("$__all", "") and variable.get("includeAll"):
            value = variable.get("allValue") or ".*"
        if variable.get("type") == "custom":
            value = str(value).replace("\\,", ",")
        values[str(variable.get("name"))] = str(value)
    return values


def _loki_datasources(model: dict[str, object]) -> set[str]:
    """How panels name a Loki datasource: ``$var`` / ``${var}`` of a datasource variable of type
    loki (their queries are LogQL, not PromQL)."""
    names = {
        str(v.get("name"))
        for v in _templating(model)
        if v.get("type") == "datasource" and v.get("query") == "loki"
    }
    return {form for name in names for form in (f"${name}", f"${{{name}}}")}


def interpolated(expr: str, variables: dict[str, str]) -> str:
    """``expr`` with Grafana's ``$var``, ``${var}`` and ``[[var]]`` replaced as Grafana would
    before sending it (unknown variables are left for the parser to refuse)."""

    def value(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        return variables.get(name, match.group(0))

    # Twice: a variable's value may name another variable (the mixins' matcher variables do).
    return _VARIABLE.sub(value, _VARIABLE.sub(value, expr))


def dashboard_queries(name: str, model: dict[str, object]) -> list[tuple[str, str]]:
    """``(where, query)`` of every PromQL target of a dashboard (rows and nested panels too),
    with its template variables interpolated."""
    variables = _variables(model)
    loki = _loki_datasources(model)
    found: list[tuple[str, str]] = []

    def logql(source: object) -> bool:
        if isinstance(source, dict):
            return source.get("type") == "loki" or source.get("uid") in loki
        return source in loki

    def visit(panels: object) -> None:
        for panel in panels if isinstance(panels, list) else []:
            if not isinstance(panel, dict) or logql(panel.get("datasource")):
                continue
            for target in panel.get("targets") or []:
                if isinstance(target, dict) and logql(target.get("datasource")):
                    continue
                if isinstance(target, dict) and "expr" in target:
                    where = f"{name} panel {panel.get('title')!r}"
                    found.append((where, interpolated(str(target["expr"]), variables)))
            visit(panel.get("panels"))

    visit(model.get("panels"))
    rows = model.get("rows")
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, dict):
            visit(row.get("panels"))
    return found


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


# --- on a stack's rendered objects ---------------------------------------------------------------


def _central_keep(config_text: str) -> list[str] | None:
    """The keep regexes of the Alloy configuration's central endpoint; None when it keeps all."""
    from kit.alloy.parser import parse
    from kit.alloy.syntax import Block, Literal, components

    found = dict(components(parse(config_text)))
    central = found.get("prometheus.remote_write.central")
    if central is None:
        return None
    regexes: list[str] = []
    for endpoint in (b for b in central.body if isinstance(b, Block) and b.name == "endpoint"):
        for relabel in (
            b for b in endpoint.body if isinstance(b, Block) and b.name == "write_relabel_config"
        ):
            regex = relabel.attribute("regex")
            if relabel.attribute("action") == Literal("keep") and isinstance(regex, Literal):
                regexes.append(str(regex.value))
    return regexes or None


def _hub_collection(stack: StackObjects) -> list[Violation]:
    """The control room's Alloy collects every metric the rules on its own tenant read."""
    from fleet.verify.collector import check_hub_collection
    from kit.alerting.catalogue import OWNER_TENANT, controlroom_rule_groups
    from kit.alerting.rules import AlertRule

    configs = [
        (item.label, str(text))
        for item in stack.of_kind("ConfigMap")
        for key, text in (item.manifest.get("data") or {}).items()
        if key.endswith(".alloy")
    ]
    namespaces = [chart.namespace for chart in stack.charts if chart.chart == "mimir-distributed"]
    groups = controlroom_rule_groups([], _THRESHOLDS)
    reads: dict[str, set[str]] = {}
    for group in groups:
        for rule in group.rules:
            if isinstance(rule, AlertRule):
                try:
                    reads[rule.name] = metric_names(rule.expr)
                except QueryError as error:
                    return [Violation("alerting", rule.name, str(error))]
    if not namespaces:
        return [Violation("alerting", stack.stack, "renders no mimir-distributed chart")]
    return check_hub_collection(configs, reads, OWNER_TENANT, namespaces[0])


def check_alerting(stack: StackObjects) -> list[Violation]:
    """On the rendered objects: in a workload, the central filter its Alloy really runs (read from
    the ConfigMap the DaemonSet mounts) keeps every metric the hub's workload alerts read; in the
    control room, the hub's collector collects what the rules on the hub's own tenant read
    (``fleet-hub``), every shipped rule and every provisioned dashboard query parses, and every
    recording rule's series a dashboard reads is recorded by a rule the ruler loads; in both,
    every ruler and Alertmanager on shipped files is wired (``fleet.verify.rulers``: the local
    alerting of a workload, the control room's)."""
    from fleet.verify.rulers import check_rulers, recorded_series
    from kit.alerting.catalogue import controlroom_rule_groups
    from kit.alerting.rules import AlertRule

    violations: list[Violation] = check_rulers(stack)
    expected = stack.expect.alloy
    if expected is not None:
        namespace, config_map, key, _ = expected
        item = stack.find("ConfigMap", namespace, config_map)
        text = ((item.manifest.get("data") or {}).get(key) if item is not None else None) or ""
        if not text:
            return [Violation("alerting", f"ConfigMap {namespace}/{config_map}", f"has no {key}")]
        keep = _central_keep(text)
        if keep is not None:
            (workloads,) = [
                g for g in controlroom_rule_groups([stack.stack], _THRESHOLDS) if g.name == _WORKLOADS
            ]
            alerts = [(rule.name, rule.expr) for rule in workloads.rules if isinstance(rule, AlertRule)]
            where = f"ConfigMap {namespace}/{config_map}"
            violations += [
                Violation("alerting", where, f"the central filter blinds {blind}")
                for blind in blinded_alerts(alerts, keep)
            ]
        return violations
    violations += _hub_collection(stack)
    panels: list[tuple[str, str]] = []
    for item in stack.of_kind("ConfigMap"):
        data = item.manifest.get("data") or {}
        for name, text in data.items():
            queries: list[tuple[str, str]] = []
            if name.endswith(".json") and '"panels"' in str(text):
                queries = dashboard_queries(name, json.loads(str(text)))
                panels += queries
            elif name.endswith(".yaml") and "groups:" in str(text) and "expr:" in str(text):
                groups = yaml.safe_load(str(text)).get("groups") or []
                queries = [
                    (f"{name} rule {rule.get('alert') or rule.get('record')}", str(rule["expr"]))
                    for group in groups
                    for rule in group.get("rules") or []
                ]
            violations += [
                Violation("alerting", where.split(" ", 1)[0], where) for where in query_errors(queries)
            ]
    return violations + unrecorded_series(panels, recorded_series(stack))


def recording_rule_series(expr: str) -> set[str]:
    """The recording rules' series ``expr`` reads: the metric names with a colon, which by
    Prometheus's naming convention only recording rules write (unparsable queries: none, the
    parse proof reports them)."""
    try:
        return {name for name in metric_names(expr) if ":" in name}
    except QueryError:
        return set()


def unrecorded_series(queries: Iterable[tuple[str, str]], recorded: set[str]) -> list[Violation]:
    """A violation for every recording rule's series a dashboard query (``(where, query)``) reads
    that no rule of ``recorded`` records: its panel would stay empty."""
    violations = []
    for where, query in queries:
        for name in sorted(recording_rule_series(query) - recorded):
            violations.append(
                Violation("alerting", where.split(" ", 1)[0], f"{where} reads {name}, which no rule records")
            )
    return violations
