"""Rendering many workloads at once: one "render one stack" job per workload, on every core.

A workload's render costs about 0.4 s of CPU and needs nothing from another workload's, only the
control room's render state, so once the control room is rendered the workloads are independent
jobs. Each process receives the inventory and the control room's state once, when it starts, and
then renders one stack per job with the same code a serial render runs
(:meth:`fleet.engines.render.RenderEngine.render_stack`). Plans come back as values; a stack that
cannot be rendered comes back as its one-line error.

The processes are forked from a ``forkserver`` that has imported the render code (Pulumi, the
programs, the mock runtime) and run nothing: Pulumi's runtime keeps per-process state and gRPC
does not survive ``fork`` once it runs, so no process is ever forked from one that rendered.
Started with ``spawn``, each process imported all of it again and paid for it in its first
render: about a second of CPU per process, a quarter of the pool's CPU at 100 workloads on
two processes. Small renders still stay serial (:func:`worth_a_pool`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.context import BaseContext
from typing import TYPE_CHECKING, Any

from fleet.errors import FleetError, OperationError
from fleet.forkserver import forkserver_context

if TYPE_CHECKING:
    from fleet.engines.render import Plan, RenderEngine
    from fleet.inventory.loader import Inventory

MIN_STACKS_PER_PROCESS = 4
"""A pool is worth its start-up when each process gets at least this many stacks."""


def default_jobs() -> int:
    """Every core this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


_PRELOAD = ["fleet.engines.render", "fleet.engines.mock_runtime", "controlroom.program", "workloads.program"]
"""What the forkserver imports once, so every render process starts with it."""


def pool_context() -> BaseContext:
    """How render processes start: forked from a forkserver that has imported the render code."""
    return forkserver_context(_PRELOAD)


def worth_a_pool(stacks: int, jobs: int) -> bool:
    """Whether ``stacks`` workloads should be rendered by ``jobs`` processes rather than here."""
    return jobs > 1 and stacks >= 2 * MIN_STACKS_PER_PROCESS


_engine: RenderEngine | None = None
_inventory: Inventory | None = None
_state: Any = None


def _start(engine: RenderEngine, inventory: Inventory, state: Any, log_level: int) -> None:
    from fleet.logs import configure_logging

    global _engine, _inventory, _state
    configure_logging(log_level)
    _engine, _inventory, _state = engine, inventory, state


def _render(stack: str) -> tuple[str, Plan | None, str | None]:
    assert _engine is not None and _inventory is not None
    try:
        return stack, _engine.render_stack(_inventory, stack, _state).plan, None
    except FleetError as error:
        return stack, None, error.message


def render_in_pool(
    engine: RenderEngine,
    inventory: Inventory,
    stacks: Sequence[str],
    state: Any,
    jobs: int,
    log_level: int,
) -> Iterator[tuple[str, Plan]]:
    """Render the workloads ``stacks`` in ``jobs`` processes; yields ``(stack, plan)`` as each
    finishes. Raises OperationError naming the first stack that could not be rendered (the
    others still running are cancelled)."""
    context = pool_context()
    workers = min(jobs, max(1, len(stacks) // MIN_STACKS_PER_PROCESS))
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start, initargs=(engine, inventory, state, log_level)
    ) as pool:
        futures: list[Future[tuple[str, Plan | None, str | None]]] = [
            pool.submit(_render, stack) for stack in stacks
        ]
        try:
            for future in as_completed(futures):
                try:
                    stack, plan, error = future.result()
                except BrokenProcessPool:
                    raise OperationError("a render process died (out of memory?); render again") from None
                if plan is None:
                    raise OperationError(error or f"{stack}: could not be rendered")
                yield stack, plan
        finally:
            for future in futures:
                future.cancel()


__all__ = ["default_jobs", "render_in_pool", "worth_a_pool"]
