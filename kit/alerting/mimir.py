"""Mimir's ruler and Alertmanager on files the stack ships, as both Mimirs (the control room's
central one and a workload's own) run them: the rule groups are one ConfigMap mounted in every
ruler at ``RULES_DIR/<tenant>/`` (Mimir's ``local`` rule store), the Alertmanager configuration
another, mounted as ``ALERTMANAGER_DIR/<tenant>.yaml`` (the ``local`` Alertmanager store), and the
receivers' secrets one projected volume beside it (:mod:`kit.alerting.alertmanager`).

``controlroom.alerting`` says why local stores rather than Mimir's API or its fallback
configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from fleet.inventory.models import AlertRouting
from kit.alerting.alertmanager import ENV_SECRET, secrets_mount, secrets_volume
from kit.namespaces import managed_config_map

RULES_DIR = "/etc/fleet/rules"
"""Mimir's ``ruler_storage.local.directory``; the rules sit in ``<dir>/<tenant>/``."""
ALERTMANAGER_DIR = "/etc/fleet/alertmanager"
"""Mimir's ``alertmanager_storage.local.path``; the configuration is ``<dir>/<tenant>.yaml``."""
LABELS = {"app.kubernetes.io/managed-by": "fleet", "app.kubernetes.io/part-of": "fleet-alerting"}
"""The labels of the rule and Alertmanager ConfigMaps and of the receivers' Secret."""
_RULES_VOLUME = "fleet-rules"
_ALERTMANAGER_VOLUME = "fleet-alertmanager"


def ruler_alertmanager_values(
    routing: AlertRouting,
    *,
    tenant: str,
    rules_configmap: str,
    alertmanager_configmap: str,
    replicas: int | None = None,
    chart_rules_configmap: str | None = None,
) -> dict[str, Any]:
    """mimir-distributed values that run the ruler on ``rules_configmap`` (``tenant``'s rules)
    and the Alertmanager (``replicas`` of them; None: the chart's number) on
    ``alertmanager_configmap`` and the receivers' secrets. The stores are :func:`shipped_stores`.

    ``chart_rules_configmap``: a second ConfigMap of rule files (one the chart renders itself),
    projected into the same tenant directory beside ``rules_configmap``: the local store reads
    only the files directly in it, so two rule sets share one volume."""
    alertmanager_volumes: list[dict[str, Any]] = [
        {"name": _ALERTMANAGER_VOLUME, "configMap": {"name": alertmanager_configmap}}
    ]
    alertmanager_mounts: list[dict[str, Any]] = [
        {"name": _ALERTMANAGER_VOLUME, "mountPath": ALERTMANAGER_DIR, "readOnly": True}
    ]
    secrets = secrets_volume(routing)
    if secrets is not None:
        alertmanager_volumes.append(secrets)
        alertmanager_mounts.append(secrets_mount())
    alertmanager: dict[str, Any] = {"enabled": True}
    if replicas is not None:
        alertmanager["replicas"] = replicas
    alertmanager["extraVolumes"] = alertmanager_volumes
    alertmanager["extraVolumeMounts"] = alertmanager_mounts
    rules_volume: dict[str, Any] = {"name": _RULES_VOLUME, "configMap": {"name": rules_configmap}}
    if chart_rules_configmap is not None:
        sources = [{"configMap": {"name": name}} for name in (rules_configmap, chart_rules_configmap)]
        rules_volume = {"name": _RULES_VOLUME, "projected": {"sources": sources}}
    return {
        "ruler": {
            "enabled": True,
            "extraVolumes": [rules_volume],
            "extraVolumeMounts": [
                {"name": _RULES_VOLUME, "mountPath": f"{RULES_DIR}/{tenant}", "readOnly": True}
            ],
        },
        "alertmanager": alertmanager,
    }


def shipped_stores() -> dict[str, Any]:
    """Mimir's ``ruler_storage`` and ``alertmanager_storage``, whole: ``local``, on the mounted
    ConfigMaps (they replace the bucket's stores, they are not merged into them)."""
    return {
        "ruler_storage": {"backend": "local", "local": {"directory": RULES_DIR}},
        "alertmanager_storage": {"backend": "local", "local": {"path": ALERTMANAGER_DIR}},
    }


def shipped_config_map(
    name: str,
    config_map: str,
    namespace: pulumi.Input[str],
    data: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> k8s.core.v1.ConfigMap:
    """The ConfigMap ``config_map`` of shipped files (rules or the Alertmanager configuration)."""
    return managed_config_map(name, config_map, namespace, data, opts, labels=LABELS)


def receivers_secret(
    name: str, namespace: pulumi.Input[str], values: Mapping[str, str], opts: pulumi.ResourceOptions
) -> k8s.core.v1.Secret:
    """The Secret (:data:`~kit.alerting.alertmanager.ENV_SECRET`) holding the receivers' secrets
    read from the environment, beside the Alertmanager; every value a Pulumi secret."""
    return k8s.core.v1.Secret(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=ENV_SECRET, namespace=namespace, labels=LABELS),
        type="Opaque",
        string_data={key: pulumi.Output.secret(value) for key, value in values.items()},
        opts=opts,
    )
