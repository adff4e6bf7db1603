"""Rollouts recorded straight into a journal, for tests that exercise what runs them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from fleet.journal import Journal, RolloutStatus, journal_url_for
from fleet.rollout.waves import Wave


def running_rollout(inventory: Path, stacks: Sequence[str]) -> str:
    """Record a running one-wave rollout of ``stacks`` in the inventory's journal; its id."""
    with Journal(journal_url_for(inventory)) as journal:
        rollout = journal.create_rollout(
            [Wave(0, "wave 1", tuple(stacks))], kind="rollout", dry_run=False, policy={}, versions={}
        )
        journal.set_status(rollout.id, RolloutStatus.RUNNING)
        return rollout.id


def record_deploys(
    journal: Journal, deployed: Mapping[str, Mapping[str, str]], *, dry_run: bool = False
) -> str:
    """Record a succeeded rollout that deployed (or, ``dry_run``, rendered) each stack with its
    versions; its id."""
    rollout = journal.create_rollout(
        [Wave(0, "all", tuple(deployed))], kind="rollout", dry_run=dry_run, policy={}, versions={}
    )
    journal.set_status(rollout.id, "running")
    for stack, versions in deployed.items():
        claim = journal.claim(rollout.id, stack, worker="test")
        assert claim.attempt is not None
        journal.finish(rollout.id, stack, claim.attempt, "succeeded", versions=dict(versions))
    journal.set_status(rollout.id, "succeeded")
    return rollout.id
