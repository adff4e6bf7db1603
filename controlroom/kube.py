"""Kubernetes plumbing shared by the control-room components: namespaces.

The provider is the workloads' (``kit.provider.kubernetes_provider``): same cluster
section, same server-side apply.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

POD_SECURITY = "baseline"
"""Pod Security Standard enforced on the control room's namespaces (Mimir and Grafana run as
non-root, but the charts' defaults do not all satisfy ``restricted``)."""


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
