"""Durations as users write them in fleet.yaml and on the command line: ``90s``, ``5m``, ``4h``."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
MAX_DURATION = 3650 * 86400.0
"""Ten years: longer than any retention, window or pause fleet handles (and far from infinity,
where a 400-digit duration would otherwise land)."""


def _echo(text: str) -> str:
    return repr(text) if len(text) <= 40 else f"{text[:40]!r}… ({len(text)} characters)"


def parse_duration(text: str) -> float:
    """Seconds in a duration like ``0s``, ``90s``, ``5m``, ``1h30m`` or ``7d``.

    Raises ValueError with the expected form when ``text`` is not a duration, or is longer than
    :data:`MAX_DURATION`.
    """
    value = text.strip()
    if value == "0":
        return 0.0
    pos = 0
    total = 0.0
    for match in _PART.finditer(value):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(value) or not value:
        raise ValueError(f"{_echo(text)} is not a duration; expected a number and a unit: 90s, 5m, 4h, 7d")
    if total > MAX_DURATION:
        raise ValueError(f"{_echo(text)} is too long; the longest duration is {MAX_DURATION / 86400:.0f}d")
    return total


def format_duration(seconds: float) -> str:
    """A short human form of ``seconds``: ``45s``, ``12m05s``, ``2h03m``."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


# Prometheus's model.Duration, which Mimir's and Loki's configurations use: whole numbers of
# units, each unit at most once, largest first; "0" alone is zero.
_PROMETHEUS_DURATION = re.compile(r"(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?")
_PROMETHEUS_UNITS = (("y", 365 * 86400_000), ("w", 604800_000), ("d", 86400_000), ("h", 3600_000))
_PROMETHEUS_SMALL_UNITS = (("m", 60_000), ("s", 1000), ("ms", 1))


def format_prometheus_duration(seconds: float) -> str:
    """``seconds`` in Prometheus's duration form: ``1d12h``, ``90d``, ``1m30s``, ``0s``."""
    return _spelled(round(seconds * 1000), (*_PROMETHEUS_UNITS, *_PROMETHEUS_SMALL_UNITS))


def write_duration(seconds: float) -> str:
    """``seconds`` as fleet.yaml writes a duration (whole seconds): ``7d``, ``1d12h``, ``45m``."""
    return _spelled(round(seconds), (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)))


def _spelled(amount: int, units: tuple[tuple[str, int], ...]) -> str:
    # Each unit at most once, largest first, zero ones left out; "0s" for nothing.
    parts = []
    for unit, size in units:
        count, amount = divmod(amount, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def check_prometheus_duration(text: str) -> str:
    """``text`` when Mimir and Loki parse it as a duration (Prometheus's ``model.Duration``).

    Raises ValueError naming the form to write instead: ``1.5d`` becomes ``1d12h``.
    """
    if text == "0" or (text and _PROMETHEUS_DURATION.fullmatch(text)):
        return text
    seconds = parse_duration(text)  # raises for text that is no duration at all
    raise ValueError(
        f"{text!r} is not a duration Mimir and Loki read (whole numbers, units y w d h m s ms, "
        f"largest first); write {format_prometheus_duration(seconds)!r}"
    )
