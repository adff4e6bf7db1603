"""The workload's namespaces: one per component, each with a Pod Security level; and the ConfigMaps
of files fleet writes itself, labelled as fleet's."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_kubernetes as k8s

PodSecurity = Literal["privileged", "baseline", "restricted"]

MANAGED_BY = {"app.kubernetes.io/managed-by": "fleet"}


def managed_config_map(
    name: str,
    config_map_name: str,
    namespace: pulumi.Input[str],
    data: Mapping[str, pulumi.Input[str]],
    opts: pulumi.ResourceOptions,
    labels: Mapping[str, str] = MANAGED_BY,
) -> k8s.core.v1.ConfigMap:
    """The ConfigMap ``config_map_name`` holding ``data`` (file name -> text), with ``labels``."""
    return k8s.core.v1.ConfigMap(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=config_map_name, namespace=namespace, labels=dict(labels)),
        data=dict(data),
        opts=opts,
    )


@dataclass(frozen=True)
class NamespaceSpec:
    """One namespace and the Pod Security Standard it enforces."""

    name: str
    pod_security: PodSecurity = "baseline"


@dataclass(frozen=True)
class NamespacesArgs:
    workload: str
    namespaces: tuple[NamespaceSpec, ...]


def _name_of(fallback: str) -> Callable[[k8s.meta.v1.outputs.ObjectMeta], str]:
    def name(meta: k8s.meta.v1.outputs.ObjectMeta) -> str:
        return meta.name or fallback

    return name


class Namespaces(pulumi.ComponentResource):
    """The namespaces the workload's components live in, by name.

    Names are fixed (no auto-naming) because the in-cluster URLs that Alloy and Grafana use are
    built from them.
    """

    names: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: NamespacesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("fleet:workload:Namespaces", name, None, opts)
        self.names = {}
        for spec in args.namespaces:
            namespace = k8s.core.v1.Namespace(
                f"{name}-{spec.name}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=spec.name,
                    labels={
                        **MANAGED_BY,
                        "fleet.io/workload": args.workload,
                        "pod-security.kubernetes.io/enforce": spec.pod_security,
                        "pod-security.kubernetes.io/warn": spec.pod_security,
                    },
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.names[spec.name] = namespace.metadata.apply(_name_of(spec.name))
        self.register_outputs({"names": self.names})
