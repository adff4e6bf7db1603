"""Fan-out benchmark: N stacks of a fixed duration through real Celery workers, and baselines.

Starts a private redis-server and one `fleet worker --concurrency C`, records a rollout of N
generated workloads (one wave, ``max_parallel = C``) driven by the scripted engine, and prints
the makespan against the ideal ``ceil(N/C) * d``, the orchestration overhead per stack, and what
the coordinator cost (CPU per stack, peak memory). Then, in the same run, two baselines:

- plain Celery: N tasks that sleep ``d`` seconds, all queued at once, on a worker with the same
  concurrency and fleet's own Celery settings (``bench/celery_baseline.py``): the ratio
  fleet/Celery is fleet's orchestration cost over Celery's own;
- the local executor: the same rollout through a process pool of C processes, no broker.

    .venv/bin/python bench/fanout.py                      # N=200, C=8, d=3s
    .venv/bin/python bench/fanout.py -n 1000 -c 16 -d 1   # the issue's figure
    .venv/bin/python bench/fanout.py -n 1000 -c 16 -d 1 --repeat 3   # the median of three runs each
    .venv/bin/python bench/fanout.py -n 10000 -c 16 -d 0.05 --only fleet   # coordinator memory
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from broker import fleet_env, free_port, start, start_redis, start_worker, stop

from fleet import forkserver
from fleet.inventory.loader import Inventory, load_inventory
from fleet.inventory.models import RolloutPolicy
from fleet.journal import Journal, RolloutDetail
from fleet.journal.connect import open_journal
from fleet.journal.locks import StackLocks
from fleet.kinds import Action, EngineKind
from fleet.rollout.coordinator import start_rollout
from fleet.rollout.driver import drive
from fleet.rollout.plan import RolloutPlan
from fleet.rollout.waves import PlanTarget, plan_waves
from fleet.settings import Settings

REPO = Path(__file__).resolve().parents[1]
FLEET_YAML = (REPO / "examples" / "inventory" / "fleet.yaml").read_text(encoding="utf-8")
WORKLOAD = """apiVersion: fleet/v1
kind: Workload
name: {name}
spec: {{cloud: aws, region: us-east-1, account_id: "123456789012", environment: production}}
"""


@dataclass(frozen=True)
class Run:
    """One measured rollout."""

    makespan: float
    detail: RolloutDetail
    coordinator_cpu: float
    began: datetime
    """When the rollout was started (the journal's clock: UTC)."""
    ended: datetime


def _inventory(root: Path, count: int) -> list[str]:
    (root / "workloads").mkdir(parents=True)
    (root / "fleet.yaml").write_text(FLEET_YAML, encoding="utf-8")
    names = [f"bench-{number:05d}" for number in range(count)]
    for name in names:
        (root / "workloads" / f"{name}.yaml").write_text(WORKLOAD.format(name=name), encoding="utf-8")
    return names


def _plan(inventory: Inventory, names: list[str], concurrency: int) -> RolloutPlan:
    targets = [PlanTarget(name, {}, "production") for name in names]
    waves = plan_waves(targets, canary=0, wave_size="100%", include_controlroom=False)
    policy = RolloutPolicy(canary=0, wave_size="100%", max_parallel=concurrency, failure_budget=0)
    return RolloutPlan(
        inventory.root.resolve(),
        tuple(waves),
        policy,
        Action.up,
        EngineKind.scripted,
        None,
        inventory.fleet.spec.versions.model_dump(),
    )


def _rollouts(settings: Settings, names: list[str], concurrency: int, repeat: int) -> list[Run]:
    """A warm-up rollout of C stacks (worker start-up and imports not counted), then ``repeat``
    measured ones, each a new rollout of all N stacks."""
    inventory = load_inventory(settings.inventory)
    plan = _plan(inventory, names, concurrency)
    journal, locks = open_journal(settings)
    runs = []
    with journal:
        warm = [PlanTarget(n, {}, "production") for n in names[:concurrency]]
        warm_waves = plan_waves(warm, canary=0, wave_size="100%", include_controlroom=False)
        _drive(settings, journal, locks, replace(plan, waves=tuple(warm_waves)), inventory)
        for _ in range(repeat):
            began, started, cpu = datetime.now(UTC), time.monotonic(), time.process_time()
            detail = _drive(settings, journal, locks, plan, inventory)
            makespan, cpu = time.monotonic() - started, time.process_time() - cpu
            runs.append(Run(makespan, detail, cpu, began, datetime.now(UTC)))
    return runs


def _median(runs: list[Run]) -> Run:
    """The run of median makespan (the lower middle one of an even count)."""
    return sorted(runs, key=lambda run: run.makespan)[(len(runs) - 1) // 2]


def _median_of(makespans: list[float]) -> float | None:
    """The median makespan (the lower middle one), None when there was no run."""
    return sorted(makespans)[(len(makespans) - 1) // 2] if makespans else None


def _drive(
    settings: Settings, journal: Journal, locks: StackLocks, plan: RolloutPlan, inventory: Inventory
) -> RolloutDetail:
    rollout = start_rollout(journal, locks, plan)
    # As `fleet rollout` does: the rollout's hooks read the inventory it was planned from.
    return drive(settings, journal, locks, rollout.id, inventory=inventory)


def _rss_mib(pid: int) -> float:
    """Resident memory of a process and its children, MiB."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for one in pids:
        try:
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            continue
    return total / 1024


def _celery_baseline(env: dict[str, str], work: Path, args: argparse.Namespace) -> list[float]:
    """Makespans of N plain Celery tasks of duration d on a worker like fleet's (``--repeat`` runs)."""
    from celery_baseline import app, sleep

    celery = str(Path(sys.executable).with_name("celery"))
    worker = start(
        [
            celery,
            "-A",
            "celery_baseline",
            "worker",
            "--pool=prefork",
            f"--concurrency={args.concurrency}",
            f"--max-tasks-per-child={args.max_tasks_per_child}",
            "--queues=baseline",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
        ],
        work / "baseline.log",
        {**env, "PYTHONPATH": str(Path(__file__).parent)},
    )
    try:
        warm = [sleep.delay(0.01) for _ in range(args.concurrency)]
        for result in warm:
            result.get(timeout=120)
        makespans = []
        for _ in range(args.repeat):
            started = time.monotonic()
            results = [sleep.delay(args.duration) for _ in range(args.stacks)]
            for result in results:
                result.get(timeout=args.stacks * args.duration + 600)
            makespans.append(time.monotonic() - started)
        return makespans
    finally:
        stop(worker)
        app.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", "--stacks", type=int, default=200)
    parser.add_argument("-c", "--concurrency", type=int, default=8)
    parser.add_argument("-d", "--duration", type=float, default=3.0)
    parser.add_argument(
        "--max-tasks-per-child",
        type=int,
        default=100,
        help="worker process recycling; `fleet worker` defaults to 8, which adds a process start "
        "per 8 stacks: nothing next to 10-30 minute updates, but it would dominate 2-second ones",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="measure each rollout (and each baseline) this many times and report the median run: "
        "on a shared machine one run's overhead varies by a few milliseconds per stack",
    )
    parser.add_argument(
        "--only",
        choices=["fleet", "all"],
        default="all",
        help="fleet: skip the Celery and local-executor baselines (e.g. for the memory figure at 10,000)",
    )
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    # As the `fleet` CLI does: the local pool's processes run this script again, cheap once imported.
    forkserver.preload(["fanout"])
    print(
        f"stacks {args.stacks}, worker processes {args.concurrency}, stack duration {args.duration:g}s, "
        f"max tasks per child {args.max_tasks_per_child}; load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} cores"
    )

    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
        work = Path(tmp)
        names = _inventory(work / "inventory", args.stacks)
        script = work / "script.json"
        script.write_text(json.dumps({"default": {"duration": args.duration}}), encoding="utf-8")
        port = free_port()
        env = fleet_env(work / "inventory", port, FLEET_ENGINE_SCRIPT=str(script))
        redis = start_redis(port, work)
        os.environ.update(env)  # the coordinator's own settings (the journal path) match the worker's
        worker = None
        try:
            worker = start_worker(args.concurrency, args.max_tasks_per_child, work / "worker.log", env)
            settings = Settings()
            fleets = _rollouts(settings, names, args.concurrency, args.repeat)
            worker_rss = _rss_mib(worker.pid)
            stop(worker)
            celeries: list[float] = []
            locals_: list[float] = []
            if args.only == "all":
                celeries = _celery_baseline(env, work, args)
                os.environ.pop("FLEET_BROKER_URL")
                os.environ["FLEET_WORKERS"] = str(args.concurrency)
                # A journal of its own, so both rollouts start from the same empty history.
                os.environ["FLEET_DATABASE_URL"] = f"sqlite:///{work / 'local.db'}"
                local_runs = _rollouts(Settings(), names, args.concurrency, args.repeat)
                locals_ = [run.makespan for run in local_runs]
        finally:
            if worker is not None:
                stop(worker)
            stop(redis)

    _report(args, fleets, worker_rss, celeries, locals_)
    fleet = _median(fleets)
    ideal = math.ceil(args.stacks / args.concurrency) * args.duration
    return 0 if fleet.detail.rollout.status.value == "succeeded" and fleet.makespan / ideal <= 1.05 else 1


def _report(
    args: argparse.Namespace,
    fleets: list[Run],
    worker_rss: float,
    celeries: list[float],
    locals_: list[float],
) -> None:
    # With --repeat, each figure is the median run's (the breakdown too); every makespan is listed.
    fleet = _median(fleets)
    celery, local = _median_of(celeries), _median_of(locals_)
    n, c, d = args.stacks, args.concurrency, args.duration
    if len(fleets) > 1:
        for label, values in (
            ("fleet on Celery", [run.makespan for run in fleets]),
            ("plain Celery", celeries),
            ("local executor", locals_),
        ):
            if values:
                print(f"{len(values)} runs, {label}: " + ", ".join(f"{value:.2f} s" for value in values))
    detail = fleet.detail
    ok = sum(state.status.value == "succeeded" for state in detail.stacks)
    ideal = math.ceil(n / c) * d
    print(f"rollout {detail.rollout.status.value}: {ok}/{n} stacks succeeded")
    print(f"makespan, fleet on Celery     {fleet.makespan:8.2f} s")
    print(
        f"ideal ceil(N/C)*d             {ideal:8.1f} s   "
        f"fleet/ideal  {fleet.makespan / ideal:.3f} (target <= 1.05)"
    )
    if celery is not None:
        print(f"plain Celery tasks, same worker {celery:6.1f} s   fleet/Celery {fleet.makespan / celery:.3f}")
    if local is not None:
        print(f"fleet, local executor         {local:8.1f} s   local/ideal  {local / ideal:.3f}")

    def per_stack(makespan: float) -> float:
        return (makespan * c - n * d) / n * 1000

    def over_ideal(makespan: float) -> float:
        return (makespan - ideal) * c / n * 1000

    print(
        f"orchestration overhead        {per_stack(fleet.makespan):8.1f} ms per stack (target <= 20): "
        "(makespan*C - N*d)/N"
    )

    # The formula counts the slots the ideal itself leaves idle in its last round, and the broker's
    # own cost per task: both show as the ideal's and plain Celery's figures by the same formula.
    print(
        f"  the ideal by that formula    {per_stack(ideal):6.1f} ms per stack (its last round's idle slots)"
    )
    if celery is not None:
        print(f"  plain Celery by that formula {per_stack(celery):6.1f} ms per stack (the broker's own)")
    line = f"  over the ideal, (makespan - ideal)*C/N: fleet {over_ideal(fleet.makespan):.1f} ms per stack"
    if celery is not None:
        own = over_ideal(fleet.makespan) - over_ideal(celery)
        line += f", plain Celery {over_ideal(celery):.1f}, fleet's own {own:.1f}"
    print(line)
    held = [
        (attempt.finished_at - attempt.started_at).total_seconds() - d
        for state in detail.stacks
        for attempt in state.attempts
        if attempt.finished_at is not None
    ]
    print(
        f"  of which claim to finish     {1000 * sum(held) / len(held):6.1f} ms per stack (inside the task)"
    )
    starts = sorted(a.started_at for state in detail.stacks for a in state.attempts)
    ends = sorted(a.finished_at for state in detail.stacks for a in state.attempts if a.finished_at)
    gaps = [(start - end).total_seconds() for start, end in zip(starts[c:], ends, strict=False)]
    if gaps:
        print(f"  and finish to next claim     {1000 * sum(gaps) / len(gaps):6.1f} ms per stack (dispatch)")
    if starts and ends:
        first, last = (starts[0] - fleet.began).total_seconds(), (fleet.ended - ends[-1]).total_seconds()
        print(f"  start to first claim {first:6.2f} s, last finish to end {last:6.2f} s (once per rollout)")
    print(
        f"coordinator: {1000 * fleet.coordinator_cpu / n:.1f} ms of CPU per stack, "
        f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    )
    print(f"worker: {worker_rss:.0f} MiB resident (main process and {c} children) after the rollout")


if __name__ == "__main__":
    sys.exit(main())
