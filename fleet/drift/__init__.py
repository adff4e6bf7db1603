"""Drift: comparing renders or live stacks with the inventory (:mod:`~fleet.drift.diff` is the pure
comparison, :mod:`~fleet.drift.check` runs and records a check)."""
