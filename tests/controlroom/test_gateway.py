"""The hub gateway, attacked in a real nginx: the nginx.conf and htpasswd files the control-room
program renders, run by Debian's nginx in front of a recording upstream.

One render and one nginx per module. The gateway trusts 127.0.0.1 as its ingress proxy, so each
test picks its client address with X-Forwarded-For (a header, never traffic to that address) and
the per-address limits of one test do not spend another's.
"""

from __future__ import annotations

import base64
import http.client
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from inventories import AWS_ROOM, fleet_yaml, write_inventory
from nginx import RecordedRequest, RecordingUpstream, free_port, gateway_on_loopback, require_nginx, run_nginx

from controlroom.credentials import HTPASSWD_SECRET, READER_HTPASSWD_SECRET, ROTATION_HTPASSWD_SECRET
from fleet.engines.render import RenderEngine, default_programs
from fleet.inventory.loader import load_inventory
from fleet.inventory.models import credential_output

WORKLOADS = ("alpha", "beta", "gamma", "delta")
HTPASSWD_SECRETS = (HTPASSWD_SECRET, READER_HTPASSWD_SECRET, ROTATION_HTPASSWD_SECRET)
RATE_PER_WORKLOAD = 5
RATE_PER_ADDRESS = 10


@dataclass
class Gateway:
    port: int
    upstream: RecordingUpstream
    credentials: dict[str, str]
    reader: tuple[str, str]
    config: str
    log: Any

    def send(
        self,
        method: str,
        path: str,
        *,
        client: str,
        auth: tuple[str, str] | None = None,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
    ) -> int:
        """The status a client at address ``client`` gets."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.putrequest(method, path, skip_accept_encoding=True)
            connection.putheader("X-Forwarded-For", client)
            if auth is not None:
                token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
                connection.putheader("Authorization", f"Basic {token}")
            for name, value in headers or []:
                connection.putheader(name, value)
            connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()

    def send_within_budget(self, method: str, path: str, **kwargs: Any) -> int:
        """:meth:`send`, again after a pause while the credential's rate limit answers 429 (the
        reader's budget is shared by every test of the module; a 429 reaches no upstream)."""
        for _ in range(100):
            status = self.send(method, path, **kwargs)
            if status != 429:
                return status
            time.sleep(0.1)
        return status

    def push(self, workload: str, *, client: str, password: str | None = None, **kwargs: Any) -> int:
        secret = self.credentials[workload] if password is None else password
        return self.send("POST", "/api/v1/push", client=client, auth=(workload, secret), **kwargs)

    def recorded_since(self, mark: int) -> list[RecordedRequest]:
        return self.upstream.requests[mark:]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    require_nginx()
    root = tmp_path_factory.mktemp("gateway")
    room = (
        "    gateway:\n"
        f"      rate_per_workload: {RATE_PER_WORKLOAD}\n"
        f"      rate_per_address: {RATE_PER_ADDRESS}\n"
        "      trusted_proxies: [127.0.0.1/32]\n"
    )
    inventory = write_inventory(root / "inventory", WORKLOADS, fleet=fleet_yaml(AWS_ROOM, room_extra=room))
    engine = RenderEngine(root / "render", show_secrets=True, programs=default_programs())
    plan = json.loads(engine.render(load_inventory(inventory), "controlroom").read_text(encoding="utf-8"))
    (chart,) = [r["inputs"] for r in plan["resources"] if r["name"] == "mimir-chart"]
    secrets = {
        r["inputs"]["metadata"]["name"]: r["inputs"]["stringData"][".htpasswd"]
        for r in plan["resources"]
        if r["type"] == "kubernetes:core/v1:Secret" and r["inputs"]["metadata"]["name"] in HTPASSWD_SECRETS
    }
    write_file = root / "secrets" / ".htpasswd"
    reader_dir = root / "reader"
    rotation_dir = root / "rotation"
    write_file.parent.mkdir()
    reader_dir.mkdir()
    rotation_dir.mkdir()
    (rotation_dir / ".htpasswd").write_text(secrets[ROTATION_HTPASSWD_SECRET], encoding="utf-8")
    write_file.write_text(secrets[HTPASSWD_SECRET], encoding="utf-8")
    (reader_dir / ".htpasswd").write_text(secrets[READER_HTPASSWD_SECRET], encoding="utf-8")

    rendered = chart["values"]["gateway"]["nginx"]["config"]["file"]
    port = free_port()
    with RecordingUpstream() as upstream:
        config = gateway_on_loopback(
            rendered,
            workdir=root / "nginx",
            port=port,
            upstream_port=upstream.port,
            write_htpasswd=write_file,
            reader_htpasswd_dir=reader_dir,
            rotation_htpasswd_dir=rotation_dir,
        )
        with run_nginx(config, root / "nginx", port) as nginx:
            outputs = plan["outputs"]
            credentials = {w: outputs[credential_output(w)] for w in outputs["tenants"]}
            reader = plan["outputs"]["reader"]
            yield Gateway(
                port, upstream, credentials, (reader["username"], reader["password"]), rendered, nginx
            )


def test_each_workload_writes_only_its_own_tenant_whatever_it_sends(gateway: Gateway) -> None:
    mark = len(gateway.upstream.requests)
    forged = [("X-Scope-OrgID", "beta"), ("x-scope-orgid", "gamma|beta"), ("X-Scope-OrgId", "controlroom")]
    assert gateway.push("alpha", client="198.51.100.1", headers=forged, body=b"samples") == 200
    assert gateway.push("beta", client="198.51.100.1", headers=[("X-Scope-OrgID", "alpha")]) == 200
    otlp = gateway.send(
        "POST",
        "/otlp/v1/metrics?tenant=beta",
        client="198.51.100.1",
        auth=("alpha", gateway.credentials["alpha"]),
    )
    assert otlp == 200
    alpha, beta, alpha_otlp = gateway.recorded_since(mark)
    assert alpha.header_values("X-Scope-OrgID") == ["alpha"]
    assert alpha.body == b"samples" and alpha.path == "/api/v1/push"
    assert beta.header_values("X-Scope-OrgID") == ["beta"]
    # Fixed upstream paths: the client's query string does not reach Mimir.
    assert alpha_otlp.path == "/otlp/v1/metrics"
    assert alpha_otlp.header_values("X-Scope-OrgID") == ["alpha"]
    # The credential stops at the gateway.
    assert all(not r.header_values("Authorization") for r in (alpha, beta, alpha_otlp))


@pytest.mark.parametrize(
    "auth",
    [None, ("alpha", "wrong-password"), ("nobody", "x"), ("alpha", ""), ("beta", "ALPHA-PASSWORD")],
)
def test_wrong_or_missing_credentials_get_401_and_reach_nothing(
    gateway: Gateway, auth: tuple[str, str] | None
) -> None:
    if auth is not None and auth[1] == "ALPHA-PASSWORD":
        auth = ("beta", gateway.credentials["alpha"])
    mark = len(gateway.upstream.requests)
    assert gateway.send("POST", "/api/v1/push", client="198.51.100.2", auth=auth) == 401
    assert gateway.send("GET", "/prometheus/api/v1/query?query=up", client="198.51.100.2", auth=auth) == 401
    assert gateway.recorded_since(mark) == []


def test_the_reader_cannot_write_and_workloads_cannot_read(gateway: Gateway) -> None:
    mark = len(gateway.upstream.requests)
    client = "198.51.100.3"
    assert gateway.send("POST", "/api/v1/push", client=client, auth=gateway.reader) == 401
    assert gateway.send("POST", "/otlp/v1/metrics", client=client, auth=gateway.reader) == 401
    alpha = ("alpha", gateway.credentials["alpha"])
    assert gateway.send("GET", "/prometheus/api/v1/query?query=up", client=client, auth=alpha) == 401
    assert gateway.recorded_since(mark) == []

    status = gateway.send(
        "GET",
        "/prometheus/api/v1/query?query=up",
        client=client,
        auth=gateway.reader,
        headers=[("X-Scope-OrgID", "alpha|beta")],
    )
    assert status == 200
    (query,) = gateway.recorded_since(mark)
    assert query.path == "/prometheus/api/v1/query?query=up"
    assert query.header_values("X-Scope-OrgID") == ["alpha|beta"]
    label_values = "/prometheus/api/v1/label/job/values"
    assert gateway.send("GET", label_values, client=client, auth=gateway.reader) == 200
    assert gateway.recorded_since(mark)[-1].path == "/prometheus/api/v1/label/job/values"


@pytest.mark.parametrize(
    "path",
    [
        "/distributor/all_user_stats",
        "/ingester/ring",
        "/config",
        "/api/v1/push/../../config",
        "/prometheus/api/v1/../../../distributor/all_user_stats",
        "/prometheus/api/v1/query/%2e%2e/%2e%2e/%2e%2e/config",
        "/prometheus/api/v1/admin/tsdb/delete_series",
        "/prometheus/config/v1/rules",
        "/api/v1/push/",
        "/memberlist",
    ],
)
def test_internal_paths_are_404_with_any_credential(gateway: Gateway, path: str) -> None:
    mark = len(gateway.upstream.requests)
    for auth in (gateway.reader, ("alpha", gateway.credentials["alpha"])):
        status = gateway.send("GET", path, client="198.51.100.4", auth=auth)
        assert status in (400, 404), (path, status)
    assert gateway.recorded_since(mark) == []


def test_only_posts_are_written(gateway: Gateway) -> None:
    mark = len(gateway.upstream.requests)
    alpha = ("alpha", gateway.credentials["alpha"])
    assert gateway.send("GET", "/api/v1/push", client="198.51.100.5", auth=alpha) == 403
    series = "/prometheus/api/v1/series"
    assert gateway.send("DELETE", series, client="198.51.100.5", auth=gateway.reader) == 403
    assert gateway.recorded_since(mark) == []


def test_responses_name_no_version_and_the_log_is_json(gateway: Gateway) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    connection.request("GET", "/nothing")
    response = connection.getresponse()
    body = response.read().decode()
    connection.close()
    assert response.getheader("Server") == "nginx"
    assert "nginx/" not in body
    # A user name built to break the log line stays inside one JSON field.
    gateway.send("POST", "/api/v1/push", client="198.51.100.6", auth=('evil"\n{"forged"}', "x"))
    # nginx logs after it answered: wait (briefly) for the line.
    deadline = time.monotonic() + 5
    while '"status":401' not in gateway.log.log_text().splitlines()[-1] and time.monotonic() < deadline:
        time.sleep(0.02)
    # Every line nginx wrote is one JSON object: the name forged no line of its own.
    entries = [json.loads(line) for line in gateway.log.log_text().splitlines() if line]
    assert any(entry["user"] == 'evil"\n{"forged"}' and entry["status"] == 401 for entry in entries)


def test_the_rate_limit_engages_per_credential(gateway: Gateway) -> None:
    statuses = [
        gateway.push("gamma", client=f"198.51.100.{10 + n % 100}") for n in range(4 * RATE_PER_WORKLOAD)
    ]
    # Burst: twice the rate; the rest within the same second is refused with a retriable 429.
    assert statuses.count(429) > 0
    assert statuses[: 2 * RATE_PER_WORKLOAD] == [200] * (2 * RATE_PER_WORKLOAD)
    assert set(statuses) == {200, 429}


def test_the_rate_limit_engages_per_address_before_the_password_check(gateway: Gateway) -> None:
    attacker = "203.0.113.7"
    guesses = [f"guess-{n}" for n in range(4 * RATE_PER_ADDRESS)]
    statuses = [gateway.push("delta", client=attacker, password=guess) for guess in guesses]
    assert statuses.count(429) > 0 and set(statuses) == {401, 429}
    # Guesses naming delta did not spend delta's own budget: its pushes from home still pass.
    assert gateway.push("delta", client="192.0.2.50") == 200
    # And the attacker's address is refused even with a right password until its budget refills.
    assert gateway.push("alpha", client=attacker) == 429


# The Alertmanager path, last: the reader's rate-limit budget is shared with the tests above.
SILENCE = "/alertmanager/api/v2/silence/4f6a1d2e-9b1c-4e57-8a3d-2c0b5e7f9a10"


def test_the_reader_sees_the_hubs_alerts_and_silences_in_its_tenant_only(gateway: Gateway) -> None:
    """What Grafana's Alertmanager datasource (implementation mimir) calls, each to the hub's own
    tenant whatever tenant the client names; the query string passes, the credential does not."""
    client = "198.51.100.20"
    forged = [("X-Scope-OrgID", "alpha|beta")]
    calls = [
        ("GET", "/alertmanager/api/v2/alerts/groups?silenced=false&filter=workload%3D%22alpha%22"),
        ("GET", "/alertmanager/api/v2/alerts?active=true"),
        ("GET", "/alertmanager/api/v2/status"),
        ("GET", "/alertmanager/api/v2/receivers"),
        ("GET", "/alertmanager/api/v2/silences"),
        ("GET", SILENCE),
    ]
    mark = len(gateway.upstream.requests)
    for method, path in calls:
        status = gateway.send_within_budget(method, path, client=client, auth=gateway.reader, headers=forged)
        assert status == 200, (method, path, status)
    recorded = gateway.recorded_since(mark)
    assert [(r.method, r.path) for r in recorded] == calls
    assert all(r.header_values("X-Scope-OrgID") == ["controlroom"] for r in recorded)
    assert all(not r.header_values("Authorization") for r in recorded)


def test_the_reader_reads_the_hubs_alertmanager_configuration_and_no_other_tenants(gateway: Gateway) -> None:
    """Grafana's Contact points and Notification policies pages for a Mimir Alertmanager read
    ``GET /api/v1/alerts`` (Mimir's configuration API, at the root, not under ``/alertmanager``):
    it reaches the Alertmanager at that fixed path, in the hub's own tenant whatever tenant the
    client names, with no query string and without the credential."""
    client = "198.51.100.23"
    mark = len(gateway.upstream.requests)
    for path, forged in (
        ("/api/v1/alerts", [("X-Scope-OrgID", "alpha")]),
        ("/api/v1/alerts?tenant=beta", [("X-Scope-OrgID", "beta|gamma")]),
        ("/api/v1/alerts", []),
    ):
        status = gateway.send_within_budget("GET", path, client=client, auth=gateway.reader, headers=forged)
        assert status == 200, (path, forged, status)
    recorded = gateway.recorded_since(mark)
    assert [(r.method, r.path) for r in recorded] == [("GET", "/api/v1/alerts")] * 3
    assert all(r.header_values("X-Scope-OrgID") == ["controlroom"] for r in recorded)
    assert all(not r.header_values("Authorization") for r in recorded)
    # Two tenant headers: nginx from 1.23 joins them and the gateway refuses the request (400);
    # older ones read the first. Either way no tenant but the hub's reaches the Alertmanager.
    mark = len(gateway.upstream.requests)
    two = [("X-Scope-OrgID", "alpha"), ("X-Scope-OrgID", "controlroom")]
    status = gateway.send_within_budget(
        "GET", "/api/v1/alerts", client=client, auth=gateway.reader, headers=two
    )
    assert status in (200, 400)
    assert [r.header_values("X-Scope-OrgID") for r in gateway.recorded_since(mark)] == (
        [["controlroom"]] if status == 200 else []
    )


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/alertmanager/api/v2/alerts", 403),  # no one injects alerts
        ("POST", "/alertmanager/api/v2/silences", 403),  # the reader changes nothing
        ("DELETE", SILENCE, 403),
        ("DELETE", "/alertmanager/api/v2/silences", 403),
        ("POST", SILENCE, 403),
        # The configuration is read, never replaced or deleted (the shipped files are the truth).
        ("POST", "/api/v1/alerts", 403),
        ("DELETE", "/api/v1/alerts", 403),
        ("PUT", "/api/v1/alerts", 403),
        ("PATCH", "/api/v1/alerts", 403),
        ("POST", "/api/v1/alerts?tenant=controlroom", 403),
        ("GET", "/api/v1/alerts/", 404),
        ("GET", "/api/v1/alerts/../../../multitenant_alertmanager/configs", 404),
        ("GET", "/api/v1/alerts%2f..%2f..%2fconfig", 404),
        ("GET", "/multitenant_alertmanager/configs", 404),  # every tenant's configuration
        ("POST", "/multitenant_alertmanager/delete_tenant_config", 404),
        # Grafana's feature discovery asks this of the datasource; a 404 means "no lazily
        # created configuration", which the shipped configuration never needs.
        ("GET", "/api/v1/status/buildinfo", 404),
        ("GET", "/alertmanager/api/v2/silence/../../../multitenant_alertmanager/status", 404),
        ("GET", "/alertmanager/api/v2/silence/not-an-id", 404),
        ("GET", "/alertmanager/api/v1/alerts", 404),
        ("GET", "/alertmanager/", 404),
        ("GET", "/multitenant_alertmanager/status", 404),
        # Prometheus's Alertmanager path: Grafana's health check would take it for one.
        ("GET", "/api/v2/status", 404),
    ],
)
def test_the_rest_of_the_alertmanager_api_is_closed(
    gateway: Gateway, method: str, path: str, expected: int
) -> None:
    mark = len(gateway.upstream.requests)
    status = gateway.send_within_budget(method, path, client="198.51.100.21", auth=gateway.reader)
    assert status == expected
    assert gateway.recorded_since(mark) == []


def test_workloads_and_strangers_cannot_reach_the_alertmanager(gateway: Gateway) -> None:
    mark = len(gateway.upstream.requests)
    alpha = ("alpha", gateway.credentials["alpha"])
    for auth in (alpha, None, ("fleet-reader", "wrong")):
        for method, path in (
            ("GET", "/alertmanager/api/v2/alerts"),
            ("GET", "/alertmanager/api/v2/silences"),
            ("GET", "/api/v1/alerts"),
        ):
            assert gateway.send(method, path, client="198.51.100.22", auth=auth) == 401, (auth, path)
        # Writing the configuration is refused whoever asks, before or at the password check.
        for method in ("POST", "DELETE"):
            status = gateway.send(method, "/api/v1/alerts", client="198.51.100.22", auth=auth, body=b"x")
            assert status in (401, 403), (auth, method, status)
    assert gateway.recorded_since(mark) == []
