"""The Alloy chart's releases fleet runs (a workload's DaemonSet and its events collector, the
control room's hub collector): the values they share, the ConfigMap each runs on and the RBAC
fleet grants a release's service account itself rather than through the chart."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import pulumi
import pulumi_kubernetes as k8s

from kit.charts import grafana_chart
from kit.namespaces import MANAGED_BY, managed_config_map
from kit.security import container_security_context
from kit.sizing import SIDECAR

CONFIG_KEY = "config.alloy"
"""The key of Alloy's configuration in its ConfigMap."""
ALLOY_USER = 473
"""The ``alloy`` user of Grafana's Alloy image."""
STORAGE_PATH = "/tmp/alloy"
"""Alloy's data directory (the remote-write WAL, log positions): an emptyDir, the root is read-only."""
_STORAGE_VOLUME = "alloy-storage"


def storage_volume() -> dict[str, Any]:
    """The emptyDir under :data:`STORAGE_PATH`."""
    return {"name": _STORAGE_VOLUME, "emptyDir": {}}


def storage_mount() -> dict[str, Any]:
    """Where :func:`storage_volume` is mounted."""
    return {"name": _STORAGE_VOLUME, "mountPath": STORAGE_PATH}


def single_replica_controller(**settings: Any) -> dict[str, Any]:
    """``controller`` values for a Deployment of exactly one replica (a reader that must see each
    line or event once), with ``settings`` (e.g. ``updateStrategy``) and the storage volume."""
    return {"type": "deployment", "replicas": 1, **settings, "volumes": {"extra": [storage_volume()]}}


def chart_values(
    *,
    release: str,
    config_map: str,
    pod_security_context: dict[str, Any],
    controller: dict[str, Any],
    clustering: bool,
    mounts: list[dict[str, Any]],
    resources: dict[str, Any],
    rbac: dict[str, Any],
) -> dict[str, Any]:
    """The Alloy chart's values for a release named ``release`` running on fleet's ConfigMap
    ``config_map``: no CRDs, no usage reporting, restricted containers, a sized config reloader,
    the chart's service account, and what differs between releases as given."""
    return {
        "fullnameOverride": release,
        "crds": {"create": False},
        "global": {"podSecurityContext": pod_security_context},
        "controller": controller,
        "alloy": {
            "configMap": {"create": False, "name": config_map, "key": CONFIG_KEY},
            "clustering": {"enabled": clustering},
            "enableReporting": False,
            "storagePath": STORAGE_PATH,
            "mounts": {"extra": mounts},
            "resources": resources,
            "securityContext": container_security_context(),
        },
        "configReloader": {"resources": SIDECAR.values(), "securityContext": container_security_context()},
        "serviceAccount": {"create": True},
        "rbac": rbac,
    }


def config_map(
    name: str,
    config_map_name: str,
    namespace: pulumi.Input[str],
    text: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> k8s.core.v1.ConfigMap:
    """The ConfigMap ``config_map_name`` holding Alloy's configuration ``text`` (key :data:`CONFIG_KEY`)."""
    return managed_config_map(name, config_map_name, namespace, {CONFIG_KEY: text}, opts)


def grant(
    name: str,
    *,
    role: str,
    rules: Sequence[k8s.rbac.v1.PolicyRuleArgs],
    service_account: str,
    service_account_namespace: pulumi.Input[str],
    namespace: pulumi.Input[str] | None,
    parent: pulumi.Resource,
) -> tuple[pulumi.CustomResource, pulumi.CustomResource]:
    """A Role (in ``namespace``; None: a ClusterRole) named ``role`` with ``rules`` and its
    binding to a release's service account; the binding waits for the role."""
    labels = dict(MANAGED_BY)
    kind = "ClusterRole" if namespace is None else "Role"
    metadata = k8s.meta.v1.ObjectMetaArgs(name=role, namespace=namespace, labels=labels)
    role_ref = k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind=kind, name=role)
    subjects = [
        k8s.rbac.v1.SubjectArgs(
            kind="ServiceAccount", name=service_account, namespace=service_account_namespace
        )
    ]
    created: pulumi.CustomResource
    if namespace is None:
        created = k8s.rbac.v1.ClusterRole(
            name, metadata=metadata, rules=list(rules), opts=pulumi.ResourceOptions(parent=parent)
        )
        binding: pulumi.CustomResource = k8s.rbac.v1.ClusterRoleBinding(
            name,
            metadata=metadata,
            role_ref=role_ref,
            subjects=subjects,
            opts=pulumi.ResourceOptions(parent=parent, depends_on=[created]),
        )
    else:
        created = k8s.rbac.v1.Role(
            name, metadata=metadata, rules=list(rules), opts=pulumi.ResourceOptions(parent=parent)
        )
        binding = k8s.rbac.v1.RoleBinding(
            name,
            metadata=metadata,
            role_ref=role_ref,
            subjects=subjects,
            opts=pulumi.ResourceOptions(parent=parent, depends_on=[created]),
        )
    return created, binding


class PinnedChart(Protocol):
    """A component's Args: where its chart comes from (see :func:`kit.charts.chart_pin`)."""

    @property
    def version(self) -> str: ...
    @property
    def repository(self) -> str: ...
    @property
    def archive(self) -> str | None: ...


def alloy_chart(
    name: str,
    release: str,
    pin: PinnedChart,
    *,
    namespace: pulumi.Input[str],
    values: dict[str, Any],
    opts: pulumi.ResourceOptions,
) -> k8s.helm.v4.Chart:
    """The Alloy chart at ``pin``'s version installed as ``release`` (:func:`kit.charts.grafana_chart`)."""
    return grafana_chart(
        name,
        release=release,
        chart="alloy",
        version=pin.version,
        repository=pin.repository,
        archive=pin.archive,
        namespace=namespace,
        values=values,
        opts=opts,
    )
