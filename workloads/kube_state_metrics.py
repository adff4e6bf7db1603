"""kube-state-metrics in Alloy's namespace: the Kubernetes object metrics (``kube_*``) Alloy
scrapes (selected by ``app.kubernetes.io/name=kube-state-metrics``) and the workload dashboards
read.

Declared as plain objects, not a chart: it is one Deployment. It lists and watches the objects it
reports on, never Secrets (``--resources`` leaves them out), so Alloy's ServiceAccount stays the
only reader of the central credential.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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

# What it reports on (kube-state-metrics' default set without secrets), and the API groups to list.
RESOURCES: dict[str, tuple[str, ...]] = {
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


def cluster_rules() -> list[Any]:
    return [
        {"apiGroups": [group], "resources": list(resources), "verbs": ["list", "watch"]}
        for group, resources in RESOURCES.items()
    ]


def container(sizing: Sizing) -> dict[str, Any]:
    """The kube-state-metrics container."""
    resources = sorted(resource for group in RESOURCES.values() for resource in group)
    return {
        "name": NAME,
        "image": IMAGE,
        "args": [
            f"--port={PORT}",
            f"--telemetry-port={TELEMETRY_PORT}",
            "--resources=" + ",".join(resources),
        ],
        "ports": [
            {"name": "http", "containerPort": PORT},
            {"name": "telemetry", "containerPort": TELEMETRY_PORT},
        ],
        "readinessProbe": {"httpGet": {"path": "/", "port": TELEMETRY_PORT}},
        "livenessProbe": {"httpGet": {"path": "/livez", "port": PORT}},
        "resources": sizing.resources(NAME),
        "securityContext": container_security_context(),
    }


@dataclass(frozen=True)
class KubeStateMetricsArgs:
    namespace: pulumi.Input[str]
    sizing: Sizing = field(default_factory=Sizing)


class KubeStateMetrics(pulumi.ComponentResource):
    """kube-state-metrics: a ServiceAccount, its read-only ClusterRole, one Deployment."""

    def __init__(self, name: str, args: KubeStateMetricsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("fleet:workload:KubeStateMetrics", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = {**MANAGED_BY, **LABELS}
        account = k8s.core.v1.ServiceAccount(
            f"{name}-account",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=NAME, namespace=args.namespace, labels=labels),
            opts=child,
        )
        role = k8s.rbac.v1.ClusterRole(
            f"{name}-role",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=NAME, labels=labels),
            rules=cluster_rules(),
            opts=child,
        )
        binding = k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-binding",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=NAME, labels=labels),
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=NAME
            ),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=NAME, namespace=args.namespace)],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role, account]),
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
                    "containers": [container(args.sizing)],
                },
            },
        }
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=NAME, namespace=args.namespace, labels=labels),
            spec=spec,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[binding]),
        )
        self.register_outputs({})
