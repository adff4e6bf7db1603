"""Small inventories written into a test's directory."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

MINIMAL_FLEET = """\
apiVersion: fleet/v1
kind: Fleet
name: acme
spec:
  control_room:
    cloud: aws
    region: us-east-1
    account_id: "123456789012"
    domain: ctrl.acme.example
  versions: {alloy: "1.4.0", mimir: "6.0.6", loki: "6.46.0", grafana: "10.1.4"}
"""


def write_inventory(root: Path, workloads: Iterable[str]) -> Path:
    """A control room on AWS and one AWS workload per name; replaces any workloads already there."""
    (root / "workloads").mkdir(parents=True, exist_ok=True)
    (root / "fleet.yaml").write_text(MINIMAL_FLEET, encoding="utf-8")
    for path in (root / "workloads").glob("*.yaml"):
        path.unlink()
    for name in workloads:
        (root / "workloads" / f"{name}.yaml").write_text(
            f"apiVersion: fleet/v1\nkind: Workload\nname: {name}\nspec:\n"
            '  cloud: aws\n  region: eu-west-1\n  account_id: "210987654321"\n',
            encoding="utf-8",
        )
    return root
