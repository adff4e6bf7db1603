"""The central Mimir: the ``mimir-distributed`` chart on object storage, behind an nginx gateway
that authenticates every request and derives the tenant from the authenticated user.

Write path (``/api/v1/push``, ``/otlp/v1/metrics``): basic auth against the workloads' htpasswd;
the gateway sets ``X-Scope-OrgID`` to ``$remote_user``, whatever the client sent, so a workload
can only ever write its own tenant. Read path (``/prometheus``): basic auth against the reader's
htpasswd; the client's ``X-Scope-OrgID`` passes through, and tenant federation lets one query
span ``a|b|c``. Every other path is 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from controlroom.alerting import ruler_alertmanager_values, shipped_stores
from controlroom.credentials import HTPASSWD_SECRET, READER_HTPASSWD_SECRET, ROTATION_HTPASSWD_SECRET
from fleet.inventory.models import Alerting, ControlRoom
from kit.charts import chart_source, gateway_url, merged
from kit.mimir import architecture, pod_labels, storage_config
from kit.storage import BucketBinding

CHART = "mimir-distributed"
RELEASE = "mimir"
SERVICE_ACCOUNT = "mimir"
INGRESS_TLS_SECRET = "mimir-gateway-tls"
"""The TLS Secret cert-manager fills for the gateway's Ingress (unless the inventory names one)."""
CLUSTER_ISSUER_ANNOTATION = "cert-manager.io/cluster-issuer"
ISSUER_ANNOTATION = "cert-manager.io/issuer"
WRITE_HTPASSWD = "/etc/nginx/secrets/.htpasswd"
"""Where the chart mounts ``gateway.nginx.basicAuth.existingSecret``."""
READER_HTPASSWD_DIR = "/etc/nginx/reader"
ROTATION_HTPASSWD_DIR = "/etc/nginx/rotation"
"""The workloads' next passwords while a rotation overlaps old and new (often an empty file)."""

# Passed through the chart's `tpl`: the {{ }} are Helm template expressions, the $ names nginx's.
_UPSTREAM = (
    '{{ template "mimir.fullname" . }}-%s.{{ .Release.Namespace }}.svc.{{ .Values.global.clusterDomain }}'
)
_PORT = '{{ include "mimir.serverHttpListenPort" . }}'
_RESOLVER = (
    "{{ .Values.global.dnsService }}.{{ .Values.global.dnsNamespace }}.svc.{{ .Values.global.clusterDomain }}"
)


def _write_location(path: str) -> str:
    return f"""
    location = {path} {{
      auth_basic           "Mimir write";
      auth_basic_user_file {WRITE_HTPASSWD};
      # nginx checks only the first line of a user: a rotating workload's new password is in a
      # second file, asked when the first refuses (both authenticate as the same user).
      error_page 401 = @write_rotation;
{_write_proxy()}
    }}"""


def _write_proxy() -> str:
    return f"""      # The tenant is the authenticated workload, never a header the client chose.
      proxy_set_header     X-Scope-OrgID $remote_user;
      proxy_set_header     Authorization "";
      set $distributor {_UPSTREAM % "distributor-headless"};
      proxy_pass      http://$distributor:{_PORT}$request_uri;"""


def _rotation_location() -> str:
    return f"""
    location @write_rotation {{
      auth_basic           "Mimir write";
      auth_basic_user_file {ROTATION_HTPASSWD_DIR}/.htpasswd;
{_write_proxy()}
    }}"""


def gateway_nginx_config() -> str:
    """The gateway's nginx.conf (a Helm template rendered by the chart's ``tpl``)."""
    return f"""worker_processes  5;
error_log  /dev/stderr error;
pid        /tmp/nginx.pid;
worker_rlimit_nofile 8192;

events {{
  worker_connections  4096;
}}

http {{
  client_body_temp_path /tmp/client_temp;
  proxy_temp_path       /tmp/proxy_temp_path;
  fastcgi_temp_path     /tmp/fastcgi_temp;
  uwsgi_temp_path       /tmp/uwsgi_temp;
  scgi_temp_path        /tmp/scgi_temp;

  default_type application/octet-stream;
  log_format   main '$remote_addr - $remote_user [$time_local] $status "$request" $body_bytes_sent';
  access_log   /dev/stderr main;
  sendfile           on;
  tcp_nopush         on;
  proxy_http_version 1.1;
  proxy_read_timeout 300;
  resolver {_RESOLVER};

  map $http_x_scope_orgid $has_multiple_orgid_headers {{
    default 0;
    "~^.+,.+$" 1;
  }}

  server {{
    listen {_PORT};
    listen [::]:{_PORT};
    client_max_body_size 540M;

    if ($has_multiple_orgid_headers = 1) {{
      return 400 'Send one X-Scope-OrgID header, tenants separated by |';
    }}

    location = / {{
      return 200 'OK';
    }}
    location = /ready {{
      return 200 'OK';
    }}
{_write_location("/api/v1/push")}
{_write_location("/otlp/v1/metrics")}
{_rotation_location()}

    location /prometheus {{
      auth_basic           "Mimir read";
      auth_basic_user_file {READER_HTPASSWD_DIR}/.htpasswd;
      # X-Scope-OrgID passes through: "a|b|c" federates the workloads' tenants.
      proxy_set_header     Authorization "";
      set $query_frontend {_UPSTREAM % "query-frontend"};
      proxy_pass      http://$query_frontend:{_PORT}$request_uri;
    }}

    location / {{
      return 404;
    }}
  }}
}}
"""


def ingress_values(room: ControlRoom) -> dict[str, Any]:
    """The gateway's Ingress for ``mimir.<domain>`` and where its certificate comes from."""
    host = f"mimir.{room.domain}"
    tls = room.tls
    annotations: dict[str, str] = {}
    secret = INGRESS_TLS_SECRET
    if tls is not None and tls.secret is not None:
        secret = tls.secret
    elif tls is not None and tls.cluster_issuer is not None:
        annotations[CLUSTER_ISSUER_ANNOTATION] = tls.cluster_issuer
    elif tls is not None and tls.issuer is not None:
        annotations[ISSUER_ANNOTATION] = tls.issuer
    ingress: dict[str, Any] = {
        "enabled": True,
        "annotations": annotations,
        "hosts": [{"host": host, "paths": [{"path": "/", "pathType": "Prefix"}]}],
        "tls": [{"secretName": secret, "hosts": [host]}],
    }
    if tls is not None and tls.ingress_class is not None:
        ingress["ingressClassName"] = tls.ingress_class
    return ingress


def mimir_values(room: ControlRoom, storage: BucketBinding, alerting: Alerting) -> dict[str, Any]:
    """The chart values for the central Mimir, on ``storage`` as its cloud identity, with the
    ruler and Alertmanager on the files :mod:`controlroom.alerting` ships."""
    replicas = room.mimir.replicas
    zone_aware = replicas >= 3
    architecture_values, architecture_config = architecture(room.mimir.kafka)
    values: dict[str, Any] = {
        "minio": {"enabled": False},
        **architecture_values,
        "serviceAccount": {
            "create": True,
            "name": SERVICE_ACCOUNT,
            "annotations": storage.service_account_annotations,
        },
        "mimir": {
            "structuredConfig": {
                "multitenancy_enabled": True,
                "tenant_federation": {"enabled": True},
                # Blocks on the bucket; the ruler's and Alertmanager's stores are shipped files.
                **storage_config(storage),
                **shipped_stores(),
                **architecture_config,
                "limits": {"compactor_blocks_retention_period": room.mimir.retention},
                "ingester": {
                    **architecture_config.get("ingester", {}),
                    "ring": {"replication_factor": min(3, replicas)},
                },
            }
        },
        "ingester": {"replicas": replicas, "zoneAwareReplication": {"enabled": zone_aware}},
        "store_gateway": {"zoneAwareReplication": {"enabled": zone_aware}},
        "distributor": {"replicas": max(2, min(replicas, 10))},
        "gateway": {
            "replicas": 2,
            "nginx": {
                "basicAuth": {"enabled": True, "existingSecret": HTPASSWD_SECRET},
                "config": {"file": gateway_nginx_config()},
            },
            "extraVolumes": [
                {
                    "name": "reader-htpasswd",
                    "secret": {"secretName": READER_HTPASSWD_SECRET},
                },
                {
                    "name": "rotation-htpasswd",
                    "secret": {"secretName": ROTATION_HTPASSWD_SECRET},
                },
            ],
            "extraVolumeMounts": [
                {"name": "reader-htpasswd", "mountPath": READER_HTPASSWD_DIR, "readOnly": True},
                {"name": "rotation-htpasswd", "mountPath": ROTATION_HTPASSWD_DIR, "readOnly": True},
            ],
            "ingress": ingress_values(room),
        },
    }
    return merged(merged(values, ruler_alertmanager_values(alerting)), pod_labels(storage))


@dataclass(frozen=True)
class MimirArgs:
    control_room: ControlRoom
    version: str
    """mimir-distributed chart version, from the fleet's version set."""
    repository: str
    """Where the chart is published (``spec.charts`` in fleet.yaml)."""
    namespace: pulumi.Input[str]
    storage: BucketBinding
    """The central Mimir's bucket and the identity its pods use (from ``kit.storage``)."""
    alerting: Alerting
    """``spec.alerting``: the Alertmanager's receivers (their secrets' volume)."""
    depends_on: tuple[pulumi.Resource, ...] = ()
    """The htpasswd Secrets the gateway mounts, the rule and Alertmanager ConfigMaps."""


class Mimir(pulumi.ComponentResource):
    """The central Mimir release."""

    chart: k8s.helm.v4.Chart
    gateway_url: pulumi.Output[str]
    """In-cluster base URL of the gateway."""

    def __init__(self, name: str, args: MimirArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleet:controlroom:Mimir", name, None, opts)
        self.chart = k8s.helm.v4.Chart(
            f"{name}-chart",
            name=RELEASE,
            version=args.version,
            **chart_source(CHART, args.repository),
            namespace=args.namespace,
            values=mimir_values(args.control_room, args.storage, args.alerting),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        self.gateway_url = pulumi.Output.from_input(args.namespace).apply(lambda ns: gateway_url(RELEASE, ns))
        self.register_outputs({"gateway_url": self.gateway_url})
