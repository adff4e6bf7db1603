"""The hub gateway's nginx.conf: the only way into the central Mimir.

Write path (``/api/v1/push``, ``/otlp/v1/metrics``): basic auth against the workloads' htpasswd;
``X-Scope-OrgID`` is set to ``$remote_user`` whatever the client sent, so a workload can only
ever write its own tenant. Read path (``/prometheus/api/v1/<endpoint>``, a fixed list of
Prometheus query endpoints): basic auth against the reader's htpasswd; the client's
``X-Scope-OrgID`` passes through so one query can federate ``a|b|c``. Alertmanager path (what
Grafana's Alertmanager datasource with ``implementation: mimir`` calls: ``/alertmanager/api/v2/...``
for the alerts, their groups, the receivers, status and silences, and Mimir's configuration API
``/api/v1/alerts`` for the contact points and notification policies), to read: the reader's
htpasswd too, the tenant always the hub's own (where the fleet's alerts land), whatever the client
sent. The reader stays read-only: creating or expiring a silence, posting alerts and writing or
deleting the configuration are 403; the rest of the Alertmanager API is 404.

Hardening, each decision next to its directive below: rate limits per client address (before the
password check, so a flood of wrong passwords cannot burn the CPU on bcrypt) and per credential
(keyed on the whole Authorization header, so fake requests naming a workload cannot drain that
workload's budget); upstream paths fixed by the gateway, never the client's raw URI; bounded bodies
and timeouts; no version in responses; access logs escaped as JSON.

The text is final nginx configuration with concrete names (the chart passes it through ``tpl``,
which leaves text without ``{{`` unchanged): the test suite runs exactly this file in a real nginx.
"""

from __future__ import annotations

from fleet.inventory.models import ControlRoomGateway
from kit.alerting.catalogue import OWNER_TENANT

RELEASE = "mimir"
"""The Helm release (and ``mimir.fullname``): Service names are ``mimir-<component>``."""
HTTP_PORT = 8080
"""``server.http_listen_port`` of every Mimir component, and the gateway's own listen port."""
CLUSTER_DOMAIN = "cluster.local"
DNS_SERVICE = "kube-dns.kube-system"
"""The cluster DNS Service (EKS and AKS both name it kube-dns)."""
WRITE_HTPASSWD = "/etc/nginx/secrets/.htpasswd"
"""Where the chart mounts ``gateway.nginx.basicAuth.existingSecret``."""
READER_HTPASSWD_DIR = "/etc/nginx/reader"
ROTATION_HTPASSWD_DIR = "/etc/nginx/rotation"
"""The workloads' next passwords while a rotation overlaps old and new (often an empty file)."""
WRITE_PATHS = ("/api/v1/push", "/otlp/v1/metrics")
READ_ENDPOINTS = (
    "query",
    "query_range",
    "query_exemplars",
    "series",
    "labels",
    "label/[a-zA-Z_][a-zA-Z0-9_]*/values",
    "metadata",
    "status/buildinfo",
    "format_query",
    "rules",
    "alerts",
)
"""The Prometheus API endpoints Grafana and the health gates use (read-only)."""
ALERTMANAGER_PREFIX = "/alertmanager"
"""Mimir's ``-http.alertmanager-http-prefix`` (its default), under which Grafana's Alertmanager
datasource (``implementation: mimir``) calls ``/api/v2/...``."""
ALERTMANAGER_READ_ENDPOINTS = ("alerts", "alerts/groups", "receivers", "status")
"""Alertmanager API v2 endpoints the reader may GET (never POST: no one injects alerts here)."""
ALERTMANAGER_CONFIG_PATH = "/api/v1/alerts"
"""Mimir's per-tenant Alertmanager configuration API (``-server.path-prefix``, not under the
Alertmanager prefix): GET answers ``template_files`` and ``alertmanager_config`` as YAML, which is
where Grafana reads a Mimir Alertmanager's contact points and notification policies. POST and
DELETE would replace or remove the configuration: never through the gateway."""
SILENCE_ID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
"""Alertmanager's silence ids are UUIDs."""
MAX_BODY = "10m"
"""Alloy sends at most 2,000 samples per push, snappy-compressed: well under 1 MB. 10 MB leaves room
for OTLP batches and metadata while keeping one client from parking hundreds of MB per request."""


def upstream_host(namespace: str, component: str) -> str:
    """The in-cluster DNS name of a Mimir component's Service."""
    return f"{RELEASE}-{component}.{namespace}.svc.{CLUSTER_DOMAIN}"


def _limits(gateway: ControlRoomGateway) -> str:
    return f"""
      # Per address first: a wrong password is refused (429) before bcrypt runs, once the
      # address spent its budget. Per credential second (see the zone).
      limit_req zone=per_address burst={2 * gateway.rate_per_address} nodelay;
      limit_req zone=per_credential burst={2 * gateway.rate_per_workload} nodelay;"""


def _write_proxy(path: str, namespace: str) -> str:
    return f"""      # The tenant is the authenticated workload, never a header the client chose: setting the
      # header drops every X-Scope-OrgID the client sent.
      proxy_set_header     X-Scope-OrgID $remote_user;
      proxy_set_header     Authorization "";
      set $distributor {upstream_host(namespace, "distributor-headless")};
      # A fixed upstream path: the client's URI (and its query string) never reach Mimir.
      proxy_pass           http://$distributor:{HTTP_PORT}{path};"""


def _write_location(path: str, rotation: str, namespace: str, gateway: ControlRoomGateway) -> str:
    return f"""
    location = {path} {{
      limit_except POST {{ deny all; }}{_limits(gateway)}
      auth_basic           "Mimir write";
      auth_basic_user_file {WRITE_HTPASSWD};
      # nginx checks only the first line of a user: a rotating workload's new password is in a
      # second file, asked when the first refuses (both authenticate as the same user).
      error_page 401 = @{rotation};
{_write_proxy(path, namespace)}
    }}
    location @{rotation} {{
      auth_basic           "Mimir write";
      auth_basic_user_file {ROTATION_HTPASSWD_DIR}/.htpasswd;
{_write_proxy(path, namespace)}
    }}"""


def _alertmanager_location(
    match: str, upstream: str, comment: str, namespace: str, gateway: ControlRoomGateway
) -> str:
    """One GET-only location of the Alertmanager path, sent to ``upstream`` (the path on the
    Alertmanager, rebuilt by the gateway)."""
    return f"""
    location {match} {{
      limit_except GET {{ deny all; }}{_limits(gateway)}
      client_max_body_size 1m;
      auth_basic           "Mimir read";
      auth_basic_user_file {READER_HTPASSWD_DIR}/.htpasswd;
      # The hub's own tenant, where the ruler's alerts land: whatever tenant the client names,
      # it sees no other.
      proxy_set_header     X-Scope-OrgID {OWNER_TENANT};
      proxy_set_header     Authorization "";
      set $alertmanager {upstream_host(namespace, "alertmanager-headless")};
      # {comment}
      proxy_pass           http://$alertmanager:{HTTP_PORT}{upstream};
    }}"""


def _alertmanager_locations(namespace: str, gateway: ControlRoomGateway) -> str:
    """The Alertmanager API Grafana's datasource calls, to read: the alerts, their groups, the
    receivers, status and silences, and the tenant's configuration. The reader's credential also
    serves the health gates and is a stack output: it changes nothing, so a silence is not its to
    create or expire, nor the configuration its to replace (the ``local`` store is read-only too)."""
    read = "|".join(ALERTMANAGER_READ_ENDPOINTS)
    prefix = f"{ALERTMANAGER_PREFIX}/api/v2"
    query = "The path is rebuilt from what the location matched; only the query string passes."
    return "".join(
        (
            _alertmanager_location(
                f"~ ^{prefix}/(?<am_endpoint>{read})$",
                f"{prefix}/$am_endpoint$is_args$args",
                query,
                namespace,
                gateway,
            ),
            _alertmanager_location(
                f"= {prefix}/silences", f"{prefix}/silences$is_args$args", query, namespace, gateway
            ),
            _alertmanager_location(
                # Quoted: nginx reads an unquoted brace as the start of a block.
                f'~ "^{prefix}/silence/(?<silence_id>{SILENCE_ID})$"',
                f"{prefix}/silence/$silence_id$is_args$args",
                query,
                namespace,
                gateway,
            ),
            _alertmanager_location(
                f"= {ALERTMANAGER_CONFIG_PATH}",
                ALERTMANAGER_CONFIG_PATH,
                "A fixed path and no query string: Mimir's configuration API takes no parameters.",
                namespace,
                gateway,
            ),
        )
    )


def gateway_nginx_config(gateway: ControlRoomGateway, namespace: str) -> str:
    """The gateway's nginx.conf for the central Mimir in ``namespace``."""
    real_ip = "".join(f"  set_real_ip_from {network};\n" for network in gateway.trusted_proxies)
    if real_ip:
        # Behind the ingress controller every request comes from its pods: the client's address is
        # the last X-Forwarded-For entry that is not one of them.
        real_ip += "  real_ip_header    X-Forwarded-For;\n  real_ip_recursive on;\n"
    read_endpoints = "|".join(READ_ENDPOINTS)
    return f"""# Written by fleet (controlroom/gateway.py).
# Two workers: the gateway's CPU is bcrypt checks (cost 5, ~3 ms each) and proxying.
worker_processes  2;
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

  # At level error nginx writes the user name a client claimed into the error log unescaped: a
  # newline in it would forge a log line. Requests are recorded by the JSON access log instead
  # (status, upstream time), so only critical errors are written here.
  error_log    /dev/stderr crit;
  server_tokens off;
  default_type application/octet-stream;
  # The user is whatever the client claimed (also on a 401); JSON escaping keeps it one field.
  log_format   json escape=json '{{"time":"$time_iso8601","client":"$remote_addr","user":"$remote_user",'
                                '"method":"$request_method","uri":"$uri","status":$status,'
                                '"bytes":$body_bytes_sent,"seconds":$request_time,'
                                '"upstream_seconds":"$upstream_response_time"}}';
  access_log   /dev/stderr json;
  sendfile           on;
  tcp_nopush         on;

  client_header_timeout 10s;
  client_body_timeout   30s;
  send_timeout          30s;
  keepalive_timeout     75s;
  client_max_body_size  {MAX_BODY};
  client_body_buffer_size 1m;

  proxy_http_version    1.1;
  proxy_connect_timeout 5s;
  proxy_send_timeout    60s;
  proxy_read_timeout    60s;

  resolver {DNS_SERVICE}.svc.{CLUSTER_DOMAIN} valid=10s;
  resolver_timeout 5s;

{real_ip}
  limit_req_status    429;
  limit_req_zone $binary_remote_addr zone=per_address:10m rate={gateway.rate_per_address}r/s;
  # Keyed on the whole credential, not on $remote_user: limits run before the password check, so
  # a key of the claimed user name would let anyone drain a workload's budget by naming it. A well-
  # formed credential of up to 256 characters is its own key (only its holder can spend it); every
  # malformed one shares one key; no header, no key (the request is refused by auth anyway).
  map $http_authorization $credential {{
    default                          "malformed";
    ""                               "";
    "~^Basic [A-Za-z0-9+/=]{{1,256}}$" $http_authorization;
  }}
  limit_req_zone $credential zone=per_credential:10m rate={gateway.rate_per_workload}r/s;

  map $http_x_scope_orgid $has_multiple_orgid_headers {{
    default 0;
    "~^.+,.+$" 1;
  }}

  server {{
    listen {HTTP_PORT};
    listen [::]:{HTTP_PORT};

    if ($has_multiple_orgid_headers = 1) {{
      return 400 'Send one X-Scope-OrgID header, tenants separated by |';
    }}

    location = / {{
      return 200 'OK';
    }}
    location = /ready {{
      return 200 'OK';
    }}
{_write_location(WRITE_PATHS[0], "rotation_push", namespace, gateway)}
{_write_location(WRITE_PATHS[1], "rotation_otlp", namespace, gateway)}

    location ~ ^/prometheus/api/v1/(?<endpoint>{read_endpoints})$ {{
      limit_except GET POST {{ deny all; }}{_limits(gateway)}
      client_max_body_size 1m;
      # Mimir's queriers give up after 2 minutes; let a slow query finish rather than cut it.
      proxy_read_timeout   150s;
      auth_basic           "Mimir read";
      auth_basic_user_file {READER_HTPASSWD_DIR}/.htpasswd;
      # X-Scope-OrgID passes through: "a|b|c" federates the workloads' tenants.
      proxy_set_header     Authorization "";
      set $query_frontend {upstream_host(namespace, "query-frontend")};
      # The path is rebuilt from the matched endpoint (letters, digits, _ and /): nothing the
      # client wrote besides the query string reaches Mimir.
      proxy_pass           http://$query_frontend:{HTTP_PORT}/prometheus/api/v1/$endpoint$is_args$args;
    }}
{_alertmanager_locations(namespace, gateway)}

    location / {{
      return 404;
    }}
  }}
}}
"""
