"""Benchmark: does a stack's render cost stay flat as the fleet grows, and do renders use every core?

Generates inventories of N workloads (10 and 100 by default) in a temporary directory and renders
every stack of each (the control room's passwords are generated once, then reused from the render
state as in any later render), one process (``jobs=1``, the baseline) and then every core
(``--jobs``, default the core count). Prints the wall and CPU time per stack (the CPU of every
process the render used: on a shared machine the wall time says how busy the cores were, the CPU
time what the render cost), the ratio of the largest size to the smallest (target <= 1.2: a
workload's render must not do work proportional to the fleet), the speed-up of the pool over one
process at each size, and the speed-up the pool would reach on idle cores (jobs x CPU one / CPU
pool).

    .venv/bin/python bench/render.py
    .venv/bin/python bench/render.py -n 10 -n 1000 --jobs 2
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import threading
import time
from pathlib import Path

import benchfleet

from fleet.engines.parallel import default_jobs
from fleet.engines.render import RenderEngine
from fleet.inventory.loader import load_inventory


def make_inventory(root: Path, count: int) -> Path:
    (root / "workloads").mkdir(parents=True)
    (root / "fleet.yaml").write_text(benchfleet.FLEET, encoding="utf-8")
    for index in range(count):
        name = f"workload-{index:04d}"
        account = benchfleet.account(index)
        (root / "workloads" / f"{name}.yaml").write_text(
            f"apiVersion: fleet/v1\nkind: Workload\nname: {name}\nspec:\n{account}"
            f"  alloy: {{namespaces: [app-{index}]}}\n",
            encoding="utf-8",
        )
    return root


_TICK = os.sysconf("SC_CLK_TCK")


def _descendants_cpu(pid: int) -> dict[int, float]:
    """CPU seconds so far of every live descendant of ``pid`` (the pool's processes are children
    of a forkserver, not of this process, so ``RUSAGE_CHILDREN`` does not see them)."""
    found: dict[int, float] = {}
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            children = [int(c) for c in Path(f"/proc/{parent}/task/{parent}/children").read_text().split()]
        except OSError:
            continue
        for child in children:
            try:
                fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            found[child] = (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime
            todo.append(child)
    return found


class CpuMeter:
    """CPU seconds of this process and of every process under it, sampled while it runs."""

    def __init__(self) -> None:
        self._seen: dict[int, float] = {}
        self._start = self._seen_now()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _seen_now(self) -> dict[int, float]:
        own = resource.getrusage(resource.RUSAGE_SELF)
        return {0: own.ru_utime + own.ru_stime, **_descendants_cpu(os.getpid())}

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self._seen.update(self._seen_now())

    def stop(self) -> float:
        """CPU seconds spent since the meter started."""
        self._stop.set()
        self._thread.join()
        self._seen.update(self._seen_now())
        return sum(cpu - self._start.get(pid, 0.0) for pid, cpu in self._seen.items())


def per_stack_seconds(base: Path, count: int, jobs: int) -> tuple[float, float]:
    """Wall and CPU seconds per stack for a steady-state render of an inventory with ``count``
    workloads (the CPU of every process the render used, the pool's included)."""
    root = base / f"inventory-{count}"
    inventory = load_inventory(root if root.exists() else make_inventory(root, count))
    out = base / f"render-{count}"
    RenderEngine(out, jobs=1).render_many(inventory, ["controlroom"])  # generates the passwords once
    started, meter = time.perf_counter(), CpuMeter()
    paths = RenderEngine(out, jobs=jobs).render_many(inventory)
    wall, cpu = time.perf_counter() - started, meter.stop()
    return wall / len(paths), cpu / len(paths)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", "--workloads", type=int, action="append", help="fleet sizes (repeatable)")
    parser.add_argument("-j", "--jobs", type=int, default=default_jobs(), help="processes for the pool")
    args = parser.parse_args()
    sizes = sorted(args.workloads or [10, 100])
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; pool of {args.jobs}")
    serial: dict[int, tuple[float, float]] = {}
    pooled: dict[int, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
        base = Path(tmp)
        per_stack_seconds(base / "warmup", 2, 1)  # imports and first-use costs out of the numbers
        for size in sizes:
            serial[size] = per_stack_seconds(base, size, 1)
            pooled[size] = per_stack_seconds(base, size, args.jobs)
            (wall_1, cpu_1), (wall_n, cpu_n) = serial[size], pooled[size]
            print(
                f"{size:5d} workloads, per stack: one process {wall_1 * 1000:6.0f} ms wall "
                f"{cpu_1 * 1000:6.0f} ms CPU; {args.jobs} processes {wall_n * 1000:6.0f} ms wall "
                f"{cpu_n * 1000:6.0f} ms CPU; speed-up {wall_1 / wall_n:.2f}, "
                f"CPU pool/one {cpu_n / cpu_1:.2f}"
            )
    small, large = sizes[0], sizes[-1]
    one, pool = serial[large][1] / serial[small][1], pooled[large][1] / pooled[small][1]
    print(
        f"ratio ({large} / {small}) of the CPU per stack: one process {one:.2f}, "
        f"{args.jobs} processes {pool:.2f} (target <= 1.2)"
    )
    reach = args.jobs * serial[large][1] / pooled[large][1]
    print(
        f"the speed-up {args.jobs} processes reach at {large} workloads with {args.jobs} idle cores: "
        f"{args.jobs} x CPU one / CPU pool = {reach:.2f}"
    )


if __name__ == "__main__":
    main()
