"""The proofs over the Kubernetes objects a stack creates: the program's own objects and every
object its charts render (:mod:`fleet.charts.expand`), as the cluster will receive them.

Each proof is a plain function over a :class:`StackObjects` that returns violations named by
their invariant and object (``Deployment mimir/mimir-gateway``):

- ``provider``: every Kubernetes resource is created through the stack's own cluster provider;
- ``schema``: every object passes kubernetes-validate (strict) for the cluster's version;
- ``references``: every Secret, ConfigMap, ServiceAccount and PVC a pod or Ingress references
  exists in the stack, or is declared as provided (cert-manager's annotation, the inventory);

``urls`` and ``alloy`` (how the stack's parts find each other) are :mod:`fleet.verify.wiring`,
``storage`` and ``replicas`` (what the charts run) :mod:`fleet.verify.stores`, ``values`` (every
value fleet sets is read by its chart) :mod:`fleet.verify.values`; :mod:`fleet.verify.rendered`
runs them all.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from fleet.charts.expand import ExpandedChart, KubeObject
from fleet.verify.dataflow import Violation

__all__ = [
    "Expectation",
    "StackObjects",
    "check_provider",
    "check_references",
    "check_schema",
    "pod_spec",
    "provided_references",
    "volume_config_maps",
]

_POD_OWNERS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
_CERT_MANAGER = ("cert-manager.io/cluster-issuer", "cert-manager.io/issuer")
_PROVIDER_TYPE = "pulumi:providers:kubernetes"


@dataclass(frozen=True)
class Expectation:
    """What the inventory says about one stack, for the proofs to hold its objects to."""

    cloud: str
    """``aws`` or ``azure``: the backend every store must use."""
    kubeconfig: str | None
    context: str | None
    kubernetes_version: str
    provided: frozenset[tuple[str, str, str]] = frozenset()
    """(kind, namespace, name) of objects the inventory says something else provides."""
    replicas: Mapping[str, int] = field(default_factory=dict)
    """The replicas asked for each chart's write path, by chart resource name."""
    alloy: tuple[str, str, str, str] | None = None
    """(namespace, ConfigMap, key, Secret) of the Alloy fleet configures; None for the control room."""
    events: tuple[str, str, str, str] | None = None
    """(namespace, release, ConfigMap, key) of the events collector; None when it is off."""
    ingress_namespace: str = "ingress-nginx"
    """The ingress controller's namespace (the NetworkPolicies admit it)."""
    grafana_ingress: bool = False
    """The workload's Grafana has an Ingress (a hostname)."""
    tenants: tuple[str, ...] = ()
    """The control room's tenants: each needs its limits as a runtime override."""
    egress: Mapping[str, tuple[str, int]] | None = None
    """With egress restricted: an address and port of each destination outside the pods
    (``api_server``, ``object_storage``, ``control_room``, ``notifications``); None: egress open."""
    kafka_ports: tuple[int, ...] = ()
    """The ports of the Kafka brokers Mimir's ingest storage writes to (none: classic)."""


@dataclass(frozen=True)
class StackObjects:
    """One stack's plan, its expanded charts and every object, with what the inventory expects."""

    stack: str
    plan: Mapping[str, Any]
    charts: list[ExpandedChart]
    objects: list[KubeObject]
    expect: Expectation

    def find(self, kind: str, namespace: str | None, name: str) -> KubeObject | None:
        for item in self.objects:
            if item.kind == kind and item.name == name and (namespace is None or item.namespace == namespace):
                return item
        return None

    def of_kind(self, *kinds: str) -> list[KubeObject]:
        return [item for item in self.objects if item.kind in kinds]


# --- provider -----------------------------------------------------------------------------------


def check_provider(stack: StackObjects) -> list[Violation]:
    """Every Kubernetes resource of the plan (objects and charts) is created through the stack's
    one Kubernetes provider, and that provider points at the inventory's cluster."""
    providers = [r for r in stack.plan.get("resources") or [] if r.get("type") == _PROVIDER_TYPE]
    expected = stack.expect
    if len(providers) != 1:
        names = ", ".join(str(r.get("name")) for r in providers) or "none"
        return [
            Violation(
                "provider",
                stack.stack,
                f"the plan has {len(providers)} Kubernetes providers ({names}); expected one for its cluster",
            )
        ]
    provider = providers[0]
    name = str(provider.get("name"))
    violations: list[Violation] = []
    inputs = provider.get("inputs") or {}
    for key, want in (("kubeconfig", expected.kubeconfig), ("context", expected.context)):
        if inputs.get(key) != want:
            violations.append(
                Violation(
                    "provider",
                    f"provider {name}",
                    f"{key} is {inputs.get(key)!r}, the inventory's cluster has {want!r}",
                )
            )
    for resource in stack.plan.get("resources") or []:
        token = str(resource.get("type", ""))
        if not token.startswith("kubernetes:"):
            continue
        if resource.get("provider") != name:
            got = resource.get("provider") or "the default provider (the ambient kubeconfig)"
            violations.append(
                Violation(
                    "provider",
                    f"{token.rsplit(':', 1)[-1]} {resource.get('name')}",
                    f"is created through {got}, not the stack's cluster provider {name}",
                )
            )
    return violations


# --- schema -------------------------------------------------------------------------------------


def _crd_kinds(stack: StackObjects) -> set[tuple[str, str]]:
    kinds: set[tuple[str, str]] = set()
    for crd in stack.of_kind("CustomResourceDefinition"):
        spec = crd.manifest.get("spec") or {}
        group = spec.get("group")
        kind = (spec.get("names") or {}).get("kind")
        if group and kind:
            kinds.add((str(group), str(kind)))
    return kinds


def check_schema(stack: StackObjects) -> list[Violation]:
    """Every object passes kubernetes-validate in strict mode for the cluster's version; a
    custom resource passes when the stack installs its CustomResourceDefinition."""
    from fleet.verify.schema import UnknownKind, schema_problems

    version = stack.expect.kubernetes_version
    custom = _crd_kinds(stack)
    violations: list[Violation] = []
    for item in stack.objects:
        try:
            problems = schema_problems(item.manifest, version)
        except UnknownKind:
            group = str(item.manifest.get("apiVersion", "")).rpartition("/")[0]
            if (group, item.kind) not in custom:
                violations.append(
                    Violation(
                        "schema",
                        item.label,
                        f"Kubernetes {version} has no {item.manifest.get('apiVersion')} {item.kind}, "
                        "and the stack installs no CustomResourceDefinition for it",
                    )
                )
            continue
        violations += [Violation("schema", item.label, problem) for problem in problems]
    return violations


# --- references ---------------------------------------------------------------------------------


def pod_spec(item: KubeObject) -> Mapping[str, Any] | None:
    """The pod spec an object runs (a Pod's, or its template's), else None."""
    spec = item.manifest.get("spec") or {}
    if item.kind == "Pod":
        return spec
    if item.kind in _POD_OWNERS:
        return ((spec.get("template") or {}).get("spec")) or {}
    if item.kind == "CronJob":
        job = (spec.get("jobTemplate") or {}).get("spec") or {}
        return ((job.get("template") or {}).get("spec")) or {}
    return None


def volume_config_maps(spec: Mapping[str, Any]) -> dict[str, list[str]]:
    """Each volume of a pod spec that holds ConfigMaps, by name: the ConfigMap of a ``configMap``
    volume, or those a ``projected`` volume's sources name, in order."""
    found: dict[str, list[str]] = {}
    for volume in spec.get("volumes") or []:
        names = [str(volume["configMap"].get("name"))] if volume.get("configMap") else []
        for source in (volume.get("projected") or {}).get("sources") or []:
            if source.get("configMap"):
                names.append(str(source["configMap"].get("name")))
        if names:
            found[str(volume.get("name"))] = names
    return found


def _pod_references(spec: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(kind, name, where) of every object a pod spec needs, skipping optional ones."""
    account = spec.get("serviceAccountName") or spec.get("serviceAccount")
    if account and account != "default":
        yield "ServiceAccount", str(account), "serviceAccountName"
    for secret in spec.get("imagePullSecrets") or []:
        if secret.get("name"):
            yield "Secret", str(secret["name"]), "imagePullSecrets"
    for volume in spec.get("volumes") or []:
        vname = volume.get("name")
        if "secret" in volume and not volume["secret"].get("optional"):
            yield "Secret", str(volume["secret"].get("secretName")), f"volume {vname}"
        if "configMap" in volume and not volume["configMap"].get("optional"):
            yield "ConfigMap", str(volume["configMap"].get("name")), f"volume {vname}"
        if "persistentVolumeClaim" in volume:
            yield (
                "PersistentVolumeClaim",
                str(volume["persistentVolumeClaim"].get("claimName")),
                f"volume {vname}",
            )
        for source in (volume.get("projected") or {}).get("sources") or []:
            for kind, key in (("Secret", "secret"), ("ConfigMap", "configMap")):
                ref = source.get(key)
                if ref and not ref.get("optional"):
                    yield kind, str(ref.get("name")), f"volume {vname}"
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    for container in containers:
        cname = container.get("name")
        for env in container.get("env") or []:
            source = env.get("valueFrom") or {}
            for kind, key in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
                ref = source.get(key)
                if ref and not ref.get("optional"):
                    yield kind, str(ref.get("name")), f"container {cname} env {env.get('name')}"
        for env_from in container.get("envFrom") or []:
            for kind, key in (("Secret", "secretRef"), ("ConfigMap", "configMapRef")):
                ref = env_from.get(key)
                if ref and not ref.get("optional"):
                    yield kind, str(ref.get("name")), f"container {cname} envFrom"


def _claim_templates(item: KubeObject) -> set[str]:
    if item.kind != "StatefulSet":
        return set()
    templates = (item.manifest.get("spec") or {}).get("volumeClaimTemplates") or []
    return {str((t.get("metadata") or {}).get("name")) for t in templates}


def provided_references(stack: StackObjects) -> list[str]:
    """The objects the stack's pods reference that it does not create but the inventory names as
    provided outside fleet (a secret store's Secret), as ``Kind namespace/name``, sorted."""
    found: set[str] = set()
    for item in stack.objects:
        spec = pod_spec(item)
        if spec is None:
            continue
        namespace = item.namespace or ""
        for kind, name, _ in _pod_references(spec):
            if (kind, namespace, name) in stack.expect.provided and stack.find(kind, namespace, name) is None:
                found.add(f"{kind} {namespace}/{name}")
    return sorted(found)


def check_references(stack: StackObjects) -> list[Violation]:
    """Every Secret, ConfigMap, ServiceAccount and PVC that a pod or an Ingress references exists
    in the stack (same namespace), or is declared as provided: a TLS Secret cert-manager fills
    (the Ingress carries its issuer annotation), or one the inventory names."""
    provided = stack.expect.provided
    violations: list[Violation] = []
    for item in stack.objects:
        namespace = item.namespace or ""
        spec = pod_spec(item)
        if spec is not None:
            claims = _claim_templates(item)
            for kind, name, where in _pod_references(spec):
                if kind == "PersistentVolumeClaim" and name in claims:
                    continue
                if stack.find(kind, namespace, name) is None and (kind, namespace, name) not in provided:
                    violations.append(
                        Violation(
                            "references", item.label, f"{where}: {kind} {namespace}/{name} does not exist"
                        )
                    )
        if item.kind == "Ingress":
            annotations = (item.manifest.get("metadata") or {}).get("annotations") or {}
            issuer = next((f"{a}={annotations[a]}" for a in _CERT_MANAGER if annotations.get(a)), None)
            for tls in (item.manifest.get("spec") or {}).get("tls") or []:
                name = str(tls.get("secretName") or "")
                if not name or issuer is not None:
                    continue
                if (
                    stack.find("Secret", namespace, name) is None
                    and ("Secret", namespace, name) not in provided
                ):
                    violations.append(
                        Violation(
                            "references",
                            item.label,
                            f"TLS Secret {namespace}/{name} does not exist and nothing provides it "
                            "(no cert-manager issuer annotation; the inventory names no such Secret)",
                        )
                    )
    return violations
