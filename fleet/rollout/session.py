"""Opening the journal and driving a rollout with the executor the settings ask for.

Shared by the CLI (``fleet rollout``, ``fleet rollout resume``, ``fleet upgrade``), the detached
coordinator (``python -m fleet.rollout``) and the benchmark, so all of them run a rollout the
same way, with the hooks its journal record calls for (:func:`fleet.rollout.hooks.rollout_hooks`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from fleet.executors import executor_for
from fleet.executors.run import journal_url
from fleet.inventory import Inventory, load_inventory
from fleet.journal import Journal, RolloutDetail
from fleet.locks import StackLocks
from fleet.rollout.coordinator import Coordinator, Hooks, Timing
from fleet.rollout.hooks import rollout_hooks
from fleet.settings import Settings


def open_journal(settings: Settings) -> tuple[Journal, StackLocks]:
    """The journal and the stack locks, with the attempt and lock TTL from ``settings.lock_ttl``."""
    ttl = timedelta(seconds=settings.lock_ttl)
    journal = Journal(journal_url(settings, settings.inventory), heartbeat_ttl=ttl)
    return journal, StackLocks(journal, ttl=ttl)


def drive(
    settings: Settings,
    journal: Journal,
    locks: StackLocks,
    rollout_id: str,
    on_update: Callable[[RolloutDetail], None] | None = None,
    hooks: Hooks | None = None,
    *,
    inventory: Inventory | None = None,
    in_window: bool | None = None,
) -> RolloutDetail:
    """Run a recorded, locked rollout to its end (or a pause); the executor is shut down afterwards.

    Without ``hooks`` the rollout runs with those its record calls for (webhook; for upgrades
    the health gate and, when scheduled or ``in_window``, the maintenance window), read from
    ``inventory`` (default: the one the rollout was planned from). ``on_update`` gets every view.
    """
    rollout = journal.rollout(rollout_id)
    if hooks is None:
        if inventory is None:
            inventory = load_inventory(Path(str(rollout.policy.get("inventory", settings.inventory))))
        hooks = rollout_hooks(inventory, journal, rollout, in_window=in_window, on_update=on_update)
    elif on_update is not None:
        hooks = Hooks(hooks.may_start_wave, hooks.after_wave, on_update)
    executor = executor_for(settings)
    try:
        coordinator = Coordinator(
            journal, locks, executor, rollout_id, hooks=hooks, timing=Timing.for_ttl(float(settings.lock_ttl))
        )
        return coordinator.run()
    finally:
        executor.shutdown()
