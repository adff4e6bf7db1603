"""Inventories for tests: copies of the example inventory, and small ones written into a test's
directory."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

EXAMPLE_INVENTORY = Path(__file__).resolve().parents[2] / "examples" / "inventory"
"""The example inventory the README runs (never written to by a test: copy it)."""


def copy_example(target: Path) -> Path:
    """A copy of the example inventory at ``target``, without its ``.fleet`` state directory (which
    ``make demo`` leaves behind: a test never depends on what the demo did)."""
    shutil.copytree(EXAMPLE_INVENTORY, target, ignore=shutil.ignore_patterns(".fleet"))
    return target


def example_fingerprint() -> dict[str, tuple[int, int]]:
    """Every file under the example inventory, the demo's ``.fleet`` included, with its size and
    modification time: what a test must leave as it found it."""
    return {
        str(path.relative_to(EXAMPLE_INVENTORY)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted(EXAMPLE_INVENTORY.rglob("*"))
        if path.is_file()
    }


VERSIONS = {"alloy": "1.4.0", "mimir": "6.0.0", "loki": "6.46.0", "grafana": "10.1.4"}
"""The version set of the test inventories (the example inventory's)."""

AWS_ROOM = """\
    cloud: aws
    region: us-east-1
    account_id: "123456789012"
"""
AZURE_ROOM = """\
    cloud: azure
    region: westeurope
    subscription_id: "0b5e9f43-7c2a-4d8e-9a61-3f2d8c4b1e07"
    tenant_id: "6c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
"""
AWS_WORKLOAD = '  cloud: aws\n  region: eu-west-1\n  account_id: "210987654321"\n'


def fleet_yaml(room: str = AWS_ROOM, *, room_extra: str = "", spec_extra: str = "") -> str:
    """A ``fleet.yaml`` for fleet ``acme``: the control room's ``room`` fields (and ``room_extra``,
    indented by four), the test version set, and ``spec_extra`` (indented by two)."""
    versions = ", ".join(f'{component}: "{version}"' for component, version in VERSIONS.items())
    return (
        "apiVersion: fleet/v1\nkind: Fleet\nname: acme\nspec:\n  control_room:\n"
        + room
        + "    domain: ctrl.acme.example\n"
        + room_extra
        + spec_extra
        + f"  versions: {{{versions}}}\n"
    )


def workload_yaml(name: str, spec: str = AWS_WORKLOAD) -> str:
    """A workload file for ``name`` with ``spec``'s fields (indented by two)."""
    return f"apiVersion: fleet/v1\nkind: Workload\nname: {name}\nspec:\n{spec}"


def write_inventory(root: Path, workloads: Iterable[str], *, fleet: str | None = None) -> Path:
    """``fleet`` (default: a control room on AWS) and one AWS workload per name; replaces any
    workloads already there."""
    (root / "workloads").mkdir(parents=True, exist_ok=True)
    (root / "fleet.yaml").write_text(fleet if fleet is not None else fleet_yaml(), encoding="utf-8")
    for path in (root / "workloads").glob("*.yaml"):
        path.unlink()
    for name in workloads:
        (root / "workloads" / f"{name}.yaml").write_text(workload_yaml(name), encoding="utf-8")
    return root


README = EXAMPLE_INVENTORY.parents[1] / "README.md"
README_ALERTING_VARIABLES = ("PAGERDUTY_ROUTING_KEY", "SMTP_PASSWORD")
"""The environment variables the README's alerting example reads."""


def with_readme_alerting(root: Path) -> Path:
    """Give the inventory at ``root`` the ``spec.alerting`` of the README's "Alerting and
    dashboards" example, as written there (its receivers read README_ALERTING_VARIABLES and the
    Secret ``alertmanager-slack``)."""
    import yaml

    section = README.read_text(encoding="utf-8").split("## Alerting and dashboards", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    alerting = yaml.safe_load(block)["spec"]["alerting"]
    path = root / "fleet.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["spec"]["alerting"] = alerting
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return root
