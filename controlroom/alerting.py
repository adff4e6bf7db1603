"""The control room's alerting: the central Mimir's ruler and Alertmanager, switched on and fed
from files the stack ships, never from Mimir's API.

- The rule groups (``kit.alerting.catalogue``) are one ConfigMap, mounted in every ruler at
  ``RULES_DIR/<owner tenant>/``: Mimir's ``local`` rule store reads ``<directory>/<tenant>/<file>``
  (one file a rule namespace) with the rule-file parser that knows ``source_tenants``, and every
  ruler sees the same files, which is what local storage needs to shard.
- The Alertmanager configuration is a second ConfigMap, mounted at ``ALERTMANAGER_DIR`` as
  ``<owner tenant>.yaml``: the ``local`` Alertmanager store, read-only. Not the fallback
  configuration: Mimir copies the fallback into its store the first time a tenant is used and
  never replaces it, so a later change of ``spec.alerting`` would never apply. The price of
  ``local``: Alertmanager's state (silences, notification log) is not written to object storage;
  it is replicated between the Alertmanager replicas, and lost only when all restart at once.
- The receivers' secrets are files in one projected volume (``kit.alerting.alertmanager``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from fleet.inventory.models import Alerting
from kit.alerting import mimir
from kit.alerting.alertmanager import alertmanager_yaml, environment_secrets
from kit.alerting.catalogue import OWNER_TENANT, controlroom_rule_groups
from kit.alerting.rules import rule_files as group_files

RULES_CONFIGMAP = "fleet-rules"
"""The ConfigMap of the control room's rule files, one key a rule namespace."""
ALERTMANAGER_CONFIGMAP = "fleet-alertmanager"
"""The ConfigMap holding the owner tenant's Alertmanager configuration."""


def rule_files(workloads: Sequence[str], alerting: Alerting) -> dict[str, str]:
    """The control room's rule files by file name (``<group>.yaml``), each a Mimir rule namespace."""
    return group_files(controlroom_rule_groups(workloads, alerting.thresholds))


def ruler_alertmanager_values(alerting: Alerting) -> dict[str, Any]:
    """The mimir-distributed values that run the ruler on the shipped rules and the Alertmanager
    on the shipped configuration (merged into the central Mimir's values); the stores are
    :func:`kit.alerting.mimir.shipped_stores`."""
    values = mimir.ruler_alertmanager_values(
        alerting,
        tenant=OWNER_TENANT,
        rules_configmap=RULES_CONFIGMAP,
        alertmanager_configmap=ALERTMANAGER_CONFIGMAP,
    )
    # Federated rule groups (source_tenants) need both switches.
    values["mimir"] = {"structuredConfig": {"ruler": {"tenant_federation": {"enabled": True}}}}
    return values


@dataclass(frozen=True)
class AlertingArgs:
    alerting: Alerting
    workloads: Sequence[str]
    namespace: pulumi.Input[str]
    """The central Mimir's namespace: the ConfigMaps and the receivers' Secret live beside it."""
    environ: Mapping[str, str] | None = None
    """Where ``env:`` secret references are read; default: this process's environment."""


class ControlRoomAlerting(pulumi.ComponentResource):
    """The rule files, the Alertmanager configuration and the receivers' secrets."""

    resources: list[pulumi.Resource]
    """What the central Mimir must wait for."""

    def __init__(self, name: str, args: AlertingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleet:controlroom:Alerting", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.resources = [
            mimir.shipped_config_map(
                f"{name}-rules",
                RULES_CONFIGMAP,
                args.namespace,
                rule_files(args.workloads, args.alerting),
                child,
            ),
            mimir.shipped_config_map(
                f"{name}-alertmanager",
                ALERTMANAGER_CONFIGMAP,
                args.namespace,
                {f"{OWNER_TENANT}.yaml": alertmanager_yaml(args.alerting)},
                child,
            ),
        ]
        values = environment_secrets(args.alerting, os.environ if args.environ is None else args.environ)
        if values:
            self.resources.append(mimir.receivers_secret(f"{name}-receivers", args.namespace, values, child))
        self.register_outputs({})
