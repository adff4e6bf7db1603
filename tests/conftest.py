"""Shared fixtures.

``database_url`` runs a test against every journal backend: a fresh SQLite file in ``tmp_path``,
and PostgreSQL (a database created for this test session, emptied after each test). The server
is ``FLEET_TEST_POSTGRES`` (a libpq URL of an existing database to connect to for administration,
default ``postgresql://postgres@127.0.0.1:5432/test``); when it is unreachable the PostgreSQL
params are skipped with the reason.
"""

from __future__ import annotations

# hypothesis is imported up front: when its pytest plugin imports it lazily, late in a session
# that ran a failing Pulumi program, CPython 3.11.7's parser can raise "AST constructor
# recursion depth mismatch" while pytest rewrites hypothesis's modules.
import http.server
import json
import os
import secrets
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import hypothesis  # noqa: F401
import pytest

ADMIN_DSN = os.environ.get("FLEET_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")

# A test run started as a background job (`make test &`) has Ctrl-C ignored, and a process passes
# an ignored signal on to what it starts: the fleet CLIs whose Ctrl-C the tests send would ignore
# it too. A handler is not passed on (the started program gets the default), so one is set here.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session", autouse=True)
def user_state_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The user's state directory (XDG_STATE_HOME, where the render state lives) for this session,
    in a temporary directory: tests never write into the real home. Processes the tests start
    inherit it."""
    previous = os.environ.get("XDG_STATE_HOME")
    path = tmp_path_factory.mktemp("xdg-state")
    os.environ["XDG_STATE_HOME"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("XDG_STATE_HOME", None)
    else:
        os.environ["XDG_STATE_HOME"] = previous


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A PostgreSQL database made for this session (libpq URL), dropped at the end."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    try:
        admin = psycopg.connect(ADMIN_DSN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        pytest.skip(f"PostgreSQL is not reachable at {ADMIN_DSN}: {str(error).strip().splitlines()[0]}")
    name = f"fleet_test_{os.getpid()}_{secrets.token_hex(4)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        params = conninfo_to_dict(ADMIN_DSN)
        params["dbname"] = name
        try:
            yield make_conninfo(**{key: str(value) for key, value in params.items()})
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _sqlalchemy_url(conninfo: str) -> str:
    from psycopg.conninfo import conninfo_to_dict
    from sqlalchemy import URL

    params = {key: str(value) for key, value in conninfo_to_dict(conninfo).items()}
    url = URL.create(
        "postgresql+psycopg",
        username=params.pop("user", None),
        password=params.pop("password", None),
        host=params.pop("host", None),
        port=int(params.pop("port")) if "port" in params else None,
        database=params.pop("dbname", None),
        query=params,
    )
    return url.render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A SQLAlchemy URL of an empty database; the test owns it until it returns."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fleet.db'}"
        return
    import psycopg

    conninfo: str = request.getfixturevalue("postgres_database")
    yield _sqlalchemy_url(conninfo)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


class Webhook(NamedTuple):
    """A webhook receiver: its URL and the JSON documents POSTed to it, in order."""

    url: str
    received: list[dict[str, Any]]


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    """A real HTTP server on loopback recording the JSON documents POSTed to it."""
    received: list[dict[str, Any]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield Webhook(f"http://127.0.0.1:{server.server_address[1]}/hooks/fleet", received)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session", autouse=True)
def _the_example_inventory_stays_as_it_was() -> Iterator[None]:
    """``make demo`` then ``make test`` in one clone, or the reverse: tests copy the example without
    the demo's ``.fleet`` (``copy_example``) and never write into it."""
    from inventories import example_fingerprint

    before = example_fingerprint()
    yield
    assert example_fingerprint() == before, "a test wrote into examples/inventory; use copy_example"
