"""The control room's Grafana: one metrics datasource, the central Mimir, querying every
workload's tenant and the hub's own at once through tenant federation
(``X-Scope-OrgID: a|b|controlroom``), and the central Mimir's Alertmanager, where the fleet's
alerts are (the hub's own tenant), to see them, their silences and the configuration (contact
points, notification policies) read-only.
fleet's dashboards are provisioned from the values; Mimir's own (the chart's mixin dashboards,
ConfigMaps the Mimir release puts in Grafana's namespace) are loaded by the chart's dashboards
sidecar, which reads ConfigMaps in its own namespace only.

No Loki datasource: logs never leave the workloads. The reader password reaches Grafana through a
Secret and an environment variable, never through the chart values; the admin password is random
and lives in its own Secret. Both datasources go through the hub's gateway with the reader's
credential; the gateway lets the reader reach the Alertmanager of the hub's own tenant only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from controlroom.credentials import READER_USERNAME
from controlroom.kube import namespace
from kit.alerting.catalogue import OWNER_TENANT
from kit.charts import chart_source, merged
from kit.dashboards import controlroom_dashboards, grafana_dashboard_values
from kit.grafana import grafana_production_values
from kit.security import container_security_context
from kit.sizing import SIDECAR, Sizing

CHART = "grafana"
NAMESPACE = "grafana"
ADMIN_SECRET = "grafana-admin"
READER_SECRET = "grafana-mimir-reader"
READER_ENV = "MIMIR_READER_PASSWORD"
DATASOURCE_UID = "fleet-mimir"
ALERTMANAGER_UID = "fleet-alertmanager"
DASHBOARD_LABEL = "grafana_dashboard"
DASHBOARD_LABEL_VALUE = "1"
"""The label mimir-distributed puts on its dashboards' ConfigMaps (``metaMonitoring.dashboards``)."""
FOLDER_ANNOTATION = "k8s-sidecar-target-directory"
"""The annotation naming each ConfigMap's folder (the chart's: ``/tmp/dashboards/Mimir Dashboards``)."""


def federated_tenants(workloads: Sequence[str]) -> str:
    """The ``X-Scope-OrgID`` value that federates every workload's tenant: ``a|b|c``."""
    return "|".join(sorted(set(workloads)))


def mimir_datasource(url: str, workloads: Sequence[str]) -> dict[str, Any]:
    """Grafana's provisioned datasource for the central Mimir (the password from the env): every
    workload's tenant and the hub's own (:data:`OWNER_TENANT`: the hub collector's series, the
    alerts the ruler records), federated."""
    return {
        "name": "Mimir (fleet)",
        "uid": DATASOURCE_UID,
        "type": "prometheus",
        "access": "proxy",
        "url": url,
        "isDefault": True,
        "editable": False,
        "basicAuth": True,
        "basicAuthUser": READER_USERNAME,
        "jsonData": {"httpHeaderName1": "X-Scope-OrgID", "prometheusType": "Mimir", "httpMethod": "POST"},
        "secureJsonData": {
            "httpHeaderValue1": federated_tenants([*workloads, OWNER_TENANT]),
            "basicAuthPassword": f"${READER_ENV}",
        },
    }


def alertmanager_datasource(url: str) -> dict[str, Any]:
    """Grafana's provisioned datasource for the central Mimir's Alertmanager, through the gateway
    at ``url`` (its root: with ``implementation: mimir`` Grafana adds ``/alertmanager/api/v2/...``
    and, for contact points and notification policies, Mimir's configuration API
    ``/api/v1/alerts``), in the hub's own tenant (:data:`OWNER_TENANT`), where the ruler sends the
    fleet's alerts. The jsonData keys are Grafana's (``AlertManagerDataSourceJsonData``:
    ``implementation``, ``handleGrafanaManagedAlerts``; ``httpHeaderName1`` with
    ``secureJsonData.httpHeaderValue1``, the datasource proxy's custom header)."""
    return {
        "name": "Alertmanager (fleet)",
        "uid": ALERTMANAGER_UID,
        "type": "alertmanager",
        "access": "proxy",
        "url": url,
        "editable": False,
        "basicAuth": True,
        "basicAuthUser": READER_USERNAME,
        # The fleet's alerts are Mimir's ruler's; Grafana's own alerting sends nothing here.
        "jsonData": {
            "implementation": "mimir",
            "handleGrafanaManagedAlerts": False,
            "httpHeaderName1": "X-Scope-OrgID",
        },
        "secureJsonData": {"httpHeaderValue1": OWNER_TENANT, "basicAuthPassword": f"${READER_ENV}"},
    }


def grafana_values(
    gateway_url: str, workloads: Sequence[str], sizing: Sizing | None = None, replication_factor: int = 3
) -> dict[str, Any]:
    """The chart values for the control room's Grafana (its datasources on the Mimir gateway at
    ``gateway_url``), with fleet's dashboards provisioned."""
    sources = [mimir_datasource(f"{gateway_url}/prometheus", workloads), alertmanager_datasource(gateway_url)]
    values: dict[str, Any] = {
        "admin": {"existingSecret": ADMIN_SECRET, "userKey": "admin-user", "passwordKey": "admin-password"},
        "envValueFrom": {READER_ENV: {"secretKeyRef": {"name": READER_SECRET, "key": "password"}}},
        "datasources": {"datasources.yaml": {"apiVersion": 1, "datasources": sources}},
        # Mimir's own dashboards: the chart's ConfigMaps in this namespace, loaded by the sidecar.
        "sidecar": {
            "resources": SIDECAR.values(),
            "securityContext": container_security_context(),
            "dashboards": {
                "enabled": True,
                "label": DASHBOARD_LABEL,
                "labelValue": DASHBOARD_LABEL_VALUE,
                "resource": "configmap",
                "folderAnnotation": FOLDER_ANNOTATION,
                "provider": {"foldersFromFilesStructure": True},
            },
        },
        # The sidecar reads ConfigMaps in Grafana's namespace only: a Role, not a ClusterRole.
        "rbac": {"namespaced": True},
        "testFramework": {"enabled": False},
        "grafana.ini": {
            "analytics": {"reporting_enabled": False, "check_for_updates": False},
            "auth.anonymous": {"enabled": False},
            "users": {"allow_sign_up": False},
        },
    }
    dashboards = grafana_dashboard_values(controlroom_dashboards(DATASOURCE_UID, replication_factor))
    return merged(merged(values, grafana_production_values(sizing or Sizing())), dashboards)


@dataclass(frozen=True)
class GrafanaArgs:
    version: str
    """grafana chart version, from the fleet's version set."""
    repository: str
    """Where the chart is published (``spec.charts`` in fleet.yaml)."""
    workloads: Sequence[str]
    mimir_url: pulumi.Input[str]
    """In-cluster base URL of the Mimir gateway; the metrics datasource queries
    ``<url>/prometheus``, the Alertmanager datasource is ``<url>`` itself (Grafana adds
    ``/alertmanager/api/v2/...`` and ``/api/v1/alerts``)."""
    reader_password: pulumi.Input[str]
    sizing: Sizing = field(default_factory=Sizing)
    replication_factor: int = 3
    """The central Mimir's ingester replication factor (the overview's series count divides by it)."""
    archive: str | None = None
    """The chart's cached archive (an absolute path) when the deploying engine installs from
    fleet's chart cache; None: from ``repository``."""


class Grafana(pulumi.ComponentResource):
    """Grafana for the whole fleet, reading only the central Mimir (and its Alertmanager)."""

    chart: k8s.helm.v4.Chart
    namespace: k8s.core.v1.Namespace
    """Where Grafana runs and where its sidecar finds dashboards."""

    def __init__(self, name: str, args: GrafanaArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleet:controlroom:Grafana", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        ns = self.namespace = namespace(f"{name}-namespace", NAMESPACE, child)
        admin = random.RandomPassword(f"{name}-admin-password", length=32, special=False, opts=child)
        labels = {"app.kubernetes.io/managed-by": "fleet"}
        admin_password: pulumi.Output[str] = pulumi.Output.secret(admin.result)
        reader_password: pulumi.Output[str] = pulumi.Output.secret(args.reader_password)
        admin_secret = k8s.core.v1.Secret(
            f"{name}-admin",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=ADMIN_SECRET, namespace=ns.metadata.name, labels=labels),
            type="Opaque",
            string_data={"admin-user": "admin", "admin-password": admin_password},
            opts=child,
        )
        reader_secret = k8s.core.v1.Secret(
            f"{name}-reader",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=READER_SECRET, namespace=ns.metadata.name, labels=labels
            ),
            type="Opaque",
            string_data={"password": reader_password},
            opts=child,
        )
        workloads = tuple(args.workloads)
        values = pulumi.Output.from_input(args.mimir_url).apply(
            lambda url: grafana_values(url, workloads, args.sizing, args.replication_factor)
        )
        self.chart = k8s.helm.v4.Chart(
            f"{name}-chart",
            name="grafana",
            version=args.version,
            **chart_source(CHART, args.repository, args.archive),
            namespace=ns.metadata.name,
            values=values,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[admin_secret, reader_secret]),
        )
        self.register_outputs({})
