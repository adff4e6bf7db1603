from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.schedule.windows import Window, next_window, validate_schedule, window_containing

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


# --- time zones -----------------------------------------------------------------------------


def test_saturday_0300_berlin_is_0200_utc_in_winter() -> None:
    window = next_window(utc(2024, 1, 1), "0 3 * * SAT", "4h", BERLIN)
    assert window == Window(utc(2024, 1, 6, 2), utc(2024, 1, 6, 6))


def test_saturday_0300_berlin_is_0100_utc_in_summer() -> None:
    window = next_window(utc(2024, 7, 1), "0 3 * * SAT", "4h", BERLIN)
    assert window == Window(utc(2024, 7, 6, 1), utc(2024, 7, 6, 5))


def test_now_in_another_zone_is_the_same_instant() -> None:
    tokyo = timezone(timedelta(hours=9))
    now = datetime(2024, 1, 6, 12, 0, tzinfo=tokyo)  # 03:00 UTC, 04:00 Berlin
    assert window_containing(now, "0 3 * * SAT", "4h", BERLIN) == Window(
        utc(2024, 1, 6, 2), utc(2024, 1, 6, 6)
    )


def test_returned_datetimes_are_utc() -> None:
    window = next_window(utc(2024, 1, 1), "0 3 * * SAT", "4h", "Asia/Kolkata")
    assert window.start.tzinfo is UTC
    assert window.end.tzinfo is UTC
    assert window.start == utc(2024, 1, 5, 21, 30)  # 03:00 IST is 21:30 UTC the day before


def test_length_in_seconds_equals_length_as_duration() -> None:
    by_text = next_window(utc(2024, 1, 1), "0 3 * * SAT", "1h30m", BERLIN)
    by_seconds = next_window(utc(2024, 1, 1), "0 3 * * SAT", 5400.0, BERLIN)
    assert by_text == by_seconds
    assert by_text.end - by_text.start == timedelta(minutes=90)


# --- open, closed, edges ----------------------------------------------------------------------


def test_window_across_midnight_is_open_after_midnight() -> None:
    # 22:00 Berlin (21:00 UTC in winter) + 4h runs to 01:00 UTC the next day.
    window = Window(utc(2024, 1, 10, 21), utc(2024, 1, 11, 1))
    assert window_containing(utc(2024, 1, 10, 23, 59), "0 22 * * *", "4h", BERLIN) == window
    assert window_containing(utc(2024, 1, 11, 0, 30), "0 22 * * *", "4h", BERLIN) == window
    assert window_containing(utc(2024, 1, 11, 1, 0), "0 22 * * *", "4h", BERLIN) is None


def test_now_exactly_at_start_is_open() -> None:
    start = utc(2024, 1, 6, 2)
    window = window_containing(start, "0 3 * * SAT", "4h", BERLIN)
    assert window is not None
    assert window.start == start


def test_now_exactly_at_end_is_closed_and_next_window_is_next_week() -> None:
    end = utc(2024, 1, 6, 6)
    assert window_containing(end, "0 3 * * SAT", "4h", BERLIN) is None
    assert window_containing(end - timedelta(microseconds=1), "0 3 * * SAT", "4h", BERLIN)
    assert next_window(end, "0 3 * * SAT", "4h", BERLIN).start == utc(2024, 1, 13, 2)


def test_next_window_returns_the_open_window() -> None:
    now = utc(2024, 1, 6, 4)
    assert next_window(now, "0 3 * * SAT", "4h", BERLIN) == Window(utc(2024, 1, 6, 2), utc(2024, 1, 6, 6))


def test_closed_between_windows() -> None:
    assert window_containing(utc(2024, 1, 8, 12), "0 3 * * SAT", "4h", BERLIN) is None


def test_window_contains_operator() -> None:
    window = Window(utc(2024, 1, 6, 2), utc(2024, 1, 6, 6))
    assert utc(2024, 1, 6, 2) in window
    assert utc(2024, 1, 6, 6) not in window


# --- overlapping windows ----------------------------------------------------------------------


def test_overlapping_windows_the_latest_started_contains() -> None:
    # Every hour, 3h long: at 05:30 UTC the windows of 03:00, 04:00 and 05:00 are all open.
    window = window_containing(utc(2024, 1, 6, 5, 30), "0 * * * *", "3h", "UTC")
    assert window == Window(utc(2024, 1, 6, 5), utc(2024, 1, 6, 8))


def test_window_longer_than_a_week_is_always_open() -> None:
    for day in range(1, 30):
        now = utc(2024, 2, day, 13)
        window = window_containing(now, "0 3 * * SAT", "8d", BERLIN)
        assert window is not None
        assert window.start <= now < window.end
        assert window.start.weekday() == 5  # Saturday in UTC too: 02:00 UTC


# --- daylight-saving transitions --------------------------------------------------------------


def test_spring_forward_gap_fires_once_shifted_by_the_gap() -> None:
    # Berlin, 2024-03-31: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist on the wall.
    # It fires at 02:30 CET == 01:30 UTC == 03:30 CEST, once.
    window = next_window(utc(2024, 3, 30, 12), "30 2 * * *", "1h", BERLIN)
    assert window == Window(utc(2024, 3, 31, 1, 30), utc(2024, 3, 31, 2, 30))
    after = next_window(window.end, "30 2 * * *", "1h", BERLIN)
    assert after.start == utc(2024, 4, 1, 0, 30)  # 02:30 CEST the next day


def test_spring_forward_two_wall_times_on_one_instant_fire_once() -> None:
    # 02:00 (in the gap, so 03:00 CEST) and 03:00 CEST are the same instant.
    first = next_window(utc(2024, 3, 30, 12), "0 2,3 * * *", "30m", BERLIN)
    assert first.start == utc(2024, 3, 31, 1)
    second = next_window(first.end, "0 2,3 * * *", "30m", BERLIN)
    assert second.start == utc(2024, 4, 1, 0)  # 02:00 CEST the next day


def test_spring_forward_window_end_is_absolute() -> None:
    # 01:00 CET + 4h crosses the jump: ends at 04:00 UTC (06:00 CEST), not 05:00 wall time.
    window = next_window(utc(2024, 3, 30, 12), "0 1 * * *", "4h", BERLIN)
    assert window == Window(utc(2024, 3, 31, 0), utc(2024, 3, 31, 4))


def test_fall_back_ambiguous_time_fires_once_at_first_occurrence() -> None:
    # New York, 2024-11-03: 02:00 EDT falls back to 01:00 EST; 01:30 happens twice.
    window = next_window(utc(2024, 11, 2, 12), "30 1 * * *", "1h", NEW_YORK)
    assert window == Window(utc(2024, 11, 3, 5, 30), utc(2024, 11, 3, 6, 30))  # 01:30 EDT
    # The second 01:30 (EST, 06:30 UTC) opens no window of its own.
    assert window_containing(utc(2024, 11, 3, 6, 45), "30 1 * * *", "1h", NEW_YORK) is None
    after = next_window(window.end, "30 1 * * *", "1h", NEW_YORK)
    assert after.start == utc(2024, 11, 4, 6, 30)  # 01:30 EST the next day


def test_fall_back_in_berlin() -> None:
    # Berlin, 2024-10-27: 03:00 CEST falls back to 02:00 CET; 02:30 CEST is the first.
    window = next_window(utc(2024, 10, 26, 12), "30 2 * * *", "1h", BERLIN)
    assert window.start == utc(2024, 10, 27, 0, 30)


def test_fall_back_window_end_is_absolute() -> None:
    # 00:30 EDT + 4h: four real hours, 04:30 UTC to 08:30 UTC (03:30 EST on the wall).
    window = next_window(utc(2024, 11, 2, 12), "30 0 * * *", "4h", NEW_YORK)
    assert window == Window(utc(2024, 11, 3, 4, 30), utc(2024, 11, 3, 8, 30))


# --- validation --------------------------------------------------------------------------------


def test_naive_now_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        window_containing(datetime(2024, 1, 6, 3), "0 3 * * SAT", "4h", BERLIN)
    with pytest.raises(ValueError, match="timezone-aware"):
        next_window(datetime(2024, 1, 6, 3), "0 3 * * SAT", "4h", BERLIN)


@pytest.mark.parametrize(
    ("schedule", "length", "tz", "message"),
    [
        ("0 3 * *", "4h", BERLIN, "must have 5 cron fields"),
        ("0 0 3 * * SAT", "4h", BERLIN, "must have 5 cron fields"),
        ("61 3 * * SAT", "4h", BERLIN, "not a valid cron expression"),
        ("0 3 * * FUNDAY", "4h", BERLIN, "not a valid cron expression"),
        ("0 0 30 2 *", "4h", BERLIN, "never fires"),
        ("R 3 * * *", "4h", BERLIN, "random or hashed"),
        ("H(0-29) 3 * * *", "4h", BERLIN, "random or hashed"),
        ("0 3 * * SAT", "4 hours", BERLIN, "not a duration"),
        ("0 3 * * SAT", "0s", BERLIN, "longer than zero"),
        ("0 3 * * SAT", -60.0, BERLIN, "longer than zero"),
        ("0 3 * * SAT", "4h", "Europe/Atlantis", "not an IANA time zone"),
        ("0 3 * * SAT", "4h", "", "not an IANA time zone"),
    ],
)
def test_validate_schedule_rejects(schedule: str, length: str | float, tz: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        validate_schedule(schedule, length, tz)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "schedule", ["0 3 * * SAT", "0 3 * * sat", "0 3 * MAR-APR THU,FRI", "0 3 L * *", "0 3 * * 6#1"]
)
def test_validate_schedule_accepts(schedule: str) -> None:
    validate_schedule(schedule, "4h", BERLIN)


def test_invalid_schedule_is_rejected_by_the_window_functions_too() -> None:
    with pytest.raises(ValueError, match="must have 5 cron fields"):
        next_window(utc(2024, 1, 1), "@weekly", "4h", BERLIN)


# --- properties ---------------------------------------------------------------------------------

SCHEDULES = [
    "0 3 * * SAT",
    "30 2 * * *",
    "30 1 * * *",
    "0 22 * * *",
    "0 2,3 * * *",
    "*/20 * * * *",
    "0 0 1 * *",
    "0 0 29 2 *",
]
ZONES = [BERLIN, NEW_YORK, "UTC", "Australia/Lord_Howe", "Asia/Kathmandu", "Pacific/Apia"]
LENGTHS = ["1m", "30m", "4h", "25h", "8d"]

instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=150, deadline=None)
@given(
    now=instants,
    schedule=st.sampled_from(SCHEDULES),
    tz=st.sampled_from(ZONES),
    length=st.sampled_from(LENGTHS),
)
def test_next_window_ends_after_now_and_containing_contains_now(
    now: datetime, schedule: str, tz: str, length: str
) -> None:
    upcoming = next_window(now, schedule, length, tz)
    assert upcoming.end > now
    assert upcoming.start < upcoming.end
    current = window_containing(now, schedule, length, tz)
    if current is None:
        assert upcoming.start > now
    else:
        assert current.start <= now < current.end
        assert upcoming == current


@settings(max_examples=100, deadline=None)
@given(
    now=instants,
    schedule=st.sampled_from(SCHEDULES),
    tz=st.sampled_from(ZONES),
    length=st.sampled_from(LENGTHS),
)
def test_next_window_start_is_open(now: datetime, schedule: str, tz: str, length: str) -> None:
    upcoming = next_window(now, schedule, length, tz)
    assert window_containing(upcoming.start, schedule, length, tz) == upcoming
    # Nothing opens strictly between now and the next window's start.
    if upcoming.start > now:
        just_before = upcoming.start - timedelta(microseconds=1)
        assert window_containing(just_before, schedule, length, tz) is None


# --- a window fits between two firings -------------------------------------------------------

from pathlib import Path  # noqa: E402

from inventories import copy_example  # noqa: E402
from malformed import Case, edit, refused  # noqa: E402

from fleet.schedule.windows import check_window_fits  # noqa: E402


@pytest.mark.parametrize(
    ("schedule", "length"),
    [
        ("0 3 * * SAT", "4h"),
        ("0 3 * * SAT", "7d"),  # back to back: as long as it may be
        ("0 22 * * 1-5", "8h"),
        ("0 0,12 * * *", "12h"),
        ("0 3 L * *", "28d"),  # February's last day, in 2025, is 28 days after January's
        ("0 3 29 2 *", "1000d"),
        ("* * * * *", "1m"),
    ],
)
def test_a_window_that_fits_between_two_firings_is_accepted(schedule: str, length: str) -> None:
    check_window_fits(schedule, length)


@pytest.mark.parametrize(
    ("schedule", "length", "said"),
    [
        ("0 3 * * SAT", "8d", "than the 7d between two firings of '0 3 * * SAT' (Sat 2024-01-06 03:00"),
        ("0 0,23 * * *", "2h", "than the 1h between two firings of '0 0,23 * * *' (Mon 2024-01-01 23:00"),
        ("0 22 * * 1-5", "25h", "than the 1d between two firings"),
        ("0 3 L * *", "29d", "(Fri 2025-01-31 03:00 and Fri 2025-02-28 03:00)"),
        ("0 3 1 * MON", "2d", "(Sun 2024-09-01 03:00 and Mon 2024-09-02 03:00)"),  # the 1st or a Monday
        ("*/20 3 * * *", "30m", "use a window of at most 20m"),
    ],
)
def test_a_window_longer_than_a_gap_between_firings_is_refused(schedule: str, length: str, said: str) -> None:
    with pytest.raises(ValueError, match=r"^window: ") as caught:
        check_window_fits(schedule, length)
    assert said in str(caught.value)


def test_a_window_past_the_next_firing_is_refused_naming_the_file_field_and_fix(tmp_path: Path) -> None:
    """An 8d window on a weekly schedule was accepted: a window that never closes."""
    case = Case("window-8d-weekly", 0, edit("fleet.yaml", 'window: "4h"', 'window: "8d"'), "window")
    assert refused(case, copy_example(tmp_path / "inv")) == (
        "error: fleet.yaml:18: spec.upgrades.window: '8d' is longer than the 7d between two firings of "
        "'0 3 * * SAT' (Sat 2024-01-06 03:00 and Sat 2024-01-13 03:00), so windows would overlap; "
        "use a window of at most 7d, or a schedule that fires less often"
    )


def test_the_default_window_is_held_to_the_schedule_too(tmp_path: Path) -> None:
    case = Case(
        "hourly-default-window",
        0,
        edit("fleet.yaml", 'schedule: "0 3 * * SAT", window: "4h"', 'schedule: "0 * * * *"'),
        "window",
    )
    line = refused(case, copy_example(tmp_path / "inv"))
    assert line.startswith("error: fleet.yaml:18: spec.upgrades.window: '4h' is longer than the 1h between")
