"""The data-path proof of a workload's Alloy text: the generated config passes, each deliberately
broken one fails for the right invariant."""

from __future__ import annotations

import pytest
from alloy_texts import CENTRAL, GOOD, WORKLOAD, broken, found, retarget

from fleet.verify.dataflow import Violation, check_workload_alloy, is_in_cluster_url


def test_generated_config_proves_every_invariant() -> None:
    assert check_workload_alloy(GOOD, WORKLOAD, CENTRAL) == []


# --- invariant 1: logs stay in the cluster ---------------------------------------------------


def test_loki_write_to_the_control_room_breaks_invariant_1() -> None:
    text = broken(
        '"http://loki-gateway.loki.svc.cluster.local/loki/api/v1/push"',
        '"https://mimir.ctrl.example.com/loki/api/v1/push"',
    )
    violations = check_workload_alloy(text, WORKLOAD, CENTRAL)
    assert [(v.invariant, v.component) for v in violations] == [(1, "loki.write.local")]
    assert "https://mimir.ctrl.example.com/loki/api/v1/push" in violations[0].message


def test_log_source_forwarding_to_a_remote_write_breaks_invariant_1() -> None:
    text = broken(
        "forward_to = [loki.process.pods.receiver]",
        "forward_to = [prometheus.remote_write.central.receiver]",
    )
    assert (1, "loki.source.kubernetes.pods") in found(text)


def test_log_processor_forwarding_to_a_second_remote_loki_breaks_invariant_1() -> None:
    text = broken(
        "forward_to = [loki.write.local.receiver]\n\n  stage.drop",
        "forward_to = [loki.write.local.receiver, loki.write.central.receiver]\n\n  stage.drop",
    )
    text += (
        '\nloki.write "central" {\n  endpoint {\n    url = "https://logs.example.com/push"\n'
        '  }\n  external_labels = { workload = "shop" }\n}\n'
    )
    assert found(text) == {(1, "loki.write.central")}


def test_log_pipeline_ending_somewhere_else_breaks_invariant_1() -> None:
    text = broken(
        "forward_to = [loki.write.local.receiver]\n\n  stage.drop",
        "forward_to = [loki.echo.debug.receiver]\n\n  stage.drop",
    )
    text += 'loki.echo "debug" { }\n'
    assert (1, "loki.source.kubernetes.pods") in found(text)


def test_forwarding_logs_to_an_undefined_component_breaks_invariant_1() -> None:
    text = broken("forward_to = [loki.process.pods.receiver]", "forward_to = [loki.nope.x.receiver]")
    violations = check_workload_alloy(text, WORKLOAD, CENTRAL)
    assert any(
        v.invariant == 1 and "not defined" in v.message and v.component.startswith("loki.source")
        for v in violations
    )


def test_loki_write_url_from_the_environment_cannot_be_proven() -> None:
    text = broken(
        'url = "http://loki-gateway.loki.svc.cluster.local/loki/api/v1/push"',
        'url = sys.env("LOKI_URL")',
    )
    assert found(text) == {(1, "loki.write.local")}


# --- invariant 2: every metric source reaches both endpoints -----------------------------------


def test_missing_central_remote_write_breaks_invariant_2() -> None:
    start = GOOD.index('prometheus.remote_write "central"')
    end = GOOD.index("discovery.kubernetes", start)
    text = GOOD[:start] + GOOD[end:]
    violations = check_workload_alloy(text, WORKLOAD, CENTRAL)
    assert (2, "prometheus.remote_write") in {(v.invariant, v.component) for v in violations}
    assert any("central endpoint" in v.message for v in violations)


def test_source_reaching_only_the_local_endpoint_breaks_invariant_2() -> None:
    text = retarget(GOOD, 'prometheus.scrape "kubelet"', "prometheus.remote_write.local.receiver")
    violations = check_workload_alloy(text, WORKLOAD, CENTRAL)
    assert [(v.invariant, v.component) for v in violations] == [(2, "prometheus.scrape.kubelet")]
    assert "central" in violations[0].message


def test_source_reaching_only_the_central_endpoint_breaks_invariant_2() -> None:
    text = retarget(GOOD, 'prometheus.scrape "pods"', "prometheus.remote_write.central.receiver")
    violations = check_workload_alloy(text, WORKLOAD, CENTRAL)
    assert [(v.invariant, v.component) for v in violations] == [(2, "prometheus.scrape.pods")]
    assert "in-cluster" in violations[0].message


RELABEL = """
prometheus.relabel "filter" {
  forward_to = [%s]
  rule {
    source_labels = ["__name__"]
    regex         = "go_.*"
    action        = "drop"
  }
}
"""


SCRAPES = ("pods", "kubelet", "cadvisor", "node_exporter", "kube_state_metrics")


def through_filter(writers: str) -> str:
    text = GOOD
    for scrape in SCRAPES:
        text = retarget(text, f'prometheus.scrape "{scrape}"', "prometheus.relabel.filter.receiver")
    return text + RELABEL % writers


def test_a_relabel_processor_on_the_path_is_followed() -> None:
    both = "prometheus.remote_write.local.receiver, prometheus.remote_write.central.receiver"
    assert check_workload_alloy(through_filter(both), WORKLOAD, CENTRAL) == []


def test_a_relabel_processor_that_drops_a_destination_breaks_invariant_2() -> None:
    text = through_filter("prometheus.remote_write.local.receiver")
    assert found(text) == {(2, f"prometheus.scrape.{scrape}") for scrape in SCRAPES}


def test_remote_write_to_a_third_party_breaks_invariant_2() -> None:
    text = GOOD + (
        '\nprometheus.remote_write "vendor" {\n  endpoint {\n    url = "https://metrics.vendor.io/push"\n'
        '  }\n  external_labels = { workload = "shop" }\n}\n'
    )
    assert found(text) == {(2, "prometheus.remote_write.vendor")}


def test_node_exporter_scrape_reaching_only_the_local_endpoint_breaks_invariant_2() -> None:
    text = retarget(GOOD, 'prometheus.scrape "node_exporter"', "prometheus.remote_write.local.receiver")
    violations = check_workload_alloy(text, WORKLOAD, CENTRAL)
    assert [(v.invariant, v.component) for v in violations] == [(2, "prometheus.scrape.node_exporter")]
    assert "central" in violations[0].message


def test_an_exporter_scraped_directly_is_collected() -> None:
    text = broken(
        "targets    = discovery.relabel.node_exporter.output",
        "targets    = prometheus.exporter.unix.node.targets",
    )
    assert check_workload_alloy(text, WORKLOAD, CENTRAL) == []


def test_an_exporter_nobody_scrapes_breaks_invariant_2() -> None:
    start = GOOD.index('prometheus.scrape "node_exporter"')
    end = GOOD.index("\n}\n", start) + len("\n}\n")
    violations = check_workload_alloy(GOOD[:start] + GOOD[end:], WORKLOAD, CENTRAL)
    assert [(v.invariant, v.component) for v in violations] == [(2, "prometheus.exporter.unix.node")]
    assert "no prometheus.scrape" in violations[0].message


def test_an_exporter_whose_targets_go_only_to_a_non_scrape_breaks_invariant_2() -> None:
    text = broken(
        "targets    = discovery.relabel.node_exporter.output",
        "targets    = discovery.relabel.pod_metrics.output",
    )
    assert found(text) == {(2, "prometheus.exporter.unix.node")}


def test_config_without_metric_sources_breaks_invariant_2() -> None:
    writers_only = GOOD[: GOOD.index('discovery.kubernetes "pods"')]
    assert found(writers_only) == {(2, "prometheus.scrape")}


# --- invariant 3: central credentials ----------------------------------------------------------


def test_literal_password_breaks_invariant_3() -> None:
    text = broken(
        'password = remote.kubernetes.secret.central_auth.data["password"]',
        'password = "hunter2"',
    )
    violations = check_workload_alloy(text, WORKLOAD, CENTRAL)
    assert [(v.invariant, v.component) for v in violations] == [(3, "prometheus.remote_write.central")]
    assert "hunter2" not in violations[0].message


def test_concatenated_literal_password_breaks_invariant_3() -> None:
    text = broken(
        'password = remote.kubernetes.secret.central_auth.data["password"]',
        'password = "x" + remote.kubernetes.secret.central_auth.data["password"]',
    )
    assert found(text) == {(3, "prometheus.remote_write.central")}


def test_password_from_the_environment_is_not_a_kubernetes_secret() -> None:
    text = broken(
        'password = remote.kubernetes.secret.central_auth.data["password"]',
        'password = sys.env("MIMIR_PASSWORD")',
    )
    violations = check_workload_alloy(text, WORKLOAD, CENTRAL)
    assert [(v.invariant, v.component) for v in violations] == [(3, "prometheus.remote_write.central")]
    assert "remote.kubernetes.secret" in violations[0].message


def test_password_from_an_undefined_secret_component_breaks_invariant_3() -> None:
    text = broken("remote.kubernetes.secret.central_auth.data", "remote.kubernetes.secret.other.data")
    assert found(text) == {(3, "prometheus.remote_write.central")}


def test_password_file_is_accepted() -> None:
    text = broken(
        'password = remote.kubernetes.secret.central_auth.data["password"]',
        'password_file = "/etc/mimir-auth/password"',
    )
    assert check_workload_alloy(text, WORKLOAD, CENTRAL) == []


def test_wrong_username_breaks_invariant_3() -> None:
    text = broken('username = "shop"', 'username = "other"')
    violations = check_workload_alloy(text, WORKLOAD, CENTRAL)
    assert [(v.invariant, v.component) for v in violations] == [(3, "prometheus.remote_write.central")]
    assert "'other'" in violations[0].message


def test_missing_basic_auth_breaks_invariant_3() -> None:
    start = GOOD.index("    basic_auth {")
    end = GOOD.index("    }\n", start) + len("    }\n")
    assert found(GOOD[:start] + GOOD[end:]) == {(3, "prometheus.remote_write.central")}


def test_literal_credential_anywhere_breaks_invariant_3() -> None:
    text = broken(
        'url = "http://mimir-gateway.mimir.svc.cluster.local/api/v1/push"',
        'url = "http://mimir-gateway.mimir.svc.cluster.local/api/v1/push"\n    bearer_token = "abc"',
    )
    assert found(text) == {(3, "prometheus.remote_write.local")}


# --- invariant 4: workload label ---------------------------------------------------------------


def test_missing_workload_external_label_breaks_invariant_4() -> None:
    local = GOOD.index('prometheus.remote_write "local"')
    at = GOOD.index('    workload = "shop",\n', local)
    text = GOOD[:at] + '    cluster = "x",\n' + GOOD[at + len('    workload = "shop",\n') :]
    assert found(text) == {(4, "prometheus.remote_write.local")}


def test_wrong_workload_external_label_breaks_invariant_4() -> None:
    loki = GOOD.index('loki.write "local"')
    at = GOOD.index('workload = "shop"', loki)
    text = GOOD[:at] + 'workload = "shop2"' + GOOD[at + len('workload = "shop"') :]
    assert found(text) == {(4, "loki.write.local")}


def test_no_external_labels_breaks_invariant_4() -> None:
    central = GOOD.index('prometheus.remote_write "central"')
    start = GOOD.index("  external_labels = {", central)
    end = GOOD.index("  }\n", start) + len("  }\n")
    assert found(GOOD[:start] + GOOD[end:]) == {(4, "prometheus.remote_write.central")}


# --- unparseable text --------------------------------------------------------------------------


def test_unparseable_config_is_a_violation_of_every_workload_invariant() -> None:
    violations = check_workload_alloy(GOOD + '\nloki.write "x" {\n', WORKLOAD, CENTRAL)
    assert [v.invariant for v in violations] == [1, 2, 3, 4]
    assert all("does not parse" in v.message and "line" in v.message for v in violations)


def test_messages_are_one_line() -> None:
    assert Violation(1, "a\nb", "x\ny\r\n") == Violation(1, "a\\nb", "x\\ny\\r\\n")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://loki-gateway/loki/api/v1/push", True),
        ("http://loki-gateway.loki.svc/loki/api/v1/push", True),
        ("http://loki-gateway.loki.svc.cluster.local:3100/push", True),
        ("https://thing.ns.cluster.local/push", True),
        ("https://mimir.ctrl.example.com/api/v1/push", False),
        ("https://svc.example.com/push", False),
        ("http://evil.example/#.svc", False),
        ("http://10.0.0.1/push", False),
        ("loki-gateway/push", False),
        ("ftp://loki/push", False),
        ("http://[::1", False),
    ],
)
def test_in_cluster_urls(url: str, expected: bool) -> None:
    assert is_in_cluster_url(url) is expected
