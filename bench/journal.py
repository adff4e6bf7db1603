"""Journal benchmark: `fleet status`, `fleet history` and `fleet versions` over a large journal.

Fills a journal with S stacks and R rollouts of all of them (R x S attempts: 10,000 stacks and
100 rollouts make the issue's 1,000,000 attempts) by bulk insert, on SQLite and on PostgreSQL (a
scratch database it creates and drops), and times the journal reads behind the three commands,
best of three. The baseline, measured in the same run, is the same reads over a journal a
hundred times smaller (S/10 stacks, R/10 rollouts): the ratio large/small says whether a query
grows with the history (target: each read within 0.5 s).

    .venv/bin/python bench/journal.py                        # 10,000 stacks x 100 rollouts
    .venv/bin/python bench/journal.py -s 1000 -r 20          # a quick look
    .venv/bin/python bench/journal.py --postgres ''          # SQLite only
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, text

from fleet.journal import Journal
from fleet.journal.migrations import MIGRATIONS
from fleet.journal.schema import attempts, rollouts, stacks, waves

VERSIONS = {"alloy": "1.4.0", "mimir": "6.0.6", "loki": "6.46.0", "grafana": "10.1.4"}
BATCH = 20_000


def fill(journal: Journal, stack_count: int, rollout_count: int) -> None:
    """R rollouts of S stacks, one attempt each; every tenth rollout a dry run."""
    names = [f"workload-{index:05d}" for index in range(stack_count)]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with journal.database.write() as conn:
        for number in range(rollout_count):
            rollout_id = f"r-bench-{number:05d}"
            when = start + timedelta(hours=number)
            conn.execute(
                insert(rollouts).values(
                    id=rollout_id,
                    kind="rollout",
                    dry_run=number % 10 == 9,
                    status="succeeded",
                    started_by="bench@host",
                    created_at=when,
                    started_at=when,
                    finished_at=when + timedelta(minutes=30),
                    policy={"max_parallel": 16},
                    versions=VERSIONS,
                    cancel_requested=False,
                    change_seq=stack_count * 2,
                )
            )
            conn.execute(
                insert(waves).values(
                    rollout_id=rollout_id,
                    wave_index=0,
                    name="all",
                    stacks=[],  # the plan's names are not read by these queries; keep the rows small
                    status="succeeded",
                    started_at=when,
                    finished_at=when + timedelta(minutes=30),
                )
            )
            for chunk in _chunks(names):
                conn.execute(
                    insert(stacks),
                    [
                        {
                            "rollout_id": rollout_id,
                            "stack": name,
                            "wave_index": 0,
                            "position": index,
                            "status": "succeeded",
                            "updated_at": when,
                            "change_seq": index,
                        }
                        for index, name in chunk
                    ],
                )
                conn.execute(
                    insert(attempts),
                    [
                        {
                            "rollout_id": rollout_id,
                            "stack": name,
                            "number": 1,
                            "worker": "host:1",
                            "started_at": when,
                            "heartbeat_at": when,
                            "finished_at": when + timedelta(seconds=60),
                            "outcome": "failed" if (index + number) % 97 == 0 else "succeeded",
                            "error": None,
                            "versions": VERSIONS,
                            "summary": {"changes": {"update": 1}},
                        }
                        for index, name in chunk
                    ],
                )


def _chunks(names: list[str]) -> Iterator[list[tuple[int, str]]]:
    for offset in range(0, len(names), BATCH):
        yield list(enumerate(names))[offset : offset + BATCH]


def best_of(call: Callable[[], Any], runs: int = 3) -> tuple[float, float]:
    """The fastest wall time and the fastest CPU time of this process (user + system) of
    ``runs`` calls; on PostgreSQL the server's CPU is not in the second."""
    walls, cpus = [], []
    for _ in range(runs):
        started, cpu = time.perf_counter(), time.process_time()
        call()
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def measure(url: str, stack_count: int, rollout_count: int) -> dict[str, tuple[float, float]]:
    """Seconds (wall, CPU) per read over a journal of the given size at ``url`` (a fresh database)."""
    with Journal(url) as journal:
        started = time.perf_counter()
        fill(journal, stack_count, rollout_count)
        print(
            f"    filled {stack_count} stacks x {rollout_count} rollouts "
            f"({stack_count * rollout_count:,} attempts) in {time.perf_counter() - started:.0f} s"
        )
        started = time.perf_counter()
        with journal.database.write() as conn:  # what an old journal's migration does once
            next(m for m in MIGRATIONS if m.description.startswith("stack_deploys")).apply(conn)
        print(f"    stack_deploys filled from the history in {time.perf_counter() - started:.1f} s")
        if journal.database.engine.dialect.name == "postgresql":
            with journal.database.write() as conn:
                conn.execute(text("ANALYZE"))
        return {
            "status": best_of(lambda: (journal.stack_status(), journal.last_dry_runs())),
            "history": best_of(lambda: journal.list_rollouts(limit=20)),
            "versions": best_of(journal.deployed_versions),
        }


def report(
    backend: str, small: dict[str, tuple[float, float]], large: dict[str, tuple[float, float]]
) -> bool:
    print(
        f"  {backend}: {'read':10s}{'small':>9s}{'large':>9s}{'ratio':>8s}{'cpu':>9s}   "
        "target 0.5 s (wall; cpu: the large read's, this process)"
    )
    ok = True
    for read in large:
        wall, cpu = large[read]
        verdict = "ok" if wall <= 0.5 else "OVER"
        ok &= wall <= 0.5
        print(
            f"  {'':{len(backend) + 2}s}{read:10s}{small[read][0]:9.3f}{wall:9.3f}"
            f"{wall / small[read][0]:8.1f}{cpu:9.3f}   {verdict}"
        )
    return ok


def _postgres(admin_url: str) -> Iterator[str]:
    """A scratch database next to ``admin_url``'s, dropped afterwards."""
    name = f"fleet_bench_{os.getpid()}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-s", "--stacks", type=int, default=10_000)
    parser.add_argument("-r", "--rollouts", type=int, default=100)
    parser.add_argument(
        "--postgres",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
        help="an existing database to create the scratch database from; '' to skip PostgreSQL",
    )
    args = parser.parse_args()
    sizes = ((max(1, args.stacks // 10), max(1, args.rollouts // 10)), (args.stacks, args.rollouts))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    ok = True
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
        print("SQLite")
        results = [measure(f"sqlite:///{Path(tmp) / f'journal-{s}.db'}", s, r) for s, r in sizes]
        ok &= report("SQLite", *results)
    if args.postgres:
        print("PostgreSQL")
        results = []
        for size in sizes:
            for url in _postgres(args.postgres):
                results.append(measure(url, *size))
        ok &= report("PostgreSQL", *results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
