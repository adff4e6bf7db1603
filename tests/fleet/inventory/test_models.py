"""Model rules that are not about files: versions, pins, policies, durations."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from fleet.inventory.durations import format_duration, parse_duration
from fleet.inventory.models import RolloutPolicy, UpgradeSchedule, VersionPins, VersionSet


def test_pins_override_only_what_they_name() -> None:
    versions = VersionSet(alloy="1.4.0", mimir="6.0.0", loki="6.46.0", grafana="10.1.4")
    pinned = versions.with_pins(VersionPins(loki="6.30.1"))
    assert pinned.loki == "6.30.1"
    assert pinned.model_dump(exclude={"loki"}) == versions.model_dump(exclude={"loki"})


@pytest.mark.parametrize("size", [1, 5, "1%", "25%", "100%"])
def test_wave_sizes_accepted(size: int | str) -> None:
    assert RolloutPolicy(wave_size=size).wave_size == size


@pytest.mark.parametrize("size", [0, -1, "0%", "150%", "abc", "25 %"])
def test_wave_sizes_rejected(size: int | str) -> None:
    with pytest.raises(ValidationError):
        RolloutPolicy(wave_size=size)


def test_schedule_checks_cron_and_zone() -> None:
    assert UpgradeSchedule(schedule="0 3 * * SAT", timezone="Europe/Berlin").window == "4h"
    with pytest.raises(ValidationError, match="cron"):
        UpgradeSchedule(schedule="every saturday")
    with pytest.raises(ValidationError, match="IANA time zone"):
        UpgradeSchedule(schedule="0 3 * * SAT", timezone="Mars/Olympus")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0", 0), ("0s", 0), ("90s", 90), ("5m", 300), ("1h30m", 5400), ("7d", 604800)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "m5", "5 m", "5y", "1h 30m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_format_duration() -> None:
    assert [format_duration(s) for s in (5, 65, 3725)] == ["5s", "1m05s", "1h02m"]


def test_cluster_identity_fields() -> None:
    from fleet.inventory.models import Cluster, WorkloadSpec

    aws = {"cloud": "aws", "region": "us-east-1", "account_id": "123456789012"}
    spec = WorkloadSpec.model_validate(
        {
            **aws,
            "cluster": {"name": "prod-eks", "oidc_issuer": "https://oidc.eks.us-east-1.amazonaws.com/id/AB"},
        }
    )
    assert spec.cluster.name == "prod-eks"
    with pytest.raises(ValidationError, match="only for azure"):
        WorkloadSpec.model_validate({**aws, "cluster": {"resource_group": "rg-aks"}})
    with pytest.raises(ValidationError, match="https:// issuer URL"):
        Cluster(oidc_issuer="http://insecure.example.com")


def test_drift_schedule_checks_cron_zone_and_keys() -> None:
    from fleet.inventory.models import DriftSchedule

    check = DriftSchedule(schedule="0 * * * *")
    assert (check.timezone, check.dry_run) == ("UTC", False)
    with pytest.raises(ValidationError, match="5 cron fields"):
        DriftSchedule(schedule="hourly")
    with pytest.raises(ValidationError, match="IANA time zone"):
        DriftSchedule(schedule="0 * * * *", timezone="Mars/Olympus")
    with pytest.raises(ValidationError, match="window"):
        DriftSchedule.model_validate({"schedule": "0 * * * *", "window": "1h"})  # a check has no window


# --- spec.alerting ---------------------------------------------------------------------------

from fleet.inventory.models import Alerting, AlertThresholds, LocalAlerting, SecretRef  # noqa: E402


@pytest.mark.parametrize(
    ("ref", "expect"),
    [
        ({}, "exactly one"),
        ({"env": "A", "kubernetes": "s/k"}, "exactly one"),
        ({"env": "1BAD"}, "environment variable name"),
        ({"kubernetes": "no-key"}, "<secret>/<key>"),
        ({"kubernetes": "Bad_Name/key"}, "<secret>/<key>"),
    ],
)
def test_secret_references_are_a_variable_or_a_secret_key(ref: dict[str, str], expect: str) -> None:
    with pytest.raises(ValidationError, match=expect):
        SecretRef.model_validate(ref)


def test_a_secret_reference_never_holds_a_value() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        SecretRef.model_validate({"value": "hunter2"})


def test_routes_and_the_default_must_name_declared_receivers() -> None:
    with pytest.raises(ValidationError, match=r"routes\[0\].receiver: no receiver named 'team'"):
        Alerting.model_validate({"routes": [{"receiver": "team"}]})
    with pytest.raises(ValidationError, match="declared twice"):
        Alerting.model_validate({"receivers": [{"name": "a", "webhook": {"url": "https://x.example/"}}] * 2})


@pytest.mark.parametrize(
    ("receiver", "expect"),
    [
        ({"name": "empty"}, "at least one of"),
        ({"name": "fleet-unrouted", "webhook": {"url": "https://x.example/"}}, "reserved"),
        ({"name": "hook", "webhook": {"url": "https://user:pw@x.example/"}}, "without credentials"),
        ({"name": "mail", "email": {"to": "a@x.io", "from": "b@x.io", "smarthost": "smtp"}}, "host:port"),
        (
            {
                "name": "mail",
                "email": {"to": "a@x.io", "from": "b@x.io", "smarthost": "s.x.io:25", "username": "u"},
            },
            "go together",
        ),
    ],
)
def test_receivers_are_checked(receiver: dict[str, object], expect: str) -> None:
    with pytest.raises(ValidationError, match=expect):
        Alerting.model_validate({"receivers": [receiver]})


def test_matchers_use_alertmanagers_syntax() -> None:
    ok = {"receivers": [{"name": "r", "webhook": {"url": "https://x.example/"}}]}
    Alerting.model_validate({**ok, "routes": [{"receiver": "r", "matchers": ['workload=~"pay.*"']}]})
    with pytest.raises(ValidationError, match="not a matcher"):
        Alerting.model_validate({**ok, "routes": [{"receiver": "r", "matchers": ["workload = pay"]}]})


def test_thresholds_are_at_least_a_minute_and_ratios_in_range() -> None:
    with pytest.raises(ValidationError, match="too short"):
        AlertThresholds(silent_after="30s")
    with pytest.raises(ValidationError):
        AlertThresholds(write_failure_ratio=0)
    assert AlertThresholds().silent_after == "10m"


def test_local_alerting_is_off_by_default() -> None:
    assert LocalAlerting().enabled is False
    assert LocalAlerting().thresholds is None


def test_chart_repositories_default_to_where_each_chart_is_published() -> None:
    from fleet.inventory.models import ChartSources

    charts = ChartSources()
    assert charts.repository("alloy") == "https://grafana.github.io/helm-charts"
    assert charts.repository("mimir") == "https://grafana.github.io/helm-charts"
    assert charts.repository("loki") == "https://grafana.github.io/helm-charts"
    assert charts.repository("grafana") == "https://grafana-community.github.io/helm-charts"
    mirrored = ChartSources.model_validate({"grafana": {"repository": "oci://registry.example.com/helm/"}})
    assert mirrored.repository("grafana") == "oci://registry.example.com/helm"
    assert mirrored.repository("loki") == "https://grafana.github.io/helm-charts"


@pytest.mark.parametrize(
    "repository", ["grafana.github.io/helm-charts", "ftp://x.example.com", "https://user:pw@x.example.com"]
)
def test_chart_repositories_rejected(repository: str) -> None:
    from fleet.inventory.models import ChartSources

    with pytest.raises(ValidationError, match="not a chart repository"):
        ChartSources.model_validate({"loki": {"repository": repository}})
