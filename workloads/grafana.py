"""The workload's Grafana: reads the local Mimir and the local Loki, nothing else; with local
alerting on, also the local Mimir's Alertmanager (its alerts and silences)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from fleet.inventory.models import GrafanaSettings
from kit.charts import grafana_chart, merged
from kit.dashboards import grafana_dashboard_values, workload_dashboards
from kit.grafana import grafana_production_values
from kit.namespaces import MANAGED_BY
from kit.sizing import Sizing

RELEASE = "grafana"
ADMIN_SECRET = "grafana-admin"
ADMIN_USER = "admin"
USER_KEY = "admin-user"
PASSWORD_KEY = "admin-password"
MIMIR_UID = "mimir"
"""The local Mimir datasource's uid, which the dashboards name."""
ALERTMANAGER_UID = "alertmanager"
INGRESS_TLS_SECRET = "grafana-tls"


@dataclass(frozen=True)
class GrafanaArgs:
    version: str
    repository: str
    """Where the chart is published (``spec.charts`` in fleet.yaml)."""
    namespace: pulumi.Input[str]
    settings: GrafanaSettings
    mimir_url: pulumi.Input[str]
    """The local Mimir's Prometheus API, ``.../prometheus``."""
    loki_url: pulumi.Input[str]
    """The local Loki gateway."""
    alertmanager_url: pulumi.Input[str] | None = None
    """The local Mimir's gateway (Grafana adds ``/alertmanager/api/v2/...``) when the workload
    runs local alerting; None: no Alertmanager datasource."""
    workload: str = ""
    """The workload's name, which its dashboards filter on."""
    sizing: Sizing = field(default_factory=Sizing)
    archive: str | None = None
    """The chart's cached archive (an absolute path) when the deploying engine installs from
    fleet's chart cache; None: from ``repository``."""


def alertmanager_datasource(url: pulumi.Input[str]) -> dict[str, Any]:
    """The local Mimir's Alertmanager as a Grafana datasource. ``url`` is the Mimir gateway's
    root: with ``implementation: mimir`` Grafana itself adds Mimir's Alertmanager prefix
    (``/alertmanager/api/v2/...``, Mimir's default ``-http.alertmanager-http-prefix``), which
    the gateway sends to the Alertmanager. No tenant header: the local Mimir is single-tenant,
    every request is its no-auth tenant, where the workload's alerts land."""
    return {
        "name": "Alertmanager",
        "uid": ALERTMANAGER_UID,
        "type": "alertmanager",
        "access": "proxy",
        "url": url,
        "editable": False,
        # fleet's alerts are Mimir's and Loki's rulers'; Grafana's own alerting sends nothing here.
        "jsonData": {"implementation": "mimir", "handleGrafanaManagedAlerts": False},
    }


def datasources(
    mimir_url: pulumi.Input[str],
    loki_url: pulumi.Input[str],
    alertmanager_url: pulumi.Input[str] | None = None,
) -> dict[str, Any]:
    """Grafana's provisioned datasources: the workload's own Mimir (default) and Loki, and its
    Mimir's Alertmanager when ``alertmanager_url`` is given (local alerting)."""
    sources: list[dict[str, Any]] = [
        {
            "name": "Mimir",
            "uid": MIMIR_UID,
            "type": "prometheus",
            "access": "proxy",
            "url": mimir_url,
            "isDefault": True,
            "editable": False,
            "jsonData": {"prometheusType": "Mimir", "httpMethod": "POST"},
        },
        {
            "name": "Loki",
            "uid": "loki",
            "type": "loki",
            "access": "proxy",
            "url": loki_url,
            "editable": False,
        },
    ]
    if alertmanager_url is not None:
        sources.append(alertmanager_datasource(alertmanager_url))
    return {"apiVersion": 1, "datasources": sources}


def grafana_values(args: GrafanaArgs) -> dict[str, Any]:
    """The chart values: the admin login from our Secret, the datasources, fleet's
    dashboards of the workload's pipeline, optional ingress."""
    values: dict[str, Any] = {
        "fullnameOverride": RELEASE,
        "admin": {"existingSecret": ADMIN_SECRET, "userKey": USER_KEY, "passwordKey": PASSWORD_KEY},
        "datasources": {
            "datasources.yaml": datasources(args.mimir_url, args.loki_url, args.alertmanager_url)
        },
        "grafana.ini": {"analytics": {"reporting_enabled": False, "check_for_updates": False}},
        **grafana_dashboard_values(workload_dashboards(MIMIR_UID, args.workload)),
    }
    hostname = args.settings.hostname
    if hostname is not None:
        tls = args.settings.tls
        annotations: dict[str, str] = {}
        secret = INGRESS_TLS_SECRET
        if tls is not None and tls.secret is not None:
            secret = tls.secret
        elif tls is not None and tls.cluster_issuer is not None:
            annotations["cert-manager.io/cluster-issuer"] = tls.cluster_issuer
        elif tls is not None and tls.issuer is not None:
            annotations["cert-manager.io/issuer"] = tls.issuer
        values["ingress"] = {
            "enabled": True,
            "hosts": [hostname],
            "path": "/",
            "pathType": "Prefix",
            "annotations": annotations,
            # root_url is https: the ingress terminates TLS with the certificate in this Secret,
            # which cert-manager fills (an issuer annotation) or the inventory names.
            "tls": [{"secretName": secret, "hosts": [hostname]}],
        }
        if tls is not None and tls.ingress_class is not None:
            values["ingress"]["ingressClassName"] = tls.ingress_class
        values["grafana.ini"]["server"] = {"domain": hostname, "root_url": f"https://{hostname}/"}
    return merged(values, grafana_production_values(args.sizing))


class Grafana(pulumi.ComponentResource):
    """Grafana for one workload, its admin password generated and kept in a Secret."""

    admin_password: pulumi.Output[str]
    url: pulumi.Output[str] | None

    def __init__(self, name: str, args: GrafanaArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("fleet:workload:Grafana", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        password = random.RandomPassword(f"{name}-admin-password", length=32, special=False, opts=child)
        self.admin_password = pulumi.Output.secret(password.result)
        self.secret = k8s.core.v1.Secret(
            f"{name}-admin",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=ADMIN_SECRET, namespace=args.namespace, labels=dict(MANAGED_BY)
            ),
            type="Opaque",
            string_data={USER_KEY: ADMIN_USER, PASSWORD_KEY: self.admin_password},
            opts=child,
        )
        self.chart = grafana_chart(
            f"{name}-chart",
            release=RELEASE,
            chart="grafana",
            version=args.version,
            repository=args.repository,
            archive=args.archive,
            namespace=args.namespace,
            values=grafana_values(args),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.secret]),
        )
        hostname = args.settings.hostname
        self.url = None if hostname is None else pulumi.Output.from_input(f"https://{hostname}/")
        self.register_outputs({"url": self.url})
