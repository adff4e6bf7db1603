"""A workload's local alerting (``spec.alerting.enabled`` in its file; off by default): its own
Mimir's ruler and Alertmanager, and its Loki's ruler, fed from files the stack ships, as the
control room's are (``controlroom.alerting`` says why local stores rather than the API or
Mimir's fallback configuration).

- The local Mimir runs single-tenant: every request, the ruler's and Loki's ruler's included, is
  Mimir's no-auth tenant (:data:`MIMIR_TENANT`). Its rule groups (``fleet-local``,
  ``fleet-local-kubernetes``) are one ConfigMap mounted in every ruler at
  ``RULES_DIR/<tenant>/``; the Alertmanager configuration another, mounted as
  ``ALERTMANAGER_DIR/<tenant>.yaml``. The chart points Mimir's ruler at its own Alertmanager.
- Loki (``spec.alerting.logs``, on by default) runs ``fleet-local-logs`` in its ruler, which the
  simple-scalable chart runs in the backend pods: a ConfigMap mounted at
  ``LOKI_RULES_DIR/<tenant>/`` (Loki's ``local`` rule store; its tenant without auth is
  :data:`LOKI_TENANT`). Its alerts go to the local Mimir's Alertmanager, found through the
  headless Service's SRV records, as Mimir's own ruler finds it; Mimir without multitenancy
  puts them in :data:`MIMIR_TENANT` whatever tenant header Loki sends, so one configuration
  routes both rulers' alerts.
- The receivers' secrets are files in one projected volume (``kit.alerting.alertmanager``), the
  values read from the environment copied into a Secret beside the Alertmanager.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from fleet.inventory.models import AlertThresholds, LocalAlerting
from kit.alerting import mimir
from kit.alerting.alertmanager import alertmanager_yaml, environment_secrets
from kit.alerting.catalogue import local_log_rule_groups, local_rule_groups
from kit.alerting.rules import rule_files as group_files

MIMIR_TENANT = "anonymous"
"""Mimir's ``no_auth_tenant`` (its default): with multitenancy off, every request is this tenant's."""
LOKI_TENANT = "fake"
"""The tenant Loki gives every request when ``auth_enabled`` is false."""
RULES_CONFIGMAP = "fleet-local-rules"
"""The local Mimir's rule files, one key a rule namespace (in Mimir's namespace)."""
ALERTMANAGER_CONFIGMAP = "fleet-local-alertmanager"
"""The Alertmanager configuration of :data:`MIMIR_TENANT` (in Mimir's namespace)."""
LOG_RULES_CONFIGMAP = "fleet-local-log-rules"
"""Loki's rule files (in Loki's namespace)."""
LOKI_RULES_DIR = "/etc/fleet/loki-rules"
"""Loki's ``ruler.storage.local.directory``."""
ALERTMANAGER_SERVICE = "mimir-alertmanager-headless"
"""The headless Service mimir-distributed renders for the Alertmanager (release ``mimir``)."""
_LOKI_RULES_VOLUME = "fleet-log-rules"


def rule_files(workload: str, thresholds: AlertThresholds, namespaces: Sequence[str]) -> dict[str, str]:
    """The local Mimir's rule files by file name (``<group>.yaml``), each a rule namespace."""
    return group_files(local_rule_groups(workload, thresholds, namespaces=namespaces))


def log_rule_files(
    thresholds: AlertThresholds, namespaces: Sequence[str], *, system_logs: bool
) -> dict[str, str]:
    """Loki's rule files by file name (``<group>.yaml``)."""
    return group_files(local_log_rule_groups(thresholds, namespaces=namespaces, system_logs=system_logs))


def alertmanager_url(mimir_namespace: str) -> str:
    """Where Loki's ruler sends alerts: the local Alertmanager's pods, by the SRV records of its
    headless Service's ``http-metrics`` port (with ``enable_alertmanager_discovery``)."""
    host = f"_http-metrics._tcp.{ALERTMANAGER_SERVICE}.{mimir_namespace}.svc.cluster.local"
    return f"http://{host}/alertmanager"


def mimir_alerting_values(alerting: LocalAlerting, replicas: int) -> dict[str, Any]:
    """mimir-distributed values that run the ruler on the shipped rules and the Alertmanager
    (``replicas`` of them) on the shipped configuration. The stores are
    :func:`kit.alerting.mimir.shipped_stores`."""
    return mimir.ruler_alertmanager_values(
        alerting,
        tenant=MIMIR_TENANT,
        rules_configmap=RULES_CONFIGMAP,
        alertmanager_configmap=ALERTMANAGER_CONFIGMAP,
        replicas=replicas,
    )


def loki_ruler_values(mimir_namespace: str) -> dict[str, Any]:
    """loki chart values that run Loki's ruler (in the backend pods) on the shipped log rules and
    send its alerts to the local Mimir's Alertmanager."""
    return {
        "loki": {
            "rulerConfig": {
                "storage": {"type": "local", "local": {"directory": LOKI_RULES_DIR}},
                "alertmanager_url": alertmanager_url(mimir_namespace),
                "enable_alertmanager_discovery": True,
                # Each group evaluated by one backend pod, not by every replica.
                "enable_sharding": True,
            }
        },
        "backend": {
            "extraVolumes": [{"name": _LOKI_RULES_VOLUME, "configMap": {"name": LOG_RULES_CONFIGMAP}}],
            "extraVolumeMounts": [
                {
                    "name": _LOKI_RULES_VOLUME,
                    "mountPath": f"{LOKI_RULES_DIR}/{LOKI_TENANT}",
                    "readOnly": True,
                }
            ],
        },
    }


@dataclass(frozen=True)
class LocalAlertingArgs:
    workload: str
    alerting: LocalAlerting
    thresholds: AlertThresholds
    """The workload's own thresholds, else the fleet's."""
    mimir_namespace: pulumi.Input[str]
    loki_namespace: pulumi.Input[str]
    pipeline_namespaces: Sequence[str]
    """The pipeline's own namespaces (Alloy, Mimir, Loki, Grafana): what the rules watch."""
    system_logs: bool
    """Whether Alloy collects the nodes' journal (the OOM-killer log rule reads it)."""
    environ: Mapping[str, str] | None = None
    """Where ``env:`` secret references are read; default: this process's environment."""


class WorkloadAlerting(pulumi.ComponentResource):
    """The rule files of the local Mimir and Loki, the Alertmanager configuration and the
    receivers' secrets."""

    resources: list[pulumi.Resource]
    """What the charts must wait for."""

    def __init__(
        self, name: str, args: LocalAlertingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("fleet:workload:Alerting", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        def config_map(suffix: str, namespace: pulumi.Input[str], cm: str, data: dict[str, str]) -> Any:
            return mimir.shipped_config_map(f"{name}-{suffix}", cm, namespace, data, child)

        namespaces = tuple(args.pipeline_namespaces)
        self.resources = [
            config_map(
                "rules",
                args.mimir_namespace,
                RULES_CONFIGMAP,
                rule_files(args.workload, args.thresholds, namespaces),
            ),
            config_map(
                "alertmanager",
                args.mimir_namespace,
                ALERTMANAGER_CONFIGMAP,
                {f"{MIMIR_TENANT}.yaml": alertmanager_yaml(args.alerting)},
            ),
        ]
        if args.alerting.logs:
            files = log_rule_files(args.thresholds, namespaces, system_logs=args.system_logs)
            self.resources.append(config_map("log-rules", args.loki_namespace, LOG_RULES_CONFIGMAP, files))
        environ = os.environ if args.environ is None else args.environ
        values = environment_secrets(args.alerting, environ, f"workloads/{args.workload}.yaml")
        if values:
            self.resources.append(
                mimir.receivers_secret(f"{name}-receivers", args.mimir_namespace, values, child)
            )
        self.register_outputs({})
