"""The forkserver that fleet's process pools start their processes from.

A process started with ``spawn`` is a fresh interpreter that imports everything it runs again:
most of a second of CPU for fleet's worker code. A ``forkserver`` is one such interpreter,
started once per process, that imports the modules it is asked to preload and then runs
nothing: each pool process is forked from it, starting in milliseconds with those modules
imported. Forking from it is safe where forking from the CLI is not, since Pulumi's runtime
keeps per-process state and gRPC does not survive ``fork`` once it runs; the forkserver never
runs either.

Python starts one forkserver per process, reading its preload list once, when it starts: so
every pool asks for its modules here, and the forkserver preloads what all of them asked for
before it started (a pool that asks later gets its modules imported by each of its processes,
as ``spawn`` would). A forked process inherits the forkserver's environment, not the one its
pool's owner has now: pools pass what their processes need explicitly.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when a pool starts: the CLI imports this module for `preload`
    from multiprocessing.context import BaseContext

_preload: set[str] = set()


def preload(modules: Iterable[str]) -> None:
    """Have the forkserver import ``modules`` too, if it has not started yet.

    The CLI asks for its own entry module: multiprocessing runs a script's main module again in
    every process it starts (as ``__mp_main__``), and that costs nothing once it is imported
    (a preload of ``__main__`` itself is not honoured by Python 3.11's forkserver).
    """
    _preload.update(modules)


def forkserver_context(modules: Iterable[str]) -> BaseContext:
    """The ``forkserver`` start method, its server preloading ``modules`` (if not started yet)."""
    import multiprocessing

    preload(modules)
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(sorted(_preload))
    return context


def start_forkserver(modules: Iterable[str]) -> None:
    """Start the forkserver now, without waiting for its imports: they run while this process
    goes on, and the first process a pool starts waits for them only if they are not done.

    Started from the main thread, the server ignores Ctrl-C from its first instruction, and so
    do the processes forked from it: Python's forkserver ignores it only once its imports are
    done, and a Ctrl-C during them killed it with a traceback (a terminal sends Ctrl-C to the
    whole foreground process group; the CLI decides what it means).
    """
    import signal
    import threading
    from multiprocessing import forkserver

    forkserver_context(modules)
    if threading.current_thread() is not threading.main_thread():
        forkserver.ensure_running()
        return
    # An ignored signal stays ignored across exec, and Python then leaves it so.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGINT, previous)
