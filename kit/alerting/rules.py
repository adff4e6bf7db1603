"""Prometheus rule files as a typed model: alerting and recording rules in groups, written as the
YAML that Prometheus, Mimir's ruler and Loki's ruler read.

The shipped rules (:mod:`kit.alerting.catalogue`) are built from these types, never from
templates: every value that comes from the inventory (a threshold, a workload's name) goes
through :func:`promql_string` or :func:`promql_duration` before it reaches an expression, so a
name cannot change what a rule means. ``source_tenants`` is Mimir's extension for federated
groups; :func:`rule_file` writes it, :func:`rule_file` with ``prometheus=True`` leaves it out for
tools that only know Prometheus's format (``promtool``).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import LiteralScalarString

Severity = Literal["critical", "warning"]

__all__ = [
    "AlertRule",
    "RecordingRule",
    "RuleGroup",
    "Severity",
    "promql_duration",
    "promql_string",
    "rule_file",
]

_UNITS = (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def promql_duration(seconds: float) -> str:
    """``seconds`` as a PromQL/LogQL duration in one unit: ``600`` → ``10m``, ``5400`` → ``90m``.

    Sub-second parts are rounded up to the next second; durations are at least ``1s``.
    """
    whole = max(1, int(-(-seconds // 1)))
    for unit, size in _UNITS:
        if whole % size == 0:
            return f"{whole // size}{unit}"
    raise AssertionError("unreachable: every whole number of seconds is a multiple of 1s")


def promql_string(value: str) -> str:
    """``value`` as a double-quoted PromQL string literal (JSON escaping is a subset of PromQL's)."""
    return json.dumps(value)


@dataclass(frozen=True)
class AlertRule:
    """An alerting rule. ``summary`` and ``description`` may use ``{{ $labels.x }}`` and ``{{ $value }}``."""

    name: str
    expr: str
    severity: Severity
    summary: str
    description: str
    for_: str = "0s"
    labels: Mapping[str, str] = field(default_factory=dict)

    def to_yaml(self) -> dict[str, Any]:
        rule: dict[str, Any] = {"alert": self.name, "expr": _expr(self.expr)}
        if self.for_ not in ("0s", "0m"):
            rule["for"] = self.for_
        rule["labels"] = {"severity": self.severity, **dict(self.labels)}
        rule["annotations"] = {"summary": self.summary, "description": self.description}
        return rule


@dataclass(frozen=True)
class RecordingRule:
    """A recording rule: ``expr`` stored under the metric name ``record``."""

    record: str
    expr: str
    labels: Mapping[str, str] = field(default_factory=dict)

    def to_yaml(self) -> dict[str, Any]:
        rule: dict[str, Any] = {"record": self.record, "expr": _expr(self.expr)}
        if self.labels:
            rule["labels"] = dict(self.labels)
        return rule


Rule = AlertRule | RecordingRule


@dataclass(frozen=True)
class RuleGroup:
    """A group of rules evaluated together every ``interval``.

    ``source_tenants`` (Mimir only) makes it a federated group: its queries read those tenants'
    series, and its alerts belong to the tenant the group is stored under.
    """

    name: str
    rules: tuple[Rule, ...]
    interval: str = "1m"
    source_tenants: tuple[str, ...] = ()

    def alerts(self) -> tuple[AlertRule, ...]:
        """The alerting rules of this group."""
        return tuple(rule for rule in self.rules if isinstance(rule, AlertRule))

    def to_yaml(self, *, prometheus: bool = False) -> dict[str, Any]:
        group: dict[str, Any] = {"name": self.name, "interval": self.interval}
        if self.source_tenants and not prometheus:
            group["source_tenants"] = list(self.source_tenants)
        group["rules"] = [rule.to_yaml() for rule in self.rules]
        return group


def rule_file(groups: Sequence[RuleGroup], *, prometheus: bool = False) -> str:
    """The rule file holding ``groups`` (YAML, the same bytes for the same groups).

    ``prometheus=True`` writes only what Prometheus's own format knows (no ``source_tenants``):
    the file ``promtool check rules`` and ``promtool test rules`` read.
    """
    names = [group.name for group in groups]
    if len(set(names)) != len(names):
        raise ValueError(f"rule group names must be unique in a file: {names}")
    return dump_yaml({"groups": [group.to_yaml(prometheus=prometheus) for group in groups]})


def rule_files(groups: Sequence[RuleGroup]) -> dict[str, str]:
    """One rule file a group, by file name (``<group>.yaml``): each file a rule namespace."""
    return {f"{group.name}.yaml": rule_file([group]) for group in groups}


def dump_yaml(data: Any) -> str:
    """``data`` as block-style YAML, multi-line strings as literal blocks, keys in given order."""
    yaml = YAML(typ="rt")
    yaml.default_flow_style = False
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def alert_names(groups: Iterable[RuleGroup]) -> list[str]:
    """Every alert's name in ``groups``, in order."""
    return [alert.name for group in groups for alert in group.alerts()]


def _expr(expr: str) -> str:
    text = expr.strip()
    return LiteralScalarString(text + "\n") if "\n" in text else text
