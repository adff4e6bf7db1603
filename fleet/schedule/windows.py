"""Maintenance windows: when a scheduled upgrade may run.

fleet.yaml declares ``spec.upgrades: {schedule: "0 3 * * SAT", window: "4h", timezone:
"Europe/Berlin"}``. The schedule is a five-field cron expression read as *wall-clock* time in the
IANA zone; each time it fires opens a window of the given length.

Everything here is a pure function of its arguments: the caller passes ``now`` (tz-aware), and
every returned datetime is tz-aware UTC.

Daylight-saving rules (decided here, relied on by the tests):

- A fire time that falls into a spring-forward gap (02:30 on the day Berlin jumps from 02:00 to
  03:00) fires once, at the instant the wall clock would have shown it had it not jumped: 02:30
  CET, which is 03:30 CEST. Two wall times that land on the same instant fire once.
- A fire time that occurs twice on a fall-back day (01:30 in New York when clocks go from 02:00
  back to 01:00) fires once, at its first occurrence (still on daylight time).
- A window's end is its start plus the length in absolute time: a 4h window that spans a
  transition is 4 real hours long, whatever the wall clock shows.
- A window may not be longer than the shortest gap between two consecutive fire times, on the
  wall clock (:func:`check_window_fits`): longer ones would overlap, and an 8d window on a weekly
  schedule would never close. Around a DST change a window that just fits may still overlap the
  next by the clock's jump; the window containing ``now`` is then the one that started last.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

from fleet.inventory.durations import parse_duration, write_duration

# UTC offsets lie within [-12h, +14h], so a wall time and the instant it names are never more
# than this apart; searches over wall times widen their range by it.
_OFFSET_MARGIN = timedelta(days=1)
# croniter's "R" and "H" pick a random or hashed time per evaluation: windows must be the same
# in every process that computes them. A letter next to R or H is a name (MAR, THU).
_RANDOM_OR_HASHED = re.compile(r"(?<![a-z])[rh](?![a-z])", re.IGNORECASE)


@dataclass(frozen=True)
class Window:
    """One maintenance window, ``start <= t < end``; both ends tz-aware UTC."""

    start: datetime
    end: datetime

    def __contains__(self, moment: object) -> bool:
        return isinstance(moment, datetime) and self.start <= moment < self.end


def validate_schedule(schedule: str, length: str | float, tz: str) -> None:
    """Check an upgrade schedule as fleet.yaml gives it; raise ValueError with a one-line reason.

    ``schedule`` must be a five-field cron expression that fires at least once, ``length`` a
    positive duration (``"4h"`` or seconds), ``tz`` an IANA time zone name.
    """
    _parse(schedule, length, tz)


def check_window_fits(schedule: str, length: str | float) -> None:
    """Raise ValueError, naming two fire times and the longest window that fits, when a window of
    ``length`` is longer than the gap between two consecutive fire times of ``schedule``.

    Gaps are measured on the wall clock (a DST change is the zone's, not the schedule's) over the
    fire times from 2024 to 2028, a leap-day cycle; ``schedule`` is a valid cron expression
    (:func:`validate_schedule`).
    """
    seconds = parse_duration(length) if isinstance(length, str) else float(length)
    found = _gap_shorter_than(schedule, timedelta(seconds=seconds))
    if found is None:
        return
    first, second = found
    gap = write_duration((second - first).total_seconds())
    shown = length if isinstance(length, str) else write_duration(seconds)
    raise ValueError(
        f"window: {shown!r} is longer than the {gap} between two firings of {schedule!r} "
        f"({first:%a %Y-%m-%d %H:%M} and {second:%a %Y-%m-%d %H:%M}), so windows would overlap; "
        f"use a window of at most {gap}, or a schedule that fires less often"
    )


# Where fit checks look: the same fire times for every caller, a leap-day cycle and two months
# more (a schedule on 29 February fires in 2024 and 2028), at most so many fire times.
_FIT_FROM = datetime(2024, 1, 1)
_FIT_UNTIL = datetime(2028, 3, 1)
_FIT_MAX_FIRES = 2000
_MINUTES_A_DAY = 24 * 60


def _gap_shorter_than(schedule: str, length: timedelta) -> tuple[datetime, datetime] | None:
    """Two consecutive fire times (naive wall times) less than ``length`` apart, or None."""
    fields = croniter(schedule).expanded
    minutes, hours = _expanded(fields[0], 60), _expanded(fields[1], 24)
    times = sorted(h * 60 + m for h in hours for m in minutes)
    # Without walking: no two fire times are closer than the closest two of one day, nor than
    # the last of a day and the first of the next.
    within_a_day = [b - a for a, b in itertools.pairwise(times)]
    closest = min([*within_a_day, _MINUTES_A_DAY - (times[-1] - times[0])])
    if length <= timedelta(minutes=closest):
        return None
    previous: datetime | None = None
    for count, wall in enumerate(_walls(schedule, _FIT_FROM - timedelta(minutes=1), backwards=False)):
        if previous is not None and wall - previous < length:
            return previous, wall
        if count >= _FIT_MAX_FIRES or (wall >= _FIT_UNTIL and previous is not None):
            return None
        previous = wall
    return None


def _expanded(field: Sequence[object], every: int) -> list[int]:
    """A minute or hour field as croniter expands it (``["*"]`` for every value) as numbers."""
    return list(range(every)) if field == ["*"] else [int(str(value)) for value in field]


def window_containing(now: datetime, schedule: str, length: str | float, tz: str) -> Window | None:
    """The window open at ``now``, or None when no window is open.

    A window is open from its start (inclusive) to its end (exclusive). When windows overlap,
    the one that started last is returned.
    """
    zone, seconds = _parse(schedule, length, tz)
    moment = _as_utc(now)
    span = timedelta(seconds=seconds)
    start = _latest_fire_at_or_before(schedule, zone, moment, not_before=moment - span)
    if start is None or moment >= start + span:
        return None
    return Window(start, start + span)


def next_window(now: datetime, schedule: str, length: str | float, tz: str) -> Window:
    """The window open at ``now`` if there is one, else the next window to open."""
    zone, seconds = _parse(schedule, length, tz)
    moment = _as_utc(now)
    span = timedelta(seconds=seconds)
    latest = _latest_fire_at_or_before(schedule, zone, moment, not_before=moment - span)
    if latest is not None and moment < latest + span:
        return Window(latest, latest + span)
    start = _earliest_fire_after(schedule, zone, moment)
    return Window(start, start + span)


def _parse(schedule: str, length: str | float, tz: str) -> tuple[ZoneInfo, float]:
    fields = schedule.split()
    if len(fields) != 5:
        raise ValueError(
            f"schedule {schedule!r} must have 5 cron fields (minute hour day month weekday), "
            f"not {len(fields)}"
        )
    if _RANDOM_OR_HASHED.search(schedule):
        raise ValueError(
            f"schedule {schedule!r} uses R or H (random or hashed times), which fleet does not support"
        )
    if not croniter.is_valid(schedule):
        raise ValueError(f"schedule {schedule!r} is not a valid cron expression")
    try:
        croniter(schedule, datetime(2000, 1, 1)).get_next(datetime)
    except CroniterBadDateError:
        raise ValueError(f"schedule {schedule!r} never fires") from None
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"time zone {tz!r} is not an IANA time zone name") from None
    seconds = parse_duration(length) if isinstance(length, str) else float(length)
    if not seconds > 0:
        raise ValueError(f"window length {length!r} must be longer than zero")
    return zone, seconds


def _as_utc(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got naive {now.isoformat()}")
    return now.astimezone(UTC)


def _fire_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    # fold=0 gives the first occurrence of an ambiguous wall time, and for a wall time inside a
    # gap the offset in force before the gap (02:30 CET, that is 03:30 CEST).
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _naive_wall(moment: datetime) -> datetime:
    """The UTC wall time of ``moment``, naive, as croniter walks wall times."""
    return moment.replace(tzinfo=None)


def _walls(schedule: str, start: datetime, *, backwards: bool) -> Iterator[datetime]:
    """Cron wall times strictly after (or before) the naive ``start``, in wall-clock order."""
    cron = croniter(schedule, start)
    step = cron.get_prev if backwards else cron.get_next
    while True:
        try:
            yield step(datetime)
        except CroniterBadDateError:
            return


def _latest_fire_at_or_before(
    schedule: str, zone: ZoneInfo, moment: datetime, *, not_before: datetime
) -> datetime | None:
    """The latest fire instant ``f`` with ``not_before < f <= moment``, or None."""
    best: datetime | None = None
    # Wall order and instant order differ only near DST transitions (by less than the margin),
    # so keep walking back until no earlier wall time could beat the best instant found.
    for wall in _walls(schedule, _naive_wall(moment + _OFFSET_MARGIN), backwards=True):
        wall_bound = wall.replace(tzinfo=UTC) + _OFFSET_MARGIN
        if wall_bound <= not_before or (best is not None and wall_bound <= best):
            break
        instant = _fire_instant(wall, zone)
        if not_before < instant <= moment and (best is None or instant > best):
            best = instant
    return best


def _earliest_fire_after(schedule: str, zone: ZoneInfo, moment: datetime) -> datetime:
    """The earliest fire instant strictly after ``moment``."""
    best: datetime | None = None
    for wall in _walls(schedule, _naive_wall(moment - _OFFSET_MARGIN), backwards=False):
        if best is not None and wall.replace(tzinfo=UTC) - _OFFSET_MARGIN >= best:
            break
        instant = _fire_instant(wall, zone)
        if instant > moment and (best is None or instant < best):
            best = instant
    if best is None:  # _parse has checked that the schedule fires; croniter gave up searching
        raise ValueError(f"schedule {schedule!r} does not fire after {moment.isoformat()}")
    return best
