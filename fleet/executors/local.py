"""LocalExecutor: a pool of worker processes on this machine; the default when no broker is set.

Each worker runs one stack at a time, outside the terminal's process group (Ctrl-C lets its
stack finish), and is forked from fleet's forkserver (:mod:`fleet.forkserver`), which imported
the worker code once: Pulumi's runtime keeps per-process state and gRPC does not survive
``fork``, so no worker is forked from a process that ran either, and a pool of 16 starts in
well under a second instead of 16 interpreters importing it all again. A worker takes this
process's environment when it starts, as a spawned one would. A worker whose CLI was killed
finishes its stack, starts no other and exits. A worker that dies (killed, out of memory) breaks
the pool; its jobs come back as ``error`` events and the next submission starts a new pool. The
journal then tells the coordinator which of those stacks really ran.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from multiprocessing import parent_process
from multiprocessing.connection import wait
from typing import Any

from fleet.executors.base import ExecutorEvent
from fleet.executors.jobs import JobKey, JobState, StackJob
from fleet.executors.worker import run_message
from fleet.forkserver import forkserver_context, start_forkserver
from fleet.logs import configure_logging

Runner = Callable[[str], dict[str, Any]]

_PRELOAD = ["fleet.executors.local", "fleet.executors.worker", "fleet.schedule.windows", "prometheus_client"]
"""What the forkserver imports once: a job's path from the pool's call to the journal, with what
it imports on first use (the inventory's window schedules, the metrics library)."""


class LocalExecutor:
    """Runs jobs in ``workers`` worker processes (0: one per CPU core)."""

    name = "local"

    def __init__(self, workers: int = 0, *, runner: Runner = run_message) -> None:
        self.workers = workers or os.cpu_count() or 1
        self._runner = runner
        # A spawned worker starts with no logging set up: it logs like this process does.
        self._log_level = logging.getLogger("fleet").getEffectiveLevel()
        self._events: queue.SimpleQueue[ExecutorEvent] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        start_forkserver(_PRELOAD)  # its imports run while the coordinator reads the journal

    def submit(self, job: StackJob) -> None:
        """Queue ``job`` on the pool (starting a new pool if the last one broke)."""
        with self._lock:
            if self._pool is None:
                self._pool = self._new_pool()
            try:
                future = self._pool.submit(_run_job, self._runner, job.to_json())
            except BrokenProcessPool:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = self._new_pool()
                future = self._pool.submit(_run_job, self._runner, job.to_json())
        future.add_done_callback(partial(self._finished, job.key))

    def poll(self) -> list[ExecutorEvent]:
        """The events of every job that ended since the last call."""
        events = []
        while True:
            try:
                events.append(self._events.get_nowait())
            except queue.Empty:
                return events

    def shutdown(self) -> None:
        """Cancel queued jobs and wait for the workers to exit once their current stack is done.

        Waiting matters: a pool left to wind down on its own can still be closing its wake-up
        pipe when the interpreter's exit hook writes to it (a traceback at exit).
        """
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.workers,
            mp_context=forkserver_context(_PRELOAD),
            initializer=_start_worker,
            # The forkserver's environment is the one this process had when the server started.
            initargs=(self._log_level, dict(os.environ)),
        )

    def _finished(self, key: JobKey, future: Future[dict[str, Any]]) -> None:
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            detail = "worker process died" if isinstance(error, BrokenProcessPool) else repr(error)
            self._events.put(ExecutorEvent(key, JobState.error, {"error": detail}))
            return
        result = future.result()
        self._events.put(ExecutorEvent(key, JobState(result["state"]), dict(result.get("info") or {})))


def _start_worker(log_level: int, environment: dict[str, str]) -> None:
    """A pool worker's start. Ctrl-C in a terminal reaches the whole foreground process group; the
    CLI answers it by starting nothing new and waiting for the running stacks (``shutdown``), so a
    worker must finish (and record) the stack it runs instead of dying mid-way. It leaves the
    terminal's process group, so neither it nor the ``pulumi`` it runs (which would cancel its
    update on SIGINT) receives Ctrl-C, and ignores SIGINT should one be sent to it alone."""
    os.setpgrp()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.clear()
    os.environ.update(environment)
    configure_logging(log_level)
    threading.Thread(target=_exit_when_orphaned, daemon=True).start()


_job_lock = threading.Lock()
"""Held by a worker while it runs a job."""


def _run_job(runner: Runner, message: str) -> dict[str, Any]:
    with _job_lock:
        if _orphaned():  # a job queued before the CLI was killed: nobody waits for it, nor drives it
            os._exit(0)
        return runner(message)


def _orphaned() -> bool:
    """Whether the process that started this worker (the CLI) is gone."""
    parent = parent_process()
    return parent is not None and bool(wait([parent.sentinel], timeout=0))


def _exit_when_orphaned() -> None:
    """Exit once the process that started this worker is gone and no job runs here.

    A pool's workers wait for work on a pipe their siblings also hold open, so they would never
    see the end of a CLI killed outright (``kill -9``): each would finish its stack (as it must)
    and then wait forever. The CLI holds the other end of a pipe to each worker, which the kernel
    closes when the CLI dies, even before the worker started (``parent_process().sentinel``).
    Taking the job lock before exiting means no job is cut short.
    """
    parent = parent_process()
    if parent is None:
        return
    wait([parent.sentinel])
    _job_lock.acquire()
    os._exit(0)
