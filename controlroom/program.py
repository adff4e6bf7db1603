"""The control-room Pulumi program: a plain function both engines call inside a Pulumi context."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

from controlroom.alerting import AlertingArgs, ControlRoomAlerting
from controlroom.cluster import cluster_identity
from controlroom.collector import NAMESPACE as COLLECTOR_NAMESPACE
from controlroom.collector import HubCollector, HubCollectorArgs
from controlroom.credentials import Credentials, CredentialsArgs
from controlroom.gateway import RELEASE as MIMIR_RELEASE
from controlroom.grafana import NAMESPACE as GRAFANA_NAMESPACE
from controlroom.grafana import Grafana, GrafanaArgs
from controlroom.kube import namespace
from controlroom.mimir import NAMESPACE, SERVICE_ACCOUNT, Mimir, MimirArgs
from fleet.inventory.models import CONTROLROOM, ControlRoomStack, credential_output
from kit.charts import chart_pin, gateway_url
from kit.network import controlroom_policies, network_policies
from kit.provider import kubernetes_provider
from kit.sizing import stack_sizing
from kit.storage import StorageArgs, StorageUser, object_storage

MIMIR_NAMESPACE = NAMESPACE


def controlroom_program(spec: ControlRoomStack, archives: Mapping[str, str] | None = None) -> None:
    """Create the control room: central Mimir, its storage, the workloads' credentials, the
    fleet Grafana and the hub's own collector; export ``push_url``, ``query_url``, ``tenants``,
    the secret ``reader`` and, per workload, its secret password as ``credential-<workload>``
    (one output each, so a workload's run reads its own and no other's).

    ``archives``: per component (``alloy``, ``mimir``, ``grafana``), the local chart archive to
    install it from (the Pulumi engine passes fleet's cached, checked archives); a component not named
    installs from its repository (``spec.charts``)."""
    archives = archives or {}
    room = spec.control_room
    sizing = stack_sizing(room.size, room.resources)
    kube = kubernetes_provider("controlroom-kubernetes", room.cluster)
    with_kube = pulumi.ResourceOptions(provider=kube)

    mimir_namespace = namespace("mimir-namespace", MIMIR_NAMESPACE, with_kube)
    credentials = Credentials(
        "credentials",
        CredentialsArgs(
            workloads=spec.workloads,
            namespace=mimir_namespace.metadata.name,
            generations={w: (g.generation, g.next) for w, g in spec.credentials.items()},
        ),
        opts=with_kube,
    )
    # The same component as a workload's storage, with one user: the central Mimir.
    storage = object_storage(
        "mimir-storage",
        StorageArgs(
            fleet=spec.fleet,
            owner=CONTROLROOM,
            account=room,
            cluster=cluster_identity(spec.fleet, room),
            users=(StorageUser("mimir", MIMIR_NAMESPACE, SERVICE_ACCOUNT),),
            tags={"fleet": spec.fleet, "stack": CONTROLROOM, "managed-by": "fleet"},
            zone_redundant=True,
        ),
    )
    alerting = ControlRoomAlerting(
        "alerting",
        AlertingArgs(
            alerting=spec.alerting, workloads=spec.workloads, namespace=mimir_namespace.metadata.name
        ),
        opts=with_kube,
    )
    # Grafana first: Mimir's chart puts its dashboards in Grafana's namespace.
    grafana = Grafana(
        "grafana",
        GrafanaArgs(
            **chart_pin(spec, archives, "grafana"),
            workloads=spec.workloads,
            mimir_url=gateway_url(MIMIR_RELEASE, MIMIR_NAMESPACE),
            reader_password=credentials.reader_password,
            sizing=sizing,
            replication_factor=min(3, room.mimir.replicas),
        ),
        opts=with_kube,
    )
    Mimir(
        "mimir",
        MimirArgs(
            control_room=room,
            **chart_pin(spec, archives, "mimir"),
            namespace=mimir_namespace.metadata.name,
            storage=storage.bindings["mimir"],
            alerting=spec.alerting,
            tenant_limits=spec.tenant_limits,
            sizing=sizing,
            dashboards_namespace=GRAFANA_NAMESPACE,
            depends_on=(
                grafana.namespace,
                credentials.htpasswd_secret,
                credentials.reader_htpasswd_secret,
                credentials.rotation_htpasswd_secret,
                *alerting.resources,
            ),
        ),
        opts=with_kube,
    )
    # The hub's own metrics (the fleet-hub rules, Mimir's dashboards) in its own tenant.
    collector = HubCollector(
        "hub-collector",
        HubCollectorArgs(
            **chart_pin(spec, archives, "alloy"),
            mimir_namespace=MIMIR_NAMESPACE,
            workloads=spec.workloads,
            sizing=sizing,
        ),
        opts=pulumi.ResourceOptions(provider=kube, depends_on=[mimir_namespace]),
    )

    network_policies(
        "network",
        controlroom_policies(
            mimir=MIMIR_NAMESPACE,
            grafana=GRAFANA_NAMESPACE,
            ingress_namespace=room.cluster.ingress_namespace,
            egress_settings=room.cluster.egress,
            kafka_ports=room.mimir.kafka.ports() if room.mimir.kafka else (),
            collector=COLLECTOR_NAMESPACE,
        ),
        pulumi.ResourceOptions(provider=kube, depends_on=[mimir_namespace, grafana, collector.namespace]),
    )

    pulumi.export("push_url", room.push_url)
    pulumi.export("query_url", room.query_url)
    pulumi.export("tenants", sorted(spec.workloads))
    for workload, password in credentials.passwords.items():
        pulumi.export(credential_output(workload), password)
    pulumi.export("reader", credentials.reader)
