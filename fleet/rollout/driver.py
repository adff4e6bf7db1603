"""Driving a recorded rollout: the one path every entry point takes.

``fleet rollout``, ``fleet rollout resume``, ``fleet upgrade apply|run``, the detached coordinator
(``python -m fleet.rollout``), the scheduler's detached upgrades and the benchmark all hand a
recorded rollout to :func:`drive`, and turn what it returns into an exit code with
:func:`exit_code`. So a rollout runs with the same hooks (:func:`fleet.rollout.hooks.rollout_hooks`),
ends with the same summary and exits with the same code however it was started or continued.

Exit codes (the README's table; tests hold every entry point to it):

========================================================  ====
outcome                                                   code
========================================================  ====
succeeded, or nothing to do (already finished, no change)  0
failed (a stack failed), halted (budget, gate), cancelled  1
invalid input (a bad flag, file, name or id)               2
paused (the maintenance window closed; continues later)    3
interrupted (Ctrl-C in the foreground; resume continues)   130
========================================================  ====
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from fleet import metrics
from fleet.executors import executor_for
from fleet.executors.base import Executor
from fleet.inventory.loader import Inventory, load_inventory
from fleet.journal import Journal, RolloutDetail, RolloutStatus, utc_now
from fleet.journal.locks import StackLocks
from fleet.rollout.coordinator import Coordinator, Hooks, Timing, prepare_resume
from fleet.rollout.hooks import GateAccessSource, Waiter, rollout_hooks
from fleet.rollout.offboard import complete_offboarding
from fleet.rollout.rotation import complete_rotation
from fleet.settings import Settings

log = logging.getLogger(__name__)

EXIT_SUCCEEDED = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_PAUSED = 3
EXIT_INTERRUPTED = 130

_EXIT_CODES: dict[RolloutStatus, int] = {
    RolloutStatus.SUCCEEDED: EXIT_SUCCEEDED,
    RolloutStatus.FAILED: EXIT_FAILED,
    RolloutStatus.HALTED: EXIT_FAILED,
    RolloutStatus.CANCELLED: EXIT_FAILED,
    RolloutStatus.PAUSED: EXIT_PAUSED,
}

FINAL = (RolloutStatus.SUCCEEDED, RolloutStatus.CANCELLED)
"""Statuses a rollout never leaves: driving or resuming it has nothing to do."""


def exit_code(status: RolloutStatus) -> int:
    """The exit code of a command that drove or followed a rollout to ``status``.

    A rollout that is still pending, running or cancelling when the command stops following it
    (``watch`` of a rollout nobody drives) did not finish: 1.
    """
    return _EXIT_CODES.get(status, EXIT_FAILED)


def drive(
    settings: Settings,
    journal: Journal,
    locks: StackLocks,
    rollout_id: str,
    *,
    inventory: Inventory | None = None,
    in_window: bool | None = None,
    on_update: Callable[[RolloutDetail], None] | None = None,
    hooks: Hooks | None = None,
    executor: Executor | None = None,
    timing: Timing | None = None,
    clock: Callable[[], datetime] = utc_now,
    access: GateAccessSource | None = None,
    wait: Waiter | None = None,
) -> RolloutDetail:
    """Run recorded rollout ``rollout_id`` to its end (or a pause) and return the journal's view.

    A rollout that already finished for good (succeeded, cancelled) is returned as it is: there
    is nothing to do. Otherwise its locks are taken (a fresh rollout's are this process's already;
    those of a dead coordinator are taken over) and every stack that did not succeed is reopened,
    so the same call starts, resumes and continues. Without ``hooks`` the rollout runs with those
    its record calls for, read from ``inventory`` (default: the one it was planned from);
    ``in_window`` forces the maintenance-window check on or off. ``on_update`` gets every view.
    ``executor`` defaults to the one ``settings`` ask for, shut down afterwards. A succeeded
    offboarding gets its last step here, whichever entry point drove it: the workload's work
    directory and file go.
    """
    serve_metrics(settings)
    rollout = journal.rollout(rollout_id)
    if rollout.status in FINAL:
        complete_offboarding(rollout)  # a crash may have come between the end and this step
        complete_rotation(journal, rollout)
        detail = journal.get_rollout(rollout_id)
        if on_update is not None:
            on_update(detail)
        return detail
    prepare_resume(journal, locks, rollout_id)
    rollout = journal.rollout(rollout_id)
    if hooks is None:
        if inventory is None:
            inventory = load_inventory(Path(str(rollout.policy.get("inventory", settings.inventory))))
        extra = {} if wait is None else {"wait": wait}
        hooks = rollout_hooks(
            inventory,
            journal,
            rollout,
            in_window=in_window,
            on_update=on_update,
            clock=clock,
            access=access,
            **extra,
        )
    elif on_update is not None:
        hooks = Hooks(hooks.may_start_wave, hooks.after_wave, on_update)
    own_executor = executor is None
    runner = executor_for(settings) if executor is None else executor
    try:
        coordinator = Coordinator(
            journal,
            locks,
            runner,
            rollout_id,
            hooks=hooks,
            timing=timing or Timing.for_ttl(float(settings.lock_ttl)),
        )
        detail = coordinator.run()
        complete_offboarding(detail.rollout)
        complete_rotation(journal, detail.rollout)
        metrics.record_rollout(detail.rollout.kind.value, detail.rollout.status.value)
        return detail
    finally:
        if own_executor:
            runner.shutdown()


_serving: set[int] = set()


def serve_metrics(settings: Settings) -> None:
    """Serve this coordinator's metrics on ``FLEET_METRICS_PORT`` (once per process), if set.

    A port already taken (another coordinator on this machine) is logged, never fatal.
    """
    port = settings.metrics_port
    if port is None or port in _serving:
        return
    try:
        metrics.serve(port)
    except OSError as error:
        log.warning("could not serve metrics on port %d: %s", port, error.strerror or error)
        return
    _serving.add(port)
