"""Engines run one stack's Pulumi program: for real (PulumiEngine) or offline (RenderEngine)."""

from fleet.engines.base import Action, EventSink, StackEngine, StackOutcome

__all__ = ["Action", "EventSink", "StackEngine", "StackOutcome"]
