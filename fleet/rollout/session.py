"""Opening the journal and driving a rollout with the executor the settings ask for.

Shared by the CLI (foreground), the detached coordinator (``python -m fleet.rollout``) and the
benchmark, so all three run a rollout the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fleet.executors import executor_for
from fleet.executors.run import journal_url
from fleet.journal import Journal, RolloutDetail
from fleet.locks import StackLocks
from fleet.rollout.coordinator import Coordinator, Hooks, Timing
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
) -> RolloutDetail:
    """Run a recorded, locked rollout to its end; the executor is shut down afterwards."""
    executor = executor_for(settings)
    base = hooks or Hooks()
    try:
        coordinator = Coordinator(
            journal,
            locks,
            executor,
            rollout_id,
            hooks=Hooks(base.may_start_wave, base.after_wave, on_update or base.on_update),
            timing=Timing.for_ttl(float(settings.lock_ttl)),
        )
        return coordinator.run()
    finally:
        executor.shutdown()
