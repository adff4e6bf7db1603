"""Per-stack locks: at most one rollout works on a stack at a time.

The locks live in the journal's database (table ``stack_locks``, one row per locked stack), so
every machine that shares the journal shares them. A lock belongs to a rollout and is held for it
by one process, its *holder* (the coordinator driving the rollout), known by a token that is
random per process. Taking locks is all or nothing and never waits: a conflict raises
:class:`StacksLocked` (a :class:`fleet.errors.LockHeld`) naming every contested stack and the
rollout holding it.

- **Renewed while held.** The holder heart-beats its locks (:class:`LockKeeper`, a thread, so
  they stay fresh while the coordinator waits in a health gate or a bake).
- **Released only by the holder.** :meth:`StackLocks.release` drops the locks of one holder: a
  coordinator that lost its locks to another process never frees that process's locks.
- **Taken over only from a dead holder.** A lock is stale when its holder's process is gone (same
  host, dead pid) or has not heart-beaten for ``ttl``. Its own rollout takes it back that way
  (``fleet rollout resume`` after the CLI was killed); another rollout may take it too, and the
  rollout that lost its driver is then marked halted ("interrupted", resumable). Taking a lock
  never lets a stack run twice at once: the workers of the new holder only claim a stack once no
  live attempt of any other rollout runs it (:func:`fleet.journal.attempts.claim`), and a rollout
  that does not hold a stack's lock may not claim it at all.

The Pulumi stack lock stays behind these as a second guard.

Typical use by a coordinator::

    locks = StackLocks(journal)
    recovered = locks.acquire(stacks, rollout.id)       # raises StacksLocked
    with LockKeeper(locks, rollout.id, len(stacks), every=60) as keeper:
        ...                                             # keeper.check() raises once they are lost
    locks.release(rollout.id)
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from fleet import metrics
from fleet.errors import FleetError, LockHeld, OperationError
from fleet.inventory.durations import format_duration
from fleet.journal.queries import RolloutNotFound
from fleet.journal.schema import stack_locks
from fleet.journal.store import Journal, current_actor

log = logging.getLogger(__name__)

DEFAULT_LOCK_TTL = timedelta(minutes=5)
"""A lock not heart-beaten for this long is stale. Heartbeat well within it (every ~30 s)."""


_process_token: tuple[int, str] | None = None


def process_token() -> str:
    """This process's holder token: random, made once per process (a forked child gets its own)."""
    global _process_token
    if _process_token is None or _process_token[0] != os.getpid():
        _process_token = (os.getpid(), secrets.token_hex(16))
    return _process_token[1]


def adopt_process_token(token: str) -> None:
    """Make ``token`` this process's holder token: a detached coordinator takes the locks its
    parent handed over to it (:meth:`StackLocks.hand_over`) without a moment when nobody holds them."""
    global _process_token
    _process_token = (os.getpid(), token)


@dataclass(frozen=True)
class LockHolder:
    """Who holds a lock: a name for people (``user@host``), the process (to detect its death),
    and the token that identifies it (renewing and releasing go by the token)."""

    name: str
    hostname: str
    pid: int
    token: str = field(default_factory=lambda: secrets.token_hex(16))

    @classmethod
    def this_process(cls, name: str | None = None) -> LockHolder:
        """The current process, named ``name`` or ``user@host``."""
        return cls(name or current_actor(), socket.gethostname(), os.getpid(), process_token())

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
class Driver:
    """Who drives a rollout: the live holder of its locks, or why nobody does."""

    holder: LockHolder | None
    """The live holder; None when nobody drives the rollout."""
    reason: str | None = None
    """When nobody drives it: why (its holder is gone, or it holds no locks)."""

    @property
    def alive(self) -> bool:
        return self.holder is not None


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
        self.journal = journal
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
            "token": holder.token,
            "acquired_at": now,
            "heartbeat_at": now,
        }
        wanted = sorted(set(stacks))
        with self.database.write() as conn:
            # Held already (a rollout this process just started, now driven): renewed, done.
            if self._renew(conn, wanted, rollout_id, holder, now) == len(wanted):
                return []
            # One order for everyone, so two acquirers on PostgreSQL never wait on each other in a
            # cycle; a few statements per 500 stacks, not one or two per stack.
            mine: list[str] = []
            for current in self._insert_or_lock(conn, wanted, row):
                if current.rollout_id == rollout_id and current.holder == holder:
                    mine.append(current.stack)
                    continue
                reason = self.stale_reason(current, now)
                if reason is None:
                    conflicts.append(current)
                    continue
                conn.execute(update(stack_locks).where(stack_locks.c.stack == current.stack).values(**row))
                recovered.append(RecoveredLock(current, reason))
            if conflicts:
                raise StacksLocked(conflicts)  # rolls back every lock taken above
            for chunk in _chunks(mine):
                conn.execute(
                    update(stack_locks).where(stack_locks.c.stack.in_(chunk)).values(heartbeat_at=now)
                )
        metrics.lock_takeovers(len(recovered))
        interrupted: dict[str, RecoveredLock] = {}
        for item in recovered:
            log.warning(
                "took over the lock of stack %s from rollout %s (%s): %s",
                item.previous.stack,
                item.previous.rollout_id,
                item.previous.holder.describe(),
                item.reason,
            )
            if item.previous.rollout_id != rollout_id:
                interrupted.setdefault(item.previous.rollout_id, item)
        for previous_id, item in interrupted.items():
            why = (
                f"its coordinator ({item.previous.holder.describe()}) stopped: {item.reason}; "
                f"rollout {rollout_id} took over its stack locks"
            )
            with contextlib.suppress(RolloutNotFound):  # a lock for work the journal does not record
                self.journal.interrupt(previous_id, why)
        return recovered

    def _renew(
        self, conn: Connection, stacks: list[str], rollout_id: str, holder: LockHolder, now: datetime
    ) -> int:
        """Refresh the heartbeat of the locks of ``stacks`` that ``holder`` holds for ``rollout_id``;
        how many there were."""
        any_held = select(stack_locks.c.stack).where(_held_by(rollout_id, holder)).limit(1)
        if conn.execute(any_held).first() is None:
            return 0  # none at all (a rollout being started): one look, not an update per 500
        renewed = 0
        for chunk in _chunks(stacks):
            held = _held_by(rollout_id, holder) & stack_locks.c.stack.in_(chunk)
            renewed += conn.execute(update(stack_locks).where(held).values(heartbeat_at=now)).rowcount
        return renewed

    def _insert_or_lock(self, conn: Connection, stacks: list[str], row: dict[str, Any]) -> list[StackLock]:
        """Insert the lock of every stack in ``stacks`` that has none; lock (``FOR UPDATE``) and
        return the rows of the others, in stack order.

        On PostgreSQL an insert that meets another transaction's uncommitted lock of the same
        stack waits for it, then reports the conflict: there is no window for two winners. A lock
        released between the insert and the read is inserted on the next turn.
        """
        dialect = postgresql if self.database.is_postgresql else sqlite
        insert_new = (
            dialect.insert(stack_locks)
            .on_conflict_do_nothing(index_elements=["stack"])
            .returning(stack_locks.c.stack)
        )
        existing: list[StackLock] = []
        pending = stacks
        while pending:
            inserted: set[str] = set()
            for chunk in _chunks(pending):
                inserted.update(
                    conn.execute(insert_new, [{"stack": stack, **row} for stack in chunk]).scalars()
                )
            found: list[StackLock] = []
            for chunk in _chunks([stack for stack in pending if stack not in inserted]):
                query = (
                    select(stack_locks)
                    .where(stack_locks.c.stack.in_(chunk))
                    .order_by(stack_locks.c.stack)
                    .with_for_update()
                )
                found += [_lock_from_row(lock) for lock in conn.execute(query)]
            existing += found
            seen = inserted | {lock.stack for lock in found}
            pending = [stack for stack in pending if stack not in seen]
        return sorted(existing, key=lambda lock: lock.stack)

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

    def release(self, rollout_id: str, holder: LockHolder | None = None) -> int:
        """Drop the locks of ``rollout_id`` that ``holder`` (default: this process) holds; returns
        how many were dropped. Locks another process took over stay with it."""
        holder = holder or LockHolder.this_process()
        with self.database.write() as conn:
            return conn.execute(delete(stack_locks).where(_held_by(rollout_id, holder))).rowcount

    def hand_over(self, rollout_id: str, to: LockHolder, holder: LockHolder | None = None) -> int:
        """Give ``holder``'s (default: this process's) locks of ``rollout_id`` to ``to``, a process
        that will drive the rollout (``--detach``); returns how many changed hands."""
        holder = holder or LockHolder.this_process()
        values = {"holder": to.name, "hostname": to.hostname, "pid": to.pid, "token": to.token}
        with self.database.write() as conn:
            values["heartbeat_at"] = self.database.clock()
            moved = conn.execute(update(stack_locks).where(_held_by(rollout_id, holder)).values(**values))
            return moved.rowcount

    def driver(self, rollout_id: str) -> Driver:
        """Who drives ``rollout_id`` now: the live holder of any of its locks, or why nobody does.

        A rollout whose coordinator returned (finished, paused) holds no locks; one whose
        coordinator died holds only stale ones.
        """
        now = self.database.clock()
        with self.database.read() as conn:
            rows = conn.execute(select(stack_locks).where(stack_locks.c.rollout_id == rollout_id)).all()
        reasons = []
        for lock in map(_lock_from_row, rows):
            reason = self.stale_reason(lock, now)
            if reason is None:
                return Driver(lock.holder)
            reasons.append(f"its coordinator ({lock.holder.describe()}) stopped: {reason}")
        return Driver(None, reasons[0] if reasons else "no process holds its stack locks")

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


class LockKeeper:
    """Renews a holder's locks of one rollout from a background thread, for as long as it holds them.

    The coordinator's own thread may block for minutes (a health gate waits up to ten, a bake as
    long as it is told) while the lock TTL is five: the keeper keeps the locks fresh meanwhile.
    When a renewal finds fewer than ``count`` locks (another process took some over, after this
    one was presumed dead), the keeper stops and :meth:`check` raises from then on. A journal
    that cannot be reached for a moment is retried at the next beat.
    """

    def __init__(
        self,
        locks: StackLocks,
        rollout_id: str,
        count: int,
        *,
        every: float,
        holder: LockHolder | None = None,
    ) -> None:
        self.locks = locks
        self.rollout_id = rollout_id
        self.count = count
        self.every = every
        self.holder = holder or LockHolder.this_process()
        self.lost: str | None = None
        """Why the locks were lost, once they were."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._keep, name=f"locks-{rollout_id}", daemon=True)

    def start(self) -> LockKeeper:
        """Start renewing (every ``every`` seconds)."""
        self._thread.start()
        return self

    def __enter__(self) -> LockKeeper:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop renewing (the locks stay held until released)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def check(self) -> None:
        """Raise OperationError when the locks were lost."""
        if self.lost is not None:
            raise OperationError(f"rollout {self.rollout_id}: {self.lost}; stopping here")

    def _keep(self) -> None:
        while not self._stop.wait(self.every):
            try:
                held = self.locks.heartbeat(self.rollout_id, self.holder)
            except FleetError as error:
                log.warning("rollout %s: could not renew its locks: %s", self.rollout_id, error.message)
                continue
            if held < self.count:
                self.lost = f"another process took over {self.count - held} of its {self.count} stack locks"
                log.error("rollout %s: %s", self.rollout_id, self.lost)
                return


def _held_by(rollout_id: str, holder: LockHolder) -> Any:
    return (stack_locks.c.rollout_id == rollout_id) & (stack_locks.c.token == holder.token)


def _chunks(items: list[str], size: int = 500) -> list[list[str]]:
    """``items`` in slices that keep a statement's bound parameters well inside every limit."""
    return [items[start : start + size] for start in range(0, len(items), size)]


def _lock_from_row(row: Any) -> StackLock:
    return StackLock(
        stack=row.stack,
        rollout_id=row.rollout_id,
        holder=LockHolder(row.holder, row.hostname, row.pid, row.token or ""),
        acquired_at=row.acquired_at,
        heartbeat_at=row.heartbeat_at,
    )
