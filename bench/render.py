"""Benchmark: does a stack's render cost stay flat as the fleet grows, and do renders use every core?

Generates inventories of N workloads (10 and 100 by default) in a temporary directory and renders
every stack of each (the control room's passwords are generated once, then reused from the render
state as in any later render), one process (``jobs=1``, the baseline) and then every core
(``--jobs``, default the core count). Prints the time per stack, the ratio of the largest size to
the smallest (target <= 1.2: a workload's render must not do work proportional to the fleet) and
the speed-up of the pool over one process at each size.

    .venv/bin/python bench/render.py
    .venv/bin/python bench/render.py -n 10 -n 1000 --jobs 2
"""

from __future__ import annotations

import argparse
import os
import tempfile
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


def per_stack_seconds(base: Path, count: int, jobs: int) -> float:
    """Seconds per stack for a steady-state render of an inventory with ``count`` workloads."""
    root = base / f"inventory-{count}"
    inventory = load_inventory(root if root.exists() else make_inventory(root, count))
    out = base / f"render-{count}"
    RenderEngine(out, jobs=1).render_many(inventory, ["controlroom"])  # generates the passwords once
    started = time.perf_counter()
    paths = RenderEngine(out, jobs=jobs).render_many(inventory)
    return (time.perf_counter() - started) / len(paths)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", "--workloads", type=int, action="append", help="fleet sizes (repeatable)")
    parser.add_argument("-j", "--jobs", type=int, default=default_jobs(), help="processes for the pool")
    args = parser.parse_args()
    sizes = sorted(args.workloads or [10, 100])
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; pool of {args.jobs}")
    serial: dict[int, float] = {}
    pooled: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
        base = Path(tmp)
        per_stack_seconds(base / "warmup", 2, 1)  # imports and first-use costs out of the numbers
        for size in sizes:
            serial[size] = per_stack_seconds(base, size, 1)
            pooled[size] = per_stack_seconds(base, size, args.jobs)
            print(
                f"{size:5d} workloads: {serial[size] * 1000:7.1f} ms per stack in one process, "
                f"{pooled[size] * 1000:7.1f} ms with {args.jobs}: speed-up {serial[size] / pooled[size]:.2f}"
            )
    small, large = sizes[0], sizes[-1]
    print(f"ratio ({large} / {small}), one process: {serial[large] / serial[small]:.2f} (target <= 1.2)")


if __name__ == "__main__":
    main()
