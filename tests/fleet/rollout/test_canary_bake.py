"""The canary bake: a real deploy's canary runs ``canary_bake_time`` (5 minutes by default) before
its gate judges it and the next wave starts; dry runs and the scripted engine do not bake."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet.executors.base import ExecutorEvent
from fleet.executors.jobs import JobState, StackJob
from fleet.inventory.loader import load_inventory
from fleet.journal import Journal, WaveRecord, journal_url_for
from fleet.journal.locks import StackLocks
from fleet.kinds import EngineKind
from fleet.rollout.coordinator import Coordinator, Hooks, Timing, start_rollout
from fleet.rollout.plan import plan_rollout


class InstantExecutor:
    """Runs nothing: records each job's stack as succeeded in the journal at once, at the fake
    time it was submitted (the boundary a real worker would cross)."""

    def __init__(self, journal: Journal, clock: list[float]) -> None:
        self.journal, self.clock = journal, clock
        self.submitted: list[tuple[str, float]] = []
        self.events: list[ExecutorEvent] = []

    def submit(self, job: StackJob) -> None:
        self.submitted.append((job.stack, self.clock[0]))
        claim = self.journal.claim(job.rollout_id, job.stack, worker="instant")
        assert claim.attempt is not None
        self.journal.finish(job.rollout_id, job.stack, claim.attempt, "succeeded", versions={})
        self.events.append(ExecutorEvent(job.key, JobState.succeeded, {}))

    def poll(self) -> list[ExecutorEvent]:
        events, self.events = self.events, []
        return events

    def shutdown(self) -> None:
        pass


@pytest.fixture
def journal(inventory: Path) -> Iterator[Journal]:
    with Journal(journal_url_for(inventory)) as opened:
        yield opened


@pytest.mark.parametrize(("engine", "baked"), [(EngineKind.pulumi, 300.0), (EngineKind.scripted, 0.0)])
def test_the_canary_bakes_before_its_gate_and_the_next_wave(
    inventory: Path, journal: Journal, engine: EngineKind, baked: float
) -> None:
    locks = StackLocks(journal)
    plan = plan_rollout(load_inventory(inventory), journal, select_all=True, engine=engine)
    assert plan.policy.canary_bake_time == "5m"  # the default
    rollout = start_rollout(journal, locks, plan)
    clock = [0.0]
    gates: list[tuple[str, float]] = []

    def after_wave(wave: WaveRecord) -> None:
        gates.append((wave.name, clock[0]))

    def sleep(seconds: float) -> None:
        clock[0] += max(seconds, 0.01)

    executor = InstantExecutor(journal, clock)
    coordinator = Coordinator(
        journal,
        locks,
        executor,
        rollout.id,
        hooks=Hooks(after_wave=after_wave),
        timing=Timing(tick=0.01, reconcile=0.01),
        sleep=sleep,
        monotonic=lambda: clock[0],
    )

    assert coordinator.run().rollout.status == "succeeded"

    canary_gate = dict(gates)["canary"]
    canary_start = dict(executor.submitted)["search-staging"]
    after = min(time for stack, time in executor.submitted if stack in ("analytics-prod", "payments-prod"))
    assert canary_gate - canary_start >= baked and after >= canary_gate
    assert (canary_gate - canary_start < 1.0) == (baked == 0.0)
