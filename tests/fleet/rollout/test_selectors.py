"""Label selectors in kubectl's syntax: each operator, the fields, and the errors."""

from __future__ import annotations

import pytest

from fleet.errors import UserError
from fleet.rollout.selectors import did_you_mean, parse_selector
from fleet.rollout.waves import PlanTarget, select

FLEET = [
    PlanTarget("eu-prod", {"team": "core"}, "production", "aws", "eu-west-1"),
    PlanTarget("us-prod", {"ring": "canary", "team": "core"}, "production", "azure", "eastus"),
    PlanTarget("dev-1", {"ring": "early", "team": "web"}, "development", "aws", "us-east-1"),
    PlanTarget("stage-1", {"team": "web"}, "staging", "aws", "us-east-1"),
]


def chosen(text: str) -> list[str]:
    return [target.name for target in select(FLEET, selector=parse_selector(text))]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ring=canary", ["us-prod"]),
        ("ring==canary", ["us-prod"]),
        ("ring!=canary", ["eu-prod", "dev-1", "stage-1"]),  # no label counts as different
        ("ring in (canary, early)", ["us-prod", "dev-1"]),
        ("ring notin (canary)", ["eu-prod", "dev-1", "stage-1"]),
        ("ring", ["us-prod", "dev-1"]),
        ("!ring", ["eu-prod", "stage-1"]),
        ("environment=production", ["eu-prod", "us-prod"]),
        ("environment!=production,cloud=aws", ["dev-1", "stage-1"]),
        ("region in (us-east-1,eastus),team=web", ["dev-1", "stage-1"]),
        (" team = core , !ring ", ["eu-prod"]),
        ("example.com/owner", []),
    ],
)
def test_each_operator_selects_as_kubectl_does(text: str, expected: list[str]) -> None:
    assert chosen(text) == expected


@pytest.mark.parametrize(
    "text", ["", "ring=", "=x", "a=b,", "a=b c", "ring in canary", "ring in (a,)", "ring in (a", "a=>b"]
)
def test_bad_selectors_are_one_user_error_naming_the_part(text: str) -> None:
    with pytest.raises(UserError) as raised:
        parse_selector(text)
    assert "\n" not in raised.value.message


def test_did_you_mean_suggests_only_close_words() -> None:
    assert did_you_mean("rign", ["ring", "team"]) == "; did you mean 'ring'?"
    assert did_you_mean("zzz", ["ring", "team"]) == ""
