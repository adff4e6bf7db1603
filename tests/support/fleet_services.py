"""Real services for the executor, rollout and CLI tests: a redis-server and `fleet worker`s.

Imported by the conftest files of tests/fleet/executors, tests/fleet/rollout and tests/fleet/cli.
Every process started here is killed at the end of its test, by its own pid.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from inventories import copy_example

WAIT = 90.0
"""Generous: the suite must pass on a loaded 2-core machine."""


def wait_for(condition: Callable[[], Any], what: str, timeout: float = WAIT, every: float = 0.05) -> Any:
    """Poll ``condition`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(every)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(process: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    """Stop ``process`` (and its process group, which it leads) by its own pid."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout)


@dataclass
class RedisServer:
    """A redis-server on a free loopback port, without persistence (a restart loses everything)."""

    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.directory.mkdir(parents=True, exist_ok=True)
        with (self.directory / "redis.log").open("ab") as log:
            self.process = self._spawn(binary, log)
        wait_for(self.ping, f"redis-server on port {self.port}")

    def _spawn(self, binary: str, log: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, signal.SIGKILL)
            self.process = None

    def restart(self) -> None:
        """Kill and start again on the same port: every queued message and result is gone."""
        self.stop()
        self.start()

    def client(self) -> Any:
        import redis

        return redis.Redis(port=self.port)


def write_script(path: Path, **script: Any) -> Path:
    """Write a ScriptedEngine script (see fleet/engines/scripted.py) and return its path."""
    path.write_text(json.dumps(script), encoding="utf-8")
    return path


def fleet_env(inventory: Path, script: Path, broker_url: str | None = None, **extra: str) -> dict[str, str]:
    """The environment of a fleet process for these tests (scripted engine, short TTLs)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLEET_")}
    env.update(
        FLEET_INVENTORY=str(inventory),
        FLEET_ENGINE="scripted",
        FLEET_ENGINE_SCRIPT=str(script),
        # Attempts and locks go stale after 5 s without a heartbeat (every 1 s): a killed worker's
        # stack is taken over quickly. The default (5 minutes) suits 10-30 minute updates.
        FLEET_LOCK_TTL="5",
        # Redis redelivers a task no worker acknowledged after this long. Short, so a message held
        # by a worker that died is not stuck for the default 4 hours; longer than any scripted stack.
        FLEET_VISIBILITY_TIMEOUT="30",
        PYTHONUNBUFFERED="1",
    )
    if broker_url:
        env["FLEET_BROKER_URL"] = broker_url
    env.update(extra)
    return env


def fleet_command() -> list[str]:
    """The installed `fleet` console script of this interpreter's environment."""
    return [str(Path(sys.executable).with_name("fleet"))]


@dataclass
class Workers:
    """`fleet worker` subprocesses, each in its own process group."""

    directory: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(
        self, env: dict[str, str], concurrency: int = 2, name: str | None = None, *args: str
    ) -> subprocess.Popen[bytes]:
        name = name or f"w{len(self.processes) + 1}"
        with (self.directory / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                [
                    *fleet_command(),
                    "worker",
                    "--concurrency",
                    str(concurrency),
                    "--hostname",
                    f"{name}@%h",
                    "--loglevel",
                    "INFO",
                    *args,
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)
        wait_for(lambda: "ready." in self.log(name) or process.poll() is not None, f"worker {name} to start")
        assert process.poll() is None, f"worker {name} exited:\n{self.log(name)}"
        return process

    def log(self, name: str) -> str:
        path = self.directory / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop_all(self) -> None:
        for process in self.processes:
            stop_process(process)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fleet_workers(tmp_path: Path) -> Iterator[Workers]:
    directory = tmp_path / "workers"
    directory.mkdir()
    workers = Workers(directory)
    try:
        yield workers
    finally:
        workers.stop_all()


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    """A copy of the example inventory."""
    return copy_example(tmp_path / "inventory")


WORKLOAD = """apiVersion: fleet/v1
kind: Workload
name: {name}
spec:
  cloud: aws
  region: us-east-1
  account_id: "123456789012"
  environment: {environment}
  labels: {{team: extra}}
"""


def add_workloads(inventory: Path, count: int, environment: str = "production") -> list[str]:
    """Add ``count`` plain workloads (``extra-01``...) to an inventory; returns their names."""
    names = [f"extra-{number:02d}" for number in range(1, count + 1)]
    for name in names:
        text = WORKLOAD.format(name=name, environment=environment)
        (inventory / "workloads" / f"{name}.yaml").write_text(text, encoding="utf-8")
    return names


def run_fleet(env: dict[str, str], *args: str, timeout: float = 180.0) -> subprocess.CompletedProcess[str]:
    """Run the `fleet` CLI to completion; stdin is not a terminal, so it never asks."""
    return subprocess.run(
        [*fleet_command(), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def start_fleet(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    """Start the `fleet` CLI in the background (own process group), output to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [*fleet_command(), *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
