"""Fan-out benchmark: N stacks of a fixed duration through real Celery workers.

Starts a private redis-server and one `fleet worker --concurrency C`, records a rollout of N
generated workloads (one wave, ``max_parallel = C``) driven by the scripted engine, and prints
the makespan against the ideal ``ceil(N/C) * d`` and against running the stacks one after another
(``N * d``, computed), plus the orchestration overhead per stack.

    .venv/bin/python bench/fanout.py                  # N=200, C=8, d=3s: about 90 seconds
    .venv/bin/python bench/fanout.py -n 40 -c 4 -d 1  # a quick look
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fleet.inventory.loader import load_inventory
from fleet.inventory.models import RolloutPolicy
from fleet.journal.connect import open_journal
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _inventory(root: Path, count: int) -> list[str]:
    (root / "workloads").mkdir(parents=True)
    (root / "fleet.yaml").write_text(FLEET_YAML, encoding="utf-8")
    names = [f"bench-{number:04d}" for number in range(count)]
    for name in names:
        (root / "workloads" / f"{name}.yaml").write_text(WORKLOAD.format(name=name), encoding="utf-8")
    return names


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
    args = parser.parse_args()
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        sys.exit("redis-server is not installed")
    fleet_bin = str(Path(sys.executable).with_name("fleet"))

    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
        work = Path(tmp)
        names = _inventory(work / "inventory", args.stacks)
        script = work / "script.json"
        script.write_text(json.dumps({"default": {"duration": args.duration}}), encoding="utf-8")
        port = _free_port()
        env = {key: value for key, value in os.environ.items() if not key.startswith("FLEET_")}
        env.update(
            FLEET_INVENTORY=str(work / "inventory"),
            FLEET_BROKER_URL=f"redis://127.0.0.1:{port}/0",
            FLEET_ENGINE="scripted",
            FLEET_ENGINE_SCRIPT=str(script),
        )
        processes: list[subprocess.Popen[bytes]] = []
        try:
            with (work / "redis.log").open("ab") as log:
                processes.append(
                    subprocess.Popen(
                        [
                            redis_server,
                            "--port",
                            str(port),
                            "--bind",
                            "127.0.0.1",
                            "--save",
                            "",
                            "--dir",
                            tmp,
                        ],
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
            worker_log = work / "worker.log"
            with worker_log.open("ab") as log:
                processes.append(
                    subprocess.Popen(
                        [
                            fleet_bin,
                            "worker",
                            "--concurrency",
                            str(args.concurrency),
                            "--loglevel",
                            "WARNING",
                        ],
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
            settings = Settings(
                inventory=work / "inventory", broker_url=env["FLEET_BROKER_URL"], visibility_timeout=600
            )
            inventory = load_inventory(settings.inventory)
            targets = [PlanTarget(name, {}, "production") for name in names]
            waves = plan_waves(targets, canary=0, wave_size="100%", include_controlroom=False)
            policy = RolloutPolicy(
                canary=0, wave_size="100%", max_parallel=args.concurrency, failure_budget=0
            )
            plan = RolloutPlan(
                inventory.root.resolve(),
                tuple(waves),
                policy,
                Action.up,
                EngineKind.scripted,
                None,
                inventory.fleet.spec.versions.model_dump(),
            )
            os.environ.update(env)  # the coordinator's own settings (the journal path) match the worker's
            journal, locks = open_journal(settings)
            with journal:
                _warm_up(journal, locks, plan, settings, names[: args.concurrency])
                rollout = start_rollout(journal, locks, plan)
                started = time.monotonic()
                detail = drive(settings, journal, locks, rollout.id)
                makespan = time.monotonic() - started
        finally:
            for process in processes:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGTERM)
                    process.wait(30)

    ok = sum(state.status.value == "succeeded" for state in detail.stacks)
    ideal = math.ceil(args.stacks / args.concurrency) * args.duration
    serial = args.stacks * args.duration
    overhead_ms = (makespan * args.concurrency - args.stacks * args.duration) / args.stacks * 1000
    print(
        f"stacks {args.stacks}, worker processes {args.concurrency}, stack duration {args.duration:g}s, "
        f"max tasks per child {args.max_tasks_per_child}"
    )
    print(f"rollout {detail.rollout.status.value}: {ok}/{args.stacks} stacks succeeded")
    print(f"makespan                 {makespan:8.1f} s")
    print(f"ideal ceil(N/C)*d        {ideal:8.1f} s   ratio {makespan / ideal:.3f} (target <= 1.10)")
    print(f"one after another N*d    {serial:8.1f} s   speed-up {serial / makespan:.1f}x")
    print(
        f"orchestration overhead   {overhead_ms:8.0f} ms per stack (worker-process time not spent in stacks)"
    )
    held = [
        (attempt.finished_at - attempt.started_at).total_seconds() - args.duration
        for state in detail.stacks
        for attempt in state.attempts
        if attempt.finished_at is not None
    ]
    print(f"  of which claim to finish {1000 * sum(held) / len(held):6.0f} ms per stack (inside the task)")
    starts = sorted(a.started_at for state in detail.stacks for a in state.attempts)
    ends = sorted(a.finished_at for state in detail.stacks for a in state.attempts if a.finished_at)
    gaps = [
        (start - end).total_seconds() for start, end in zip(starts[args.concurrency :], ends, strict=False)
    ]
    if gaps:
        print(f"  and finish to next claim {1000 * sum(gaps) / len(gaps):6.0f} ms per stack (dispatch)")
    return 0 if ok == args.stacks and makespan / ideal <= 1.10 else 1


def _warm_up(journal: object, locks: object, plan: RolloutPlan, settings: Settings, names: list[str]) -> None:
    """One short rollout first, so worker start-up and imports are not counted in the makespan."""
    from dataclasses import replace

    warm = replace(
        plan,
        waves=tuple(
            plan_waves(
                [PlanTarget(n, {}, "production") for n in names],
                canary=0,
                wave_size="100%",
                include_controlroom=False,
            )
        ),
    )
    rollout = start_rollout(journal, locks, warm)  # type: ignore[arg-type]
    drive(settings, journal, locks, rollout.id)  # type: ignore[arg-type]


if __name__ == "__main__":
    sys.exit(main())
