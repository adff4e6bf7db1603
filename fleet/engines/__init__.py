"""Engines run one stack's Pulumi program: for real (PulumiEngine), offline (RenderEngine), or
scripted for tests and benchmarks (ScriptedEngine). :func:`build_engine` picks one by its kind."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fleet.engines.base import REDACTED, EventSink, StackEngine, StackOutcome
from fleet.errors import UserError
from fleet.kinds import Action, EngineKind
from fleet.settings import Settings

if TYPE_CHECKING:
    from fleet.inventory.loader import Inventory


def build_engine(kind: EngineKind, settings: Settings) -> StackEngine:
    """The engine a job asks for, constructed in the worker process."""
    if kind is EngineKind.scripted:
        from fleet.engines.scripted import ScriptedEngine

        if settings.engine_script is None:
            raise UserError("FLEET_ENGINE=scripted needs FLEET_ENGINE_SCRIPT=<path of a JSON script>")
        return ScriptedEngine.from_file(settings.engine_script)
    if kind is EngineKind.render:
        from fleet.engines.render import RenderEngine

        return RenderEngine()
    from fleet.engines.pulumi import PulumiEngine

    return PulumiEngine(settings)


def require_shared_state(settings: Settings, inventory: Inventory, kind: EngineKind) -> None:
    """Refuse state that only one machine sees when stacks may run on any machine.

    With ``FLEET_BROKER_URL`` set, Celery workers on any number of machines run the stacks. A
    ``file://`` Pulumi backend is a directory on each of them: each machine would keep its own
    state, and a workload's run would read its credential from a control room that is not there (or
    another machine's old one). The render engine's state (the control room's rendered credentials, in
    the user's state directory) has the same property. UserError (exit 2) naming the fix.
    """
    if not settings.broker_url:
        return
    if kind is EngineKind.pulumi:
        backend = inventory.fleet.spec.state.backend
        if backend.startswith("file://"):
            raise UserError(
                f"{inventory.root / 'fleet.yaml'}: spec.state.backend: {backend} is a directory on each "
                "machine, but FLEET_BROKER_URL sends stacks to workers on any machine, where each would "
                "keep its own Pulumi state and a workload would not find the control room its credential "
                "is read from; "
                "use an s3:// or azblob:// backend, or unset FLEET_BROKER_URL to run stacks on this machine"
            )
    elif kind is EngineKind.render:
        raise UserError(
            "a dry run with FLEET_BROKER_URL set: the render state (the control room's rendered "
            "credentials) is kept on each machine, so workers on other machines would render the "
            "workloads against another control room; dry-run without FLEET_BROKER_URL (the local executor)"
        )


__all__ = [
    "REDACTED",
    "Action",
    "EventSink",
    "StackEngine",
    "StackOutcome",
    "build_engine",
    "require_shared_state",
]
