"""A plan's charts expanded into the Kubernetes objects they create.

A plan records each ``helm.v4.Chart`` as one resource with its chart, version, namespace, release
name and values. :func:`expand_plan` renders every one of them with Helm from the chart cache, the
way ``helm.v4.Chart`` does: the release is the chart's ``name`` input, else the Pulumi resource's
name; objects without a namespace land in the chart's namespace; hooks are not applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleet.charts.cache import ChartCache
from fleet.charts.helm import RenderedObject, template
from fleet.engines.base import REDACTED
from fleet.errors import OperationError

__all__ = [
    "CHART_TYPE",
    "DEFAULT_KUBE_VERSION",
    "ChartNotCached",
    "ExpandedChart",
    "KubeObject",
    "chart_resources",
    "expand_plan",
    "kubernetes_objects",
]

CHART_TYPE = "kubernetes:helm.sh/v4:Chart"
DEFAULT_KUBE_VERSION = "1.31"

# Kinds with no namespace (the ones the charts fleet installs can make).
_CLUSTER_SCOPED = frozenset(
    {
        "APIService",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "MutatingWebhookConfiguration",
        "Namespace",
        "PersistentVolume",
        "PriorityClass",
        "StorageClass",
        "ValidatingWebhookConfiguration",
        "IngressClass",
    }
)


class ChartNotCached(OperationError):
    """A chart version the plan uses is not in the chart cache."""


@dataclass(frozen=True)
class KubeObject:
    """One Kubernetes object a stack creates: from a chart (``chart`` set) or declared directly."""

    manifest: dict[str, Any]
    chart: str | None = None
    """The Pulumi name of the chart resource that renders it; None for the program's own."""
    provider: str | None = None
    """The Kubernetes provider (cluster) the object is applied through, when known."""

    @property
    def kind(self) -> str:
        return str(self.manifest.get("kind", ""))

    @property
    def name(self) -> str:
        return str((self.manifest.get("metadata") or {}).get("name", ""))

    @property
    def namespace(self) -> str | None:
        namespace = (self.manifest.get("metadata") or {}).get("namespace")
        return str(namespace) if namespace is not None else None

    @property
    def label(self) -> str:
        """``Kind namespace/name`` (or ``Kind name`` when cluster-scoped), for messages."""
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"


@dataclass(frozen=True)
class ExpandedChart:
    """One chart resource of a plan and what it renders to."""

    resource: str
    chart: str
    version: str
    release: str
    namespace: str
    values: Mapping[str, Any]
    archive: Path
    objects: list[dict[str, Any]] = field(default_factory=list)
    """What ``helm.v4.Chart`` applies."""
    hooks: list[dict[str, Any]] = field(default_factory=list)
    """Chart hooks: rendered by Helm, never applied by ``helm.v4.Chart``."""

    def summary(self, redact: bool) -> dict[str, Any]:
        """What ``fleet render`` writes beside the chart's values."""

        def entry(manifest: dict[str, Any], hook: bool) -> dict[str, Any]:
            metadata = manifest.get("metadata") or {}
            row = {
                "kind": manifest.get("kind"),
                "namespace": metadata.get("namespace"),
                "name": metadata.get("name"),
                "manifest": redact_secret(manifest) if redact else manifest,
            }
            if hook:
                row["hook"] = (metadata.get("annotations") or {}).get("helm.sh/hook")
                row["deployed"] = False
            return row

        return {
            "chart": self.chart,
            "version": self.version,
            "release": self.release,
            "namespace": self.namespace,
            "objects": [entry(m, False) for m in self.objects],
            "hooks": [entry(m, True) for m in self.hooks],
        }


def redact_secret(manifest: dict[str, Any]) -> dict[str, Any]:
    """``manifest`` with a Secret's ``data`` and ``stringData`` values replaced by REDACTED."""
    if manifest.get("kind") != "Secret":
        return manifest
    redacted = dict(manifest)
    for key in ("data", "stringData"):
        if isinstance(manifest.get(key), Mapping):
            redacted[key] = dict.fromkeys(manifest[key], REDACTED)
    return redacted


def chart_resources(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``helm.v4.Chart`` resources of a plan (the plan's own dicts)."""
    resources = plan.get("resources") or []
    return [r for r in resources if isinstance(r, dict) and r.get("type") == CHART_TYPE]


def _with_namespace(item: RenderedObject, namespace: str) -> dict[str, Any]:
    manifest = dict(item.manifest)
    metadata = dict(manifest.get("metadata") or {})
    if manifest.get("kind") not in _CLUSTER_SCOPED and not metadata.get("namespace"):
        metadata["namespace"] = namespace
    manifest["metadata"] = metadata
    return manifest


def expand_chart(resource: Mapping[str, Any], cache: ChartCache, kube_version: str) -> ExpandedChart:
    """Render one chart resource of a plan. Raises ChartNotCached or OperationError."""
    inputs = resource.get("inputs") or {}
    # An OCI chart is referenced as oci://registry/path/<chart>; its archive is <chart>-<version>.tgz.
    chart = str(inputs.get("chart") or "").rsplit("/", 1)[-1]
    version = str(inputs.get("version") or "")
    release = str(inputs.get("name") or resource.get("name"))
    namespace = str(inputs.get("namespace") or "default")
    values = inputs.get("values") or {}
    archive = cache.archive(chart, version)
    if archive is None:
        raise ChartNotCached(
            f"chart {chart} {version} is not in the chart cache ({cache.root}); "
            f"run `fleet charts pull` (or `fleet charts pull --from DIR` offline)"
        )
    rendered = template(
        archive, release=release, namespace=namespace, values=values, kube_version=kube_version
    )
    applied = [_with_namespace(item, namespace) for item in rendered if item.hook is None]
    hooks = [_with_namespace(item, namespace) for item in rendered if item.hook is not None]
    return ExpandedChart(
        resource=str(resource.get("name")),
        chart=chart,
        version=version,
        release=release,
        namespace=namespace,
        values=values,
        archive=archive,
        objects=applied,
        hooks=hooks,
    )


def expand_plan(plan: Mapping[str, Any], cache: ChartCache, kube_version: str) -> list[ExpandedChart]:
    """Every chart of ``plan``, rendered."""
    return [expand_chart(resource, cache, kube_version) for resource in chart_resources(plan)]


def _api_version(type_token: str) -> tuple[str, str] | None:
    """``kubernetes:core/v1:Secret`` → (``v1``, ``Secret``); None for what is not an object."""
    parts = type_token.split(":")
    if len(parts) != 3 or parts[0] != "kubernetes" or "/" not in parts[1]:
        return None
    group, version = parts[1].split("/", 1)
    if group == "helm.sh" or group == "yaml":
        return None
    return (version if group == "core" else f"{group}/{version}", parts[2])


def _declared_manifest(resource: Mapping[str, Any]) -> dict[str, Any] | None:
    token = str(resource.get("type", ""))
    api = _api_version(token)
    if api is None:
        return None
    inputs = dict(resource.get("inputs") or {})
    inputs.pop("apiVersion", None)
    inputs.pop("kind", None)
    for key in ("data", "stringData"):
        # A redacted plan hides a Secret's whole map; its keys are unknown, not a string.
        if inputs.get(key) == REDACTED:
            inputs[key] = {}
    return {"apiVersion": api[0], "kind": api[1], **inputs}


def kubernetes_objects(plan: Mapping[str, Any], charts: list[ExpandedChart]) -> list[KubeObject]:
    """Every Kubernetes object a stack creates: the program's own and every chart's."""
    objects: list[KubeObject] = []
    for resource in plan.get("resources") or []:
        manifest = _declared_manifest(resource)
        if manifest is not None:
            objects.append(KubeObject(manifest, provider=resource.get("provider")))
    by_resource = {str(r.get("name")): r for r in chart_resources(plan)}
    for chart in charts:
        provider = (by_resource.get(chart.resource) or {}).get("provider")
        objects += [KubeObject(m, chart=chart.resource, provider=provider) for m in chart.objects]
    return objects
