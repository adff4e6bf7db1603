"""The small vocabularies that settings, jobs, engines and the journal all speak.

Kept in a module of their own, which imports nothing of fleet's, so that none of those modules
has to import another just for an enum (and none imports one that imports it back).
"""

from __future__ import annotations

import enum


class Action(enum.StrEnum):
    """What to do with a stack."""

    preview = "preview"
    up = "up"
    refresh = "refresh"
    destroy = "destroy"


class EngineKind(enum.StrEnum):
    """Which engine runs a job: ``pulumi`` for real, ``render`` for dry runs, ``scripted`` for tests."""

    pulumi = "pulumi"
    render = "render"
    scripted = "scripted"
