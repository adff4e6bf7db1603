"""Requests and limits for every container fleet installs, from a size a user picks per stack.

A size names what a cluster sends, not how big its nodes are:

| size | fits a cluster of | local series | log volume |
|---|---|---|---|
| small | up to ~20 nodes | up to ~300k | up to ~2 MB/s |
| medium | up to ~100 nodes | up to ~1.5M | up to ~10 MB/s |
| large | up to ~400 nodes | up to ~5M | up to ~40 MB/s |

Requests are what a component needs at that load; limits are twice the requests (memory) and four
times (CPU), so a burst is absorbed and a leak is stopped. Each component can be overridden in the
inventory (``resources: {mimir-ingester: {cpu: 2, memory: 8Gi}}`` sets its requests; limits follow).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fleet.inventory.models import ResourceRequest, Size, SizedComponent


@dataclass(frozen=True)
class Resources:
    """A container's requests; the limits follow from them."""

    cpu_millis: int
    memory_mib: int

    def values(self) -> dict[str, dict[str, str]]:
        """Kubernetes ``resources``: requests, and limits of 4 times the CPU and 2 times the memory."""
        return {
            "requests": {"cpu": f"{self.cpu_millis}m", "memory": f"{self.memory_mib}Mi"},
            "limits": {"cpu": f"{4 * self.cpu_millis}m", "memory": f"{2 * self.memory_mib}Mi"},
        }


def _r(small: tuple[int, int], medium: tuple[int, int], large: tuple[int, int]) -> dict[str, Resources]:
    return {"small": Resources(*small), "medium": Resources(*medium), "large": Resources(*large)}


# (millicores, MiB) requests per size.
TABLE: dict[str, dict[str, Resources]] = {
    "alloy": _r((100, 256), (250, 512), (500, 1024)),  # per node (a DaemonSet)
    "alloy-events": _r((20, 128), (50, 192), (100, 384)),  # one per cluster: caches every event
    "mimir-distributor": _r((100, 256), (500, 1024), (1000, 2048)),
    "mimir-ingester": _r((250, 1024), (1000, 4096), (2000, 8192)),
    "mimir-querier": _r((100, 256), (500, 1024), (1000, 2048)),
    "mimir-query-frontend": _r((50, 128), (200, 256), (500, 512)),
    "mimir-query-scheduler": _r((50, 64), (100, 128), (200, 256)),
    "mimir-store-gateway": _r((100, 512), (250, 1024), (500, 2048)),
    "mimir-compactor": _r((100, 512), (500, 1024), (1000, 2048)),
    "mimir-ruler": _r((50, 128), (100, 256), (250, 512)),
    "mimir-alertmanager": _r((20, 64), (50, 128), (100, 256)),
    "mimir-overrides-exporter": _r((20, 64), (50, 64), (100, 128)),
    "mimir-gateway": _r((50, 64), (200, 128), (500, 256)),
    "loki-write": _r((100, 256), (500, 1024), (1000, 2048)),
    "loki-read": _r((100, 256), (500, 1024), (1000, 2048)),
    "loki-backend": _r((100, 256), (250, 512), (500, 1024)),
    "loki-gateway": _r((50, 64), (100, 128), (250, 256)),
    "grafana": _r((50, 128), (100, 256), (250, 512)),
    "kube-state-metrics": _r((20, 64), (100, 256), (250, 512)),
    # The control room's own Alloy: Mimir's pods' metrics and the gateway's access log.
    "hub-collector": _r((50, 128), (100, 256), (250, 512)),
}
SIDECAR = Resources(10, 32)
"""Config reloaders, cache exporters, Grafana's sidecar and init container: the same at every size."""
COMPONENTS: tuple[str, ...] = tuple(TABLE)


@dataclass(frozen=True)
class Sizing:
    """One stack's size and its per-component overrides (requests)."""

    size: Size = "medium"
    overrides: Mapping[str, Resources] | None = None

    def resources(self, component: str) -> dict[str, dict[str, str]]:
        """The Kubernetes ``resources`` of ``component`` at this size."""
        chosen = (self.overrides or {}).get(component) or TABLE[component][self.size]
        return chosen.values()


def parse_cpu_millis(text: str | int | float) -> int:
    """``"500m"`` → 500, ``"2"`` / ``2`` / ``0.5`` → 2000 / 500."""
    value = str(text).strip()
    if value.endswith("m"):
        return int(value[:-1])
    return round(float(value) * 1000)


_MEMORY_UNITS = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "Ti": 1024 * 1024}


def parse_memory_mib(text: str) -> int:
    """``"512Mi"`` → 512, ``"4Gi"`` → 4096."""
    value = text.strip()
    for unit, factor in _MEMORY_UNITS.items():
        if value.endswith(unit):
            return max(1, round(float(value[: -len(unit)]) * factor))
    raise ValueError(f"{text!r} is not a memory quantity like 512Mi or 4Gi")


def values_with(base: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """Set ``base[path...] = value``, creating the dicts on the way."""
    node = base
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


def stack_sizing(size: Size, requests: Mapping[SizedComponent, ResourceRequest]) -> Sizing:
    """The sizing of a stack from its inventory fields (``size``, ``resources``)."""
    overrides = {
        str(component): Resources(parse_cpu_millis(request.cpu), parse_memory_mib(request.memory))
        for component, request in requests.items()
    }
    return Sizing(size=size, overrides=overrides)


# Mimir's chart keys for the components a size sets.
_MIMIR_KEYS = {
    "mimir-distributor": "distributor",
    "mimir-ingester": "ingester",
    "mimir-querier": "querier",
    "mimir-query-frontend": "query_frontend",
    "mimir-query-scheduler": "query_scheduler",
    "mimir-store-gateway": "store_gateway",
    "mimir-compactor": "compactor",
    "mimir-ruler": "ruler",
    "mimir-alertmanager": "alertmanager",
    "mimir-overrides-exporter": "overrides_exporter",
    "mimir-gateway": "gateway",
}


ROLLOUT_OPERATOR = Resources(50, 100)
"""The rollout-operator (one small controller per Mimir): the same at every size."""


def mimir_resources(sizing: Sizing, *, disabled: tuple[str, ...] = ()) -> dict[str, Any]:
    """mimir-distributed values: every enabled component's ``resources`` at ``sizing``."""
    values: dict[str, Any] = {
        key: {"resources": sizing.resources(component)}
        for component, key in _MIMIR_KEYS.items()
        if component not in disabled
    }
    values["rollout_operator"] = {"resources": ROLLOUT_OPERATOR.values()}
    return values
