"""kube-state-metrics as plain objects (it is one Deployment): the Kubernetes object metrics
(``kube_*``) a workload's Alloy and the hub's collector scrape, selected by
``app.kubernetes.io/name=kube-state-metrics``.

It lists and watches the objects it reports on, never Secrets (``--resources`` leaves them out),
so no ServiceAccount of its stack reads a Secret through it. Every namespace (a workload's, with a
ClusterRole), or only ``watched`` namespaces (the control room's Mimir, with a Role in each: the
kube-state-metrics chart's ``rbac.useClusterRole: false``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from kit.namespaces import MANAGED_BY
from kit.security import container_security_context, pod_security_context
from kit.sizing import Sizing

NAME = "kube-state-metrics"
IMAGE = "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.16.0"
PORT = 8080
TELEMETRY_PORT = 8081
USER = 65534
"""The image's ``nobody``."""
LABELS = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/instance": NAME}
SELECTOR = f"app.kubernetes.io/name={NAME}"
"""The label selector scrapes find its pods by."""
PORT_NAME = "http"
"""The name of its metrics port (``PORT``)."""

Resources = Mapping[str, Sequence[str]]
"""What it reports on, by API group."""

RESOURCES: Resources = {
    "": (
        "configmaps",
        "endpoints",
        "limitranges",
        "namespaces",
        "nodes",
        "persistentvolumeclaims",
        "persistentvolumes",
        "pods",
        "replicationcontrollers",
        "resourcequotas",
        "services",
    ),
    "apps": ("daemonsets", "deployments", "replicasets", "statefulsets"),
    "batch": ("cronjobs", "jobs"),
    "autoscaling": ("horizontalpodautoscalers",),
    "policy": ("poddisruptionbudgets",),
    "networking.k8s.io": ("ingresses", "networkpolicies"),
    "storage.k8s.io": ("storageclasses", "volumeattachments"),
    "coordination.k8s.io": ("leases",),
}
"""kube-state-metrics' default set without secrets (a workload's)."""


def cluster_rules(resources: Resources = RESOURCES) -> list[Any]:
    """List and watch on ``resources``: nothing else (no get, no Secrets)."""
    return [
        {"apiGroups": [group], "resources": list(names), "verbs": ["list", "watch"]}
        for group, names in resources.items()
    ]


def container(
    sizing: Sizing, resources: Resources = RESOURCES, watched: Sequence[str] = ()
) -> dict[str, Any]:
    """The kube-state-metrics container, reporting on ``resources`` in the ``watched``
    namespaces (empty: every namespace)."""
    names = sorted(name for group in resources.values() for name in group)
    scope = [f"--namespaces={','.join(watched)}"] if watched else []
    return {
        "name": NAME,
        "image": IMAGE,
        "args": [
            f"--port={PORT}",
            f"--telemetry-port={TELEMETRY_PORT}",
            "--resources=" + ",".join(names),
            *scope,
        ],
        "ports": [
            {"name": PORT_NAME, "containerPort": PORT},
            {"name": "telemetry", "containerPort": TELEMETRY_PORT},
        ],
        "readinessProbe": {"httpGet": {"path": "/", "port": TELEMETRY_PORT}},
        "livenessProbe": {"httpGet": {"path": "/livez", "port": PORT}},
        "resources": sizing.resources(NAME),
        "securityContext": container_security_context(),
    }


def kube_state_metrics(
    name: str,
    namespace: pulumi.Input[str],
    *,
    parent: pulumi.Resource,
    sizing: Sizing,
    resources: Resources = RESOURCES,
    watched: Sequence[str] = (),
) -> k8s.apps.v1.Deployment:
    """kube-state-metrics in ``namespace``, children of ``parent`` named ``<name>-…``: its
    ServiceAccount, read-only access to ``resources`` (a ClusterRole, or with ``watched`` a Role
    in each of those namespaces, the only ones it reports on) and one Deployment."""
    child = pulumi.ResourceOptions(parent=parent)
    labels = {**MANAGED_BY, **LABELS}
    account = k8s.core.v1.ServiceAccount(
        f"{name}-account",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=NAME, namespace=namespace, labels=labels),
        opts=child,
    )
    subjects = [k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=NAME, namespace=namespace)]
    grants: list[pulumi.Resource] = []
    if not watched:
        role = k8s.rbac.v1.ClusterRole(
            f"{name}-role",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=NAME, labels=labels),
            rules=cluster_rules(resources),
            opts=child,
        )
        grants.append(
            k8s.rbac.v1.ClusterRoleBinding(
                f"{name}-binding",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=NAME, labels=labels),
                role_ref=k8s.rbac.v1.RoleRefArgs(
                    api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=NAME
                ),
                subjects=subjects,
                opts=pulumi.ResourceOptions(parent=parent, depends_on=[role, account]),
            )
        )
    for where in watched:
        namespaced = k8s.rbac.v1.Role(
            f"{name}-role-{where}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=NAME, namespace=where, labels=labels),
            rules=cluster_rules(resources),
            opts=child,
        )
        grants.append(
            k8s.rbac.v1.RoleBinding(
                f"{name}-binding-{where}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=NAME, namespace=where, labels=labels),
                role_ref=k8s.rbac.v1.RoleRefArgs(
                    api_group="rbac.authorization.k8s.io", kind="Role", name=NAME
                ),
                subjects=subjects,
                opts=pulumi.ResourceOptions(parent=parent, depends_on=[namespaced, account]),
            )
        )
    # Passed as Any: checking a Deployment spec against pulumi_kubernetes' nested Input and
    # TypedDict unions takes mypy over 20 GB (OOM-killed); the manifest is checked instead by
    # kubernetes-validate in the tests and by `fleet verify`.
    spec: Any = {
        "replicas": 1,
        "selector": {"matchLabels": dict(LABELS)},
        "template": {
            "metadata": {"labels": dict(LABELS)},
            "spec": {
                "serviceAccountName": NAME,
                "securityContext": pod_security_context(USER),
                "containers": [container(sizing, resources, watched)],
            },
        },
    }
    return k8s.apps.v1.Deployment(
        f"{name}-deployment",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=NAME, namespace=namespace, labels=labels),
        spec=spec,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=grants),
    )
