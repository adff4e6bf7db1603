"""The seam between orchestration and Pulumi.

A :class:`StackEngine` runs one stack's program (``controlroom`` or a workload) and reports a
:class:`StackOutcome` as a value, never as an exception across processes. Orchestration (the
rollout coordinator, executors, Celery tasks) only sees this interface; the programs only see
their :mod:`fleet.inventory.models` spec.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from fleet.kinds import Action

if TYPE_CHECKING:
    from fleet.inventory.loader import Inventory


EventSink = Callable[[str], None]
"""Receives one-line progress messages (never secrets) while a stack runs."""

REDACTED = "[secret]"
"""What a plan or a stack output shows in place of a secret value (unless ``--show-secrets``)."""


@dataclass(frozen=True)
class StackOutcome:
    """The result of running one stack: small, JSON-friendly, secret-free.

    ``transient`` marks failures worth retrying with backoff (someone else holds the Pulumi
    stack lock, a network blip); program and configuration errors are not transient.
    """

    stack: str
    ok: bool
    changes: Mapping[str, int] = field(default_factory=dict)
    error: str | None = None
    transient: bool = False
    summary: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "ok": self.ok,
            "changes": dict(self.changes),
            "error": self.error,
            "transient": self.transient,
            "summary": dict(self.summary),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StackOutcome:
        return cls(
            stack=data["stack"],
            ok=bool(data["ok"]),
            changes=dict(data.get("changes") or {}),
            error=data.get("error"),
            transient=bool(data.get("transient", False)),
            summary=dict(data.get("summary") or {}),
        )


class StackEngine(Protocol):
    """Runs one stack of an inventory. Implementations must be safe to construct in a worker."""

    name: str
    """``pulumi`` or ``render``; recorded in the journal (``render`` rollouts are dry runs)."""

    def run(
        self,
        inventory: Inventory,
        stack: str,
        action: Action,
        events: EventSink | None = None,
        *,
        previous_dead: bool = False,
    ) -> StackOutcome:
        """Run ``action`` on ``stack`` (``controlroom`` or a workload name).

        ``previous_dead``: the attempt that ran this stack before was taken over because its
        worker died, so a stack lock it left behind (Pulumi's) may be cancelled.
        """
        ...
