"""Retention as the hours Mimir and Loki parse."""

from __future__ import annotations

import pytest

from kit.charts import hours


@pytest.mark.parametrize(
    ("duration", "multiple", "expected"),
    [
        ("30d", 1, "720h"),
        ("1h30m", 1, "2h"),
        ("10m", 1, "1h"),
        ("2w", 1, "336h"),
        ("7d", 24, "168h"),
        ("36h", 24, "48h"),
        ("1h", 24, "24h"),
        ("0s", 24, "0s"),
    ],
)
def test_hours_rounds_up_to_whole_multiples(duration: str, multiple: int, expected: str) -> None:
    assert hours(duration, multiple=multiple) == expected


def test_hours_rejects_what_is_not_a_duration() -> None:
    with pytest.raises(ValueError, match="not a duration"):
        hours("thirty days")


def test_an_http_repository_is_passed_as_repository_opts() -> None:
    from kit.charts import chart_source

    source = chart_source("loki", "https://charts.example.com/helm")
    assert source["chart"] == "loki"
    assert source["repository_opts"].repo == "https://charts.example.com/helm"


def test_an_oci_registry_is_part_of_the_chart_reference() -> None:
    from kit.charts import chart_source

    assert chart_source("mimir-distributed", "oci://registry.example.com/helm/") == {
        "chart": "oci://registry.example.com/helm/mimir-distributed"
    }
