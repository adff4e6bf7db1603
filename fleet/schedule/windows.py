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
- Windows longer than the gap between fires overlap; the window containing ``now`` is then the
  one that started last.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

from fleet.inventory.durations import parse_duration

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
