"""A stand-in engine for tests and benchmarks: sleeps, then succeeds or fails as a script says.

Selected with ``FLEET_ENGINE=scripted`` and ``FLEET_ENGINE_SCRIPT=<path>``; users roll out with
the Pulumi engine and dry-run with the render engine. The script is JSON::

    {
      "default": {"duration": 0.5},
      "stacks": {
        "payments-prod": {"duration": 2, "fail": "chart install timed out"},
        "search-staging": {"transient_failures": 2},
        "analytics-prod": {"fail": "boom", "output": ["installing chart", "chart failed"]}
      },
      "log": "/tmp/runs.log",
      "pid_dir": "/tmp/pids"
    }

Per stack (falling back to ``default``): ``duration`` seconds of sleep; ``fail``: an error message
to fail with; ``transient_failures``: how many runs in this process fail as transient first.
``output``: lines the engine reports as its output (events) before it ends. ``log`` gets one line
per run (``start``/``end`` with stack, pid and action or result), ``pid_dir`` one file
``<stack>.<pid>`` while a run is in progress, so a test can find and kill that process.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fleet.engines.base import EventSink, StackOutcome
from fleet.errors import UserError
from fleet.kinds import Action

if TYPE_CHECKING:
    from fleet.inventory.loader import Inventory


@dataclass(frozen=True)
class StackScript:
    """What the scripted engine does for one stack."""

    duration: float = 0.0
    fail: str | None = None
    transient_failures: int = 0
    output: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> StackScript:
        unknown = set(data) - {"duration", "fail", "transient_failures", "output"}
        if unknown:
            raise UserError(f"{where}: unknown keys {sorted(unknown)}")
        return cls(
            duration=float(data.get("duration", 0.0)),
            fail=data.get("fail"),
            transient_failures=int(data.get("transient_failures", 0)),
            output=tuple(str(line) for line in data.get("output") or ()),
        )


@dataclass
class ScriptedEngine:
    """Runs no program: follows its script. Safe to construct in any worker process."""

    default: StackScript = field(default_factory=StackScript)
    stacks: Mapping[str, StackScript] = field(default_factory=dict)
    log: Path | None = None
    pid_dir: Path | None = None
    name: str = "scripted"
    _runs: Counter[str] = field(default_factory=Counter, repr=False)

    @classmethod
    def from_file(cls, path: Path) -> ScriptedEngine:
        """Load a script file (see the module docstring); UserError when it is unreadable or bad."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise UserError(f"engine script {path}: {error}") from None
        if not isinstance(data, dict):
            raise UserError(f"engine script {path}: expected a JSON object")
        stacks = data.get("stacks") or {}
        return cls(
            default=StackScript.from_json(data.get("default") or {}, f"{path}: default"),
            stacks={name: StackScript.from_json(spec, f"{path}: {name}") for name, spec in stacks.items()},
            log=Path(data["log"]) if data.get("log") else None,
            pid_dir=Path(data["pid_dir"]) if data.get("pid_dir") else None,
        )

    def script_for(self, stack: str) -> StackScript:
        return self.stacks.get(stack, self.default)

    def run(
        self,
        inventory: Inventory,
        stack: str,
        action: Action,
        events: EventSink | None = None,
        *,
        previous_dead: bool = False,
    ) -> StackOutcome:
        """Sleep for the stack's duration, then report what the script says. The log's ``start``
        line says ``previous-dead`` when the worker told the engine the previous attempt died."""
        script = self.script_for(stack)
        self._runs[stack] += 1
        self._log("start", stack, action.value + (" previous-dead" if previous_dead else ""))
        pid_file = self.pid_dir / f"{stack}.{os.getpid()}" if self.pid_dir else None
        if pid_file is not None:
            pid_file.parent.mkdir(parents=True, exist_ok=True)
            pid_file.touch()
        try:
            if events is not None:
                events(f"{stack}: {action.value} (scripted, {script.duration:g}s)")
            time.sleep(script.duration)
            for line in script.output:
                if events is not None:
                    events(line)
        finally:
            if pid_file is not None:
                pid_file.unlink(missing_ok=True)
        if self._runs[stack] <= script.transient_failures:
            outcome = StackOutcome(stack, ok=False, error="scripted transient failure", transient=True)
        elif script.fail is not None:
            outcome = StackOutcome(stack, ok=False, error=script.fail)
        else:
            outcome = StackOutcome(stack, ok=True, changes={"same": 1}, summary={"engine": self.name})
        self._log("end", stack, "ok" if outcome.ok else "transient" if outcome.transient else "failed")
        return outcome

    def _log(self, event: str, stack: str, detail: str) -> None:
        if self.log is None:
            return
        # One short append per line: atomic enough between processes on a local file system.
        with self.log.open("a", encoding="utf-8") as out:
            out.write(f"{event} {stack} {os.getpid()} {detail}\n")
