"""A clock the test moves by hand, for code that takes ``clock=`` (journal, locks)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """Returns ``now`` when called; ``advance(hours=1)`` moves it."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2026, 11, 22, 3, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
