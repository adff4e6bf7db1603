"""Inventory benchmark: `fleet validate`, `fleet workload list` and `fleet --help` at fleet sizes.

Generates inventories of N workloads (realistic files: labels, a cluster, pins, settings, a mix of
AWS and Azure) and times the real `fleet` command on each, best of a few runs, as a user runs it
(a new process each time). Targets: ``fleet validate`` and ``fleet workload list`` within 0.5 s for
1000 workloads and 5 s for 10,000; ``fleet --help`` within 0.2 s.

The machine may be shared, so every figure is also printed as a ratio against baselines measured
in the same run: the interpreter's own start (``python -c pass``), and the floor of the job: a
process that imports yaml and pydantic and parses every file with libyaml.

    .venv/bin/python bench/inventory.py                 # 1000 and 10,000 workloads
    .venv/bin/python bench/inventory.py -n 200 -n 1000  # a quick look
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchfleet

FLEET = (
    benchfleet.FLEET
    + '  rollout: {canary: 1, wave_size: "25%", max_parallel: 16, failure_budget: 0, bake_time: "0s"}\n'
)
REST = """\
  environment: {environment}
  labels: {{team: team-{team}, ring: {ring}}}
  cluster: {{kubeconfig: ~/.kube/{name}.yaml, context: {name}}}
  versions: {{loki: "6.30.1"}}
  mimir: {{replicas: 2, retention: 30d}}
  loki: {{replicas: 1, retention: 7d}}
  grafana: {{hostname: grafana.{name}.bench.example}}
  alloy: {{namespaces: [app-{team}, ingress], system_logs: true}}
"""
ENVIRONMENTS = ("production", "staging", "development")

FLOOR = """
import sys, pathlib, yaml, pydantic
loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
for path in sorted(pathlib.Path(sys.argv[1], "workloads").glob("*.yaml")):
    yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
"""


def make_inventory(root: Path, count: int) -> Path:
    """An inventory of ``count`` workloads under ``root``; returns ``root``."""
    (root / "workloads").mkdir(parents=True)
    (root / "fleet.yaml").write_text(FLEET, encoding="utf-8")
    for index in range(count):
        name = f"workload-{index:05d}"
        account = benchfleet.account(index)
        rest = REST.format(
            name=name,
            environment=ENVIRONMENTS[index % 3],
            team=index % 17,
            ring="canary" if index % 50 == 0 else "main",
        )
        text = f"# bench workload {index}\napiVersion: fleet/v1\nkind: Workload\nname: {name}\nspec:\n"
        (root / "workloads" / f"{name}.yaml").write_text(text + account + rest, encoding="utf-8")
    return root


def best_of(command: list[str], runs: int) -> tuple[float, float]:
    """The fastest wall time and CPU time (user + system) of ``runs`` runs of ``command``."""
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return min(walls), min(cpus)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", "--workloads", type=int, action="append", help="fleet sizes (repeatable)")
    parser.add_argument("-r", "--runs", type=int, default=3, help="runs per figure (the best counts)")
    args = parser.parse_args()
    sizes = args.workloads or [1000, 10_000]
    python = sys.executable
    fleet = str(Path(python).with_name("fleet"))
    targets = {1000: 0.5, 10_000: 5.0}
    failed = False

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: wall times suffer")
    interpreter, interpreter_cpu = best_of([python, "-c", "pass"], args.runs)
    help_time, help_cpu = best_of([fleet, "--help"], args.runs)
    print(f"{'':34s}{'wall':>8s} {'cpu':>8s}")
    print(f"{'python -c pass (baseline)':34s}{interpreter:8.3f} {interpreter_cpu:8.3f} s")
    failed |= help_time > 0.2
    print(
        f"{'fleet --help':34s}{help_time:8.3f} {help_cpu:8.3f} s   "
        f"{help_time / interpreter:4.1f}x python start   {_verdict(help_time, 0.2)}"
    )
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
        for size in sizes:
            root = make_inventory(Path(tmp) / f"inventory-{size}", size)
            floor, floor_cpu = best_of([python, "-c", FLOOR, str(root)], args.runs)
            target = targets.get(size, 0.5 * size / 1000)
            print(f"\n{size} workloads (target {target:g} s)")
            print(f"  {'floor: libyaml parse of each file':32s}{floor:8.3f} {floor_cpu:8.3f} s")
            for label, command in (
                ("fleet validate", [fleet, "-i", str(root), "validate"]),
                ("fleet workload list", [fleet, "-i", str(root), "workload", "list"]),
                ("fleet workload list -o json", [fleet, "-i", str(root), "workload", "list", "-o", "json"]),
            ):
                seconds, cpu = best_of(command, args.runs)
                failed |= seconds > target
                print(
                    f"  {label:32s}{seconds:8.3f} {cpu:8.3f} s   {seconds / floor:4.2f}x floor   "
                    f"{_verdict(seconds, target)}"
                )
    return 1 if failed else 0


def _verdict(seconds: float, target: float) -> str:
    return f"{seconds / target:4.2f} of the target: {'ok' if seconds <= target else 'OVER'}"


if __name__ == "__main__":
    sys.exit(main())
