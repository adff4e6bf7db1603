"""Rollouts: which stacks in which waves (:mod:`~fleet.rollout.waves`, :mod:`~fleet.rollout.plan`),
recording and running them (:mod:`~fleet.rollout.coordinator`, driven by :mod:`~fleet.rollout.driver`
with the hooks of :mod:`~fleet.rollout.hooks` and the health gates of :mod:`~fleet.rollout.gates`),
and showing them (:mod:`~fleet.rollout.view`). ``python -m fleet.rollout`` is the detached
coordinator."""
