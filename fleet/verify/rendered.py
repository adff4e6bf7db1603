"""The object proofs of every stack of a render: each plan's charts expanded with Helm from the
chart cache, the program's own objects beside them, and the inventory's expectations.

Charts are rendered once per distinct input (:func:`fleet.charts.helm.template` caches them), so
stacks with the same chart versions and values share one Helm run.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fleet.charts.cache import ChartCache, default_cache_dir
from fleet.charts.expand import expand_plan, kubernetes_objects
from fleet.engines.base import EventSink
from fleet.inventory.models import CONTROLROOM, AlertRouting, Cluster, Egress
from fleet.verify.alerting import check_alerting
from fleet.verify.dataflow import Violation
from fleet.verify.hardening import check_hardening
from fleet.verify.objects import (
    Expectation,
    StackObjects,
    check_provider,
    check_references,
    check_schema,
    provided_references,
)
from fleet.verify.stores import check_replicas, check_storage
from fleet.verify.values import check_values
from fleet.verify.wiring import check_alloy, check_urls

if TYPE_CHECKING:
    from fleet.inventory.loader import Inventory

__all__ = ["egress_addresses", "expectation", "verify_objects"]


def _kubeconfig(cluster: Cluster) -> str | None:
    """The kubeconfig as the program hands it to the provider (a path has ``~`` expanded)."""
    kubeconfig = cluster.kubeconfig
    if kubeconfig is not None and "\n" not in kubeconfig:
        return os.path.expanduser(kubeconfig)
    return kubeconfig


def egress_addresses(egress: Egress) -> dict[str, tuple[str, int]] | None:
    """An address (the first host of the first network) and the first port of each destination
    outside the pods, for the network proof; None when egress is not restricted."""
    if not egress.restricted:
        return None
    found: dict[str, tuple[str, int]] = {}
    for name in ("api_server", "object_storage", "control_room", "notifications"):
        target = getattr(egress, name)
        network = ipaddress.ip_network(target.cidrs[0], strict=False)
        host = next(iter(network.hosts()), network.network_address)
        found[name] = (str(host), target.ports[0])
    return found


def _receiver_secrets(routing: AlertRouting, namespace: str) -> set[tuple[str, str, str]]:
    """The existing Secrets the receivers' ``kubernetes:`` references name (a secret store keeps
    them beside the Alertmanager, in ``namespace``): provided, not created by the stack."""
    from kit.alerting.alertmanager import secret_refs

    return {
        ("Secret", namespace, ref.kubernetes.partition("/")[0])
        for ref in secret_refs(routing).values()
        if ref.kubernetes is not None
    }


def expectation(inventory: Inventory, stack: str) -> Expectation:
    """What the inventory says ``stack``'s objects must be."""
    from controlroom.program import MIMIR_NAMESPACE
    from workloads.alloy import AUTH_SECRET, CONFIG_KEY, CONFIG_MAP
    from workloads.alloy_events import CONFIG_MAP as EVENTS_CONFIG_MAP
    from workloads.alloy_events import RELEASE as EVENTS_RELEASE
    from workloads.program import ALLOY_NAMESPACE, GRAFANA_NAMESPACE
    from workloads.program import MIMIR_NAMESPACE as WORKLOAD_MIMIR_NAMESPACE

    if stack == CONTROLROOM:
        room = inventory.fleet.spec.control_room
        provided: set[tuple[str, str, str]] = set()
        if room.tls is not None and room.tls.secret is not None:
            provided.add(("Secret", MIMIR_NAMESPACE, room.tls.secret))
        provided |= _receiver_secrets(inventory.fleet.spec.alerting, MIMIR_NAMESPACE)
        return Expectation(
            cloud=room.cloud,
            kubeconfig=_kubeconfig(room.cluster),
            context=room.cluster.context,
            kubernetes_version=room.cluster.kubernetes_version,
            provided=frozenset(provided),
            replicas={"mimir-chart": room.mimir.replicas},
            ingress_namespace=room.cluster.ingress_namespace,
            tenants=tuple(inventory.names),
            egress=egress_addresses(room.cluster.egress),
            kafka_ports=room.mimir.kafka.ports() if room.mimir.kafka else (),
        )
    spec = inventory.workload_stack(stack).workload.spec
    workload_provided: set[tuple[str, str, str]] = set()
    if spec.grafana.tls is not None and spec.grafana.tls.secret is not None:
        workload_provided.add(("Secret", GRAFANA_NAMESPACE, spec.grafana.tls.secret))
    if spec.alerting.enabled:
        workload_provided |= _receiver_secrets(spec.alerting, WORKLOAD_MIMIR_NAMESPACE)
    return Expectation(
        provided=frozenset(workload_provided),
        cloud=spec.cloud,
        kubeconfig=_kubeconfig(spec.cluster),
        context=spec.cluster.context,
        kubernetes_version=spec.cluster.kubernetes_version,
        replicas={"mimir-chart": spec.mimir.replicas, "loki-chart": spec.loki.replicas},
        alloy=(ALLOY_NAMESPACE, CONFIG_MAP, CONFIG_KEY, AUTH_SECRET),
        events=(
            (ALLOY_NAMESPACE, EVENTS_RELEASE, EVENTS_CONFIG_MAP, CONFIG_KEY) if spec.alloy.events else None
        ),
        ingress_namespace=spec.cluster.ingress_namespace,
        grafana_ingress=spec.grafana.hostname is not None,
        egress=egress_addresses(spec.cluster.egress),
        kafka_ports=spec.mimir.kafka.ports() if spec.mimir.kafka else (),
    )


def verify_objects(
    inventory: Inventory,
    plans: Mapping[str, Mapping[str, Any]],
    cache: ChartCache | None = None,
    events: EventSink | None = None,
    notes: dict[str, dict[str, str]] | None = None,
) -> dict[str, dict[str, list[Violation]]]:
    """The object proofs of every inventory stack in ``plans``, by stack then invariant.

    ``notes``, when given, receives what a passing proof relied on, by stack then invariant (the
    ``references`` proof: the objects provided outside fleet it accepted).

    ``events`` hears one line per stack as it starts. Raises
    :class:`fleet.charts.expand.ChartNotCached` (exit 1, naming the chart, its version
    and how to pull it) when a chart is not in the cache, OperationError when one does not render.
    """
    cache = cache if cache is not None else ChartCache(default_cache_dir())
    results: dict[str, dict[str, list[Violation]]] = {}
    for stack in inventory.stacks():
        plan = plans.get(stack)
        if plan is None:
            continue
        if events is not None:
            events(f"proving {stack}'s rendered objects")
        expect = expectation(inventory, stack)
        charts = expand_plan(plan, cache, expect.kubernetes_version)
        objects = StackObjects(stack, plan, charts, kubernetes_objects(plan, charts), expect)
        proofs = {
            "provider": check_provider(objects),
            "schema": check_schema(objects),
            "references": check_references(objects),
            "urls": check_urls(objects),
        }
        if expect.alloy is not None:
            proofs["alloy"] = check_alloy(objects)
        proofs["storage"] = check_storage(objects)
        proofs["replicas"] = check_replicas(objects)
        proofs["values"] = [v for chart in charts for v in check_values(chart, expect.kubernetes_version)]
        proofs["alerting"] = check_alerting(objects)
        proofs.update(check_hardening(objects))
        results[stack] = proofs
        provided = provided_references(objects)
        if notes is not None and provided:
            notes.setdefault(stack, {})["references"] = (
                f"{', '.join(provided)}: provided outside fleet, named by the inventory"
            )
    return results
