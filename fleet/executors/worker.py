"""Running one job: the plain function every executor calls in its worker process.

:func:`run_job` decodes nothing and knows no executor: it claims the stack in the journal
(exactly-once: a stack that already succeeded in this rollout is not run again, one that another
live worker runs is left alone), runs the engine while heart-beating the attempt, records the
outcome and returns a small :class:`~fleet.executors.jobs.JobResult`. Transient engine failures (someone
holds the Pulumi stack lock, a network blip) are retried here with backoff; program errors are
not. Nothing raises out of it: a broken job comes back as a ``error`` result.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from fleet import metrics
from fleet.engines import build_engine
from fleet.engines.base import StackEngine, StackOutcome
from fleet.errors import FleetError
from fleet.executors.jobs import SCHEMA_VERSION, JobError, JobResult, JobState, StackJob
from fleet.executors.output import OutputLog, environment_secrets
from fleet.inventory.loader import FLEET_FILE, Inventory, load_inventory, workload_files
from fleet.inventory.models import CONTROLROOM
from fleet.journal import Journal, Outcome
from fleet.journal.connect import journal_url
from fleet.kinds import Action, EngineKind
from fleet.rollout.fingerprint import fingerprint, fingerprint_hash
from fleet.rollout.offboard import without_offboarded
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


def load_job_inventory(root: Path) -> Inventory:
    """The inventory at ``root``, re-read only when one of its files changed.

    A worker runs many jobs of the same inventory, and parsing hundreds of workload files for
    each of them would cost more than the orchestration itself.
    """
    files = [root / FLEET_FILE, *workload_files(root)]
    stamps = tuple((str(path), *_stamp(path)) for path in files)
    cached = _inventories.get(root)
    if cached is None or cached[0] != stamps:
        cached = (stamps, load_inventory(root))
        _inventories[root] = cached
    return cached[1]


def _stamp(path: Path) -> tuple[int, int]:
    try:
        info = path.stat()
    except FileNotFoundError:
        return (0, -1)
    return (info.st_mtime_ns, info.st_size)


_inventories: dict[Path, tuple[tuple[tuple[str, int, int], ...], Inventory]] = {}


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
    stop = threading.Event()
    beat = threading.Thread(
        target=_heartbeat,
        args=(journal, job, claim.attempt, stop, settings.lock_ttl / 5),
        name=f"heartbeat-{job.stack}",
        daemon=True,
    )
    beat.start()
    versions: dict[str, Any] | None = None
    summary: dict[str, Any] = {}
    output = OutputLog(environment_secrets())
    try:
        inventory = load_job_inventory(Path(job.inventory))
        if job.stack == CONTROLROOM:  # an offboarding rolls the control room out without its workload
            inventory = without_offboarded(inventory, journal.rollout(job.rollout_id).policy)
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
        stop.set()
        beat.join()
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


def _heartbeat(journal: Journal, job: StackJob, attempt: int, stop: threading.Event, every: float) -> None:
    while not stop.wait(every):
        try:
            if not journal.heartbeat_attempt(job.rollout_id, job.stack, attempt):
                log.warning("stack %s: attempt %d was taken over by another worker", job.stack, attempt)
                metrics.attempt_taken_over()
                return
        except FleetError as error:  # the journal is unreachable for a moment: keep trying
            log.warning("stack %s: heartbeat failed: %s", job.stack, error.message)


def run_message(message: str) -> dict[str, Any]:
    """The task body: decode a job message, run it with this process's settings, return the result.

    An undecodable message is an ``error`` result (its key is unknown: the submitter's own id for
    the submission tells which job it was).
    """
    try:
        job = StackJob.from_json(message)
    except JobError as error:
        return {"schema": SCHEMA_VERSION, "state": JobState.error.value, "info": {"error": str(error)}}
    return run_job(job, Settings()).to_json()
