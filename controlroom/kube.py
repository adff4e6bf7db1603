"""Kubernetes plumbing shared by the control-room components: the provider and namespaces."""

from __future__ import annotations

import os

import pulumi
import pulumi_kubernetes as k8s

from fleet.models import Cluster

POD_SECURITY = "baseline"
"""Pod Security Standard enforced on the control room's namespaces (Mimir and Grafana run as
non-root, but the charts' defaults do not all satisfy ``restricted``)."""


def kubernetes_provider(name: str, cluster: Cluster) -> k8s.Provider:
    """A Kubernetes provider for ``cluster``: its kubeconfig file and context, or the ambient
    kubeconfig when neither is given."""
    kubeconfig = os.path.expanduser(cluster.kubeconfig) if cluster.kubeconfig else None
    return k8s.Provider(name, kubeconfig=kubeconfig, context=cluster.context)


def namespace(
    resource_name: str, name: str, opts: pulumi.ResourceOptions | None = None
) -> k8s.core.v1.Namespace:
    """A namespace labelled with the enforced Pod Security Standard."""
    return k8s.core.v1.Namespace(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=name,
            labels={
                "app.kubernetes.io/managed-by": "fleet",
                "pod-security.kubernetes.io/enforce": POD_SECURITY,
            },
        ),
        opts=opts,
    )
