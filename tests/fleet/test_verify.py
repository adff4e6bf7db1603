"""`fleet verify`'s proofs: generated configs pass, each deliberately broken one fails right."""

from __future__ import annotations

import re
from typing import Any

import bcrypt
import pytest

from fleet.verify import (
    HTPASSWD_SECRET,
    REDACTED,
    Violation,
    check_htpasswd,
    check_no_secret_leak,
    check_plan_set,
    check_workload_alloy,
    is_in_cluster_url,
    verify_plans,
)
from workloads.alloy_config import AlloyPipeline, render_alloy_config

CENTRAL = "https://mimir.ctrl.example.com/api/v1/push"
WORKLOAD = "shop"


def render(**changes: Any) -> str:
    fields: dict[str, Any] = {
        "workload": WORKLOAD,
        "local_metrics_url": "http://mimir-gateway.mimir.svc.cluster.local/api/v1/push",
        "central_metrics_url": CENTRAL,
        "central_secret_namespace": "alloy",
        **changes,
    }
    return render_alloy_config(AlloyPipeline(**fields))


GOOD = render(central_metric_filters=("up", "kube_.*"), namespaces=("payments",))


def broken(old: str, new: str, text: str = GOOD) -> str:
    assert old in text, f"{old!r} is not in the config"
    return text.replace(old, new)


def retarget(text: str, component: str, targets: str) -> str:
    """``text`` with the ``forward_to`` of the block headed ``component`` set to ``[targets]``."""
    start = text.index(component)
    match = re.compile(r"forward_to\s*=\s*\[[^\]]*\]").search(text, start)
    assert match is not None
    return text[: match.start()] + f"forward_to = [{targets}]" + text[match.end() :]


def found(text: str) -> set[tuple[int, str]]:
    return {(v.invariant, v.component) for v in check_workload_alloy(text, WORKLOAD, CENTRAL)}


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


# --- invariant 5: htpasswd ---------------------------------------------------------------------


def line(user: str, password: bytes = b"pw") -> str:
    return f"{user}:{bcrypt.hashpw(password, bcrypt.gensalt(rounds=4)).decode()}"


def test_one_bcrypt_line_per_workload_passes() -> None:
    content = "\n".join([line("shop"), line("blog"), ""]) + "\n"
    assert check_htpasswd(content, ["shop", "blog"]) == []


def test_htpasswd_missing_extra_and_duplicate_users() -> None:
    content = "\n".join([line("shop"), line("shop"), line("gone")])
    violations = check_htpasswd(content, ["shop", "blog"])
    assert sorted((v.component, v.message) for v in violations) == [
        ("htpasswd:blog", "workload has no htpasswd line"),
        ("htpasswd:gone", "is not a workload in the inventory"),
        ("htpasswd:shop", "has more than one line"),
    ]
    assert {v.invariant for v in violations} == {5}


@pytest.mark.parametrize(
    "bad_hash",
    [
        "plaintext",
        "$apr1$abcdefgh$0123456789abcdefghijkl",
        "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
        bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)).decode()[:-1],
        bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)).decode().replace("$2b$", "$2x$"),
        "",
    ],
)
def test_htpasswd_hashes_must_be_bcrypt(bad_hash: str) -> None:
    violations = check_htpasswd(f"shop:{bad_hash}\n", ["shop"])
    assert [(v.invariant, v.component) for v in violations] == [(5, "htpasswd:shop")]
    assert "bcrypt" in violations[0].message
    if bad_hash:
        assert bad_hash not in violations[0].message


def test_htpasswd_line_without_a_user() -> None:
    violations = check_htpasswd("no-colon-here\n" + line("shop"), ["shop"])
    assert [(v.invariant, v.component) for v in violations] == [(5, "htpasswd line 1")]


# --- plans -------------------------------------------------------------------------------------


def controlroom_plan(htpasswd: str) -> dict[str, Any]:
    return {
        "stack": "controlroom",
        "resources": [
            {"type": "pulumi:pulumi:Stack", "name": "fleet-controlroom", "parent": None, "inputs": {}},
            {
                "type": "kubernetes:core/v1:Secret",
                "name": "gateway-htpasswd",
                "parent": "fleet-controlroom",
                "inputs": {
                    "metadata": {"name": HTPASSWD_SECRET, "namespace": "mimir"},
                    "stringData": {".htpasswd": htpasswd},
                },
            },
        ],
        "outputs": {},
    }


def workload_plan(name: str, text: str | None) -> dict[str, Any]:
    resources: list[dict[str, Any]] = [
        {"type": "kubernetes:core/v1:Namespace", "name": "alloy", "parent": None, "inputs": {}}
    ]
    if text is not None:
        resources.append(
            {
                "type": "kubernetes:core/v1:ConfigMap",
                "name": "alloy-config",
                "parent": None,
                "inputs": {"metadata": {"name": "alloy"}, "data": {"config.alloy": text}},
            }
        )
    return {"stack": name, "resources": resources, "outputs": {"workload": name}}


URLS = {"shop": CENTRAL, "blog": CENTRAL}


def good_plans() -> dict[str, dict[str, Any]]:
    return {
        "controlroom": controlroom_plan(line("shop", b"s3cret-shop") + "\n" + line("blog")),
        "shop": workload_plan("shop", render(workload="shop")),
        "blog": workload_plan("blog", render(workload="blog", system_logs=False)),
    }


def test_a_good_fleet_has_no_violations() -> None:
    results = verify_plans(good_plans(), URLS, secrets=["s3cret-shop"])
    assert results == {"blog": [], "controlroom": [], "shop": []}


def test_redacted_htpasswd_says_how_to_verify() -> None:
    plans = good_plans()
    plans["controlroom"] = controlroom_plan(REDACTED)
    (violation,) = verify_plans(plans, URLS)["controlroom"]
    assert violation.invariant == 5
    assert "redacted" in violation.message
    assert "--show-secrets" in violation.message


def test_missing_htpasswd_secret() -> None:
    plans = good_plans()
    plans["controlroom"]["resources"].pop()
    (violation,) = verify_plans(plans, URLS)["controlroom"]
    assert (violation.invariant, violation.component) == (5, "controlroom")


def test_offboarded_workload_still_in_htpasswd() -> None:
    plans = good_plans()
    (violation,) = verify_plans(plans, {"shop": CENTRAL})["controlroom"]
    assert (violation.invariant, violation.component) == (5, "htpasswd:blog")


def test_workload_plan_without_alloy_config_map() -> None:
    plans = good_plans()
    plans["shop"] = workload_plan("shop", None)
    violations = verify_plans(plans, URLS)["shop"]
    assert [v.invariant for v in violations] == [1, 2, 3, 4]
    assert all("ConfigMap" in v.message for v in violations)


def test_workload_plan_with_a_broken_config() -> None:
    plans = good_plans()
    plans["shop"] = workload_plan("shop", render(workload="blog"))
    violations = verify_plans(plans, URLS)["shop"]
    assert {v.invariant for v in violations} == {3, 4}


def test_workload_plan_with_unparseable_config() -> None:
    plans = good_plans()
    plans["blog"] = workload_plan("blog", 'loki.write "x" {')
    violations = verify_plans(plans, URLS)["blog"]
    assert [v.invariant for v in violations] == [1, 2, 3, 4]
    assert "line 1, column" in violations[0].message


def test_a_stack_outside_the_inventory_is_reported() -> None:
    plans = good_plans()
    plans["stray"] = workload_plan("stray", render(workload="stray"))
    (violation,) = verify_plans(plans, URLS)["stray"]
    assert "not a workload in the inventory" in violation.message


def test_secret_leaking_into_a_plan_is_found_without_repeating_it() -> None:
    plans = good_plans()
    plans["shop"]["resources"][0]["inputs"] = {"metadata": {"annotations": {"x": "pw=s3cret-shop!"}}}
    plans["blog"]["outputs"]["password"] = "s3cret-shop"
    leaks = check_no_secret_leak(plans, ["s3cret-shop", ""])
    assert [(stack, v.invariant, v.component) for stack, v in leaks] == [
        ("blog", 3, "outputs"),
        ("shop", 3, "alloy"),
    ]
    assert all("s3cret" not in v.message for _, v in leaks)
    assert "resources[0].inputs.metadata.annotations.x" in leaks[1][1].message
    merged = verify_plans(plans, URLS, secrets=["s3cret-shop"])
    assert [v.component for v in merged["shop"]] == ["alloy"]


def test_no_secrets_means_nothing_to_find() -> None:
    assert check_no_secret_leak(good_plans(), []) == []


def test_redacted_values_are_marked_as_not_proven_rather_than_broken() -> None:
    plans = good_plans()
    plans["controlroom"] = controlroom_plan(REDACTED)
    plans["shop"] = workload_plan("shop", REDACTED)
    results = verify_plans(plans, URLS)
    assert [v.redacted for v in results["controlroom"]] == [True]
    assert [(v.invariant, v.redacted) for v in results["shop"]] == [(n, True) for n in (1, 2, 3, 4)]
    assert results["blog"] == []
    broken_config = verify_plans({"shop": workload_plan("shop", "x {")}, URLS)["shop"]
    assert not any(v.redacted for v in broken_config)


def test_plan_set_names_every_stack_without_a_plan() -> None:
    plans = good_plans()
    assert check_plan_set(plans, URLS) == {}
    del plans["controlroom"], plans["blog"]
    missing = check_plan_set(plans, ["shop", "blog", "news"])
    assert sorted(missing) == ["blog", "controlroom", "news"]
    assert [v.invariant for v in missing["controlroom"]] == [5]
    assert [v.invariant for v in missing["news"]] == [1, 2, 3, 4]
    assert all("no plan" in v.message and not v.redacted for v in missing["blog"])
