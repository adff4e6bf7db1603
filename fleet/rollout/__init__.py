"""Rollouts: plan (:mod:`~fleet.rollout.plan`), record and drive (:mod:`~fleet.rollout.coordinator`),
show (:mod:`~fleet.rollout.view`)."""

from fleet.rollout.coordinator import Coordinator, Hooks, Timing, prepare_resume, start_rollout
from fleet.rollout.plan import RolloutPlan, plan_rollout

__all__ = ["Coordinator", "Hooks", "RolloutPlan", "Timing", "plan_rollout", "prepare_resume", "start_rollout"]
