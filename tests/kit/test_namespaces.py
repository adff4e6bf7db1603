"""The workload's namespaces."""

from __future__ import annotations

from collections.abc import Callable

import pulumi
from pulumi_harness import FleetMocks

from kit.namespaces import Namespaces, NamespacesArgs, NamespaceSpec


def test_names_and_pod_security(pulumi_runtime: Callable[..., FleetMocks]) -> None:
    mocks = pulumi_runtime()

    @pulumi.runtime.test
    def declare() -> pulumi.Output[None]:
        namespaces = Namespaces(
            "namespaces",
            NamespacesArgs(
                workload="web",
                namespaces=(NamespaceSpec("alloy", "privileged"), NamespaceSpec("mimir")),
            ),
        )

        def check(names: list[str]) -> None:
            assert names == ["alloy", "mimir"]

        return pulumi.Output.all(*namespaces.names.values()).apply(check)

    declare()
    labels = {
        r.inputs["metadata"]["name"]: r.inputs["metadata"]["labels"]
        for r in mocks.resources
        if r.type == "kubernetes:core/v1:Namespace"
    }
    assert labels["alloy"]["pod-security.kubernetes.io/enforce"] == "privileged"
    assert labels["mimir"]["pod-security.kubernetes.io/enforce"] == "baseline"
    assert {label["fleet.io/workload"] for label in labels.values()} == {"web"}
