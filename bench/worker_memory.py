"""Worker memory benchmark: one `fleet worker` process's resident memory across N stacks.

Starts a private redis-server and a `fleet worker --concurrency 1`, rolls out N generated
workloads one at a time through it (scripted engine, ``-d`` seconds each) and samples the
resident memory (VmRSS) of the process that runs the stacks, against the number of stacks it has
finished. Once without recycling (``--max-tasks-per-child 0``: the same process runs every stack)
and once with each ``--recycle`` value (the process is replaced after that many stacks; the
figure is then the replacements' memory). Prints the memory after the first stacks, at a few
points, and the growth per 100 stacks: flat means recycling is not needed for memory.

    .venv/bin/python bench/worker_memory.py                  # 1000 stacks; no recycling, then 8
    .venv/bin/python bench/worker_memory.py -n 300 --recycle 8 --recycle 100
    .venv/bin/python bench/worker_memory.py -n 200 --engine render   # a dry run: Pulumi programs run

``--engine scripted`` (the default) measures fleet's own job path: claim, heartbeat, finish.
``--engine render`` runs every stack's real Pulumi program on the mock runtime in the worker (a
dry-run rollout, control room first), which is what a real deploy runs in-process too.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import sys
import tempfile
import threading
from pathlib import Path

from broker import fleet_env, free_port, start_redis, start_worker, stop
from fanout import _drive, _inventory, _plan

from fleet.inventory.loader import Inventory, load_inventory
from fleet.inventory.models import RolloutPolicy
from fleet.journal.connect import open_journal
from fleet.kinds import Action, EngineKind
from fleet.rollout.plan import RolloutPlan
from fleet.rollout.waves import PlanTarget, plan_waves
from fleet.settings import Settings


def _rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def _children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def _finished(database: Path) -> int:
    """Stacks finished so far, by the journal (read-only; SQLite's WAL lets a reader in anytime)."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
            query = "SELECT count(*) FROM stack_attempts WHERE finished_at IS NOT NULL"
            return int(conn.execute(query).fetchone()[0])
    except sqlite3.Error:
        return 0


def _render_plan(inventory: Inventory, names: list[str]) -> RolloutPlan:
    targets = [PlanTarget(name, {}, "production") for name in names]
    waves = plan_waves(targets, canary=0, wave_size="100%", include_controlroom=True)
    policy = RolloutPolicy(canary=0, wave_size="100%", max_parallel=1, failure_budget=0)
    versions = inventory.fleet.spec.versions.model_dump()
    root = inventory.root.resolve()
    return RolloutPlan(root, tuple(waves), policy, Action.up, EngineKind.render, "bench", versions)


def measure(
    work: Path, names: list[str], duration: float, recycle: int, env: dict[str, str], engine: str
) -> list[tuple[int, int]]:
    """(stacks finished, RSS KiB of the process running stacks) samples of one rollout."""
    script = work / f"script-{recycle}.json"
    script.write_text(json.dumps({"default": {"duration": duration}}), encoding="utf-8")
    database = work / f"{recycle}.db"
    env = {**env, "FLEET_ENGINE_SCRIPT": str(script), "FLEET_DATABASE_URL": f"sqlite:///{database}"}
    os.environ.update(env)
    worker = start_worker(1, recycle, work / f"worker-{recycle}.log", env)
    samples: list[tuple[int, int]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            for child in _children(worker.pid):
                rss = _rss_kib(child)
                if rss is not None:
                    samples.append((_finished(database), rss))

    sampler = threading.Thread(target=sample, daemon=True)
    try:
        settings = Settings()
        inventory = load_inventory(settings.inventory)
        journal, locks = open_journal(settings)
        sampler.start()
        with journal:
            plan = _plan(inventory, names, 1) if engine == "scripted" else _render_plan(inventory, names)
            detail = _drive(settings, journal, locks, plan, inventory)
        if detail.rollout.status.value != "succeeded":
            sys.exit(f"the rollout {detail.rollout.status.value}; see {work}")
    finally:
        done.set()
        sampler.join()
        stop(worker)
    return samples


def _at(samples: list[tuple[int, int]], stacks: int) -> int:
    """The last sample taken at or before ``stacks`` finished stacks."""
    before = [rss for finished, rss in samples if finished <= stacks]
    return before[-1] if before else samples[0][1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", "--stacks", type=int, default=1000)
    parser.add_argument("-d", "--duration", type=float, default=0.0)
    parser.add_argument("--engine", choices=["scripted", "render"], default="scripted")
    parser.add_argument(
        "--recycle", type=int, action="append", help="--max-tasks-per-child values to compare with 0"
    )
    args = parser.parse_args()
    modes = [0, *(args.recycle or [8])]
    print(
        f"stacks {args.stacks} ({args.engine} engine), one worker process, duration {args.duration:g}s; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
        work = Path(tmp)
        names = _inventory(work / "inventory", args.stacks)
        port = free_port()
        env = fleet_env(work / "inventory", port)
        redis = start_redis(port, work)
        try:
            for recycle in modes:
                samples = measure(work, names, args.duration, recycle, env, args.engine)
                points = sorted(
                    {10, *(p for p in (100, 250, 500, 1000, 2500, 5000) if p <= args.stacks), args.stacks}
                )
                first, last = _at(samples, 10), _at(samples, args.stacks)
                growth = (last - first) / max(1, args.stacks - 10) * 100
                label = "no recycling" if recycle == 0 else f"replaced every {recycle}"
                figures = ", ".join(f"{p}: {_at(samples, p) / 1024:.1f}" for p in points)
                peak = max(rss for _, rss in samples) / 1024
                print(
                    f"{label:18s} RSS MiB after stacks {figures}; peak {peak:.1f}; "
                    f"growth {growth / 1024:+.2f} MiB per 100 stacks"
                )
        finally:
            stop(redis)


if __name__ == "__main__":
    main()
