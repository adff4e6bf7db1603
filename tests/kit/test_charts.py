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
