"""The generated inventories the benchmarks share: the control room's ``fleet.yaml`` and each
workload's cloud account (every fourth workload on Azure, the rest on AWS)."""

from __future__ import annotations

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


def account(index: int) -> str:
    """The ``spec`` lines of workload ``index``'s cloud account."""
    return AZURE if index % 4 == 3 else AWS
