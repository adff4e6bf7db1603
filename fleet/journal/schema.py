"""The journal's tables. One schema for the journal, the render records and the stack locks."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from fleet.journal.db import UTCDateTime

metadata = MetaData()

ID = String(64)
NAME = String(255)
STATUS = String(16)

rollouts = Table(
    "rollouts",
    metadata,
    # seq orders rollouts strictly (two rollouts may share a timestamp); id is what users type.
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", ID, nullable=False, unique=True),
    Column("kind", STATUS, nullable=False),
    Column("dry_run", Boolean, nullable=False),
    Column("status", STATUS, nullable=False),
    Column("started_by", NAME, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("policy", JSON, nullable=False),
    Column("versions", JSON, nullable=False),
    Column("halt_reason", Text),
    Column("cancel_requested", Boolean, nullable=False),
    # Bumped by every change of one of its stacks' status; the stack row keeps the value of its
    # last change, so a coordinator reads only what changed since it last looked.
    Column("change_seq", Integer, nullable=False, server_default="0"),
)

waves = Table(
    "rollout_waves",
    metadata,
    Column("rollout_id", ID, ForeignKey("rollouts.id", ondelete="CASCADE"), primary_key=True),
    Column("wave_index", Integer, primary_key=True),
    Column("name", NAME, nullable=False),
    Column("stacks", JSON, nullable=False),
    Column("status", STATUS, nullable=False),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("gate_passed", Boolean),
    Column("gate_reason", Text),
)

stacks = Table(
    "rollout_stacks",
    metadata,
    Column("rollout_id", ID, ForeignKey("rollouts.id", ondelete="CASCADE"), primary_key=True),
    Column("stack", NAME, primary_key=True),
    Column("wave_index", Integer, nullable=False),
    Column("position", Integer, nullable=False),
    Column("status", STATUS, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("change_seq", Integer, nullable=False, server_default="0"),
    Index("ix_rollout_stacks_changes", "rollout_id", "change_seq"),
    # A claim counts the rollout's running and failed stacks (max_parallel, failure budget).
    Index("ix_rollout_stacks_status", "rollout_id", "status"),
)

attempts = Table(
    "stack_attempts",
    metadata,
    Column("rollout_id", ID, primary_key=True),
    Column("stack", NAME, primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("worker", NAME, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("heartbeat_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("outcome", STATUS),
    Column("error", Text),
    Column("versions", JSON),
    Column("summary", JSON),
    ForeignKeyConstraint(
        ["rollout_id", "stack"],
        ["rollout_stacks.rollout_id", "rollout_stacks.stack"],
        ondelete="CASCADE",
    ),
    Index("ix_stack_attempts_stack", "stack"),
)

# The attempts still open, by stack: a claim looks for one of another rollout (its coordinator
# died, its worker may still run the stack), and a stack's history grows with every rollout.
Index(
    "ix_stack_attempts_open",
    attempts.c.stack,
    attempts.c.outcome,
    sqlite_where=attempts.c.outcome.is_(None),
    postgresql_where=attempts.c.outcome.is_(None),
)

stack_deploys = Table(
    "stack_deploys",
    metadata,
    # Per stack, its newest attempt in a real rollout (not a dry run, not a drift check) and its
    # newest successful one, each as (rollout seq, attempt number): what `fleet status` and
    # `fleet versions` read, kept current by claim and finish, so they never scan the history.
    # And the newest dry-run rollout that included it (set when such a rollout is recorded).
    Column("stack", NAME, primary_key=True),
    Column("latest_rollout_id", ID),
    Column("latest_seq", Integer),
    Column("latest_number", Integer),
    Column("deployed_rollout_id", ID),
    Column("deployed_seq", Integer),
    Column("deployed_number", Integer),
    Column("dry_rollout_id", ID),
)

attempt_outputs = Table(
    "attempt_outputs",
    metadata,
    # Beside the attempts, not in them: the rows every journal read loads stay small.
    Column("rollout_id", ID, primary_key=True),
    Column("stack", NAME, primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("output", Text, nullable=False),
    Column("truncated", Integer, nullable=False),
    ForeignKeyConstraint(
        ["rollout_id", "stack", "number"],
        ["stack_attempts.rollout_id", "stack_attempts.stack", "stack_attempts.number"],
        ondelete="CASCADE",
    ),
)

renders = Table(
    "renders",
    metadata,
    Column("stack", NAME, primary_key=True),
    Column("plan_hash", String(64), nullable=False),
    Column("plan", Text, nullable=False),
    Column("rollout_id", ID),
    Column("recorded_at", UTCDateTime, nullable=False),
)

stack_locks = Table(
    "stack_locks",
    metadata,
    Column("stack", NAME, primary_key=True),
    Column("rollout_id", ID, nullable=False),
    Column("holder", NAME, nullable=False),
    Column("hostname", NAME, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("acquired_at", UTCDateTime, nullable=False),
    Column("heartbeat_at", UTCDateTime, nullable=False),
    # The holder's token: random per process, so a lock is renewed and released only by the
    # process that holds it (a reused pid or a shared host name never passes for it).
    Column("token", String(64)),
    Index("ix_stack_locks_rollout", "rollout_id"),
)

credential_generations = Table(
    "credential_generations",
    metadata,
    # Desired state the control-room program needs and no file holds: which password generation
    # each workload is on, and its next one while `fleet credentials rotate` overlaps them.
    Column("workload", NAME, primary_key=True),
    Column("generation", Integer, nullable=False),
    Column("next_generation", Integer),
    Column("rotation_id", ID),
    Column("updated_at", UTCDateTime, nullable=False),
)

ALL_TABLES = [
    rollouts,
    waves,
    stacks,
    attempts,
    attempt_outputs,
    stack_deploys,
    renders,
    stack_locks,
    credential_generations,
]
