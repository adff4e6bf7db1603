"""The workload's Alloy: a clustered DaemonSet that dual-writes metrics and keeps logs local.

The program owns Alloy's configuration (a ConfigMap rendered by :mod:`workloads.alloy_config`)
and the ``mimir-auth`` Secret holding the control room's password for this workload; the chart
only runs Alloy with them. RBAC is spelled out here rather than taken from the chart: Alloy may
discover and scrape cluster objects and read the one ``mimir-auth`` Secret, not every Secret.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from fleet.inventory.models import AlloySettings, CentralExport, Toleration
from kit.alerting.catalogue import HUB_READS_FROM_WORKLOADS
from kit.alloy.chart import ALLOY_USER, alloy_chart, chart_values, grant, storage_mount, storage_volume
from kit.alloy.chart import CONFIG_KEY as CONFIG_KEY
from kit.alloy.chart import config_map as alloy_config_map
from kit.namespaces import MANAGED_BY
from kit.security import SECCOMP, pod_security_context
from kit.sizing import Sizing
from workloads.alloy_config import AlloyPipeline, render_alloy_config

RELEASE = "alloy"
SERVICE_ACCOUNT = RELEASE
CONFIG_MAP = "alloy-config"
AUTH_SECRET = "mimir-auth"
AUTH_PASSWORD_KEY = "password"
AUTH_USERNAME_KEY = "username"
HOST_ROOT = "/host/root"
HOST_PROC = "/host/proc"
HOST_SYS = "/host/sys"

# What the generated pipeline reads from the API: pods and services to discover, pod logs, and
# the kubelets through the API server's node proxy.
NAMESPACED_RULES: list[dict[str, Any]] = [
    {
        "apiGroups": ["", "discovery.k8s.io"],
        "resources": ["pods", "services", "endpoints", "endpointslices"],
        "verbs": ["get", "list", "watch"],
    },
    {"apiGroups": [""], "resources": ["pods/log", "namespaces"], "verbs": ["get", "list", "watch"]},
]
CLUSTER_RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["nodes/metrics", "nodes/proxy"], "verbs": ["get"]},
    {"nonResourceURLs": ["/metrics"], "verbs": ["get"]},
]
# The node's filesystems for the built-in node_exporter (prometheus.exporter.unix), read-only,
# at the paths AlloyPipeline expects.
HOST_PATHS = (
    ("host-root", "/", HOST_ROOT),
    ("host-proc", "/proc", HOST_PROC),
    ("host-sys", "/sys", HOST_SYS),
)
# The node's systemd journal, read-only; machine-id names the journal directory.
JOURNAL_PATHS = (
    ("journal-var", "/var/log/journal", "/var/log/journal"),
    ("journal-run", "/run/log/journal", "/run/log/journal"),
    ("machine-id", "/etc/machine-id", "/etc/machine-id"),
)


@dataclass(frozen=True)
class AlloyArgs:
    version: str
    repository: str
    """Where the chart is published (``spec.charts`` in fleet.yaml)."""
    namespace: pulumi.Input[str]
    workload: str
    settings: AlloySettings
    central: CentralExport
    central_push_url: str
    """The control room's push URL (``https://mimir.<domain>/api/v1/push``)."""
    central_password: pulumi.Input[str]
    """This workload's password at the control room (a secret)."""
    local_metrics_url: pulumi.Input[str]
    local_logs_url: pulumi.Input[str]
    stack_namespaces: tuple[str, ...] = ()
    """Where the stack's own Mimir, Loki and Grafana run (scraped for self-monitoring)."""
    sizing: Sizing = field(default_factory=Sizing)
    events_collector_selector: str | None = None
    """Label selector of the events collector's pods, which this Alloy scrapes; None: none."""
    archive: str | None = None
    """The chart's cached archive (an absolute path) when the deploying engine installs from
    fleet's chart cache; None: from ``repository``."""


def alloy_pipeline(
    args: AlloyArgs, namespace: str, local_metrics_url: str, local_logs_url: str
) -> AlloyPipeline:
    """The pipeline Alloy runs, from the workload's spec and the local endpoints."""
    return AlloyPipeline(
        workload=args.workload,
        local_metrics_url=local_metrics_url,
        central_metrics_url=args.central_push_url,
        central_secret_namespace=namespace,
        central_secret_name=AUTH_SECRET,
        central_secret_key=AUTH_PASSWORD_KEY,
        local_logs_url=local_logs_url,
        namespaces=tuple(args.settings.namespaces),
        central_metric_filters=tuple(args.central.metrics),
        system_logs=args.settings.system_logs,
        host_root=HOST_ROOT,
        procfs_path=HOST_PROC,
        sysfs_path=HOST_SYS,
        stack_namespaces=args.stack_namespaces,
        central_required_metrics=HUB_READS_FROM_WORKLOADS,
        events_collector_selector=args.events_collector_selector,
    )


def alloy_values(
    system_logs: bool,
    *,
    sizing: Sizing | None = None,
    tolerations: Sequence[Toleration] = (Toleration(operator="Exists"),),
) -> dict[str, Any]:
    """The chart values: a clustered DaemonSet on our ConfigMap, our RBAC, the host mounts, the
    size's resources, restricted security contexts and the tolerations (default: every node)."""
    sizing = sizing or Sizing()
    paths = HOST_PATHS + (JOURNAL_PATHS if system_logs else ())
    volumes: list[dict[str, Any]] = [
        {"name": volume, "hostPath": {"path": host}} for volume, host, _ in paths
    ]
    volumes.append(storage_volume())
    if system_logs:
        # EXCEPTION (kit.security.EXCEPTIONS["alloy", "runAsNonRoot"]): the journal's files are
        # root:systemd-journal 0640 and that group's id differs between node images, so Alloy
        # runs as uid 0 to read them, with every capability dropped: root without
        # CAP_DAC_OVERRIDE reads what root owns and no other file it could not read anyway.
        pod_context: dict[str, Any] = {"runAsUser": 0, "runAsGroup": 0, "seccompProfile": dict(SECCOMP)}
    else:
        pod_context = pod_security_context(ALLOY_USER)
    mounts = [
        {"name": volume, "mountPath": inside, "readOnly": True, "mountPropagation": "HostToContainer"}
        if host == "/"
        else {"name": volume, "mountPath": inside, "readOnly": True}
        for volume, host, inside in paths
    ]
    mounts.append(storage_mount())
    return chart_values(
        release=RELEASE,
        config_map=CONFIG_MAP,
        pod_security_context=pod_context,
        controller={
            "type": "daemonset",
            "volumes": {"extra": volumes},
            "tolerations": [toleration.kubernetes() for toleration in tolerations],
        },
        clustering=True,
        mounts=mounts,
        resources=sizing.resources("alloy"),
        rbac={"create": True, "rules": NAMESPACED_RULES, "clusterRules": CLUSTER_RULES},
    )


class Alloy(pulumi.ComponentResource):
    """Alloy for one workload, with its configuration and its control-room credential."""

    config_text: pulumi.Output[str]

    def __init__(self, name: str, args: AlloyArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("fleet:workload:Alloy", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = dict(MANAGED_BY)

        self.auth_secret = k8s.core.v1.Secret(
            f"{name}-mimir-auth",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=AUTH_SECRET, namespace=args.namespace, labels=labels),
            type="Opaque",
            string_data={
                AUTH_USERNAME_KEY: args.workload,
                AUTH_PASSWORD_KEY: pulumi.Output.secret(args.central_password),
            },
            opts=child,
        )
        self.config_text = pulumi.Output.all(
            args.namespace, args.local_metrics_url, args.local_logs_url
        ).apply(lambda parts: render_alloy_config(alloy_pipeline(args, *parts)))
        self.config_map = alloy_config_map(
            f"{name}-config", CONFIG_MAP, args.namespace, self.config_text, child
        )
        self.secret_reader, self.secret_reader_binding = grant(
            f"{name}-read-mimir-auth",
            role=f"{RELEASE}-read-{AUTH_SECRET}",
            rules=[
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=[""],
                    resources=["secrets"],
                    resource_names=[AUTH_SECRET],
                    verbs=["get", "list", "watch"],
                )
            ],
            service_account=SERVICE_ACCOUNT,
            service_account_namespace=args.namespace,
            namespace=args.namespace,
            parent=self,
        )
        self.chart = alloy_chart(
            f"{name}-chart",
            RELEASE,
            args,
            namespace=args.namespace,
            values=alloy_values(
                args.settings.system_logs, sizing=args.sizing, tolerations=args.settings.tolerations
            ),
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[self.auth_secret, self.config_map, self.secret_reader_binding]
            ),
        )
        self.register_outputs({"config_map": CONFIG_MAP, "auth_secret": AUTH_SECRET})
