"""Benchmark: does a stack's render cost stay flat as the fleet grows?

Generates inventories of 10 and 100 workloads in a temporary directory, renders every stack of
each (the control room's passwords are generated once, then reused from the render state as in
any later render), and prints the time per stack at both sizes and their ratio. The target is a
ratio of at most 1.2: a workload's render must not do work proportional to the fleet.

    .venv/bin/python bench/render.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from fleet.engines.render import render_all
from fleet.inventory.loader import load_inventory

FLEET = """\
apiVersion: fleet/v1
kind: Fleet
name: bench
spec:
  control_room:
    cloud: aws
    region: us-east-1
    account_id: "123456789012"
    domain: ctrl.bench.example
  versions: {alloy: "1.4.0", mimir: "6.0.0", loki: "6.46.0", grafana: "10.1.4"}
"""
AWS = '  cloud: aws\n  region: eu-west-1\n  account_id: "210987654321"\n'
AZURE = (
    "  cloud: azure\n  region: westeurope\n"
    '  subscription_id: "0b5e9f43-7c2a-4d8e-9a61-3f2d8c4b1e07"\n'
    '  tenant_id: "6c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"\n'
)


def make_inventory(root: Path, count: int) -> Path:
    (root / "workloads").mkdir(parents=True)
    (root / "fleet.yaml").write_text(FLEET, encoding="utf-8")
    for index in range(count):
        name = f"workload-{index:03d}"
        account = AZURE if index % 4 == 3 else AWS
        (root / "workloads" / f"{name}.yaml").write_text(
            f"apiVersion: fleet/v1\nkind: Workload\nname: {name}\nspec:\n{account}"
            f"  alloy: {{namespaces: [app-{index}]}}\n",
            encoding="utf-8",
        )
    return root


def per_stack_seconds(base: Path, count: int) -> float:
    """Seconds per stack for a steady-state render of an inventory with ``count`` workloads."""
    inventory = load_inventory(make_inventory(base / f"inventory-{count}", count))
    out = base / f"render-{count}"
    render_all(inventory, None, out)  # first render: generates and hashes the passwords
    started = time.perf_counter()
    paths = render_all(inventory, None, out)
    elapsed = time.perf_counter() - started
    return elapsed / len(paths)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
        base = Path(tmp)
        per_stack_seconds(base / "warmup", 2)  # imports and first-use costs out of the numbers
        small = per_stack_seconds(base, 10)
        large = per_stack_seconds(base, 100)
    print(f"per-stack render time,  10 workloads: {small * 1000:7.1f} ms")
    print(f"per-stack render time, 100 workloads: {large * 1000:7.1f} ms")
    print(f"ratio (100 / 10): {large / small:.2f} (target <= 1.2)")


if __name__ == "__main__":
    main()
