"""The Kubernetes provider every workload resource is created through."""

from __future__ import annotations

import os

import pulumi
import pulumi_kubernetes as k8s

from fleet.inventory.models import Cluster


def kubernetes_provider(
    name: str, cluster: Cluster, opts: pulumi.ResourceOptions | None = None
) -> k8s.Provider:
    """A provider for the workload's cluster: its kubeconfig and context, else the ambient ones.

    The kubeconfig is a path (``~`` expanded) or the file's contents; the Kubernetes provider
    accepts either. Without one, the provider falls back to ``KUBECONFIG`` / ``~/.kube/config``.
    """
    kubeconfig = cluster.kubeconfig
    if kubeconfig is not None and "\n" not in kubeconfig:
        kubeconfig = os.path.expanduser(kubeconfig)
    return k8s.Provider(
        name,
        kubeconfig=kubeconfig,
        context=cluster.context,
        # Charts render client-side; each object is applied with server-side apply.
        enable_server_side_apply=True,
        opts=opts,
    )
