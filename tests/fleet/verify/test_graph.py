from __future__ import annotations

import pytest

from fleet.verify.graph import AlloyGraph, endpoint_urls, string_value
from kit.alloy.parser import parse
from kit.alloy.syntax import AlloySyntaxError, Attribute
from workloads.alloy_config import AlloyPipeline, render_alloy_config

CONFIG = """\
prometheus.exporter.unix "node" { }

discovery.relabel "node" {
  targets = prometheus.exporter.unix.node.targets
}

prometheus.scrape "node" {
  targets    = discovery.relabel.node.output
  forward_to = [prometheus.relabel.filter.receiver]
}

prometheus.relabel "filter" {
  forward_to = [prometheus.remote_write.local.receiver, prometheus.remote_write.local.receiver]
}

prometheus.remote_write "local" {
  endpoint { url = "http://mimir.svc/api/v1/push" }
  endpoint { url = env("URL") }
}

otelcol.receiver.otlp "apps" {
  output { metrics = [otelcol.exporter.prometheus.out.input] }
}

otelcol.receiver.otlp "traces_only" {
  output { traces = [] }
}

remote.kubernetes.secret "auth" {
  namespace = "alloy"
  name      = "mimir-auth"
}

prometheus.exporter.self "lonely" { }

loki.source.file "files" {
  targets    = []
  forward_to = [loki.write.missing.receiver]
}
"""


def test_data_flows_along_receiver_references_without_duplicates() -> None:
    graph = AlloyGraph.from_text(CONFIG)
    assert graph.edges["prometheus.relabel.filter"] == ["prometheus.remote_write.local"]
    assert graph.reachable("prometheus.scrape.node") == {
        "prometheus.relabel.filter",
        "prometheus.remote_write.local",
    }
    assert graph.reachable("prometheus.remote_write.local") == set()
    # An undefined component is reached, so that a check can report it.
    assert graph.reachable("loki.source.file.files") == {"loki.write.missing"}
    assert graph.reachable("otelcol.receiver.otlp.apps") == {"otelcol.exporter.prometheus.out"}


def test_an_exporter_is_scraped_through_discovery() -> None:
    graph = AlloyGraph.from_text(CONFIG)
    assert graph.target_consumers["prometheus.exporter.unix.node"] == ["discovery.relabel.node"]
    assert graph.scrapes_of("prometheus.exporter.unix.node") == {"prometheus.scrape.node"}
    assert graph.scrapes_of("prometheus.exporter.self.lonely") == set()


def test_metric_sources_are_scrapes_and_receivers_with_a_metrics_output() -> None:
    graph = AlloyGraph.from_text(CONFIG)
    assert graph.of_kind("prometheus.exporter.") == [
        "prometheus.exporter.unix.node",
        "prometheus.exporter.self.lonely",
    ]
    assert graph.metric_sources() == ["prometheus.scrape.node", "otelcol.receiver.otlp.apps"]


def test_endpoint_urls_are_literals_or_none() -> None:
    graph = AlloyGraph.from_text(CONFIG)
    assert endpoint_urls(graph.blocks["prometheus.remote_write.local"]) == [
        "http://mimir.svc/api/v1/push",
        None,
    ]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('remote.kubernetes.secret.auth.data["password"]', True),
        ("remote.kubernetes.secret.auth.data.password", True),
        ('remote.kubernetes.secret.other.data["password"]', False),
        ("remote.kubernetes.secret.auth.data[key]", False),
        ('prometheus.exporter.self.lonely.data["password"]', False),
        ('"password"', False),
    ],
)
def test_reads_kubernetes_secret_only_from_a_defined_secret_component(
    expression: str, expected: bool
) -> None:
    graph = AlloyGraph.from_text(CONFIG)
    (attribute,) = parse(f"password = {expression}\n").body
    assert isinstance(attribute, Attribute)
    assert graph.reads_kubernetes_secret(attribute.value) is expected


def test_string_value_is_only_a_string_literal() -> None:
    values = [
        item.value for item in parse('a = "x"\nb = 1\nc = env("X")\n').body if isinstance(item, Attribute)
    ]
    assert [string_value(value) for value in values] == ["x", None, None]
    assert string_value(None) is None


def test_the_generated_config_dual_writes_every_source() -> None:
    pipeline = AlloyPipeline(
        workload="alpha",
        local_metrics_url="http://mimir-gateway.mimir.svc.cluster.local/api/v1/push",
        central_metrics_url="https://mimir.ctrl.example/api/v1/push",
        central_secret_namespace="alloy",
    )
    graph = AlloyGraph.from_text(render_alloy_config(pipeline))
    writers = {"prometheus.remote_write.local", "prometheus.remote_write.central"}
    assert graph.metric_sources()
    for source in graph.metric_sources():
        assert writers <= graph.reachable(source)
    assert graph.scrapes_of("prometheus.exporter.unix.node") == {"prometheus.scrape.node_exporter"}


def test_text_that_does_not_parse_raises() -> None:
    with pytest.raises(AlloySyntaxError):
        AlloyGraph.from_text('prometheus.scrape "x" {')
