"""How the scheduler sets work going without waiting for it: a detached ``fleet`` process per
upgrade (``fleet upgrade run``) or drift check (``fleet drift --rollout ID``), each writing to
``<inventory>/.fleet/beat.log``, so the tick returns at once."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from fleet.inventory.loader import Inventory


class DetachedLauncher:
    """Starts and resumes scheduled upgrades in a separate ``fleet upgrade run`` process each,
    so the scheduler's tick returns at once. The child writes to ``<inventory>/.fleet/beat.log``."""

    def __init__(self, command: Sequence[str] | None = None) -> None:
        self.command = list(command or [sys.executable, "-m", "fleet"])
        self.processes: list[subprocess.Popen[bytes]] = []
        """The processes this launcher started (they outlive it)."""

    def start(self, inventory: Inventory, stacks: Sequence[str]) -> str | None:
        self._spawn(inventory, ["upgrade", "run", "--scheduled", "--stacks", ",".join(stacks)])
        return None

    def resume(self, inventory: Inventory, rollout_id: str) -> None:
        self._spawn(inventory, ["upgrade", "run", "--scheduled", rollout_id])

    def _spawn(self, inventory: Inventory, args: list[str]) -> None:
        """Run ``fleet -i <inventory> <args>`` detached, its output appended to beat.log."""
        log_path = Path(inventory.state_dir) / "beat.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log_file:
            process = subprocess.Popen(
                [*self.command, "-i", str(inventory.root), *args],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)
        _reap_finished()
        _launched.append(process)


_launched: list[subprocess.Popen[bytes]] = []
"""Every detached process of this (long-lived scheduler) process; the finished ones are reaped at
the next launch, so none stays a zombie."""


def _reap_finished() -> None:
    _launched[:] = [process for process in _launched if process.poll() is None]


class SchedulerLauncher(DetachedLauncher):
    """The scheduler's launcher: upgrades as :class:`DetachedLauncher` runs them, and drift checks
    in a detached ``fleet drift --rollout ID`` process each, writing to the same beat.log."""

    def check_drift(self, inventory: Inventory, rollout_id: str) -> None:
        self._spawn(inventory, ["drift", "--rollout", rollout_id])

    def rotate(self, inventory: Inventory, names: Sequence[str]) -> None:
        self._spawn(inventory, ["credentials", "rotate", "--yes", *names])
