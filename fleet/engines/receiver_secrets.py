"""Which receiver secrets a stack reads from the environment, and which of them are unset.

A real rollout refuses a stack whose ``env:`` secret is unset before it touches anything
(:func:`require_receiver_secrets`); an offline render renders a placeholder for it and warns once
per variable (:func:`unset_receiver_secrets` feeds the warning). Names only, never values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fleet.errors import UserError
from fleet.inventory.models import CONTROLROOM, AlertRouting

if TYPE_CHECKING:
    from fleet.inventory.loader import Inventory


@dataclass(frozen=True)
class UnsetSecret:
    """An ``env:`` reference whose variable is not set: the file, the field, the variable."""

    source: str
    field: str
    variable: str

    @property
    def where(self) -> str:
        return f"{self.source} {self.field}"


def unset_receiver_secrets(inventory: Inventory, stack: str, environ: Mapping[str, str]) -> list[UnsetSecret]:
    """The ``env:`` receiver secrets ``stack``'s program reads that ``environ`` does not hold: the
    control room's ``spec.alerting`` in fleet.yaml, a workload's own when its local alerting is on."""
    from kit.alerting.alertmanager import unset_env_secrets

    routing: AlertRouting
    if stack == CONTROLROOM:
        routing, source = inventory.fleet.spec.alerting, "fleet.yaml"
    else:
        local = inventory.workload(stack).spec.alerting
        if not local.enabled:
            return []
        routing, source = local, f"workloads/{stack}.yaml"
    return [UnsetSecret(source, s.field, s.variable) for s in unset_env_secrets(routing, environ)]


def require_receiver_secrets(inventory: Inventory, stack: str, environ: Mapping[str, str]) -> None:
    """UserError, one line naming the file, the field and the variable, when ``stack`` reads an
    ``env:`` receiver secret that ``environ`` does not hold."""
    unset = unset_receiver_secrets(inventory, stack, environ)
    if unset:
        first = unset[0]
        more = f" (and {', '.join(u.variable for u in unset[1:])})" if len(unset) > 1 else ""
        raise UserError(
            f"{first.where}: {first.variable}{more} is not set where this stack runs; export it "
            "(or use kubernetes: <secret>/<key>); nothing was changed"
        )
