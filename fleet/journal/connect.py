"""Which journal a process uses, and opening it with the stack locks that live beside it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from fleet.errors import UserError
from fleet.journal.db import IN_MEMORY_URL, check_journal_dir, journal_url_for
from fleet.journal.locks import StackLocks
from fleet.journal.store import Journal
from fleet.settings import Settings


def journal_url(settings: Settings, inventory: Path) -> str:
    """The journal a rollout of ``inventory`` is recorded in: FLEET_DATABASE_URL, else the
    inventory's own SQLite file."""
    return settings.database_url or journal_url_for(inventory)


def open_journal(settings: Settings, inventory: Path | None = None) -> tuple[Journal, StackLocks]:
    """The journal and the stack locks, with the attempt and lock TTL from ``settings.lock_ttl``.

    ``inventory`` defaults to ``settings.inventory``.
    """
    ttl = timedelta(seconds=settings.lock_ttl)
    journal = Journal(journal_url(settings, inventory or settings.inventory), heartbeat_ttl=ttl)
    return journal, StackLocks(journal, ttl=ttl)


def missing_journal(settings: Settings) -> Path | None:
    """The inventory's journal file when it does not exist yet (nothing was ever recorded), else
    None: a read-only command then says so instead of creating an empty journal."""
    if settings.database_url is not None:
        return None
    path = settings.inventory / ".fleet" / "fleet.db"
    return None if path.exists() else path


def existing_journal(settings: Settings) -> Journal | None:
    """The journal for a command that only reads it (``render``, a dry run), or None when this
    inventory has none yet: an absent SQLite journal is not created."""
    if missing_journal(settings) is not None:
        return None
    return open_journal(settings)[0]


def open_recorded_journal(settings: Settings, rollout_id: str) -> tuple[Journal, StackLocks]:
    """:func:`open_journal` for a command about rollout ``rollout_id`` (watch, resume, cancel):
    when the inventory has no journal yet, no rollout can be found and none is created."""
    path = missing_journal(settings)
    if path is not None:
        raise UserError(f"no rollout {rollout_id!r}: nothing is recorded for this inventory yet (no {path})")
    return open_journal(settings)


class PlanningJournal:
    """What a command that may record a rollout plans against, and records into once it may.

    ``journal`` is the real journal when it exists (or FLEET_DATABASE_URL names one); when the
    inventory's SQLite journal does not exist yet it is an empty journal in memory, which holds
    what that file would: nothing. :meth:`record` opens (and so creates) the real one, to be
    called only once the rollout is to be recorded: a preview, a declined prompt or an invalid
    request leaves no journal behind.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._recording: tuple[Journal, StackLocks] | None = None
        self._in_memory: Journal | None = None
        if missing_journal(settings) is None:
            self._recording = open_journal(settings)
            self.journal = self._recording[0]
        else:
            check_journal_dir(settings.inventory)  # said now, not after the plan was shown
            ttl = timedelta(seconds=settings.lock_ttl)
            self.journal = self._in_memory = Journal(IN_MEMORY_URL, heartbeat_ttl=ttl)

    def record(self) -> tuple[Journal, StackLocks]:
        """The real journal and its stack locks, opened (a SQLite file created) on the first call."""
        if self._recording is None:
            self._recording = open_journal(self._settings)
        return self._recording

    def close(self) -> None:
        """Close the journal planned against and the one recorded into."""
        if self._recording is not None:
            self._recording[0].close()
        if self._in_memory is not None:
            self._in_memory.close()


@contextmanager
def planning_journal(settings: Settings) -> Iterator[PlanningJournal]:
    """A :class:`PlanningJournal` for ``settings``'s inventory, closed at the end of the block.

    Plan with ``planning.journal``; call ``planning.record()`` only when the rollout is recorded
    (after the preview and the confirmation)."""
    planning = PlanningJournal(settings)
    try:
        yield planning
    finally:
        planning.close()
