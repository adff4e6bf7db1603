"""Engines run one stack's Pulumi program: for real (PulumiEngine), offline (RenderEngine), or
scripted for tests and benchmarks (ScriptedEngine). :func:`build_engine` picks one by its kind."""

from __future__ import annotations

from fleet.engines.base import REDACTED, EventSink, StackEngine, StackOutcome
from fleet.errors import UserError
from fleet.kinds import Action, EngineKind
from fleet.settings import Settings


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


__all__ = ["REDACTED", "Action", "EventSink", "StackEngine", "StackOutcome", "build_engine"]
