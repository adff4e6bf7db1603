"""The cluster's Kubernetes provider."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pulumi
from pulumi_harness import FleetMocks

from fleet.inventory.models import Cluster
from kit.provider import kubernetes_provider

PROVIDER = "pulumi:providers:kubernetes"


def test_kubeconfig_path_and_context(pulumi_runtime: Callable[..., FleetMocks]) -> None:
    mocks = pulumi_runtime()

    @pulumi.runtime.test
    def declare() -> None:
        kubernetes_provider("cluster", Cluster(kubeconfig="~/.kube/web.yaml", context="web"))

    declare()
    (provider,) = [r for r in mocks.resources if r.type == PROVIDER]
    assert provider.inputs["kubeconfig"] == os.path.expanduser("~/.kube/web.yaml")
    assert provider.inputs["context"] == "web"


def test_kubeconfig_contents_pass_through(pulumi_runtime: Callable[..., FleetMocks]) -> None:
    mocks = pulumi_runtime()
    contents = "apiVersion: v1\nkind: Config\nclusters: []\n"

    @pulumi.runtime.test
    def declare() -> None:
        kubernetes_provider("cluster", Cluster(kubeconfig=contents))

    declare()
    (provider,) = [r for r in mocks.resources if r.type == PROVIDER]
    assert provider.inputs["kubeconfig"] == contents


def test_ambient_cluster_sets_nothing(pulumi_runtime: Callable[..., FleetMocks]) -> None:
    mocks = pulumi_runtime()

    @pulumi.runtime.test
    def declare() -> None:
        kubernetes_provider("cluster", Cluster())

    declare()
    (provider,) = [r for r in mocks.resources if r.type == PROVIDER]
    inputs: dict[str, Any] = provider.inputs
    assert "kubeconfig" not in inputs
    assert "context" not in inputs
