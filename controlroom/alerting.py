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
import pulumi_kubernetes as k8s

from fleet.inventory.models import Alerting
from kit.alerting.alertmanager import (
    ENV_SECRET,
    alertmanager_yaml,
    environment_secrets,
    secrets_mount,
    secrets_volume,
)
from kit.alerting.catalogue import OWNER_TENANT, controlroom_rule_groups
from kit.alerting.rules import rule_file

RULES_CONFIGMAP = "fleet-rules"
"""The ConfigMap of the control room's rule files, one key a rule namespace."""
ALERTMANAGER_CONFIGMAP = "fleet-alertmanager"
"""The ConfigMap holding the owner tenant's Alertmanager configuration."""
RULES_DIR = "/etc/fleet/rules"
"""Mimir's ``ruler_storage.local.directory``; the rules sit in ``<dir>/<tenant>/``."""
ALERTMANAGER_DIR = "/etc/fleet/alertmanager"
"""Mimir's ``alertmanager_storage.local.path``; the configuration is ``<dir>/<tenant>.yaml``."""
_RULES_VOLUME = "fleet-rules"
_ALERTMANAGER_VOLUME = "fleet-alertmanager"


def rule_files(workloads: Sequence[str], alerting: Alerting) -> dict[str, str]:
    """The control room's rule files by file name (``<group>.yaml``), each a Mimir rule namespace."""
    groups = controlroom_rule_groups(workloads, alerting.thresholds)
    return {f"{group.name}.yaml": rule_file([group]) for group in groups}


def ruler_alertmanager_values(alerting: Alerting) -> dict[str, Any]:
    """The mimir-distributed values that run the ruler on the shipped rules and the Alertmanager
    on the shipped configuration (merged into the central Mimir's values)."""
    alertmanager_volumes: list[dict[str, Any]] = [
        {"name": _ALERTMANAGER_VOLUME, "configMap": {"name": ALERTMANAGER_CONFIGMAP}}
    ]
    alertmanager_mounts: list[dict[str, Any]] = [
        {"name": _ALERTMANAGER_VOLUME, "mountPath": ALERTMANAGER_DIR, "readOnly": True}
    ]
    secrets = secrets_volume(alerting)
    if secrets is not None:
        alertmanager_volumes.append(secrets)
        alertmanager_mounts.append(secrets_mount())
    return {
        "ruler": {
            "enabled": True,
            "extraVolumes": [{"name": _RULES_VOLUME, "configMap": {"name": RULES_CONFIGMAP}}],
            "extraVolumeMounts": [
                {"name": _RULES_VOLUME, "mountPath": f"{RULES_DIR}/{OWNER_TENANT}", "readOnly": True}
            ],
        },
        "alertmanager": {
            "enabled": True,
            "extraVolumes": alertmanager_volumes,
            "extraVolumeMounts": alertmanager_mounts,
        },
        "mimir": {
            "structuredConfig": {
                # Federated rule groups (source_tenants) need both switches.
                "ruler": {"tenant_federation": {"enabled": True}},
            }
        },
    }


def shipped_stores() -> dict[str, Any]:
    """Mimir's ``ruler_storage`` and ``alertmanager_storage``, whole: ``local``, on the mounted
    ConfigMaps (they replace the cloud stores, they are not merged into them)."""
    return {
        "ruler_storage": {"backend": "local", "local": {"directory": RULES_DIR}},
        "alertmanager_storage": {"backend": "local", "local": {"path": ALERTMANAGER_DIR}},
    }


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
        labels = {"app.kubernetes.io/managed-by": "fleet", "app.kubernetes.io/part-of": "fleet-alerting"}
        rules = k8s.core.v1.ConfigMap(
            f"{name}-rules",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=RULES_CONFIGMAP, namespace=args.namespace, labels=labels
            ),
            data=rule_files(args.workloads, args.alerting),
            opts=child,
        )
        config = k8s.core.v1.ConfigMap(
            f"{name}-alertmanager",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=ALERTMANAGER_CONFIGMAP, namespace=args.namespace, labels=labels
            ),
            data={f"{OWNER_TENANT}.yaml": alertmanager_yaml(args.alerting)},
            opts=child,
        )
        self.resources = [rules, config]
        values = environment_secrets(args.alerting, os.environ if args.environ is None else args.environ)
        if values:
            secret = k8s.core.v1.Secret(
                f"{name}-receivers",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=ENV_SECRET, namespace=args.namespace, labels=labels),
                type="Opaque",
                string_data={key: pulumi.Output.secret(value) for key, value in values.items()},
                opts=child,
            )
            self.resources.append(secret)
        self.register_outputs({})
