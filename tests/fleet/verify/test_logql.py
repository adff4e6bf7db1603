"""The offline LogQL check: what it accepts is what Loki parses, what it refuses Loki refuses too
(or cannot be checked without Loki, which it says)."""

from __future__ import annotations

import pytest

from fleet.inventory.models import AlertThresholds
from fleet.verify.logql import logql_problems
from kit.alerting.catalogue import local_log_rule_groups


@pytest.mark.parametrize("system_logs", [True, False])
def test_the_shipped_log_rules_pass(system_logs: bool) -> None:
    (group,) = local_log_rule_groups(AlertThresholds(), namespaces=("alloy", "loki"), system_logs=system_logs)
    assert {rule.name: logql_problems(rule.expr) for rule in group.rules} == {
        rule.name: [] for rule in group.rules
    }


@pytest.mark.parametrize(
    "expr",
    [
        'sum by (namespace) (count_over_time({namespace="a"} |= "x" != `y` [5m])) > 5',
        'sum(rate({job="j"}[1h])) by (job) > 0',
        'count_over_time({a=~"b|c"} |~ "err(or)?" [30s])',
    ],
)
def test_valid_queries_pass(expr: str) -> None:
    assert logql_problems(expr) == []


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ('sum(count_over_time({namespace=~".*"} |= "x" [5m]))', "non-empty matcher"),
        ('sum(count_over_time({a="b"} |~ "(" [5m]))', "does not compile"),
        ('sum(count_over_time({a="b"} | json [5m]))', "only line filters are understood"),
        ('sum by (a (count_over_time({a="b"}[5m]))', "does not parse"),
        ('sum({a="b"})', "not the argument of a range aggregation"),
        ('sum(count_over_time({a="b"} |= "x" [5x]))', "only line filters are understood"),
        ('sum(count_over_time({a="b}[5m]))', "not closed"),
        ("up > 0", "not a LogQL metric query"),
    ],
)
def test_broken_queries_are_named(expr: str, problem: str) -> None:
    (found,) = logql_problems(expr)
    assert problem in found
