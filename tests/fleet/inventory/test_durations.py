from __future__ import annotations

import pytest

from fleet.inventory.durations import check_prometheus_duration, format_prometheus_duration, parse_duration


@pytest.mark.parametrize("text", ["0", "0s", "90d", "1d12h", "1y2w3d4h5m6s7ms", "500ms", "4h30m"])
def test_prometheus_durations_pass_unchanged(text: str) -> None:
    assert check_prometheus_duration(text) == text


@pytest.mark.parametrize(
    ("text", "suggestion"),
    [("1.5d", "1d12h"), ("90m", None), ("0.5h", "30m"), ("1h1d", "1d1h"), ("2.5s", "2s500ms")],
)
def test_forms_mimir_rejects_name_the_form_to_write(text: str, suggestion: str | None) -> None:
    if suggestion is None:  # 90m is fine as it is
        assert check_prometheus_duration(text) == text
        return
    with pytest.raises(ValueError, match=f"write '{suggestion}'"):
        check_prometheus_duration(text)


def test_the_suggestion_means_the_same_time() -> None:
    for seconds in (1.5, 61, 3600 * 36, 86400 * 364, 604800 * 2 + 5):
        formatted = format_prometheus_duration(seconds)
        assert check_prometheus_duration(formatted) == formatted
        assert parse_duration(formatted) == pytest.approx(seconds)
    assert format_prometheus_duration(86400 * 366) == "1y1d"
    assert format_prometheus_duration(0) == "0s"


def test_text_that_is_no_duration_at_all_keeps_the_general_message() -> None:
    with pytest.raises(ValueError, match="is not a duration; expected a number and a unit"):
        check_prometheus_duration("soon")
