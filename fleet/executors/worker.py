"""Running one job: the plain function every executor calls in its worker process.

:func:`run_job` decodes nothing and knows no executor: it claims the stack in the journal
(exactly-once: a stack that already succeeded in this rollout is not run again, one that another
live worker runs is left alone), runs the engine while heart-beating the attempt, records the
outcome and returns a small :class:`~fleet.executors.jobs.JobResult`. Transient engine failures (someone
holds the Pulumi stack lock, a network blip) are retried here with backoff; program errors are
not. Nothing raises out of it: a broken job comes back as a ``error`` result.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from fleet import metrics
from fleet.engines import build_engine
from fleet.engines.base import StackEngine, StackOutcome
from fleet.errors import FleetError
from fleet.executors.jobs import SCHEMA_VERSION, JobError, JobResult, JobState, StackJob
from fleet.executors.output import OutputLog, environment_secrets
from fleet.inventory.loader import FLEET_FILE, WORKLOADS_DIR, Inventory, load_inventory, workload_entries
from fleet.inventory.models import CONTROLROOM
from fleet.journal import Journal, Outcome
from fleet.journal.connect import journal_url
from fleet.kinds import Action, EngineKind
from fleet.rollout.fingerprint import fingerprint, fingerprint_hash
from fleet.rollout.offboard import without_offboarded
from fleet.rollout.rotation import generations_for
from fleet.settings import Settings

log = logging.getLogger(__name__)

TRANSIENT_BACKOFF: tuple[float, ...] = (5.0, 15.0, 45.0, 120.0)
"""Seconds to wait before each retry of a transient failure; then the failure stands."""


def worker_id() -> str:
    """``host:pid`` of this process, as recorded on the attempts it runs."""
    return f"{socket.gethostname()}:{os.getpid()}"


@functools.lru_cache(maxsize=8)
def _journal(url: str, ttl: float) -> Journal:
    # One journal (one connection pool) per worker process, reused by every job it runs.
    return Journal(url, heartbeat_ttl=timedelta(seconds=ttl))


@dataclass(frozen=True)
class _CachedInventory:
    head: tuple[tuple[int, int], tuple[int, int]]
    """Stamps of fleet.yaml and of the workloads directory (a file added, removed or replaced)."""
    files: dict[Path, tuple[int, int]]
    """Stamps of the workload files as they were when the inventory was read."""
    inventory: Inventory


def load_job_inventory(root: Path, stack: str | None = None) -> Inventory:
    """The inventory at ``root``, re-read only when what ``stack`` depends on changed.

    A worker runs many jobs of the same inventory, and parsing hundreds of workload files for
    each of them would cost more than the orchestration itself; so would a look at every file
    (10,000 stats per job in a fleet of 10,000). A stack's program depends on fleet.yaml, the
    set of workloads (the directory: atomic writes and renames change its stamp) and, for a
    workload, its own file: those are looked at, whatever the fleet's size.
    """
    head = (_stamp(root / FLEET_FILE), _stamp(root / WORKLOADS_DIR))
    own = (
        []
        if stack in (None, CONTROLROOM)
        else [root / WORKLOADS_DIR / f"{stack}{s}" for s in (".yaml", ".yml")]
    )
    cached = _inventories.get(root)
    if (
        cached is None
        or cached.head != head
        or any(cached.files.get(path, _MISSING) != _stamp(path) for path in own)
    ):
        files = {path: _stamp(path) for path in workload_entries(root)}  # before reading: never newer
        cached = _CachedInventory(head, files, load_inventory(root))
        _inventories[root] = cached
    return cached.inventory


_MISSING = (0, -1)


def _stamp(path: Path) -> tuple[int, int]:
    try:
        info = path.stat()
    except FileNotFoundError:
        return _MISSING
    return (info.st_mtime_ns, info.st_size)


_inventories: dict[Path, _CachedInventory] = {}


def run_job(
    job: StackJob,
    settings: Settings,
    *,
    backoff: Sequence[float] = TRANSIENT_BACKOFF,
    sleep: Callable[[float], None] = time.sleep,
) -> JobResult:
    """Claim, run and record one stack (see the module docstring). Never raises for a job's failure."""
    started = time.monotonic()
    result = _run_job(job, settings, backoff=backoff, sleep=sleep)
    metrics.record_stack_run(
        job.action.value,
        job.engine.value,
        result.state.value,
        time.monotonic() - started,
        int(result.info.get("retries", 0)),
    )
    return result


def _run_job(
    job: StackJob,
    settings: Settings,
    *,
    backoff: Sequence[float],
    sleep: Callable[[float], None],
) -> JobResult:
    try:
        journal = _journal(journal_url(settings, Path(job.inventory)), float(settings.lock_ttl))
        claim = journal.claim(job.rollout_id, job.stack, worker_id())
    except FleetError as error:
        return JobResult(job.key, JobState.error, {"error": error.message})
    if not claim.granted:
        return JobResult(job.key, JobState.declined, {"reason": claim.result.value, "holder": claim.holder})
    assert claim.attempt is not None
    beat = _heartbeats.add(journal, job, claim.attempt, settings.lock_ttl / 5)
    versions: dict[str, Any] | None = None
    summary: dict[str, Any] = {}
    output = OutputLog(environment_secrets())
    try:
        inventory = load_job_inventory(Path(job.inventory), job.stack)
        if job.stack == CONTROLROOM:  # an offboarding rolls the control room out without its workload
            rollout = journal.rollout(job.rollout_id)
            inventory = without_offboarded(inventory, rollout.policy)
            # The password generations are desired state the journal keeps (credential rotation).
            inventory = dataclasses.replace(inventory, credentials=generations_for(journal, rollout))
            summary["credentials"] = {
                name: g.model_dump() for name, g in sorted(inventory.credentials.items())
            }
        summary["action"] = job.action.value
        if job.action is not Action.destroy:  # a destroyed stack deploys nothing
            versions = _versions(inventory, job.stack)
            fields = fingerprint(inventory, job.stack)  # what this attempt deploys: the next plan compares
            summary.update(spec_hash=fingerprint_hash(fields), fingerprint=fields)
        engine = build_engine(job.engine, settings)
        outcome = _run_with_retries(
            engine, inventory, job, backoff, sleep, claim.recovered_from is not None, output
        )
    except FleetError as error:
        outcome = StackOutcome(job.stack, ok=False, error=error.message)
    except Exception as error:  # a bug in a program or an engine: record it, keep the worker alive
        log.exception("stack %s crashed", job.stack)
        outcome = StackOutcome(job.stack, ok=False, error=f"{type(error).__name__}: {error}")
    finally:
        _heartbeats.remove(beat)
    if outcome.error:
        output.add(f"error: {outcome.error}")
    summary.update(engine=job.engine.value, changes=dict(outcome.changes), retries=_retries(outcome))
    if outcome.ok and job.engine is EngineKind.render:
        _record_render(journal, job, outcome)
    try:
        journal.finish(
            job.rollout_id,
            job.stack,
            claim.attempt,
            Outcome.SUCCEEDED if outcome.ok else Outcome.FAILED,
            error=outcome.error,
            versions=versions if outcome.ok else None,
            summary=summary,
            output=output.text(),
            truncated=output.dropped,
        )
    except FleetError as error:
        return JobResult(job.key, JobState.error, {"error": error.message, "attempt": claim.attempt})
    info = {
        "attempt": claim.attempt,
        "error": outcome.error,
        "changes": dict(outcome.changes),
        "retries": _retries(outcome),
    }
    return JobResult(job.key, JobState.succeeded if outcome.ok else JobState.failed, info)


def _record_render(journal: Journal, job: StackJob, outcome: StackOutcome) -> None:
    # A dry run's (redacted) plan becomes the baseline `fleet drift --dry-run` compares with.
    # A baseline that cannot be kept costs drift a comparison, never the stack its success.
    path = outcome.summary.get("plan")
    if not path:
        return
    try:
        journal.record_render(job.stack, Path(str(path)).read_text(encoding="utf-8"), job.rollout_id)
    except (FleetError, OSError, ValueError) as error:
        reason = error.message if isinstance(error, FleetError) else type(error).__name__
        log.warning("stack %s: could not record its render for drift: %s", job.stack, reason)


def _run_with_retries(
    engine: StackEngine,
    inventory: Inventory,
    job: StackJob,
    backoff: Sequence[float],
    sleep: Callable[[float], None],
    previous_dead: bool,
    events: OutputLog | None = None,
) -> StackOutcome:
    retries = 0
    while True:
        # Took over from a dead attempt: its stale Pulumi lock may be cancelled (engines decide).
        outcome = engine.run(inventory, job.stack, job.action, events, previous_dead=previous_dead)
        if outcome.ok or not outcome.transient or retries >= len(backoff):
            break
        log.warning(
            "stack %s: transient failure (%s); retrying in %gs", job.stack, outcome.error, backoff[retries]
        )
        if events is not None:
            events.add(f"transient failure ({outcome.error}); retrying in {backoff[retries]:g}s")
        sleep(backoff[retries])
        retries += 1
    if retries:
        outcome = StackOutcome(
            outcome.stack,
            outcome.ok,
            outcome.changes,
            outcome.error,
            outcome.transient,
            {**outcome.summary, "retries": retries},
        )
    return outcome


def _retries(outcome: StackOutcome) -> int:
    return int(outcome.summary.get("retries", 0))


def _versions(inventory: Inventory, stack: str) -> dict[str, Any]:
    if stack == CONTROLROOM:
        return dict(inventory.fleet.spec.versions.model_dump())
    return dict(inventory.workload_stack(stack).versions.model_dump())


@dataclass(eq=False)  # each beat is its own: removed by identity
class _Beat:
    journal: Journal
    job: StackJob
    attempt: int
    every: float
    due: float


class _Heartbeats:
    """Heart-beats the attempts this process runs, from one thread that lives as long as the
    process: a thread started and joined per job put two thread switches on every job's path.

    The thread wakes every ``every`` seconds (the shortest asked for) and beats the attempts
    that are due, so adding one wakes nobody; an attempt's first beat comes within two periods,
    well inside the TTL (five). A beat is sent while holding the lock, so once :meth:`remove`
    returns no beat of that attempt is under way (a beat after the finish would read as a
    takeover).
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._beats: list[_Beat] = []
        self._period: float | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0

    def add(self, journal: Journal, job: StackJob, attempt: int, every: float) -> _Beat:
        """Beat ``attempt`` of ``job`` every ``every`` seconds until :meth:`remove`."""
        beat = _Beat(journal, job, attempt, every, time.monotonic() + every)
        with self._changed:
            if self._thread is None or self._pid != os.getpid():  # none yet, or a forked child
                self._thread = threading.Thread(target=self._run, name="heartbeats", daemon=True)
                self._pid = os.getpid()
                self._thread.start()
            self._beats.append(beat)
            if self._period is None or every < self._period:
                self._period = every
                self._changed.notify()
        return beat

    def remove(self, beat: _Beat) -> None:
        """Stop beating ``beat``'s attempt (no beat of it runs once this returns)."""
        with self._changed:
            if beat in self._beats:
                self._beats.remove(beat)

    def _run(self) -> None:
        with self._changed:
            while True:
                self._changed.wait(self._period)
                now = time.monotonic()
                for beat in [beat for beat in self._beats if beat.due <= now]:
                    beat.due = now + beat.every
                    if not _beat(beat.journal, beat.job, beat.attempt):
                        self._beats.remove(beat)  # taken over: nothing more to beat


_heartbeats = _Heartbeats()


def _beat(journal: Journal, job: StackJob, attempt: int) -> bool:
    """One heartbeat; False once the attempt was taken over by another worker."""
    try:
        if not journal.heartbeat_attempt(job.rollout_id, job.stack, attempt):
            log.warning("stack %s: attempt %d was taken over by another worker", job.stack, attempt)
            metrics.attempt_taken_over()
            return False
    except FleetError as error:  # the journal is unreachable for a moment: keep trying
        log.warning("stack %s: heartbeat failed: %s", job.stack, error.message)
    return True


def run_message(message: str) -> dict[str, Any]:
    """The task body: decode a job message, run it with this process's settings, return the result.

    An undecodable message is an ``error`` result (its key is unknown: the submitter's own id for
    the submission tells which job it was).
    """
    try:
        job = StackJob.from_json(message)
    except JobError as error:
        return {"schema": SCHEMA_VERSION, "state": JobState.error.value, "info": {"error": str(error)}}
    return run_job(job, process_settings()).to_json()


def process_settings() -> Settings:
    """This process's settings, parsed again only when its ``FLEET_*`` environment changed: a
    worker runs thousands of jobs, and parsing the environment cost more than claiming a stack."""
    environment = tuple(sorted((k, v) for k, v in os.environ.items() if k.upper().startswith("FLEET_")))
    return _settings_of(environment)


@functools.lru_cache(maxsize=4)
def _settings_of(environment: tuple[tuple[str, str], ...]) -> Settings:
    return Settings.from_environment()  # ``environment`` is the cache's key: what this reads
