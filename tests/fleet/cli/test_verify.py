"""`fleet verify` as a user runs it: on the example inventory, and on renders broken on purpose."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from inventories import copy_example
from typer.testing import CliRunner, Result

from controlroom.credentials import HTPASSWD_SECRET
from fleet.cli.main import app
from fleet.engines.render import render_all
from fleet.inventory.loader import load_inventory

runner = CliRunner()


@pytest.fixture(scope="module")
def inventory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("verify") / "inv"
    copy_example(target)
    return target


@pytest.fixture(scope="module")
def workloads(inventory: Path) -> list[str]:
    return sorted(load_inventory(inventory).names)


@pytest.fixture(scope="module")
def pristine_render(inventory: Path) -> Path:
    """One redacted render of the example inventory, shared by the tests (each edits a copy)."""
    out = inventory.parent / "pristine-render"
    render_all(load_inventory(inventory), None, out, show_secrets=False)
    return out


@pytest.fixture
def render(pristine_render: Path, tmp_path: Path) -> Path:
    target = tmp_path / "render"
    shutil.copytree(pristine_render, target)
    return target


def fleet(*args: str | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def verify_dir(inventory: Path, render: Path, *extra: str) -> Result:
    """``fleet verify`` of an edited render: the data path only (tests/fleet/verify/test_rendered.py
    proves the rendered objects)."""
    return fleet("-i", inventory, "verify", "--no-charts", "--render-dir", render, *extra)


def passes(stack: str, *invariants: int) -> list[str]:
    return [f"PASS {stack}: invariant {n}" for n in invariants]


def edit_plan(render: Path, stack: str, change: Callable[[dict[str, Any]], None]) -> None:
    path = render / stack / "plan.json"
    plan = json.loads(path.read_text(encoding="utf-8"))
    change(plan)
    path.write_text(json.dumps(plan, indent=2), encoding="utf-8")


def edit_alloy(render: Path, stack: str, change: Callable[[str], str]) -> None:
    """Apply ``change`` to the Alloy config text in ``stack``'s plan; it must change it."""

    def on_plan(plan: dict[str, Any]) -> None:
        for resource in plan["resources"]:
            if resource["type"] != "kubernetes:core/v1:ConfigMap":
                continue
            data: dict[str, Any] = resource["inputs"].get("data") or {}
            for key, text in data.items():
                if key.endswith(".alloy"):
                    changed = change(text)
                    assert changed != text, "the edit did not apply"
                    data[key] = changed
                    return
        raise AssertionError(f"{stack}: no Alloy ConfigMap in the plan")

    edit_plan(render, stack, on_plan)


def set_htpasswd(render: Path, content: str) -> None:
    def on_plan(plan: dict[str, Any]) -> None:
        for resource in plan["resources"]:
            inputs = resource["inputs"]
            if (
                resource["type"] == "kubernetes:core/v1:Secret"
                and inputs["metadata"]["name"] == HTPASSWD_SECRET
            ):
                inputs["stringData"] = {".htpasswd": content}
                return
        raise AssertionError("no htpasswd Secret in the control room's plan")

    edit_plan(render, "controlroom", on_plan)


def htpasswd_line(user: str) -> str:
    return f"{user}:" + bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)).decode()


def fail_lines(result: Result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("FAIL ")]


# --- passing ------------------------------------------------------------------------------------


def test_the_example_inventory_passes_when_rendered_now(inventory: Path, workloads: list[str]) -> None:
    result = fleet("-i", inventory, "verify", "--no-charts")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        *passes("controlroom", 5),
        *(line for name in workloads for line in passes(name, 1, 2, 3, 4)),
        "NOT CHECKED the objects the charts render (--no-charts)",
        f"verified {len(workloads) + 1} stacks: all passed",
    ]


def test_an_existing_render_passes_and_says_what_it_could_not_check(
    inventory: Path, render: Path, workloads: list[str]
) -> None:
    result = verify_dir(inventory, render)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("SKIP controlroom: invariant 5 (")
    assert "redacted" in lines[0]
    assert lines[1 : 1 + 4 * len(workloads)] == [
        line for name in workloads for line in passes(name, 1, 2, 3, 4)
    ]
    assert lines[-2].startswith("NOT CHECKED")
    assert any(line.startswith("NOT CHECKED invariant 3: no password in any plan") for line in lines)
    assert lines[-1] == f"verified {len(workloads) + 1} stacks: all passed"


def test_an_unredacted_htpasswd_in_the_render_is_proven(
    inventory: Path, render: Path, workloads: list[str]
) -> None:
    set_htpasswd(render, "".join(htpasswd_line(name) + "\n" for name in workloads))
    result = verify_dir(inventory, render)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "PASS controlroom: invariant 5"


def test_json_output_for_scripts(inventory: Path, render: Path, workloads: list[str]) -> None:
    edit_alloy(render, workloads[0], lambda text: text.replace('workload = "', 'workload = "x', 1))
    result = verify_dir(inventory, render, "--output", "json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["ok"] is False
    by_stack = {entry["stack"]: entry for entry in report["stacks"]}
    assert list(by_stack) == ["controlroom", *workloads]
    assert by_stack["controlroom"]["status"] == "skip"
    assert by_stack[workloads[0]]["status"] == "fail"
    assert {v["invariant"] for v in by_stack[workloads[0]]["violations"]} == {4}
    assert all(by_stack[name]["status"] == "pass" for name in workloads[1:])
    assert len(report["not_checked"]) == 2


# --- broken on purpose --------------------------------------------------------------------------


def test_logs_sent_to_the_control_room_fail_invariant_1(
    inventory: Path, render: Path, workloads: list[str]
) -> None:
    stack = workloads[0]
    edit_alloy(
        render,
        stack,
        lambda text: re.sub(
            r'(loki\.write "local" \{\s*endpoint \{\s*url = )"[^"]*"',
            r'\1"https://mimir.control.example.com/loki/api/v1/push"',
            text,
        ),
    )
    result = verify_dir(inventory, render)
    assert result.exit_code == 1
    assert fail_lines(result) == [
        f"FAIL {stack}: invariant 1 (loki.write.local): sends logs out of the cluster to "
        "https://mimir.control.example.com/loki/api/v1/push"
    ]


def test_a_literal_password_fails_invariant_3_without_being_printed(
    inventory: Path, render: Path, workloads: list[str]
) -> None:
    stack = workloads[-1]
    edit_alloy(
        render,
        stack,
        lambda text: re.sub(
            r'password = remote\.kubernetes\.secret\.central_auth\.data\["[^"]*"\]',
            'password = "hunter2-literal"',
            text,
        ),
    )
    result = verify_dir(inventory, render)
    assert result.exit_code == 1
    failures = fail_lines(result)
    assert [line.split(":")[0] for line in failures] == [f"FAIL {stack}"]
    assert "invariant 3 (prometheus.remote_write.central)" in failures[0]
    assert "hunter2" not in result.output


def test_a_remote_write_without_endpoint_fails_invariant_2(
    inventory: Path, render: Path, workloads: list[str]
) -> None:
    stack = workloads[0]

    def drop_central_endpoint(text: str) -> str:
        start = text.index('prometheus.remote_write "central" {')
        body = text.index("  endpoint {", start)
        end = text.index("\n  }\n", body) + len("\n  }\n")
        return text[:body] + text[end:]

    edit_alloy(render, stack, drop_central_endpoint)
    result = verify_dir(inventory, render)
    assert result.exit_code == 1
    assert f"FAIL {stack}: invariant 2 (prometheus.remote_write.central): has no endpoint" in fail_lines(
        result
    )


def test_a_source_reaching_one_endpoint_fails_invariant_2(
    inventory: Path, render: Path, workloads: list[str]
) -> None:
    stack = workloads[0]

    def local_only(text: str) -> str:
        start = text.index('prometheus.scrape "node_exporter" {')
        match = re.compile(r"forward_to\s*=\s*\[[^\]]*\]").search(text, start)
        assert match is not None
        return (
            text[: match.start()]
            + "forward_to = [prometheus.remote_write.local.receiver]"
            + text[match.end() :]
        )

    edit_alloy(render, stack, local_only)
    result = verify_dir(inventory, render)
    assert result.exit_code == 1
    assert fail_lines(result) == [
        f"FAIL {stack}: invariant 2 (prometheus.scrape.node_exporter): "
        "does not reach the central remote_write"
    ]


def test_a_writer_without_the_workload_label_fails_invariant_4(
    inventory: Path, render: Path, workloads: list[str]
) -> None:
    stack = workloads[1]

    def unlabelled(text: str) -> str:
        start = text.index('loki.write "local" {')
        return text[:start] + re.sub(r"\n  external_labels = \{[^}]*\}", "", text[start:], count=1)

    edit_alloy(render, stack, unlabelled)
    result = verify_dir(inventory, render)
    assert result.exit_code == 1
    assert fail_lines(result) == [
        f"FAIL {stack}: invariant 4 (loki.write.local): has no external_labels object"
    ]


def test_an_htpasswd_missing_a_workload_fails_invariant_5(
    inventory: Path, render: Path, workloads: list[str]
) -> None:
    set_htpasswd(render, "".join(htpasswd_line(name) + "\n" for name in workloads[1:]))
    result = verify_dir(inventory, render)
    assert result.exit_code == 1
    assert fail_lines(result) == [
        f"FAIL controlroom: invariant 5 (htpasswd:{workloads[0]}): workload has no htpasswd line"
    ]


def test_a_workload_without_a_plan_fails(inventory: Path, render: Path, workloads: list[str]) -> None:
    shutil.rmtree(render / workloads[-1])
    result = verify_dir(inventory, render)
    assert result.exit_code == 1
    failures = fail_lines(result)
    assert [line.split(" (")[0] for line in failures] == [
        f"FAIL {workloads[-1]}: invariant {n}" for n in (1, 2, 3, 4)
    ]
    assert all("no plan was rendered" in line for line in failures)


def test_a_plan_for_a_stack_outside_the_inventory_fails(
    inventory: Path, render: Path, workloads: list[str]
) -> None:
    shutil.copytree(render / workloads[0], render / "offboarded")
    result = verify_dir(inventory, render)
    assert result.exit_code == 1
    (failure,) = fail_lines(result)
    assert failure.startswith("FAIL offboarded: ")
    assert "not a workload in the inventory" in failure


def test_a_missing_render_directory_is_a_user_error(inventory: Path, tmp_path: Path) -> None:
    result = verify_dir(inventory, tmp_path / "nowhere")
    assert result.exit_code == 2
    assert "no such render directory" in result.output


def test_an_unreadable_plan_is_a_user_error(inventory: Path, render: Path, workloads: list[str]) -> None:
    (render / workloads[0] / "plan.json").write_text("{not json", encoding="utf-8")
    result = verify_dir(inventory, render)
    assert result.exit_code == 2
    assert "not a readable plan" in result.output


def test_rendered_reads_the_inventorys_render_directory(inventory: Path, pristine_render: Path) -> None:
    target = inventory / ".fleet" / "render"
    shutil.copytree(pristine_render, target)
    try:
        result = fleet("-i", inventory, "verify", "--no-charts", "--rendered")
        assert result.exit_code == 0, result.output
        assert result.output.startswith("SKIP controlroom")
        both = fleet("-i", inventory, "verify", "--rendered", "--render-dir", target)
        assert both.exit_code == 2
    finally:
        shutil.rmtree(inventory / ".fleet")


def test_the_readme_alerting_example_verifies_offline_without_its_secrets(tmp_path: Path) -> None:
    """CI runs `fleet verify` without production paging keys: it passes, every proof included
    (the Secret named by `kubernetes: alertmanager-slack/url` is provided outside fleet), warns
    once per unset variable, and prints no placeholder."""
    from charts import real_charts
    from inventories import README_ALERTING_VARIABLES, with_readme_alerting

    root = with_readme_alerting(copy_example(tmp_path / "inv"))
    with real_charts(), pytest.MonkeyPatch.context() as patch:
        for variable in README_ALERTING_VARIABLES:
            patch.delenv(variable, raising=False)
        result = fleet("-i", root, "verify")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert [w.split(": ")[1] for w in warnings] == [
        "fleet.yaml spec.alerting.receivers[oncall].pagerduty.routing_key",
        "fleet.yaml spec.alerting.receivers[payments].email.password",
    ]
    lines = result.stdout.splitlines()
    assert (
        "PASS controlroom: invariant references "
        "(Secret mimir/alertmanager-slack: provided outside fleet, named by the inventory)"
    ) in lines
    assert lines[-1] == f"verified {len(load_inventory(root).stacks())} stacks: all passed"
    assert "placeholder:" not in result.output
