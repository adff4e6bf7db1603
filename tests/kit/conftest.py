"""The building blocks' tests run them under Pulumi's mock runtime (tests/support/pulumi_harness.py)."""

from pulumi_harness import _no_work_left_behind, credentials, inventory_stack, pulumi_runtime, render

__all__ = ["_no_work_left_behind", "credentials", "inventory_stack", "pulumi_runtime", "render"]
