"""What a stack's deploy depends on, as one hash: compared with the hash of its last successful
deploy, it tells whether the stack changed since."""

from __future__ import annotations

import hashlib

from fleet.inventory.loader import Inventory
from fleet.inventory.models import CONTROLROOM


def spec_hash(inventory: Inventory, stack: str) -> str:
    """sha256 of the program input of ``stack``: what changed since a deploy, without secrets."""
    spec = inventory.controlroom_stack() if stack == CONTROLROOM else inventory.workload_stack(stack)
    return hashlib.sha256(spec.model_dump_json().encode()).hexdigest()
