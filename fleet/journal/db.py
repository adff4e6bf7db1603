"""The SQL database the journal and the stack locks share: engine set-up and small helpers.

SQLite (the default, one file per inventory) is opened in WAL mode with a busy timeout, and every
writing transaction starts with ``BEGIN IMMEDIATE``: it takes the database's write lock up front,
so a read-then-write transaction (a claim, a lock take-over) cannot interleave with another
process's. PostgreSQL gets the same guarantee from row locks (``SELECT ... FOR UPDATE``) and
unique keys. Every method that changes state commits its own transaction.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    DateTime,
    Dialect,
    Engine,
    Table,
    create_engine,
    event,
    func,
    inspect,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    DatabaseError,
    DBAPIError,
    InterfaceError,
    NoSuchModuleError,
    OperationalError,
)
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

from fleet.errors import OperationError, UserError

Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware. Injected so tests can move time without sleeping."""

SQLITE_BUSY_TIMEOUT_SECONDS = 30.0
SQLITE_WAL_AUTOCHECKPOINT_PAGES = 10_000
"""SQLite copies the write-ahead log into the database (and syncs the file) once it holds this
many pages (about 40 MB), in whichever transaction crosses the mark. Its default, 1000 pages,
put that sync on one stack's claim or finish in every ninety or so, each a few milliseconds
on the path of that worker's next stack."""
IN_MEMORY_URL = "sqlite://"
"""An empty journal that lives as long as its process (a plan on an inventory without a journal)."""
_READ_ONLY = "fleet_read_only"
_SCHEMA_LOCK_KEY = 0x666C656574  # "fleet": serialises create_all across processes on PostgreSQL


def utc_now() -> datetime:
    """The current time in UTC, timezone-aware."""
    return datetime.now(UTC)


def journal_url_for(inventory_dir: Path) -> str:
    """The default journal URL of an inventory: SQLite at ``<inventory>/.fleet/fleet.db``.

    Creates the ``.fleet`` directory when it is missing; OperationError when it cannot.
    """
    state_dir = inventory_dir / ".fleet"
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise _no_journal_dir(state_dir, error.strerror or str(error)) from None
    return f"sqlite:///{(state_dir / 'fleet.db').resolve()}"


def check_journal_dir(inventory_dir: Path) -> None:
    """The OperationError :func:`journal_url_for` would raise, told before anything is shown or
    created: ``.fleet`` is there but no directory, or cannot be made in ``inventory_dir``."""
    state_dir = inventory_dir / ".fleet"
    if state_dir.exists() and not state_dir.is_dir():
        raise _no_journal_dir(state_dir, "Not a directory")
    if not state_dir.exists() and not os.access(inventory_dir, os.W_OK | os.X_OK):
        raise _no_journal_dir(state_dir, "Permission denied")


def _no_journal_dir(state_dir: Path, reason: str) -> OperationError:
    return OperationError(
        f"cannot create the journal's directory {state_dir}: {reason}; "
        "make the inventory writable, or set FLEET_DATABASE_URL to a journal elsewhere"
    )


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as naive UTC and always returned timezone-aware (UTC)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the journal stores timezone-aware times only")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Database:
    """An engine plus the transaction discipline both the journal and the locks rely on."""

    def __init__(self, url: str, *, clock: Clock = utc_now) -> None:
        try:
            parsed = make_url(url)
        except ArgumentError as error:
            raise UserError(f"bad journal URL: {error}") from None
        if parsed.get_backend_name() not in ("sqlite", "postgresql"):
            raise UserError(
                f"unsupported journal database {parsed.get_backend_name()!r}; "
                "use sqlite:///path or postgresql+psycopg://..."
            )
        self.safe_url = parsed.render_as_string(hide_password=True)
        self.clock = clock
        try:
            if parsed.get_backend_name() == "sqlite":
                self.engine = _sqlite_engine(url)
            else:
                self.engine = create_engine(url, pool_pre_ping=True)
        except NoSuchModuleError as error:
            raise UserError(f"bad journal URL {self.safe_url}: {error}") from None
        self.is_postgresql = self.engine.dialect.name == "postgresql"

    def __repr__(self) -> str:
        return f"Database({self.safe_url!r})"

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that may write; commits on success, rolls back on an exception."""
        with self._translated_errors(), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (on SQLite it does not take the write lock)."""
        with self._translated_errors(), self.engine.connect() as conn:
            conn.execution_options(**{_READ_ONLY: True})
            with conn.begin():
                yield conn

    def create_schema(self, tables: list[Table], migrate: Callable[[Connection, bool], object]) -> None:
        """Create ``tables`` where missing, then ``migrate(conn, fresh)`` an existing schema to the
        newest (``fresh``: none of the tables existed); safe when several processes start at once."""
        with self.write() as conn:
            if self.is_postgresql:
                conn.execute(select(func.pg_advisory_xact_lock(_SCHEMA_LOCK_KEY)))
            existing = inspect(conn)
            fresh = not any(existing.has_table(table.name) for table in tables)
            tables[0].metadata.create_all(conn, tables=tables)
            migrate(conn, fresh)

    def insert_ignoring_conflict(
        self, conn: Connection, table: Table, values: dict[str, Any], key: list[str]
    ) -> bool:
        """Insert a row unless one with the same ``key`` exists; True when it was inserted.

        On PostgreSQL a concurrent uncommitted insert of the same key makes this wait for that
        transaction, then report the conflict: there is no window for two winners.
        """
        if self.is_postgresql:
            statement: Any = (
                postgresql.insert(table).values(values).on_conflict_do_nothing(index_elements=key)
            )
        else:
            statement = sqlite.insert(table).values(values).on_conflict_do_nothing(index_elements=key)
        return conn.execute(statement).rowcount == 1

    def upsert(self, conn: Connection, table: Table, values: dict[str, Any], key: list[str]) -> None:
        """Insert a row, or update the existing row with the same ``key``."""
        changes = {name: value for name, value in values.items() if name not in key}
        if self.is_postgresql:
            pg = postgresql.insert(table).values(values)
            conn.execute(pg.on_conflict_do_update(index_elements=key, set_=changes))
        else:
            lite = sqlite.insert(table).values(values)
            conn.execute(lite.on_conflict_do_update(index_elements=key, set_=changes))

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    @contextmanager
    def _translated_errors(self) -> Iterator[None]:
        try:
            yield
        except DBAPIError as error:
            detail = str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__
            if not self.is_postgresql and isinstance(error, DatabaseError) and _is_corrupt(detail):
                raise UserError(
                    f"journal database {self.safe_url} is unusable ({detail}); move the file aside "
                    "to start a new journal, or set FLEET_DATABASE_URL to the right one"
                ) from None
            if not error.connection_invalidated and not _is_operational(error):
                raise
            fix = ""
            if not self.is_postgresql and "unable to open database file" in detail:
                fix = "; its directory must exist and be writable (FLEET_DATABASE_URL sets where it is)"
            raise OperationError(f"journal database {self.safe_url} failed: {detail}{fix}") from None


def _is_corrupt(detail: str) -> bool:
    # SQLite's words for a file that is not, or no longer, a database it can read.
    return "file is not a database" in detail or "malformed" in detail


def _is_operational(error: DBAPIError) -> bool:
    # Connection refused, database locked past the busy timeout, server gone: not a bug in fleet.
    return isinstance(error, OperationalError | InterfaceError)


def _begin_immediate(dbapi_connection: Any) -> None:
    """``BEGIN IMMEDIATE``, waiting for the write lock in steps of at most 2 ms.

    SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50 then 100 ms between
    tries, so a writer that finds the lock taken often sleeps long after it was freed: with a
    dozen workers claiming and finishing stacks, a tenth of the transactions waited 20 ms or more
    and some most of a second. Every other statement keeps the busy timeout (in WAL mode only
    this one waits for the write lock).
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_SECONDS
    pause = 0.0002
    dbapi_connection.execute("PRAGMA busy_timeout = 0")
    try:
        while True:
            try:
                dbapi_connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.Error as error:
                if "locked" not in str(error) or time.monotonic() >= deadline:
                    # Raised from an event, outside SQLAlchemy's wrapping: wrapped here.
                    raise DBAPIError.instance("BEGIN IMMEDIATE", None, error, sqlite3.Error) from None
            time.sleep(pause)
            pause = min(2 * pause, 0.002)
    finally:
        dbapi_connection.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_SECONDS * 1000)}")


def _sqlite_engine(url: str) -> Engine:
    if make_url(url).database in (None, "", ":memory:"):
        # Every in-memory connection is a database of its own: one connection, whatever the
        # thread, so the schema and every read see the same one.
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event, not the sqlite3 module, decide how transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_SECONDS * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute(f"PRAGMA wal_autocheckpoint = {SQLITE_WAL_AUTOCHECKPOINT_PAGES}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(_READ_ONLY, False):
            conn.exec_driver_sql("BEGIN")
        else:
            _begin_immediate(conn.connection.driver_connection)

    return engine
