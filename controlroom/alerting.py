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
- The Mimir mixin's recording rules, which Mimir's own dashboards read, are the chart's:
  mimir-distributed carries the mixin's compiled rules (``mixins/rules.yaml``) and renders them
  only as a Prometheus Operator ``PrometheusRule``, which nothing here would load. So the release
  renders them into a ConfigMap of its own (:func:`mixin_rules_object`, Helm reading the file
  out of the very archive it installs), projected beside fleet's rule files into the owner
  tenant's directory: they are evaluated on the hub collector's series, and what they record
  lands in the tenant the control room's Grafana reads Mimir's dashboards from.
"""

from __future__ import annotations

import json
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
MIXIN_RULES_CONFIGMAP = "fleet-mimir-mixin-rules"
"""The ConfigMap the Mimir release renders from its chart's mixin rules."""
MIXIN_RULES_FILE = "mimir-mixin.yaml"
"""The mixin rules' file name in the ruler's tenant directory: their rule namespace."""
CHART_MIXIN_RULES = "mixins/rules.yaml"
"""Where mimir-distributed keeps the mixin's compiled recording rules in its archive."""


def rule_files(workloads: Sequence[str], alerting: Alerting) -> dict[str, str]:
    """The control room's rule files by file name (``<group>.yaml``), each a Mimir rule namespace."""
    return group_files(controlroom_rule_groups(workloads, alerting.thresholds))


def mixin_rules_object() -> str:
    """A mimir-distributed ``extraObjects`` entry (a template the chart renders with ``tpl``):
    the ConfigMap :data:`MIXIN_RULES_CONFIGMAP` holding the chart's own :data:`CHART_MIXIN_RULES`
    as :data:`MIXIN_RULES_FILE`, byte for byte. Helm reads the file from the archive it installs,
    so the rules always match that chart version's dashboards; a chart without the file fails to
    render, naming it, rather than leaving the dashboards silently empty."""
    missing = json.dumps(f"mimir-distributed has no {CHART_MIXIN_RULES}: the Mimir dashboards need its rules")
    return "\n".join(
        [
            "apiVersion: v1",
            "kind: ConfigMap",
            "metadata:",
            f"  name: {MIXIN_RULES_CONFIGMAP}",
            "  namespace: {{ .Release.Namespace }}",
            f"  labels: {json.dumps(mimir.LABELS)}",
            "data:",
            f"  {MIXIN_RULES_FILE}: |",
            f"    {{{{- required {missing} (.Files.Get {json.dumps(CHART_MIXIN_RULES)}) | nindent 4 }}}}",
            "",
        ]
    )


def ruler_alertmanager_values(alerting: Alerting) -> dict[str, Any]:
    """The mimir-distributed values that run the ruler on the shipped rules and the chart's mixin
    rules (:func:`mixin_rules_object`), and the Alertmanager on the shipped configuration (merged
    into the central Mimir's values); the stores are :func:`kit.alerting.mimir.shipped_stores`."""
    values = mimir.ruler_alertmanager_values(
        alerting,
        tenant=OWNER_TENANT,
        rules_configmap=RULES_CONFIGMAP,
        alertmanager_configmap=ALERTMANAGER_CONFIGMAP,
        chart_rules_configmap=MIXIN_RULES_CONFIGMAP,
    )
    values["extraObjects"] = [mixin_rules_object()]
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
