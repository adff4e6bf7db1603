"""Each workload's central password generations, kept in the journal beside the rollouts.

A workload without a row is on generation 0 and not rotating. ``fleet credentials rotate``
(:mod:`fleet.rollout.rotation`) moves a row through a rotation: :func:`begin_rotation` gives it
its next generation (the control room then accepts both), :func:`finish_rotation` makes the next
the current one (the control room then accepts only it). Both are idempotent per rotation, so a
crash between a step and its record is repaired by doing the step again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from fleet.inventory.models import CredentialGeneration
from fleet.journal.schema import credential_generations as table
from fleet.journal.store import Journal

if TYPE_CHECKING:
    from fleet.inventory.loader import Inventory


def credential_generations(journal: Journal) -> dict[str, CredentialGeneration]:
    """Per workload with a row, its current generation and next one (None unless rotating)."""
    with journal.database.read() as conn:
        rows = conn.execute(select(table.c.workload, table.c.generation, table.c.next_generation)).all()
    return {
        row.workload: CredentialGeneration(generation=row.generation, next=row.next_generation)
        for row in rows
    }


def with_recorded_credentials(inventory: Inventory, journal: Journal) -> Inventory:
    """``inventory`` with the password generations the journal records, so the control room is
    rendered or previewed as its rollouts deploy it (with generation 0 for every workload, a
    rotated control room would show its passwords replaced and its htpasswd changed)."""
    return dataclasses.replace(inventory, credentials=credential_generations(journal))


def rotating(journal: Journal) -> dict[str, str]:
    """Workload -> id of the rotation that gave it a next generation not yet made current."""
    with journal.database.read() as conn:
        rows = conn.execute(
            select(table.c.workload, table.c.rotation_id).where(table.c.next_generation.is_not(None))
        ).all()
    return {row.workload: str(row.rotation_id) for row in rows}


def begin_rotation(journal: Journal, names: Sequence[str], rotation_id: str) -> None:
    """Give each of ``names`` a next generation for rotation ``rotation_id`` (again: no change)."""
    now = journal.database.clock()
    with journal.database.write() as conn:
        found = {
            row.workload: row
            for row in conn.execute(select(table).where(table.c.workload.in_(list(names)))).all()
        }
        for name in names:
            row = found.get(name)
            if row is None:
                conn.execute(
                    table.insert().values(
                        workload=name,
                        generation=0,
                        next_generation=1,
                        rotation_id=rotation_id,
                        updated_at=now,
                    )
                )
            elif row.next_generation is None:
                conn.execute(
                    update(table)
                    .where(table.c.workload == name)
                    .values(next_generation=row.generation + 1, rotation_id=rotation_id, updated_at=now)
                )


def finish_rotation(journal: Journal, rotation_id: str) -> list[str]:
    """Make the next generation current for every workload rotation ``rotation_id`` began;
    returns them (none when it already finished)."""
    now = journal.database.clock()
    with journal.database.write() as conn:
        rows = conn.execute(
            select(table.c.workload, table.c.next_generation).where(
                table.c.rotation_id == rotation_id, table.c.next_generation.is_not(None)
            )
        ).all()
        for row in rows:
            conn.execute(
                update(table)
                .where(table.c.workload == row.workload)
                .values(generation=row.next_generation, next_generation=None, updated_at=now)
            )
    return sorted(row.workload for row in rows)
