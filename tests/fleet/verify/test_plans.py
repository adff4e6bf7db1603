"""The proofs across plans: the control room's htpasswd, the plan set, and leaked secrets."""

from __future__ import annotations

from typing import Any

import bcrypt
import pytest
from alloy_texts import CENTRAL, render

from controlroom.credentials import HTPASSWD_SECRET
from fleet.engines.base import REDACTED
from fleet.verify.plans import check_htpasswd, check_no_secret_leak, check_plan_set, verify_plans
from workloads.alloy_events import CONFIG_MAP as EVENTS_CONFIG_MAP
from workloads.alloy_events import EventsPipeline, render_events_config

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
    ids=["plaintext", "apr1", "sha", "truncated-bcrypt", "bcrypt-2x", "empty"],
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


# --- the events collector's configuration -------------------------------------------------------


def with_events(plan: dict[str, Any], text: str) -> dict[str, Any]:
    plan["resources"].append(
        {
            "type": "kubernetes:core/v1:ConfigMap",
            "name": "alloy-events-config",
            "parent": None,
            "inputs": {"metadata": {"name": EVENTS_CONFIG_MAP}, "data": {"config.alloy": text}},
        }
    )
    return plan


def events_text(
    workload: str, url: str = "http://loki-gateway.loki.svc.cluster.local/loki/api/v1/push"
) -> str:
    return render_events_config(EventsPipeline(workload, url))


def test_the_events_collectors_config_proves_invariants_1_3_and_4() -> None:
    plans = good_plans()
    with_events(plans["shop"], events_text("shop"))
    assert verify_plans(plans, URLS)["shop"] == []


def test_an_events_config_that_leaves_the_cluster_or_mislabels_fails() -> None:
    plans = good_plans()
    with_events(plans["shop"], events_text("blog", "https://logs.example.com/loki/api/v1/push"))
    violations = verify_plans(plans, URLS)["shop"]
    assert {(v.invariant, v.component) for v in violations} == {
        (1, "loki.write.local"),
        (4, "loki.write.local"),
    }


def test_an_events_config_with_metrics_or_without_events_fails() -> None:
    plans = good_plans()
    # The DaemonSet's whole pipeline is not an events collector: it reads no events, and its
    # metrics would escape the metrics proof.
    with_events(plans["shop"], render(workload="shop"))
    violations = verify_plans(plans, URLS)["shop"]
    assert (1, "alloy-events", "reads no loki.source.kubernetes_events") in {
        (v.invariant, v.component, v.message) for v in violations
    }
    assert any(v.invariant == 2 and v.component.startswith("prometheus.") for v in violations)


def test_an_events_config_alone_does_not_stand_for_the_workloads_alloy() -> None:
    plans = good_plans()
    plans["shop"] = with_events(workload_plan("shop", None), events_text("shop"))
    violations = verify_plans(plans, URLS)["shop"]
    assert [v.invariant for v in violations] == [1, 2, 3, 4]
