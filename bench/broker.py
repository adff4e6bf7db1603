"""What the fan-out benchmarks share: a private redis-server as the broker, the environment the
worker and the coordinator read, and the `fleet worker` they run stacks on."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path


def free_port() -> int:
    """A TCP port on the loopback interface nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(command: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """``command`` in its own session (so :func:`stop` ends its children too), output to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate ``process``'s session and wait for it."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(60)


def start_redis(port: int, work: Path) -> subprocess.Popen[bytes]:
    """A throwaway redis-server on ``port`` (no snapshots; log and files in ``work``); exits the
    benchmark when redis-server is not installed."""
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        sys.exit("redis-server is not installed")
    return start(
        [redis_server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(work)],
        work / "redis.log",
    )


def fleet_env(inventory: Path, port: int, **settings: str) -> dict[str, str]:
    """This process's environment without its ``FLEET_*`` settings, set for a rollout of
    ``inventory`` on the scripted engine through the broker on ``port``, plus ``settings``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLEET_")}
    env.update(
        FLEET_INVENTORY=str(inventory),
        FLEET_BROKER_URL=f"redis://127.0.0.1:{port}/0",
        FLEET_ENGINE="scripted",
        FLEET_VISIBILITY_TIMEOUT="600",
        **settings,
    )
    return env


def start_worker(
    concurrency: int, max_tasks_per_child: int, log: Path, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    """``fleet worker`` (this interpreter's) with ``concurrency`` processes, each replaced after
    ``max_tasks_per_child`` stacks (0: never)."""
    fleet = str(Path(sys.executable).with_name("fleet"))
    command = [fleet, "worker", "--concurrency", str(concurrency)]
    command += ["--max-tasks-per-child", str(max_tasks_per_child), "--loglevel", "WARNING"]
    return start(command, log, env)
