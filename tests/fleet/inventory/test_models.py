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


# --- strict types and bounded durations (issue 11, point 9) -----------------------------------

from fleet.inventory.durations import MAX_DURATION  # noqa: E402
from fleet.inventory.models import HealthGate, MimirSettings  # noqa: E402


@pytest.mark.parametrize(
    ("model", "data"),
    [
        (RolloutPolicy, {"wave_size": True}),
        (RolloutPolicy, {"canary": True}),
        (RolloutPolicy, {"failure_budget": 1.5}),
        (MimirSettings, {"replicas": True}),
        (MimirSettings, {"replicas": "3"}),
        (HealthGate, {"enabled": "yes"}),
        (HealthGate, {"enabled": 1}),
    ],
)
def test_scalars_are_their_own_type_never_coerced(
    model: type[RolloutPolicy], data: dict[str, object]
) -> None:
    """``wave_size: true`` and ``replicas: true`` used to mean 1."""
    with pytest.raises(ValidationError):
        model.model_validate(data)


def test_a_duration_has_a_ceiling_far_from_infinity() -> None:
    assert parse_duration("3650d") == MAX_DURATION
    for text in ("3651d", "9" * 400 + "s", "1" + "0" * 5000 + "ms"):
        with pytest.raises(ValueError, match="is too long; the longest duration is 3650d") as caught:
            parse_duration(text)
        assert len(str(caught.value)) < 150  # the 400 digits are not echoed back


@pytest.mark.parametrize(
    ("model", "data"),
    [
        (RolloutPolicy, {"bake_time": "25h"}),
        (RolloutPolicy, {"bake_time": "9" * 400 + "s"}),
        (MimirSettings, {"retention": "9" * 400 + "d"}),
        (HealthGate, {"timeout": "9" * 400 + "m"}),
        (UpgradeSchedule, {"schedule": "0 3 * * 6", "window": "9" * 400 + "h"}),
    ],
)
def test_durations_past_their_maximum_fail_validation(
    model: type[RolloutPolicy], data: dict[str, object]
) -> None:
    with pytest.raises(ValidationError, match="too long"):
        model.model_validate(data)


# --- bake limits and region shapes, as a user meets them ------------------------------------

from pathlib import Path  # noqa: E402

from inventories import copy_example  # noqa: E402
from malformed import Case, edit, refused  # noqa: E402

from fleet.inventory.models import MAX_BAKE, region_problem  # noqa: E402

ROLLOUT = 'bake_time: "0s"}'


@pytest.mark.parametrize("field", ["bake_time", "canary_bake_time"])
def test_both_bakes_stop_at_the_same_limit(field: str) -> None:
    assert RolloutPolicy.model_validate({field: MAX_BAKE}).model_dump()[field] == MAX_BAKE
    with pytest.raises(ValidationError, match=f"is too long; at most {MAX_BAKE}"):
        RolloutPolicy.model_validate({field: "24h1m"})


def test_a_ten_year_canary_bake_is_refused_naming_the_file_field_and_fix(tmp_path: Path) -> None:
    """canary_bake_time took up to 3650d while bake_time stopped at 24h."""
    case = Case(
        "canary-bake-3650d",
        0,
        edit("fleet.yaml", ROLLOUT, 'bake_time: "0s", canary_bake_time: "3650d"}'),
        "canary_bake_time",
    )
    assert refused(case, copy_example(tmp_path / "inv")) == (
        "error: fleet.yaml:17: spec.rollout.canary_bake_time: '3650d' is too long; at most 24h; "
        "to watch a canary longer, roll it out on its own first (fleet rollout -l ring=canary)"
    )


def test_a_canary_bake_on_the_command_line_has_the_same_limit(tmp_path: Path) -> None:
    case = Case(
        "canary-bake-flag",
        0,
        lambda root: None,
        "--canary-bake-time",
        args=("rollout", "--all", "--dry-run", "--canary-bake-time", "25h"),
    )
    line = refused(case, copy_example(tmp_path / "inv"))
    assert line.startswith("error: --canary-bake-time: '25h' is too long; at most 24h; ")
    assert not (tmp_path / "inv" / ".fleet").exists()  # no journal, no render


@pytest.mark.parametrize(
    ("cloud", "region"),
    [
        ("aws", "us-east-1"),
        ("aws", "us-gov-west-1"),
        ("aws", "ap-southeast-2"),
        ("aws", "cn-northwest-1"),
        ("aws", "il-central-1"),
        ("aws", "us-isob-east-1"),
        ("aws", "eusc-de-east-1"),
        ("azure", "westeurope"),
        ("azure", "eastus2"),
        ("azure", "usgovvirginia"),
        ("azure", "chinanorth3"),
        ("azure", "southafricanorth"),
    ],
)
def test_region_names_of_each_cloud_are_accepted(cloud: str, region: str) -> None:
    assert region_problem(cloud, region) is None


@pytest.mark.parametrize(
    ("cloud", "region"),
    [
        ("aws", "westeurope"),
        ("aws", "eastus2"),
        ("aws", "us-east"),
        ("aws", "east-1"),
        ("azure", "us-east-1"),
        ("azure", "west-europe"),
        ("azure", "2east"),
    ],
)
def test_region_names_of_another_shape_are_refused(cloud: str, region: str) -> None:
    assert region_problem(cloud, region) is not None


@pytest.mark.parametrize(
    ("file", "old", "new", "line"),
    [
        (
            "workloads/payments-prod.yaml",
            "region: eu-west-1",
            "region: westeurope",
            "error: workloads/payments-prod.yaml:6: spec.region: 'westeurope' is not an AWS region; "
            "use a name like us-east-1, us-gov-west-1 or ap-southeast-2 "
            "('westeurope' looks like an Azure region: cloud: azure?)",
        ),
        (
            "workloads/analytics-prod.yaml",
            "region: eastus",
            "region: us-east-1",
            "error: workloads/analytics-prod.yaml:6: spec.region: 'us-east-1' is not an Azure region; "
            "use a name like westeurope, eastus2 or usgovvirginia "
            "('us-east-1' looks like an AWS region: cloud: aws?)",
        ),
        (
            "fleet.yaml",
            "region: us-east-1",
            "region: us-east",
            "error: fleet.yaml:8: spec.control_room.region: 'us-east' is not an AWS region; "
            "use a name like us-east-1, us-gov-west-1 or ap-southeast-2",
        ),
    ],
)
def test_a_region_of_another_cloud_is_refused_naming_the_file_field_and_shape(
    tmp_path: Path, file: str, old: str, new: str, line: str
) -> None:
    """A workload on aws could name Azure's westeurope, and the other way round."""
    case = Case(f"region-{new}", 0, edit(file, old, new), "spec")
    assert refused(case, copy_example(tmp_path / "inv")) == line
