"""Proofs ``storage`` and ``replicas``: what the charts run, read from the rendered objects.

- ``storage``: Mimir's and Loki's effective configuration (after the chart's own merge, as
  rendered into their ConfigMaps) keeps every store on the stack's cloud, in a bucket it creates;
- ``replicas``: no demo component, and no single-replica write path the inventory did not ask for.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from fleet.charts.expand import KubeObject
from fleet.charts.helm import load_yaml
from fleet.verify.dataflow import Violation
from fleet.verify.objects import StackObjects, pod_spec, volume_config_maps

__all__ = ["check_replicas", "check_storage"]


# --- storage ------------------------------------------------------------------------------------


def _buckets(plan: Mapping[str, Any]) -> set[str]:
    """Every bucket (S3) and storage container (``account/container``) the plan creates."""
    found: set[str] = set()
    for resource in plan.get("resources") or []:
        inputs = resource.get("inputs") or {}
        if resource.get("type") == "aws:s3/bucket:Bucket" and inputs.get("bucket"):
            found.add(str(inputs["bucket"]))
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
_LOKI_RULERS = ("backend", "ruler", "single-binary")
"""The loki chart's components whose pods run Loki's ruler (simple scalable, distributed, single binary)."""


def _judge_shipped_store(
    stack: StackObjects, chart: str, item: KubeObject, config: Mapping[str, Any], store: str
) -> list[Violation]:
    """A Mimir ``local`` ruler or Alertmanager store: see :func:`_judge_mounted`."""
    component, key = _SHIPPED_STORES[store]
    path = str(((config.get(store) or {}).get("local") or {}).get(key) or "")
    return _judge_mounted(stack, chart, item, store, key, path, (component,))


def _judge_mounted(
    stack: StackObjects,
    chart: str,
    item: KubeObject,
    store: str,
    key: str,
    path: str,
    components: tuple[str, ...],
) -> list[Violation]:
    """A ``local`` ruler or Alertmanager store holds configuration the stack ships (rules, the
    Alertmanager's routes), never data: every pod of the components that read it mounts, at or
    below its path, a ConfigMap the plan creates."""
    path = path.rstrip("/")
    if not path:
        return [Violation("storage", item.label, f"{store} is local with no {key}")]
    pods = [
        o
        for o in stack.of_kind("Deployment", "StatefulSet")
        if o.chart == chart and _component(o) in components
    ]
    if not pods:
        runs = " or ".join(components)
        return [Violation("storage", item.label, f"{store} is local but the chart runs no {runs}")]
    violations: list[Violation] = []
    for pod in pods:
        spec = pod_spec(pod) or {}
        config_maps = volume_config_maps(spec)
        shipped = [
            name
            for container in spec.get("containers") or []
            for mount in container.get("volumeMounts") or []
            if mount.get("name") in config_maps
            and (mount.get("mountPath", "").rstrip("/") + "/").startswith(path + "/")
            for name in config_maps[mount.get("name")]
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
    stack's cloud backend, in a bucket the stack creates, blocks apart from the others (their own
    bucket or prefix); Loki's chunks, rules and delete requests likewise."""
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
                places = {}
                for store in ("blocks_storage", "ruler_storage", "alertmanager_storage"):
                    got_backend, got_bucket = _mimir_store(config, store)
                    if got_backend == "local" and store in _SHIPPED_STORES:
                        violations += _judge_shipped_store(stack, chart.resource, item, config, store)
                    else:
                        judge(item.label, store, got_backend, got_bucket)
                    prefix = str((config.get(store) or {}).get("storage_prefix") or "")
                    places[store] = (*_mimir_store(config, store), prefix)
                for other in ("ruler_storage", "alertmanager_storage"):
                    # Mimir refuses to start when blocks share a bucket and prefix with another store.
                    if places[other] == places["blocks_storage"]:
                        violations.append(
                            Violation(
                                "storage",
                                item.label,
                                f"blocks_storage and {other} share bucket and prefix "
                                f"{places[other][1]!r}/{places[other][2]!r}; Mimir will not start",
                            )
                        )
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
                    if store == "ruler.storage" and got_backend == "local":
                        ruler = (config.get("ruler") or {}).get("storage") or {}
                        path = str((ruler.get("local") or {}).get("directory") or "")
                        violations += _judge_mounted(
                            stack, chart.resource, item, store, "local.directory", path, _LOKI_RULERS
                        )
                    else:
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
        counts = [(i.manifest.get("spec") or {}).get("replicas", 1) for i in items]
        replicas = sum(c for c in counts if isinstance(c, int))  # not a number: the schema proof says so
        if asked is not None and replicas == 1 and asked > 1:
            violations.append(
                Violation(
                    "replicas",
                    items[0].label,
                    f"runs a single replica in the write path; the inventory asks for {asked}",
                )
            )
    return violations
