"""The hub's collector, judged on what it will really read: the access-log lines Debian's nginx
writes with the rendered gateway configuration, the pods the rendered Mimir chart runs, the
dashboards the rendered chart ships; and the 401 rule and the Mimir mixin's recording rules
evaluated by promtool on series labelled exactly as the collector labels them.

The collector's configuration is read back out of the rendered ConfigMap and parsed; its stages and
relabel rules are applied here with RE2 (``google-re2``, the engine Alloy's Go regexp follows).
"""

from __future__ import annotations

import base64
import http.client
import json
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import re2
import yaml
from charts import real_charts
from inventories import AWS_ROOM, fleet_yaml, write_inventory
from nginx import RecordingUpstream, free_port, gateway_on_loopback, require_nginx, run_nginx
from promtool import for_unit_tests, needs_promtool, run_rule_tests

from controlroom.alerting import MIXIN_RULES_CONFIGMAP, MIXIN_RULES_FILE
from controlroom.collector import CONFIG_KEY, CONFIG_MAP, NAMESPACE
from controlroom.credentials import HTPASSWD_SECRET, READER_HTPASSWD_SECRET, ROTATION_HTPASSWD_SECRET
from controlroom.grafana import DASHBOARD_LABEL, DASHBOARD_LABEL_VALUE
from fleet.charts.cache import ChartCache
from fleet.charts.expand import chart_resources, expand_chart
from fleet.engines.render import RenderEngine, default_programs
from fleet.inventory.durations import parse_duration
from fleet.inventory.loader import load_inventory
from fleet.inventory.models import AlertThresholds, credential_output
from fleet.verify.alerting import dashboard_queries
from kit.alerting.catalogue import GATEWAY_REQUESTS, OWNER_TENANT, controlroom_rule_groups
from kit.alerting.rules import rule_file
from kit.alloy.parser import parse
from kit.alloy.syntax import Array, Block, Expr, Literal, Object, components, reference_chain
from kit.kube_state_metrics import RESOURCES as WORKLOAD_KUBE_STATE_METRICS_RESOURCES

WORKLOADS = ("alpha", "beta")
HTPASSWD_SECRETS = (HTPASSWD_SECRET, READER_HTPASSWD_SECRET, ROTATION_HTPASSWD_SECRET)


@dataclass
class Room:
    plan: dict[str, Any]
    root: Path

    def config_map(self, name: str) -> dict[str, str]:
        (found,) = [
            r["inputs"]["data"]
            for r in self.plan["resources"]
            if r["type"] == "kubernetes:core/v1:ConfigMap" and r["inputs"]["metadata"]["name"] == name
        ]
        return dict(found)

    def chart_objects(self, resource: str) -> list[dict[str, Any]]:
        (chart,) = [r for r in self.plan["resources"] if r["name"] == resource]
        return [o["manifest"] for o in chart["rendered"]["objects"]]

    def collector(self) -> dict[str, Block]:
        return dict(components(parse(self.config_map(CONFIG_MAP)[CONFIG_KEY])))


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Room]:
    root = tmp_path_factory.mktemp("collector")
    room = "    gateway:\n      trusted_proxies: [127.0.0.1/32]\n"
    inventory = write_inventory(root / "inventory", WORKLOADS, fleet=fleet_yaml(AWS_ROOM, room_extra=room))
    loaded = load_inventory(inventory)
    engine = RenderEngine(root / "render", show_secrets=True, programs=default_programs())
    plan = json.loads(engine.render(loaded, "controlroom").read_text(encoding="utf-8"))
    with real_charts() as archives:
        cache = ChartCache(archives)
        version = loaded.fleet.spec.control_room.cluster.kubernetes_version
        for resource in chart_resources(plan):
            resource["rendered"] = expand_chart(resource, cache, version).summary(redact=False)
    yield Room(plan, root)


# --- applying the collector's configuration -----------------------------------------------------


def _value(expr: Expr | None) -> Any:
    if isinstance(expr, Literal):
        return expr.value
    if isinstance(expr, Array):
        return [_value(item) for item in expr.items]
    if isinstance(expr, Object):
        return {key: _value(item) for key, item in expr.fields}
    return None


def process_line(stages: Block, line: str) -> dict[str, str] | None:
    """The labels ``line`` is counted under by the ``loki.process`` block's stages (None: not
    counted), as Alloy's regex, labels and metrics stages do."""
    extracted: dict[str, str] = {}
    labels: dict[str, str] = {}
    counted = False
    for stage in (b for b in stages.body if isinstance(b, Block)):
        if stage.name == "stage.regex":
            source = _value(stage.attribute("source"))
            text = line if source is None else extracted.get(source)
            if text is None:
                continue
            match = re2.search(_value(stage.attribute("expression")), text)
            if match is not None:
                extracted.update({k: v for k, v in match.groupdict().items() if v is not None})
        elif stage.name == "stage.labels":
            for label, key in _value(stage.attribute("values")).items():
                if (key or label) in extracted:
                    labels[label] = extracted[key or label]
        elif stage.name == "stage.metrics":
            (counter,) = stage.blocks("metric.counter")
            counted = _value(counter.attribute("source")) in extracted
    return {k: v for k, v in labels.items() if v} if counted else None


def relabel(
    rules: list[Block], target: Mapping[str, str], *, internal: bool = False
) -> dict[str, str] | None:
    """``target`` after Prometheus relabeling ``rules`` (replace, keep, drop); None: dropped.
    ``internal``: keep the ``__`` labels (the address and path the scrape will use)."""
    labels = dict(target)
    for rule in rules:
        sources = _value(rule.attribute("source_labels")) or []
        separator = _value(rule.attribute("separator")) or ";"
        regex = _value(rule.attribute("regex")) or "(.*)"
        action = _value(rule.attribute("action")) or "replace"
        value = separator.join(labels.get(name, "") for name in sources)
        match = re2.fullmatch(regex, value)
        if action == "keep" and match is None:
            return None
        if action == "drop" and match is not None:
            return None
        if action == "replace" and match is not None:
            replacement = _value(rule.attribute("replacement"))
            replacement = "$1" if replacement is None else replacement
            for number, group in reversed(list(enumerate((match.group(0), *match.groups())))):
                replacement = replacement.replace(f"${number}", group or "")
            labels[_value(rule.attribute("target_label"))] = replacement
    return {k: v for k, v in labels.items() if (internal or not k.startswith("__")) and v}


# --- the gateway's access log -------------------------------------------------------------------


def _send(port: int, auth: tuple[str, str] | None) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest("POST", "/api/v1/push")
        connection.putheader("X-Forwarded-For", "192.0.2.10")
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            connection.putheader("Authorization", f"Basic {token}")
        connection.putheader("Content-Length", "0")
        connection.endheaders(b"")
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


@pytest.fixture(scope="module")
def access_log(room: Room) -> list[str]:
    """The lines the rendered gateway, run by a real nginx, logs for: beta's push, alpha with a
    wrong password, a name no workload has (one built to break out of its field) and no credential."""
    require_nginx()
    secrets = {
        r["inputs"]["metadata"]["name"]: r["inputs"]["stringData"][".htpasswd"]
        for r in room.plan["resources"]
        if r["type"] == "kubernetes:core/v1:Secret" and r["inputs"]["metadata"]["name"] in HTPASSWD_SECRETS
    }
    files = {}
    for name, directory in zip(HTPASSWD_SECRETS, ("secrets", "reader", "rotation"), strict=True):
        (room.root / directory).mkdir()
        files[name] = room.root / directory / ".htpasswd"
        files[name].write_text(secrets[name], encoding="utf-8")
    (chart,) = [r["inputs"] for r in room.plan["resources"] if r["name"] == "mimir-chart"]
    port = free_port()
    outputs = room.plan["outputs"]
    credentials = {w: outputs[credential_output(w)] for w in outputs["tenants"]}
    with RecordingUpstream() as upstream:
        config = gateway_on_loopback(
            chart["values"]["gateway"]["nginx"]["config"]["file"],
            workdir=room.root / "nginx",
            port=port,
            upstream_port=upstream.port,
            write_htpasswd=files[HTPASSWD_SECRET],
            reader_htpasswd_dir=files[READER_HTPASSWD_SECRET].parent,
            rotation_htpasswd_dir=files[ROTATION_HTPASSWD_SECRET].parent,
        )
        with run_nginx(config, room.root / "nginx", port) as nginx:
            assert _send(port, ("beta", credentials["beta"])) == 200
            assert _send(port, ("alpha", "wrong")) == 401
            assert _send(port, ('mallory","status":200,"x":"', "x")) == 401
            assert _send(port, None) == 401
            deadline = time.monotonic() + 5
            while nginx.log_text().count('"status":') < 4 and time.monotonic() < deadline:
                time.sleep(0.02)
            return [line for line in nginx.log_text().splitlines() if line]


def test_the_gateway_lines_are_counted_by_workload_and_status(room: Room, access_log: list[str]) -> None:
    stages = room.collector()["loki.process.gateway"]
    counted = Counter(
        tuple(sorted(labels.items()))
        for line in access_log
        if (labels := process_line(stages, line)) is not None
    )
    assert counted == {
        (("status", "200"), ("user", "beta")): 1,
        (("status", "401"), ("user", "alpha")): 1,
        # A name no workload has (whatever it holds) and no credential: no user label at all.
        (("status", "401"),): 2,
    }
    # nginx's own lines (none here but the access log) would not match: the expression is anchored.
    assert process_line(stages, "2026/12/01 10:00:00 [crit] 7#7: something") is None


def test_the_counter_is_named_as_the_rules_read_it(room: Room) -> None:
    stages = room.collector()["loki.process.gateway"]
    (counter,) = [b for b in stages.walk() if b.name == "metric.counter"]
    assert f"{_value(counter.attribute('prefix'))}{_value(counter.attribute('name'))}" == GATEWAY_REQUESTS


def test_every_write_goes_to_the_hub_tenant(room: Room) -> None:
    found = room.collector()
    writers = [b for b in found.values() if b.name == "prometheus.remote_write"]
    assert len(writers) == 1
    (endpoint,) = writers[0].blocks("endpoint")
    assert _value(endpoint.attribute("headers")) == {"X-Scope-OrgID": OWNER_TENANT}
    assert _value(endpoint.attribute("url")).startswith("http://mimir-distributor.mimir.svc.")
    # Logs go nowhere: only the counter is kept.
    assert _value(found["loki.process.gateway"].attribute("forward_to")) == []


def _self_labels(room: Room) -> dict[str, str]:
    rules = room.collector()["discovery.relabel.collector"].blocks("rule")
    labels = relabel(rules, {"__address__": "127.0.0.1:12345"})
    assert labels is not None
    # sys.env("HOSTNAME") is the pod's name at run time.
    return {k: ("hub-collector-0" if v is None else v) for k, v in labels.items()}


@needs_promtool
def test_the_401_rule_fires_on_the_series_the_collector_writes(
    room: Room, access_log: list[str], tmp_path: Path
) -> None:
    stages = room.collector()["loki.process.gateway"]
    target = {"component_id": "loki.process.gateway", "component_path": "/", **_self_labels(room)}
    assert target["job"] == f"{NAMESPACE}/alloy" and target["cluster"]
    series = {}
    for line in access_log:
        labels = process_line(stages, line)
        if labels is None:
            continue
        selector = ", ".join(f'{k}="{v}"' for k, v in sorted({**target, **labels}.items()))
        series[f"{GATEWAY_REQUESTS}{{{selector}}}"] = "0+6x30"
    groups = [g for g in controlroom_rule_groups(WORKLOADS, AlertThresholds()) if g.name == "fleet-hub"]
    path = tmp_path / "hub.yaml"
    path.write_text(for_unit_tests(rule_file(groups, prometheus=True)))
    test = {
        "name": "the collector's series",
        "interval": "1m",
        "input_series": [{"series": s, "values": v} for s, v in series.items()],
        "alert_rule_test": [
            {
                "eval_time": "25m",
                "alertname": "FleetGatewayUnauthorized",
                # Only alpha: beta's pushes succeed, the other 401s name no workload.
                "exp_alerts": [
                    {"exp_labels": {"severity": "critical", "workload": "alpha", "user": "alpha"}}
                ],
            }
        ],
    }
    run_rule_tests(path, [test], tmp_path)


# --- Mimir's pods and the mixin's dashboards ----------------------------------------------------


def _mimir_targets(room: Room) -> list[dict[str, str]]:
    """discovery.kubernetes' pod targets for the rendered Mimir chart's pods (one per port)."""
    targets = []
    for item in room.chart_objects("mimir-chart"):
        if item["kind"] not in ("Deployment", "StatefulSet"):
            continue
        template = item["spec"]["template"]
        labels = template["metadata"]["labels"]
        for container in template["spec"]["containers"]:
            for port in container.get("ports") or []:
                target = {
                    "__meta_kubernetes_namespace": "mimir",
                    "__meta_kubernetes_pod_name": f"{item['metadata']['name']}-0",
                    "__meta_kubernetes_pod_container_name": container["name"],
                    "__meta_kubernetes_pod_container_port_name": port.get("name", ""),
                    "__meta_kubernetes_pod_phase": "Running",
                    "__address__": f"10.0.0.1:{port['containerPort']}",
                }
                for key, value in labels.items():
                    target["__meta_kubernetes_pod_label_" + re2.sub(r"[^a-zA-Z0-9_]", "_", key)] = value
                targets.append(target)
    return targets


def test_mimir_is_scraped_with_the_labels_the_mixin_dashboards_select(room: Room) -> None:
    rules = room.collector()["discovery.relabel.mimir"].blocks("rule")
    scraped = [labels for t in _mimir_targets(room) if (labels := relabel(rules, t)) is not None]
    jobs = {labels["job"] for labels in scraped}
    assert "mimir/distributor" in jobs and "mimir/ingester" in jobs and "mimir/rollout-operator" in jobs
    assert not any(job.endswith("/gateway") for job in jobs)
    assert all(labels["cluster"] and labels["namespace"] == "mimir" and labels["pod"] for labels in scraped)
    # Every job matcher of the writes and reads dashboards selects some scraped job.
    dashboards = {
        o["metadata"]["name"]: o for o in room.chart_objects("mimir-chart") if o["kind"] == "ConfigMap"
    }
    for name in ("mimir-writes-dashboard", "mimir-reads-dashboard", "mimir-compactor-dashboard"):
        ((key, text),) = dashboards[name]["data"].items()
        model = json.loads(text)
        for variable in model["templating"]["list"]:
            if variable["name"] == "namespace":
                variable["current"] = {"value": "mimir"}
        matchers = {
            m.group(1)
            for _, query in dashboard_queries(key, model)
            for m in re2.finditer(r'job=~"([^"]+)"', query)
        }
        assert matchers, name
        for matcher in matchers:
            assert any(re2.fullmatch(matcher, job) for job in jobs), (name, matcher, jobs)


def test_the_dashboards_land_where_grafanas_sidecar_reads_them(room: Room) -> None:
    dashboards = [
        o
        for o in room.chart_objects("mimir-chart")
        if o["kind"] == "ConfigMap" and (o["metadata"].get("labels") or {}).get(DASHBOARD_LABEL)
    ]
    assert len(dashboards) > 20
    grafana = room.chart_objects("grafana-chart")
    (deployment,) = [o for o in grafana if o["kind"] == "Deployment"]
    namespace = deployment["metadata"]["namespace"]
    containers = {c["name"]: c for c in deployment["spec"]["template"]["spec"]["containers"]}
    sidecar = containers["grafana-sc-dashboard"]
    env = {e["name"]: e.get("value") for e in sidecar["env"]}
    assert env["LABEL"] == DASHBOARD_LABEL and env["LABEL_VALUE"] == DASHBOARD_LABEL_VALUE
    assert "NAMESPACE" not in env  # its own namespace
    for item in dashboards:
        assert item["metadata"]["namespace"] == namespace
        assert item["metadata"]["labels"][DASHBOARD_LABEL] == DASHBOARD_LABEL_VALUE
    # The sidecar may list and watch ConfigMaps there, and only there.
    (role,) = [o for o in grafana if o["kind"] == "Role"]
    assert role["metadata"]["namespace"] == namespace
    assert any("configmaps" in r["resources"] and "watch" in r["verbs"] for r in role["rules"])
    assert not [o for o in grafana if o["kind"] == "ClusterRole"]


# --- the mixin's recording rules on the collected series ----------------------------------------


def _mixin_rules(room: Room) -> str:
    (config_map,) = [
        o
        for o in room.chart_objects("mimir-chart")
        if o["kind"] == "ConfigMap" and o["metadata"]["name"] == MIXIN_RULES_CONFIGMAP
    ]
    return str(config_map["data"][MIXIN_RULES_FILE])


def _mimir_scrape_seconds(room: Room) -> float:
    interval = _value(room.collector()["prometheus.scrape.mimir"].attribute("scrape_interval"))
    return parse_duration(interval if isinstance(interval, str) else "60s")  # Alloy's default


def test_every_range_the_mixin_rules_take_holds_four_scrapes_of_mimir(room: Room) -> None:
    """Mimir 3 reads a range without its left end: ``rate(x[1m])`` of a series scraped every 60s
    sees one sample and records nothing. Four samples a range is Grafana's rule for rates."""
    ranges: list[float] = []

    def visit(node: object) -> None:
        if isinstance(node, promql_parser.MatrixSelector):
            ranges.append(node.range.total_seconds())

    for group in yaml.safe_load(_mixin_rules(room))["groups"]:
        for rule in group["rules"]:
            promql_parser.walk(promql_parser.parse(rule["expr"]), visit)
    assert min(ranges) == 60
    assert min(ranges) >= 4 * _mimir_scrape_seconds(room)


def _writes_query(room: Room, panel: str, *needles: str) -> str:
    """The writes dashboard's query of ``panel`` containing ``needles``, interpolated as Grafana
    sends it for Mimir's namespace."""
    (config_map,) = [
        o for o in room.chart_objects("mimir-chart") if o["metadata"]["name"] == "mimir-writes-dashboard"
    ]
    ((key, text),) = config_map["data"].items()
    model = json.loads(text)
    for variable in model["templating"]["list"]:
        if variable["name"] == "namespace":
            variable["current"] = {"value": "mimir"}
    (query,) = [
        q
        for where, q in dashboard_queries(key, model)
        if where.endswith(repr(panel)) and all(n in q for n in needles)
    ]
    return query


@needs_promtool
def test_the_writes_dashboard_reads_what_the_mixin_rules_record_from_the_collected_series(
    room: Room, tmp_path: Path
) -> None:
    rules = room.collector()["discovery.relabel.mimir"].blocks("rule")
    scraped = [labels for t in _mimir_targets(room) if (labels := relabel(rules, t)) is not None]
    (distributor,) = [labels for labels in scraped if labels["job"] == "mimir/distributor"]
    every = _mimir_scrape_seconds(room)
    steps = int(900 // every)

    def series(metric: str, rate: float, **extra: str) -> dict[str, str]:
        labels = ", ".join(f'{k}="{v}"' for k, v in sorted({**distributor, **extra}.items()))
        return {"series": f"{metric}{{{labels}}}", "values": f"0+{rate * every:g}x{steps}"}

    push = {"route": "api_v1_push", "method": "POST", "status_code": "200", "ws": "false"}
    bucket = "cortex_request_duration_seconds_bucket"
    path = tmp_path / MIXIN_RULES_FILE
    path.write_text(for_unit_tests(_mixin_rules(room)), encoding="utf-8")
    test = {
        "name": "a distributor receiving 15 samples/s, half its pushes under 250ms",
        "interval": f"{every:g}s",
        "input_series": [
            series("cortex_distributor_received_samples_total", 10, user="alpha"),
            series("cortex_distributor_received_samples_total", 5, user="beta"),
            series(bucket, 1, le="0.25", **push),
            series(bucket, 2, le="0.5", **push),
            series(bucket, 2, le="+Inf", **push),
        ],
        "promql_expr_test": [
            {
                "expr": _writes_query(room, "Samples / sec"),
                "eval_time": "10m",
                "exp_samples": [{"labels": "{}", "value": 15}],
            },
            {
                # The median write latency, in milliseconds.
                "expr": _writes_query(
                    room, "Latency", "0.50, sum by (le) (cluster_job_route:", "(distributor"
                ),
                "eval_time": "10m",
                "exp_samples": [{"labels": "{}", "value": 250}],
            },
        ],
    }
    run_rule_tests(path, [test], tmp_path)


# --- Mimir's containers and objects: cAdvisor, the kubelets, kube-state-metrics ----------------

RESOURCE_SOURCES = {"container_": "cadvisor", "kubelet_": "kubelet", "kube_": "kube_state_metrics"}
"""Where the collector must bring each resource metric family from (its component names)."""
KUBE_STATE_METRICS_1 = {
    "kube_pod_container_resource_requests_cpu_cores",
    "kube_pod_container_resource_requests_memory_bytes",
}
"""Names the mixin's scaling rules read only as the kube-state-metrics 1 alternative of an ``or``."""
NODE = {"__meta_kubernetes_node_name": "node-a", "__address__": "10.0.0.5:10250"}
"""A ``discovery.kubernetes`` node target."""


def _forwards(block: Block) -> list[str]:
    """The components ``block`` forwards to."""
    value = block.attribute("forward_to")
    assert isinstance(value, Array)
    return [".".join(chain[:-1]) for item in value.items if (chain := reference_chain(item)) is not None]


def _shipped_selectors(room: Room) -> dict[str, list[tuple[str, set[str]]]]:
    """Metric name -> (where, label names matched) of every selector of the mixin as the stack
    ships it: the chart's dashboard ConfigMaps (interpolated for Mimir's namespace) and the mixin
    rules' ConfigMap the release renders."""
    queries: list[tuple[str, str]] = []
    for item in room.chart_objects("mimir-chart"):
        if item["kind"] != "ConfigMap" or not (item["metadata"].get("labels") or {}).get(DASHBOARD_LABEL):
            continue
        for key, text in item["data"].items():
            model = json.loads(text)
            for variable in model["templating"]["list"]:
                if variable["name"] == "namespace":
                    variable["current"] = {"value": "mimir"}
            queries += dashboard_queries(key, model)
    for group in yaml.safe_load(_mixin_rules(room))["groups"]:
        queries += [(f"rule {r.get('record') or r.get('alert')}", r["expr"]) for r in group["rules"]]
    found: dict[str, list[tuple[str, set[str]]]] = {}
    for where, query in queries:

        def visit(node: object, where: str = where) -> None:
            if isinstance(node, promql_parser.VectorSelector) and node.name:
                labels = {m.name for m in node.matchers.matchers if m.name != "__name__"}
                found.setdefault(node.name, []).append((where, labels))

        promql_parser.walk(promql_parser.parse(query), visit)
    return found


def _resource_metrics(room: Room) -> dict[str, list[tuple[str, set[str]]]]:
    return {
        name: uses
        for name, uses in _shipped_selectors(room).items()
        if name.startswith(tuple(RESOURCE_SOURCES)) and ":" not in name
    }


def _kube_state_metrics(room: Room) -> dict[str, Any]:
    (deployment,) = [
        r["inputs"]
        for r in room.plan["resources"]
        if r["type"] == "kubernetes:apps/v1:Deployment"
        and r["name"] == "hub-collector-kube-state-metrics-deployment"
    ]
    return dict(deployment)


def _arguments(container: Mapping[str, Any]) -> dict[str, str]:
    return dict(arg.removeprefix("--").split("=", 1) for arg in container["args"])


def test_every_resource_metric_the_shipped_mixin_reads_is_collected_into_the_hub_tenant(room: Room) -> None:
    """Each ``container_*``, ``kubelet_*`` and ``kube_*`` name a shipped dashboard or rule reads is
    scraped from the source that exposes it and kept, for Mimir's namespace only, on its way to
    the hub tenant's writer."""
    metrics = _resource_metrics(room)
    # The resources, networking, rollout and scaling dashboards, and the scaling rules.
    assert len(metrics) >= 25 and {"container_cpu_usage_seconds_total", "kube_statefulset_replicas"} <= set(
        metrics
    )
    # Read only by rules, each time beside the kube-state-metrics 2 name.
    for name in KUBE_STATE_METRICS_1:
        assert all(where.startswith("rule ") for where, _ in metrics.pop(name))
    found = room.collector()
    (writer,) = [c for c, b in found.items() if b.name == "prometheus.remote_write"]
    for name in sorted(metrics):
        (source,) = [s for prefix, s in RESOURCE_SOURCES.items() if name.startswith(prefix)]
        (relabeler,) = _forwards(found[f"prometheus.scrape.{source}"])
        assert found[relabeler].name == "prometheus.relabel" and _forwards(found[relabeler]) == [writer]
        rules = found[relabeler].blocks("rule")
        assert relabel(rules, {"__name__": name, "namespace": "mimir"}) is not None, name
        assert relabel(rules, {"__name__": name, "namespace": "kube-system"}) is None, name
    # What the mixin does not read stays out of the hub tenant.
    for source, name in (("cadvisor", "container_fs_reads_total"), ("kube_state_metrics", "kube_pod_info")):
        (relabeler,) = _forwards(found[f"prometheus.scrape.{source}"])
        assert relabel(found[relabeler].blocks("rule"), {"__name__": name, "namespace": "mimir"}) is None


def test_the_sources_are_scraped_where_they_expose_those_metrics(room: Room) -> None:
    """cAdvisor and the kubelet through the API server's proxy of each node; kube-state-metrics
    on the port of the rendered Deployment, reporting on every object kind the kept ``kube_*``
    names describe, in Mimir's namespace."""
    found = room.collector()
    for source, path in (("cadvisor", "/metrics/cadvisor"), ("kubelet", "/metrics")):
        scrape = found[f"prometheus.scrape.{source}"]
        assert _value(scrape.attribute("scheme")) == "https"
        (discovery,) = [".".join(c[:-1]) for c in [reference_chain(scrape.attribute("targets"))] if c]
        target = relabel(found[discovery].blocks("rule"), NODE, internal=True)
        assert target is not None
        assert target["__address__"] == "kubernetes.default.svc:443"
        assert target["__metrics_path__"] == f"/api/v1/nodes/node-a/proxy{path}"
        assert _value(found["discovery.kubernetes.nodes"].attribute("role")) == "node"
    deployment = _kube_state_metrics(room)
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    arguments = _arguments(container)
    assert arguments["namespaces"] == "mimir"
    reported = set(arguments["resources"].split(","))
    # kube_<kind>_...: kube-state-metrics names each metric after the object kind it describes.
    kinds = {name.split("_")[1] for name in _resource_metrics(room) if name.startswith("kube_")}
    assert {f"{kind}s" for kind in kinds} <= reported, (kinds, reported)
    discovery = found["discovery.kubernetes.kube_state_metrics"]
    (namespaces,) = discovery.blocks("namespaces")
    assert _value(namespaces.attribute("names")) == [deployment["metadata"]["namespace"]] == [NAMESPACE]
    (selector,) = discovery.blocks("selectors")
    key, value = _value(selector.attribute("label")).split("=")
    assert pod["metadata"]["labels"][key] == value
    port = {p["containerPort"]: p["name"] for p in container["ports"]}[int(arguments["port"])]
    target = {
        "__meta_kubernetes_pod_container_port_name": port,
        "__meta_kubernetes_pod_phase": "Running",
        "__address__": f"10.0.0.9:{arguments['port']}",
    }
    assert relabel(found["discovery.relabel.kube_state_metrics"].blocks("rule"), target) is not None
    assert _value(found["prometheus.scrape.kube_state_metrics"].attribute("honor_labels")) is True


def test_the_resource_series_carry_the_labels_the_mixin_selects(room: Room) -> None:
    """The series bring their own ``namespace``, ``pod`` and ``container`` (cAdvisor's and
    kube-state-metrics' describe the container, not the scrape); the targets add the same
    ``cluster`` as Mimir's pods' (the dashboards' ``$cluster`` comes from ``cortex_build_info``)
    and never one of the labels the mixin selects that the series carry themselves, which a
    scrape without honor_labels would rename to ``exported_*``."""
    found = room.collector()
    (mimir,) = [t for t in _mimir_targets(room) if "distributor" in t["__meta_kubernetes_pod_name"]][:1]
    cluster = relabel(found["discovery.relabel.mimir"].blocks("rule"), mimir)
    assert cluster is not None
    selected = {label for uses in _resource_metrics(room).values() for _, labels in uses for label in labels}
    assert {"cluster", "namespace", "container", "pod"} <= selected
    for source, target in (
        ("cadvisor", NODE),
        ("kubelet", NODE),
        (
            "kube_state_metrics",
            {"__meta_kubernetes_pod_container_port_name": "http", "__address__": "x:8080"},
        ),
    ):
        labels = relabel(found[f"discovery.relabel.{source}"].blocks("rule"), target)
        assert labels is not None and labels["cluster"] == cluster["cluster"], source
        assert not (set(labels) & (selected - {"cluster"})), (source, labels)
    jobs = {_value(found[f"prometheus.scrape.{s}"].attribute("job_name")) for s in ("cadvisor", "kubelet")}
    assert jobs == {"cadvisor", "kubelet"}
    assert _value(found["prometheus.scrape.kube_state_metrics"].attribute("job_name")) == "kube-state-metrics"


def _rbac(room: Room) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every role and every binding of the control room: the program's and the charts'."""
    objects = [
        {"kind": r["type"].rsplit(":", 1)[1], **r["inputs"]}
        for r in room.plan["resources"]
        if r["type"].startswith("kubernetes:rbac.authorization.k8s.io/v1:")
    ]
    for resource in ("mimir-chart", "grafana-chart", "hub-collector-chart"):
        objects += [o for o in room.chart_objects(resource) if o["kind"].endswith(("Role", "RoleBinding"))]
    roles = [o for o in objects if o["kind"] in ("Role", "ClusterRole")]
    bindings = [o for o in objects if o["kind"] in ("RoleBinding", "ClusterRoleBinding")]
    return roles, bindings


def _granted(room: Room, account: str, namespace: str) -> list[tuple[str | None, dict[str, Any]]]:
    """(namespace or None for the cluster, rule) of everything bound to ``namespace/account``."""
    roles, bindings = _rbac(room)
    granted = []
    for binding in bindings:
        if not any(
            s["kind"] == "ServiceAccount" and s["name"] == account and s.get("namespace") == namespace
            for s in binding["subjects"]
        ):
            continue
        where = binding["metadata"].get("namespace") if binding["kind"] == "RoleBinding" else None
        ref = binding["roleRef"]
        (role,) = [
            r
            for r in roles
            if r["kind"] == ref["kind"]
            and r["metadata"]["name"] == ref["name"]
            and (r["kind"] == "ClusterRole" or r["metadata"].get("namespace") == where)
        ]
        granted += [(where, rule) for rule in role["rules"]]
    return granted


def test_kube_state_metrics_lists_and_watches_what_it_reports_in_mimirs_namespace_only(room: Room) -> None:
    deployment = _kube_state_metrics(room)
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    granted = _granted(room, account, NAMESPACE)
    assert granted
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    arguments = _arguments(container)
    workload = {(g, r) for g, names in WORKLOAD_KUBE_STATE_METRICS_RESOURCES.items() for r in names}
    reported: set[str] = set()
    for where, rule in granted:
        # No cluster-wide grant, nothing but list and watch, no Secret, no more than a workload's.
        assert where == arguments["namespaces"] == "mimir"
        assert set(rule["verbs"]) == {"list", "watch"}
        assert {(g, r) for g in rule["apiGroups"] for r in rule["resources"]} <= workload
        reported |= set(rule["resources"])
    # It may list everything it is told to report on.
    assert reported == set(arguments["resources"].split(","))


def test_the_collector_reads_the_nodes_through_the_proxy_and_no_secret(room: Room) -> None:
    granted = _granted(room, "hub-collector", NAMESPACE)
    cluster_wide = {r for where, rule in granted if where is None for r in rule["resources"]}
    assert cluster_wide == {"nodes", "nodes/metrics", "nodes/proxy"}
    for where, rule in granted:
        assert "secrets" not in rule["resources"]
        if where is None and rule["resources"] != ["nodes"]:
            assert rule["verbs"] == ["get"]
        assert where in (None, "mimir", NAMESPACE)
    own = {r for where, rule in granted if where == NAMESPACE for r in rule["resources"]}
    assert own == {"pods"}  # to find kube-state-metrics


def _resources_query(room: Room, cluster: str, panel: str, metric: str, container: str) -> str:
    """The writes resources dashboard's ``panel`` query of ``metric`` for ``container``,
    interpolated as Grafana sends it for the collector's cluster and Mimir's namespace."""
    (config_map,) = [
        o
        for o in room.chart_objects("mimir-chart")
        if o["metadata"]["name"] == "mimir-writes-resources-dashboard"
    ]
    ((key, text),) = config_map["data"].items()
    model = json.loads(text)
    for variable in model["templating"]["list"]:
        if variable["name"] in ("namespace", "cluster"):
            variable["current"] = {"value": "mimir" if variable["name"] == "namespace" else cluster}
    (query,) = {
        q
        for where, q in dashboard_queries(key, model)
        if where.endswith(repr(panel)) and f'container=~"{container}"' in q and f"{metric}{{" in q
    }
    return query


@needs_promtool
def test_the_scaling_rules_and_resources_panels_read_the_collected_resource_series(
    room: Room, tmp_path: Path
) -> None:
    """Two ingesters (one a zone) each using half a core of the one they request, as cAdvisor and
    kube-state-metrics expose them, labelled as the collector's targets label them and passed
    through its keep rules: the mixin's rules record one deployment with two replicas, one core
    used of two requested, and the writes resources dashboard shows each pod's half core."""
    found = room.collector()
    every = parse_duration(str(_value(found["prometheus.scrape.cadvisor"].attribute("scrape_interval"))))
    steps = int(900 // every)
    node = relabel(found["discovery.relabel.cadvisor"].blocks("rule"), NODE)
    exporter = relabel(
        found["discovery.relabel.kube_state_metrics"].blocks("rule"),
        {"__meta_kubernetes_pod_container_port_name": "http", "__meta_kubernetes_pod_phase": "Running"},
    )
    assert node is not None and exporter is not None
    sources = {
        "cadvisor": {**node, "job": "cadvisor"},
        "kube_state_metrics": {**exporter, "job": "kube-state-metrics", "instance": "10.0.0.9:8080"},
    }
    pods = {
        "mimir-ingester-zone-a-0": "mimir-ingester-zone-a",
        "mimir-ingester-zone-b-0": "mimir-ingester-zone-b",
    }
    series = []

    def add(source: str, metric: str, values: str, **own: str) -> None:
        labels = {**sources[source], "namespace": "mimir", **own}
        (relabeler,) = _forwards(found[f"prometheus.scrape.{source}"])
        assert relabel(found[relabeler].blocks("rule"), {"__name__": metric, **labels}) is not None
        text = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        series.append({"series": f"{metric}{{{text}}}", "values": values})

    for pod, statefulset in pods.items():
        container = {"pod": pod, "container": "ingester"}
        add(
            "cadvisor",
            "container_cpu_usage_seconds_total",
            f"0+{0.5 * every:g}x{steps}",
            image="mimir",
            **container,
        )
        add("kube_state_metrics", "kube_statefulset_replicas", f"1x{steps}", statefulset=statefulset)
        add(
            "kube_state_metrics",
            "kube_pod_container_resource_requests",
            f"1x{steps}",
            resource="cpu",
            unit="core",
            **container,
        )
    path = tmp_path / MIXIN_RULES_FILE
    path.write_text(for_unit_tests(_mixin_rules(room)), encoding="utf-8")
    cluster = sources["cadvisor"]["cluster"]
    deployment = f'{{cluster="{cluster}", deployment="mimir-ingester", namespace="mimir"}}'
    recorded = {
        "cluster_namespace_deployment:actual_replicas:count": 2,
        "cluster_namespace_deployment:container_cpu_usage_seconds_total:sum_rate": 1,
        "cluster_namespace_deployment:kube_pod_container_resource_requests_cpu_cores:sum": 2,
    }
    test = {
        "name": "two ingesters, half a core used of each one requested",
        "interval": f"{every:g}s",
        "input_series": series,
        "promql_expr_test": [
            *(
                {
                    "expr": record,
                    "eval_time": "10m",
                    "exp_samples": [
                        {
                            "labels": f"{record}{deployment}",
                            "value": value,
                        }
                    ],
                }
                for record, value in recorded.items()
            ),
            {
                "expr": _resources_query(
                    room, cluster, "CPU", "container_cpu_usage_seconds_total", "ingester"
                ),
                "eval_time": "10m",
                "exp_samples": [{"labels": f'{{pod="{pod}"}}', "value": 0.5} for pod in sorted(pods)],
            },
        ],
    }
    run_rule_tests(path, [test], tmp_path, evaluation_interval=f"{every:g}s")
