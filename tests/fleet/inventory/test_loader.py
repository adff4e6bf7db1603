"""The inventory loader: every problem, one `file:line: field: message` line each."""

from __future__ import annotations

import gc
import os
import shutil
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from inventories import EXAMPLE_INVENTORY, copy_example

from fleet.errors import InvalidInventory, UserError
from fleet.inventory.loader import add_workload, load_inventory, write_atomically


@pytest.fixture
def inventory_dir(tmp_path: Path) -> Path:
    target = tmp_path / "inv"
    copy_example(target)
    return target


def problems(root: Path) -> list[str]:
    with pytest.raises(InvalidInventory) as caught:
        load_inventory(root)
    return caught.value.problems


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_example_inventory_loads_with_defaults(inventory_dir: Path) -> None:
    inventory = load_inventory(inventory_dir)
    assert inventory.fleet.name == "acme"
    assert inventory.names == ("analytics-prod", "payments-prod", "search-staging")
    search = inventory.workload("search-staging")
    assert search.spec.labels == {"ring": "canary", "team": "search"}
    assert search.spec.alloy.system_logs is False
    assert search.spec.mimir.retention == "30d"  # default
    assert search.spec.central.metrics == []  # all metrics by default


def test_workload_stack_applies_pins_and_points_at_the_control_room(inventory_dir: Path) -> None:
    inventory = load_inventory(inventory_dir)
    stack = inventory.workload_stack("analytics-prod")
    assert stack.versions.loki == "6.30.1"  # pinned by the workload
    assert stack.versions.mimir == inventory.fleet.spec.versions.mimir
    assert stack.push_url == "https://mimir.ctrl.acme.example/api/v1/push"
    assert inventory.controlroom_stack().workloads == inventory.names
    assert inventory.stacks()[0] == "controlroom"


def test_unknown_key_names_file_line_and_allowed_keys(inventory_dir: Path) -> None:
    edit(inventory_dir / "workloads/search-staging.yaml", "  region:", "  regoin: x\n  region:")
    [line] = problems(inventory_dir)
    assert line.startswith("workloads/search-staging.yaml:6: spec.regoin: unknown key")
    assert "region" in line


def test_wrong_type_is_reported_with_its_line(inventory_dir: Path) -> None:
    edit(inventory_dir / "fleet.yaml", "max_parallel: 4", "max_parallel: many")
    [line] = problems(inventory_dir)
    assert line.startswith("fleet.yaml:17: spec.rollout.max_parallel:")
    assert "integer" in line


@pytest.mark.parametrize(
    ("old", "new", "expect"),
    [
        (
            "environment: staging",
            "environment: stag",
            "workloads/search-staging.yaml:8: spec.environment: expected 'production', 'staging' or "
            "'development', got 'stag'; did you mean 'staging'?",
        ),
        (
            "kind: Workload",
            "kind: Fleet",
            "workloads/search-staging.yaml:2: kind: expected 'Workload', got 'Fleet'",
        ),
        (
            "labels: {ring: canary, team: search}",
            "labels: {ring: canary, team: [search]}",
            "workloads/search-staging.yaml:9: spec.labels.team: expected a string, got ['search']",
        ),
    ],
)
def test_a_wrong_choice_or_a_list_for_a_string_is_said_in_the_inventory_s_words(
    inventory_dir: Path, old: str, new: str, expect: str
) -> None:
    # Not pydantic's "Input should be ..." nor "quote the value" for a value quoting cannot fix.
    edit(inventory_dir / "workloads/search-staging.yaml", old, new)
    assert problems(inventory_dir) == [expect]


@pytest.mark.parametrize(
    ("old", "new", "field", "expect"),
    [
        ('account_id: "210987654321"', 'account_id: "2109"', "spec.account_id", "12 digits"),
        ('account_id: "210987654321"', "", "spec.account_id", "required when cloud is aws"),
        ("region: eu-west-1", 'region: "EU West"', "spec.region", "not a cloud region"),
        ("cloud: aws", "cloud: gcp", "spec.cloud", "'aws' or 'azure'"),
    ],
)
def test_bad_cloud_specific_fields(inventory_dir: Path, old: str, new: str, field: str, expect: str) -> None:
    edit(inventory_dir / "workloads/payments-prod.yaml", old, new)
    [line] = problems(inventory_dir)
    assert f": {field}: " in line
    assert expect in line
    assert line.startswith("workloads/payments-prod.yaml:")


def test_azure_needs_its_ids(inventory_dir: Path) -> None:
    path = inventory_dir / "workloads/analytics-prod.yaml"
    edit(path, '  tenant_id: "6c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"\n', "")
    edit(path, "0b5e9f43-7c2a", "0b5e9f43-XXXX")
    found = problems(inventory_dir)
    assert len(found) == 1  # the UUID check fails first; the cross-field check needs valid fields
    assert "spec.subscription_id: " in found[0] and "not a UUID" in found[0]


@pytest.mark.parametrize(
    ("name", "expect"),
    [
        ("Bad_Name", "not a DNS-1123 label"),
        ("controlroom", "reserved"),
        ("a" * 41, "at most 40"),
    ],
)
def test_bad_workload_names(inventory_dir: Path, name: str, expect: str) -> None:
    (inventory_dir / "workloads/search-staging.yaml").rename(inventory_dir / f"workloads/{name}.yaml")
    edit(inventory_dir / f"workloads/{name}.yaml", "name: search-staging", f"name: {name}")
    [line] = problems(inventory_dir)
    assert f"workloads/{name}.yaml:3: name: " in line
    assert expect in line


def test_file_name_must_match_name(inventory_dir: Path) -> None:
    edit(inventory_dir / "workloads/search-staging.yaml", "name: search-staging", "name: search-stg")
    [line] = problems(inventory_dir)
    assert line.startswith("workloads/search-staging.yaml:3: name: 'search-stg' differs from the file name")


def test_a_yml_file_is_not_a_second_copy_but_an_error(inventory_dir: Path) -> None:
    shutil.copy(
        inventory_dir / "workloads/search-staging.yaml", inventory_dir / "workloads/search-staging.yml"
    )
    [line] = problems(inventory_dir)
    assert line == (
        "workloads/search-staging.yml: named .yml; rename it to search-staging.yaml "
        "(workload files end in .yaml)"
    )


def test_yaml_syntax_error_has_its_line(inventory_dir: Path) -> None:
    edit(
        inventory_dir / "workloads/payments-prod.yaml",
        "  environment: production",
        "  environment: [production",
    )
    [line] = problems(inventory_dir)
    assert line.startswith("workloads/payments-prod.yaml:")
    assert "invalid YAML" in line


def test_every_problem_in_one_run(inventory_dir: Path) -> None:
    edit(inventory_dir / "fleet.yaml", "name: acme", "name: ACME")
    edit(inventory_dir / "workloads/payments-prod.yaml", "environment: production", "environment: prod")
    edit(inventory_dir / "workloads/search-staging.yaml", "cloud: aws", "cloud: aws\n  extra: 1")
    found = problems(inventory_dir)
    assert [p.split(":")[0] for p in found] == [
        "fleet.yaml",
        "workloads/payments-prod.yaml",
        "workloads/search-staging.yaml",
    ]


def test_missing_fleet_yaml(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"no fleet\.yaml here"):
        load_inventory(tmp_path)


def test_add_workload_writes_it(inventory_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "billing-dev.yaml"
    text = (
        (inventory_dir / "workloads/search-staging.yaml").read_text().replace("search-staging", "billing-dev")
    )
    source.write_text(text)
    workload = add_workload(inventory_dir, source)
    assert workload.name == "billing-dev"
    assert (inventory_dir / "workloads/billing-dev.yaml").read_text() == text
    assert "billing-dev" in load_inventory(inventory_dir).names


def test_write_atomically_replaces_a_file_and_can_make_it_private(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "plan.json"
    write_atomically(path, "old\n")
    write_atomically(path, "new\n", mode=0o600)
    assert path.read_text(encoding="utf-8") == "new\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["plan.json"]  # no temporary file left


def test_write_atomically_makes_a_new_file_as_the_umask_says_and_keeps_an_old_one_s_mode(
    tmp_path: Path,
) -> None:
    # `fleet init`, `workload add` and `upgrade apply` write inventory files a team shares (and
    # workers running as another user read): not 0600, as a bare temporary file would be.
    previous = os.umask(0o022)
    try:
        write_atomically(tmp_path / "fleet.yaml", "a: 1\n")
        assert stat.S_IMODE((tmp_path / "fleet.yaml").stat().st_mode) == 0o644
        os.umask(0o077)
        write_atomically(tmp_path / "private.yaml", "a: 1\n")
        assert stat.S_IMODE((tmp_path / "private.yaml").stat().st_mode) == 0o600
        (tmp_path / "fleet.yaml").chmod(0o664)
        write_atomically(tmp_path / "fleet.yaml", "a: 2\n")  # upgrade apply rewriting fleet.yaml
        assert stat.S_IMODE((tmp_path / "fleet.yaml").stat().st_mode) == 0o664
    finally:
        os.umask(previous)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fleet.yaml", "private.yaml"]


def test_alerting_errors_point_at_the_line_and_thresholds_reach_the_stacks(inventory_dir: Path) -> None:
    fleet = inventory_dir / "fleet.yaml"
    fleet.write_text(
        fleet.read_text()
        + "  alerting:\n"
        + "    thresholds: {silent_after: 15m}\n"
        + "    receivers:\n"
        + "      - name: oncall\n"
        + "        pagerduty: {routing_key: {env: 'not a name'}}\n"
    )
    (line,) = problems(inventory_dir)
    assert "fleet.yaml:" in line and "routing_key" in line and "environment variable name" in line
    edit(fleet, "{env: 'not a name'}", "{env: PAGERDUTY_KEY}")
    inventory = load_inventory(inventory_dir)
    assert inventory.controlroom_stack().alerting.receivers[0].name == "oncall"
    assert inventory.workload_stack("payments-prod").thresholds.silent_after == "15m"


@pytest.fixture(scope="module")
def fuzzed_inventory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_example(tmp_path_factory.mktemp("fuzz") / "inv")


PAYMENTS_TEXT = (EXAMPLE_INVENTORY / "workloads/payments-prod.yaml").read_bytes()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(0, len(PAYMENTS_TEXT)), junk=st.binary(max_size=40), drop=st.integers(0, 20))
def test_a_mangled_workload_file_is_loaded_or_reported_never_raised(
    fuzzed_inventory: Path, cut: int, junk: bytes, drop: int
) -> None:
    """Bytes spliced into a real workload file: the loader returns an inventory or problems, one
    line each; nothing else escapes (no traceback can reach the user)."""
    (fuzzed_inventory / "workloads/payments-prod.yaml").write_bytes(
        PAYMENTS_TEXT[:cut] + junk + PAYMENTS_TEXT[cut + drop :]
    )
    try:
        load_inventory(fuzzed_inventory)
    except InvalidInventory as error:
        assert error.problems and all("\n" not in problem for problem in error.problems)


@pytest.mark.parametrize(
    ("tls", "expect"),
    [
        ("{}", "give exactly one of cluster_issuer, issuer (cert-manager) or secret"),
        ("{cluster_issuer: a, secret: b}", "give exactly one of"),
        ("{secret: Not_A_Name}", "does not match the pattern"),
    ],
)
def test_the_hub_certificate_names_one_source(inventory_dir: Path, tls: str, expect: str) -> None:
    edit(
        inventory_dir / "fleet.yaml",
        "tls: {cluster_issuer: letsencrypt, ingress_class: nginx}",
        f"tls: {tls}",
    )
    [line] = problems(inventory_dir)
    assert line.startswith("fleet.yaml:12: spec.control_room.tls")
    assert expect in line


def test_a_kafka_for_mimir_is_host_and_port(inventory_dir: Path) -> None:
    edit(
        inventory_dir / "workloads/payments-prod.yaml",
        "mimir: {replicas: 3",
        "mimir: {kafka: {address: kafka}, replicas: 3",
    )
    [line] = problems(inventory_dir)
    assert "spec.mimir.kafka.address" in line and "is not host:port" in line
    edit(
        inventory_dir / "workloads/payments-prod.yaml",
        "address: kafka}",
        "address: 'kafka-0:9092,kafka-1:9092'}",
    )
    spec = load_inventory(inventory_dir).workload_stack("payments-prod").workload.spec
    assert spec.mimir.kafka is not None and spec.mimir.kafka.topic == "mimir-ingest"


def test_a_retention_mimir_cannot_parse_is_refused_with_the_form_to_write(inventory_dir: Path) -> None:
    edit(inventory_dir / "workloads/payments-prod.yaml", "retention: 60d", "retention: 1.5d")
    [line] = problems(inventory_dir)
    assert line.startswith("workloads/payments-prod.yaml:11: spec.mimir.retention: ")
    assert "'1.5d' is not a duration Mimir and Loki read" in line
    assert "write '1d12h'" in line


def test_a_duration_written_as_a_bare_number_is_told_it_needs_a_unit(inventory_dir: Path) -> None:
    edit(inventory_dir / "workloads/payments-prod.yaml", "retention: 60d", "retention: 60")
    [line] = problems(inventory_dir)
    assert line.startswith("workloads/payments-prod.yaml:11: spec.mimir.retention: ")
    assert "60 has no unit" in line and "60d" in line
    assert "quote" not in line  # quoting a bare number would not make it a duration


def test_a_central_metrics_regex_alloy_cannot_compile_is_refused(inventory_dir: Path) -> None:
    edit(inventory_dir / "workloads/payments-prod.yaml", '"payments_.*"', '"(?!go_).*"')
    [line] = problems(inventory_dir)
    assert line.startswith("workloads/payments-prod.yaml:13: spec.central.metrics[2]: ")
    assert "not a regex Alloy compiles" in line and "invalid perl operator: (?!" in line


def test_a_workloads_central_limits_reach_the_control_room(inventory_dir: Path) -> None:
    edit(
        inventory_dir / "workloads/payments-prod.yaml",
        "  central: {metrics:",
        "  central: {limits: {series: 2000000, samples_per_second: 150000}, metrics:",
    )
    limits = load_inventory(inventory_dir).controlroom_stack().tenant_limits
    assert sorted(limits) == ["analytics-prod", "payments-prod", "search-staging"]
    assert (limits["payments-prod"].series, limits["payments-prod"].burst) == (2_000_000, 1_500_000)
    assert limits["search-staging"].series == 800_000  # the default


@pytest.mark.parametrize("enabled", [True, False])
def test_loading_leaves_the_garbage_collector_as_it_found_it(inventory_dir: Path, enabled: bool) -> None:
    # The collector is off while the files load (its passes were most of pydantic's time),
    # then back as it was: on for the long-running processes that load inventories, off if off.
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        load_inventory(inventory_dir)
        assert gc.isenabled() is enabled
        (inventory_dir / "workloads" / "broken.yaml").write_text("name: [\n", encoding="utf-8")
        with pytest.raises(InvalidInventory):
            load_inventory(inventory_dir)
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_egress_destinations_and_the_events_switch_are_validated_at_their_line(inventory_dir: Path) -> None:
    edit(
        inventory_dir / "workloads/payments-prod.yaml",
        "cluster: {kubeconfig: ~/.kube/payments.yaml, context: payments}",
        "cluster: {kubeconfig: ~/.kube/payments.yaml, context: payments,\n"
        "            egress: {api_server: {cidrs: [10.0.0/16]}, object_storage: {ports: [0]}}}",
    )
    edit(
        inventory_dir / "workloads/payments-prod.yaml",
        "system_logs: true}",
        'system_logs: true, events: "no"}',
    )
    lines = problems(inventory_dir)
    assert any(
        line.startswith("workloads/payments-prod.yaml:11: spec.cluster.egress.api_server.cidrs[0]: ")
        and "'10.0.0/16' is not a network" in line
        for line in lines
    ), lines
    assert any(
        line.startswith("workloads/payments-prod.yaml:11: spec.cluster.egress.object_storage.ports[0]")
        for line in lines
    ), lines
    assert any(line.startswith("workloads/payments-prod.yaml:13: spec.alloy.events: ") for line in lines), (
        lines
    )


def test_egress_defaults_open_the_https_port_anywhere_and_can_be_narrowed(inventory_dir: Path) -> None:
    spec = load_inventory(inventory_dir).workload_stack("payments-prod").workload.spec
    assert spec.cluster.egress.restricted is True
    assert spec.cluster.egress.api_server.cidrs == ["0.0.0.0/0"]
    assert spec.cluster.egress.api_server.ports == [443, 6443]
    assert spec.alloy.events is True
    edit(
        inventory_dir / "workloads/payments-prod.yaml",
        "context: payments}",
        "context: payments, egress: {control_room: {cidrs: [203.0.113.0/24]}}}",
    )
    spec = load_inventory(inventory_dir).workload_stack("payments-prod").workload.spec
    assert spec.cluster.egress.control_room.cidrs == ["203.0.113.0/24"]
    assert spec.cluster.egress.control_room.ports == [443]


@pytest.mark.parametrize(
    ("path", "old", "new", "expect"),
    [
        (
            "workloads/payments-prod.yaml",
            "replicas: 3",
            "replicas: 0",
            "workloads/payments-prod.yaml:11: spec.mimir.replicas: must be at least 1, got 0",
        ),
        (
            "workloads/payments-prod.yaml",
            "replicas: 3",
            "replicas: 5000",
            "workloads/payments-prod.yaml:11: spec.mimir.replicas: must be at most 50, got 5000",
        ),
        (
            "fleet.yaml",
            "max_parallel: 4",
            "max_parallel: 0",
            "fleet.yaml:17: spec.rollout.max_parallel: must be at least 1, got 0",
        ),
        (
            "workloads/payments-prod.yaml",
            "mimir: {replicas: 3, retention: 60d}",
            "mimir: 3",
            "workloads/payments-prod.yaml:11: spec.mimir: expected a mapping (keys: replicas, retention, "
            "limits, kafka), got 3",
        ),
        (
            "fleet.yaml",
            "tls: {cluster_issuer: letsencrypt, ingress_class: nginx}",
            "tls: {cluster_issuer: Lets_Encrypt, ingress_class: nginx}",
            "fleet.yaml:12: spec.control_room.tls.cluster_issuer: 'Lets_Encrypt' does not match the "
            "pattern ^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        ),
        (
            "fleet.yaml",
            "context: ctrl}",
            'context: ctrl, kubernetes_version: "1.31.2"}',
            "fleet.yaml:11: spec.control_room.cluster.kubernetes_version: '1.31.2' does not match the "
            "pattern ^1\\.[0-9]{2}$",
        ),
    ],
)
def test_bounds_mappings_and_patterns_are_said_in_the_inventory_s_words(
    inventory_dir: Path, path: str, old: str, new: str, expect: str
) -> None:
    # Not pydantic's "Input should be greater than or equal to 1" or "... instance of MimirSettings".
    edit(inventory_dir / path, old, new)
    assert problems(inventory_dir) == [expect]


def test_a_secret_written_into_the_inventory_is_told_to_be_a_reference_and_never_repeated(
    inventory_dir: Path,
) -> None:
    secret = "https://hooks.slack.com/services/T000/B000/hunter2hunter2"
    edit(
        inventory_dir / "workloads/payments-prod.yaml",
        "api_url: {kubernetes: alertmanager-slack/url}",
        f'api_url: "{secret}"',
    )
    [line] = problems(inventory_dir)
    assert line == (
        "workloads/payments-prod.yaml:20: spec.alerting.receivers[0].slack.api_url: a secret is never "
        "written into the inventory; refer to it: {env: VARIABLE} or {kubernetes: <secret>/<key>}"
    )
    assert "hunter2" not in line


def test_an_unknown_key_of_a_keyed_mapping_names_the_mapping_and_the_allowed_keys(
    inventory_dir: Path,
) -> None:
    edit(
        inventory_dir / "fleet.yaml",
        "tls: {cluster_issuer: letsencrypt, ingress_class: nginx}",
        "tls: {cluster_issuer: letsencrypt, ingress_class: nginx}\n"
        "    resources: {mimir-ingestr: {cpu: '1', memory: 1Gi}}",
    )
    [line] = problems(inventory_dir)
    assert line.startswith(
        "fleet.yaml:13: spec.control_room.resources: unknown key 'mimir-ingestr'; "
        "did you mean 'mimir-ingester'?"
    )
    assert "[key]" not in line and "allowed keys: alloy, alloy-events, mimir-distributor" in line


def test_an_unknown_key_in_a_list_item_lists_the_allowed_keys(inventory_dir: Path) -> None:
    edit(
        inventory_dir / "workloads/payments-prod.yaml",
        "- name: payments-oncall",
        "- name: payments-oncall\n        pager: x",
    )
    [line] = problems(inventory_dir)
    assert line.startswith("workloads/payments-prod.yaml:20: spec.alerting.receivers[0].pager: unknown key")
    assert "allowed keys: name, webhook, slack, pagerduty, opsgenie, email" in line


def test_an_inventory_path_that_is_a_file_is_told_to_name_the_directory(inventory_dir: Path) -> None:
    # `-i fleet.yaml` said "fleet.yaml/fleet.yaml: no fleet.yaml here".
    with pytest.raises(UserError) as caught:
        load_inventory(inventory_dir / "fleet.yaml")
    assert caught.value.message == (
        f"{inventory_dir / 'fleet.yaml'}: a file, not an inventory directory; "
        f"pass the directory that holds fleet.yaml (--inventory {inventory_dir})"
    )


@pytest.mark.parametrize("field", ["environment", "cloud", "region"])
def test_a_label_named_after_a_selector_field_is_refused(inventory_dir: Path, field: str) -> None:
    # `-l environment=blue` reads the field, so a label `environment: blue` could never be selected.
    edit(
        inventory_dir / "workloads/payments-prod.yaml",
        "labels: {team: payments}",
        f"labels: {{team: payments, {field}: blue}}",
    )
    assert problems(inventory_dir) == [
        f"workloads/payments-prod.yaml:9: spec.labels: label {field!r} would be hidden by the field "
        f"spec.{field}, which selectors (-l {field}=...) read instead; rename the label"
    ]


@pytest.mark.parametrize(
    ("reference", "expect"),
    [
        (
            '{env: "sk-live-hunter2"}',
            "spec.alerting.receivers[0].slack.api_url.env: not an environment variable name like "
            "PAGERDUTY_KEY (the secret itself? name the variable that holds it)",
        ),
        (
            '{kubernetes: "xoxb-hunter2"}',
            "spec.alerting.receivers[0].slack.api_url.kubernetes: not <secret>/<key> like "
            "alertmanager-pagerduty/routing-key (the secret itself? name the Secret and key that hold it)",
        ),
    ],
)
def test_a_secret_pasted_as_its_reference_is_refused_without_repeating_it(
    inventory_dir: Path, reference: str, expect: str
) -> None:
    edit(
        inventory_dir / "workloads/payments-prod.yaml",
        "api_url: {kubernetes: alertmanager-slack/url}",
        f"api_url: {reference}",
    )
    [line] = problems(inventory_dir)
    assert line == f"workloads/payments-prod.yaml:20: {expect}"
    assert "hunter2" not in line


def test_a_receiver_written_as_a_url_is_told_its_keys_without_repeating_the_url(inventory_dir: Path) -> None:
    # A receiver's URL often is its secret (a Slack webhook): "got '<url>'" would print it.
    edit(
        inventory_dir / "workloads/payments-prod.yaml",
        'slack: {api_url: {kubernetes: alertmanager-slack/url}, channel: "#payments-alerts"}',
        'slack: "https://hooks.slack.com/services/T0/B0/hunter2"',
    )
    [line] = problems(inventory_dir)
    assert line == (
        "workloads/payments-prod.yaml:20: spec.alerting.receivers[0].slack: expected a mapping "
        "(keys: api_url, channel), got a string"
    )
