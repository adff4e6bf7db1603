"""Per-stack locks: at most one rollout works on a stack at a time.

The locks live in the journal's database (table ``stack_locks``, one row per locked stack), so
every machine that shares the journal shares them. Taking locks is all or nothing and never
waits: a conflict raises :class:`StacksLocked` (a :class:`fleet.errors.LockHeld`) naming every
contested stack and the rollout holding it.

A lock whose holder died is recognised and taken over: its process is gone (same host, dead pid)
or it has not heart-beaten for ``ttl``. That is also how ``fleet rollout resume`` gets back the
locks of its own rollout after the CLI was killed. The Pulumi stack lock stays behind this one as
a second guard.

Typical use by a coordinator::

    locks = StackLocks(journal)
    recovered = locks.acquire(stacks, rollout.id)       # raises StacksLocked
    ...                                                 # locks.heartbeat(rollout.id) every ~30 s
    locks.release(rollout.id)
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update

from fleet import metrics
from fleet.errors import LockHeld
from fleet.inventory.durations import format_duration
from fleet.journal.schema import stack_locks
from fleet.journal.store import Journal, current_actor

log = logging.getLogger(__name__)

DEFAULT_LOCK_TTL = timedelta(minutes=5)
"""A lock not heart-beaten for this long is stale. Heartbeat well within it (every ~30 s)."""


@dataclass(frozen=True)
class LockHolder:
    """Who holds a lock: a name for people (``user@host``) and the process, to detect its death."""

    name: str
    hostname: str
    pid: int

    @classmethod
    def this_process(cls, name: str | None = None) -> LockHolder:
        """The current process, named ``name`` or ``user@host``."""
        return cls(name or current_actor(), socket.gethostname(), os.getpid())

    def describe(self) -> str:
        return f"{self.name}, pid {self.pid} on {self.hostname}"


@dataclass(frozen=True)
class StackLock:
    stack: str
    rollout_id: str
    holder: LockHolder
    acquired_at: datetime
    heartbeat_at: datetime


@dataclass(frozen=True)
class RecoveredLock:
    """A stale lock that :meth:`StackLocks.acquire` took over, and why it was stale."""

    previous: StackLock
    reason: str


class StacksLocked(LockHeld):
    """Some stacks are locked by a live rollout; ``held`` lists each contested lock."""

    def __init__(self, held: Sequence[StackLock]) -> None:
        self.held = tuple(held)
        by_rollout: dict[tuple[str, LockHolder], list[str]] = {}
        for lock in self.held:
            by_rollout.setdefault((lock.rollout_id, lock.holder), []).append(lock.stack)
        parts = []
        for (rollout_id, holder), names in by_rollout.items():
            noun = "stack" if len(names) == 1 else "stacks"
            parts.append(f"{noun} {', '.join(names)} locked by rollout {rollout_id} ({holder.describe()})")
        super().__init__("; ".join(parts) + " — wait for it to finish or cancel it")


def pid_is_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, but belongs to another user
        return True
    return True


class StackLocks:
    """The per-stack locks stored in ``journal``'s database.

    ``ttl``: how long a holder may go without a heartbeat before its locks are stale.
    ``pid_alive``: how to tell whether a pid on this host still runs (replaceable in tests).
    """

    def __init__(
        self,
        journal: Journal,
        *,
        ttl: timedelta = DEFAULT_LOCK_TTL,
        pid_alive: Callable[[int], bool] = pid_is_alive,
    ) -> None:
        self.database = journal.database
        self.ttl = ttl
        self.pid_alive = pid_alive

    def acquire(
        self, stacks: Sequence[str], rollout_id: str, holder: LockHolder | None = None
    ) -> list[RecoveredLock]:
        """Lock every stack in ``stacks`` for ``rollout_id``, or none of them.

        Locks this rollout already holds in this same process are kept (re-entrant). A stale
        lock, of any rollout, is taken over and returned (and logged) as recovered. A lock held
        by a live holder raises StacksLocked listing all such stacks; nothing is taken then.
        """
        holder = holder or LockHolder.this_process()
        now = self.database.clock()
        recovered: list[RecoveredLock] = []
        conflicts: list[StackLock] = []
        row = {
            "rollout_id": rollout_id,
            "holder": holder.name,
            "hostname": holder.hostname,
            "pid": holder.pid,
            "acquired_at": now,
            "heartbeat_at": now,
        }
        with self.database.write() as conn:
            # One order for everyone, so two acquirers on PostgreSQL never wait on each other in a cycle.
            for stack in sorted(set(stacks)):
                if self.database.insert_ignoring_conflict(
                    conn, stack_locks, {"stack": stack, **row}, ["stack"]
                ):
                    continue
                current = _lock_from_row(
                    conn.execute(
                        select(stack_locks).where(stack_locks.c.stack == stack).with_for_update()
                    ).one()
                )
                if current.rollout_id == rollout_id and current.holder == holder:
                    conn.execute(
                        update(stack_locks).where(stack_locks.c.stack == stack).values(heartbeat_at=now)
                    )
                    continue
                reason = self.stale_reason(current, now)
                if reason is None:
                    conflicts.append(current)
                    continue
                conn.execute(update(stack_locks).where(stack_locks.c.stack == stack).values(**row))
                recovered.append(RecoveredLock(current, reason))
            if conflicts:
                raise StacksLocked(conflicts)  # rolls back every lock taken above
        metrics.lock_takeovers(len(recovered))
        for item in recovered:
            log.warning(
                "took over the lock of stack %s from rollout %s (%s): %s",
                item.previous.stack,
                item.previous.rollout_id,
                item.previous.holder.describe(),
                item.reason,
            )
        return recovered

    def heartbeat(self, rollout_id: str, holder: LockHolder | None = None) -> int:
        """Refresh this holder's locks of ``rollout_id``; returns how many it still holds.

        A count lower than the number of stacks locked means another process took some over
        (this one was presumed dead): the coordinator should stop.
        """
        holder = holder or LockHolder.this_process()
        with self.database.write() as conn:
            done = conn.execute(
                update(stack_locks)
                .where(_held_by(rollout_id, holder))
                .values(heartbeat_at=self.database.clock())
            )
            return done.rowcount

    def release(self, rollout_id: str) -> int:
        """Drop every lock of ``rollout_id`` (whoever holds it); returns how many were dropped."""
        with self.database.write() as conn:
            return conn.execute(delete(stack_locks).where(stack_locks.c.rollout_id == rollout_id)).rowcount

    def held(self, stacks: Sequence[str] | None = None) -> list[StackLock]:
        """The locks held now (all, or on ``stacks``), sorted by stack; stale ones included."""
        query = select(stack_locks).order_by(stack_locks.c.stack)
        if stacks is not None:
            query = query.where(stack_locks.c.stack.in_(list(stacks)))
        with self.database.read() as conn:
            return [_lock_from_row(row) for row in conn.execute(query)]

    def stale_reason(self, lock: StackLock, now: datetime | None = None) -> str | None:
        """Why ``lock`` is stale, or None when its holder looks alive."""
        now = now or self.database.clock()
        if lock.holder.hostname == socket.gethostname() and not self.pid_alive(lock.holder.pid):
            return f"process {lock.holder.pid} on {lock.holder.hostname} is gone"
        silent = now - lock.heartbeat_at
        if silent > self.ttl:
            return f"no heartbeat for {format_duration(silent.total_seconds())}"
        return None


def _held_by(rollout_id: str, holder: LockHolder) -> Any:
    return (
        (stack_locks.c.rollout_id == rollout_id)
        & (stack_locks.c.hostname == holder.hostname)
        & (stack_locks.c.pid == holder.pid)
        & (stack_locks.c.holder == holder.name)
    )


def _lock_from_row(row: Any) -> StackLock:
    return StackLock(
        stack=row.stack,
        rollout_id=row.rollout_id,
        holder=LockHolder(row.holder, row.hostname, row.pid),
        acquired_at=row.acquired_at,
        heartbeat_at=row.heartbeat_at,
    )
