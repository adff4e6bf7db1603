"""The proofs over the Kubernetes objects a stack creates: the program's own objects and every
object its charts render (:mod:`fleet.charts.expand`), as the cluster will receive them.

Each proof is a plain function over a :class:`StackObjects` that returns violations named by
their invariant and object (``Deployment mimir/mimir-gateway``):

- ``provider``: every Kubernetes resource is created through the stack's own cluster provider;
- ``schema``: every object passes kubernetes-validate (strict) for the cluster's version;
- ``references``: every Secret, ConfigMap, ServiceAccount and PVC a pod or Ingress references
  exists in the stack, or is declared as provided (cert-manager's annotation, the inventory);
- ``urls``: every in-cluster URL in the Alloy configuration and Grafana's datasources is a
  rendered Service and port of the stack;
- ``alloy``: the Alloy DaemonSet runs fleet's ConfigMap and key, as the one ServiceAccount that
  may read the central credential;
- ``storage``: Mimir's and Loki's effective configuration keeps every store on the stack's bucket;
- ``replicas``: no demo broker, and no write-path component with fewer replicas than asked.

``values`` (every value fleet sets is read by its chart) is :mod:`fleet.verify.values`.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import yaml

from fleet.charts.expand import ExpandedChart, KubeObject
from fleet.charts.helm import load_yaml
from fleet.verify.dataflow import Violation

__all__ = [
    "OBJECT_INVARIANTS",
    "StackObjects",
    "check_alloy",
    "check_provider",
    "check_references",
    "check_replicas",
    "check_schema",
    "check_storage",
    "check_urls",
]

OBJECT_INVARIANTS = (
    "provider",
    "schema",
    "references",
    "urls",
    "alloy",
    "storage",
    "replicas",
    "values",
    "resources",
    "security",
    "network",
    "limits",
)
"""The object proofs' names, in report order (``alloy`` and ``storage`` where they apply)."""

_POD_OWNERS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
_CERT_MANAGER = ("cert-manager.io/cluster-issuer", "cert-manager.io/issuer")
_PROVIDER_TYPE = "pulumi:providers:kubernetes"
_SECRET_READ = {"get", "list", "watch", "*"}


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
    ingress_namespace: str = "ingress-nginx"
    """The ingress controller's namespace (the NetworkPolicies admit it)."""
    grafana_ingress: bool = False
    """The workload's Grafana has an Ingress (a hostname)."""
    tenants: tuple[str, ...] = ()
    """The control room's tenants: each needs its limits as a runtime override."""


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


# --- urls ---------------------------------------------------------------------------------------

_URL = re.compile(r"https?://[^\s\"'<>]+")


def _service_target(url: str, default_namespace: str) -> tuple[str, str, int] | None:
    """(namespace, service, port) of an in-cluster URL, else None."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return None
    labels = host.split(".")
    if len(labels) == 1:
        namespace = default_namespace
    elif len(labels) >= 3 and labels[2] == "svc" and host.endswith((".svc", ".svc.cluster.local")):
        namespace = labels[1]
    else:
        return None
    return namespace, labels[0], port or (443 if parts.scheme == "https" else 80)


def _urls_in_alloy(stack: StackObjects) -> Iterator[tuple[KubeObject, str, str]]:
    expected = stack.expect.alloy
    if expected is None:
        return
    namespace, name, _key, _secret = expected
    config = stack.find("ConfigMap", namespace, name)
    if config is None:
        return
    for key, text in (config.manifest.get("data") or {}).items():
        for url in _URL.findall(str(text)):
            yield config, f"{key}: {url}", url


def _urls_in_datasources(stack: StackObjects) -> Iterator[tuple[KubeObject, str, str]]:
    for config in stack.of_kind("ConfigMap"):
        for key, text in (config.manifest.get("data") or {}).items():
            if not str(key).startswith("datasources") or not isinstance(text, str):
                continue
            try:
                document = load_yaml(text)
            except yaml.YAMLError:
                continue
            for source in (document or {}).get("datasources") or []:
                url = source.get("url")
                if isinstance(url, str):
                    yield config, f"{key}: datasource {source.get('name')!r} {url}", url


def check_urls(stack: StackObjects) -> list[Violation]:
    """Every in-cluster URL in the Alloy configuration and in Grafana's provisioned datasources
    names a Service of this stack that exposes the URL's port."""
    violations: list[Violation] = []
    for config, where, url in [*_urls_in_alloy(stack), *_urls_in_datasources(stack)]:
        target = _service_target(url, config.namespace or "")
        if target is None:
            continue
        namespace, name, port = target
        service = stack.find("Service", namespace, name)
        if service is None:
            violations.append(
                Violation("urls", config.label, f"{where}: no Service {namespace}/{name} in the stack")
            )
            continue
        ports = {int(p.get("port")) for p in (service.manifest.get("spec") or {}).get("ports") or []}
        if port not in ports:
            violations.append(
                Violation(
                    "urls",
                    config.label,
                    f"{where}: Service {namespace}/{name} has no port {port} (it has {sorted(ports)})",
                )
            )
    return violations


# --- alloy --------------------------------------------------------------------------------------


def _rule_reads_secret(rule: Mapping[str, Any], secret: str) -> bool:
    groups = rule.get("apiGroups") or []
    resources = rule.get("resources") or []
    verbs = rule.get("verbs") or []
    names = rule.get("resourceNames") or []
    return (
        ("" in groups or "*" in groups)
        and ("secrets" in resources or "*" in resources)
        and bool(_SECRET_READ & set(verbs))
        and (not names or secret in names)
    )


def secret_readers(stack: StackObjects, namespace: str, secret: str) -> set[tuple[str, str]]:
    """The ServiceAccounts (namespace, name) that RBAC in the stack lets read ``secret``."""
    readers: set[tuple[str, str]] = set()
    for binding in stack.of_kind("RoleBinding", "ClusterRoleBinding"):
        if binding.kind == "RoleBinding" and binding.namespace != namespace:
            continue
        ref = binding.manifest.get("roleRef") or {}
        role_namespace = binding.namespace if ref.get("kind") == "Role" else None
        role = stack.find(str(ref.get("kind")), role_namespace, str(ref.get("name")))
        if role is None or not any(_rule_reads_secret(r, secret) for r in role.manifest.get("rules") or []):
            continue
        for subject in binding.manifest.get("subjects") or []:
            if subject.get("kind") == "ServiceAccount":
                readers.add((str(subject.get("namespace") or binding.namespace), str(subject.get("name"))))
    return readers


def check_alloy(stack: StackObjects) -> list[Violation]:
    """The Alloy DaemonSet runs the configuration fleet writes (its ConfigMap, and the key the
    container loads), as the ServiceAccount that may read the central credential, and no other
    ServiceAccount may read it."""
    expected = stack.expect.alloy
    if expected is None:
        return []
    namespace, config_map, key, secret = expected
    daemonsets = [d for d in stack.of_kind("DaemonSet") if d.namespace == namespace and d.chart is not None]
    if len(daemonsets) != 1:
        return [
            Violation(
                "alloy", stack.stack, f"expected one Alloy DaemonSet in {namespace}, found {len(daemonsets)}"
            )
        ]
    daemonset = daemonsets[0]
    spec = pod_spec(daemonset) or {}
    violations: list[Violation] = []
    volumes = {v.get("name"): v for v in spec.get("volumes") or []}
    containers = spec.get("containers") or []
    alloy = next((c for c in containers if "run" in (c.get("args") or [])), None)
    if alloy is None:
        return [Violation("alloy", daemonset.label, "no container runs `alloy run <config>`")]
    args = list(alloy.get("args") or [])
    path = str(args[args.index("run") + 1]) if args.index("run") + 1 < len(args) else ""
    directory, filename = posixpath.split(path)
    mount = next((m for m in alloy.get("volumeMounts") or [] if m.get("mountPath") == directory), None)
    source = (volumes.get(mount.get("name")) or {}).get("configMap") if mount else None
    if source is None:
        violations.append(
            Violation("alloy", daemonset.label, f"loads {path}, which no ConfigMap volume provides")
        )
    elif source.get("name") != config_map:
        violations.append(
            Violation(
                "alloy",
                daemonset.label,
                f"loads {path} from ConfigMap {source.get('name')}, not {config_map}",
            )
        )
    else:
        data = (stack.find("ConfigMap", namespace, config_map) or KubeObject({})).manifest.get("data") or {}
        if filename != key or filename not in data:
            violations.append(
                Violation(
                    "alloy",
                    daemonset.label,
                    f"loads {path}: ConfigMap {namespace}/{config_map} has keys {sorted(data)}, "
                    f"fleet's configuration is {key}",
                )
            )
    account = str(spec.get("serviceAccountName") or "default")
    readers = secret_readers(stack, namespace, secret)
    if (namespace, account) not in readers:
        violations.append(
            Violation(
                "alloy",
                daemonset.label,
                f"runs as ServiceAccount {account}, which may not read Secret {secret}",
            )
        )
    others = sorted(f"{ns}/{name}" for ns, name in readers - {(namespace, account)})
    if others:
        violations.append(
            Violation(
                "alloy",
                f"Secret {namespace}/{secret}",
                f"is readable by other ServiceAccounts: {', '.join(others)}",
            )
        )
    return violations


# --- storage ------------------------------------------------------------------------------------


def _buckets(plan: Mapping[str, Any]) -> set[str]:
    """Every bucket (S3) and storage container (``account/container``) the plan creates."""
    found: set[str] = set()
    accounts: dict[str, str] = {}
    for resource in plan.get("resources") or []:
        inputs = resource.get("inputs") or {}
        if resource.get("type") == "aws:s3/bucket:Bucket" and inputs.get("bucket"):
            found.add(str(inputs["bucket"]))
        if resource.get("type") == "azure-native:storage:StorageAccount":
            accounts[str(inputs.get("accountName"))] = str(inputs.get("accountName"))
    for resource in plan.get("resources") or []:
        inputs = resource.get("inputs") or {}
        if resource.get("type") == "azure-native:storage:BlobContainer":
            found.add(f"{inputs.get('accountName')}/{inputs.get('containerName')}")
    return found


def _config_text(item: KubeObject, key: str) -> Mapping[str, Any] | None:
    text = (item.manifest.get("data") or {}).get(key)
    if not isinstance(text, str):
        return None
    try:
        document = load_yaml(text)
    except yaml.YAMLError:
        return None
    return document if isinstance(document, Mapping) else None


def _mimir_store(config: Mapping[str, Any], store: str) -> tuple[str, str]:
    """(backend, bucket) a Mimir store uses: its own settings, else ``common.storage``."""
    common = (config.get("common") or {}).get("storage") or {}
    own = config.get(store) or {}
    backend = str(own.get("backend") or common.get("backend") or "filesystem")
    settings = {**(common.get(backend) or {}), **(own.get(backend) or {})}
    if backend == "s3":
        return backend, str(settings.get("bucket_name", ""))
    if backend == "azure":
        return backend, f"{settings.get('account_name', '')}/{settings.get('container_name', '')}"
    return backend, ""


def _loki_stores(config: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(store, backend, bucket) of Loki's chunks (per schema period), ruler and delete requests."""
    storage = (config.get("common") or {}).get("storage") or {}

    def bucket(backend: str, settings: Mapping[str, Any]) -> str:
        if backend == "s3":
            return str((settings.get("s3") or {}).get("bucketnames", ""))
        if backend == "azure":
            azure = settings.get("azure") or {}
            return f"{azure.get('account_name', '')}/{azure.get('container_name', '')}"
        return ""

    for period in (config.get("schema_config") or {}).get("configs") or []:
        backend = str(period.get("object_store"))
        yield f"schema_config (from {period.get('from')})", backend, bucket(backend, storage)
    ruler = (config.get("ruler") or {}).get("storage") or {}
    backend = str(ruler.get("type") or "local")
    yield "ruler.storage", backend, bucket(backend, ruler)
    deletes = (config.get("compactor") or {}).get("delete_request_store")
    if deletes:
        yield "compactor.delete_request_store", str(deletes), bucket(str(deletes), storage)


_SHIPPED_STORES = {
    "ruler_storage": ("ruler", "directory"),
    "alertmanager_storage": ("alertmanager", "path"),
}
"""Mimir stores that may be ``local`` when the stack ships their content as a ConfigMap: the
component that reads the store, and the key of its local path."""


def _judge_shipped_store(
    stack: StackObjects, chart: str, item: KubeObject, config: Mapping[str, Any], store: str
) -> list[Violation]:
    """A ``local`` ruler or Alertmanager store holds configuration the stack ships (rules, the
    Alertmanager's routes), never data: every pod of the component that reads it mounts, at or
    below its path, a ConfigMap the plan creates."""
    component, key = _SHIPPED_STORES[store]
    path = str(((config.get(store) or {}).get("local") or {}).get(key) or "").rstrip("/")
    if not path:
        return [Violation("storage", item.label, f"{store} is local with no {key}")]
    pods = [
        o
        for o in stack.of_kind("Deployment", "StatefulSet")
        if o.chart == chart and _component(o) == component
    ]
    if not pods:
        return [Violation("storage", item.label, f"{store} is local but the chart runs no {component}")]
    violations: list[Violation] = []
    for pod in pods:
        spec = pod_spec(pod) or {}
        config_maps = {
            str(v.get("name")): str((v.get("configMap") or {}).get("name"))
            for v in spec.get("volumes") or []
            if v.get("configMap")
        }
        shipped = [
            config_maps[mount.get("name")]
            for container in spec.get("containers") or []
            for mount in container.get("volumeMounts") or []
            if mount.get("name") in config_maps
            and (mount.get("mountPath", "").rstrip("/") + "/").startswith(path + "/")
        ]
        if not shipped:
            violations.append(
                Violation(
                    "storage", pod.label, f"{store} is local at {path}, and no ConfigMap is mounted there"
                )
            )
        for name in shipped:
            if stack.find("ConfigMap", pod.namespace, name) is None:
                violations.append(
                    Violation(
                        "storage",
                        pod.label,
                        f"{store}: ConfigMap {name} mounted at {path} is not in the plan",
                    )
                )
    return violations


def check_storage(stack: StackObjects) -> list[Violation]:
    """Mimir's effective configuration (the chart's template merged with fleet's structured
    config, as rendered into its ConfigMap) keeps blocks, ruler and alertmanager data on the
    stack's cloud backend, in a bucket the stack creates; Loki's chunks, rules and delete
    requests likewise."""
    backend = "s3" if stack.expect.cloud == "aws" else "azure"
    buckets = _buckets(stack.plan)
    violations: list[Violation] = []

    def judge(where: str, store: str, got_backend: str, got_bucket: str) -> None:
        if got_backend != backend:
            violations.append(
                Violation("storage", where, f"{store} is on {got_backend}; the stack's storage is {backend}")
            )
        elif got_bucket not in buckets:
            violations.append(
                Violation(
                    "storage", where, f"{store} uses bucket {got_bucket!r}, which the stack does not create"
                )
            )

    for chart in stack.charts:
        configs = [o for o in stack.objects if o.chart == chart.resource and o.kind == "ConfigMap"]
        if chart.chart == "mimir-distributed":
            found = [(o, _config_text(o, "mimir.yaml")) for o in configs]
            found = [(o, c) for o, c in found if c is not None]
            if not found:
                violations.append(
                    Violation("storage", chart.resource, "renders no ConfigMap with mimir.yaml")
                )
            for item, config in found:
                assert config is not None
                for store in ("blocks_storage", "ruler_storage", "alertmanager_storage"):
                    got_backend, got_bucket = _mimir_store(config, store)
                    if got_backend == "local" and store in _SHIPPED_STORES:
                        violations += _judge_shipped_store(stack, chart.resource, item, config, store)
                    else:
                        judge(item.label, store, got_backend, got_bucket)
        if chart.chart == "loki":
            found = [(o, _config_text(o, "config.yaml")) for o in configs]
            found = [(o, c) for o, c in found if c is not None]
            if not found:
                violations.append(
                    Violation("storage", chart.resource, "renders no ConfigMap with config.yaml")
                )
            for item, config in found:
                assert config is not None
                for store, got_backend, got_bucket in _loki_stores(config):
                    judge(item.label, store, got_backend, got_bucket)
    return violations


# --- replicas -----------------------------------------------------------------------------------

_DEMO = {"kafka": "the chart's single demo Kafka broker", "minio": "the chart's demo MinIO"}
_WRITE_PATH = {
    "mimir-distributed": ("gateway", "distributor", "ingester"),
    "loki": ("gateway", "write"),
}


def _component(item: KubeObject) -> str:
    labels = (item.manifest.get("metadata") or {}).get("labels") or {}
    return str(labels.get("app.kubernetes.io/component") or "")


def check_replicas(stack: StackObjects) -> list[Violation]:
    """No demo component (the chart's bundled Kafka or MinIO) is installed, and no write-path
    component (gateway, distributor, ingester; Loki's gateway and write) runs a single replica
    unless the inventory asks for one."""
    violations: list[Violation] = []
    by_resource = {c.resource: c for c in stack.charts}
    # A zone-aware component runs one StatefulSet per zone: its replicas are their sum.
    write_path: dict[tuple[str, str], list[KubeObject]] = {}
    for item in stack.of_kind("Deployment", "StatefulSet"):
        if item.chart is None:
            continue
        component = _component(item)
        for demo, what in _DEMO.items():
            if component == demo or item.name.endswith(f"-{demo}"):
                violations.append(Violation("replicas", item.label, f"is {what}; fleet never installs it"))
        chart = by_resource.get(item.chart)
        if chart is not None and component in _WRITE_PATH.get(chart.chart, ()):
            write_path.setdefault((item.chart, component), []).append(item)
    for (resource, _component_name), items in write_path.items():
        asked = stack.expect.replicas.get(resource)
        replicas = sum(int((i.manifest.get("spec") or {}).get("replicas", 1)) for i in items)
        if asked is not None and replicas == 1 and asked > 1:
            violations.append(
                Violation(
                    "replicas",
                    items[0].label,
                    f"runs a single replica in the write path; the inventory asks for {asked}",
                )
            )
    return violations


def check_all(stack: StackObjects) -> dict[str, list[Violation]]:
    """Every object proof but ``values``, by invariant (the ones that apply to this stack)."""
    proofs = {
        "provider": check_provider,
        "schema": check_schema,
        "references": check_references,
        "urls": check_urls,
        "alloy": check_alloy,
        "storage": check_storage,
        "replicas": check_replicas,
    }
    results: dict[str, list[Violation]] = {}
    for name, proof in proofs.items():
        if name == "alloy" and stack.expect.alloy is None:
            continue
        results[name] = proof(stack)
    return results
