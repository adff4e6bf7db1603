"""The rollout journal: durable records of rollouts, waves, stacks and attempts, in SQL.

Open it with :class:`Journal` (``Journal(journal_url_for(inventory_dir))`` for the default SQLite
file, or a ``postgresql+psycopg://`` URL for a shared one). The stack locks
(:mod:`fleet.journal.locks`) live in the same database.
"""

from fleet.journal.db import Clock, Database, journal_url_for, utc_now
from fleet.journal.queries import RolloutNotFound
from fleet.journal.records import (
    Attempt,
    AttemptOutput,
    Claim,
    ClaimResult,
    GateRecord,
    Outcome,
    RenderRecord,
    Rollout,
    RolloutDetail,
    RolloutKind,
    RolloutStatus,
    RolloutSummary,
    StackDeployment,
    StackDryRun,
    StackState,
    StackStatus,
    WaveRecord,
    WaveStatus,
)
from fleet.journal.store import DEFAULT_HEARTBEAT_TTL, Journal, current_actor, new_rollout_id

__all__ = [
    "DEFAULT_HEARTBEAT_TTL",
    "Attempt",
    "AttemptOutput",
    "Claim",
    "ClaimResult",
    "Clock",
    "Database",
    "GateRecord",
    "Journal",
    "Outcome",
    "RenderRecord",
    "Rollout",
    "RolloutDetail",
    "RolloutKind",
    "RolloutNotFound",
    "RolloutStatus",
    "RolloutSummary",
    "StackDeployment",
    "StackDryRun",
    "StackState",
    "StackStatus",
    "WaveRecord",
    "WaveStatus",
    "current_actor",
    "journal_url_for",
    "new_rollout_id",
    "utc_now",
]
