from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from charts import real_charts, require_charts
from inventories import copy_example, write_inventory
from typer.testing import CliRunner, Result

from fleet.cli.main import app
from fleet.engines.render import user_render_state_dir
from fleet.inventory.loader import load_inventory


def _inventory(root: Path) -> Path:
    return write_inventory(root, ["alpha"])


def test_render_writes_one_plan_per_stack(tmp_path: Path) -> None:
    root = _inventory(tmp_path / "inv")
    result = CliRunner().invoke(app, ["-i", str(root), "render", "--no-charts"])
    assert result.exit_code == 0, result.output
    *lines, summary = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["controlroom", "alpha"]
    resources = sum(int(line.split()[1]) for line in lines)
    assert summary.startswith(f"rendered 2 stacks ({resources} resources) into ")
    render = root / ".fleet" / "render"
    for line in lines:
        stack, count, _word, path = line.split()
        assert Path(path) == render / stack / "plan.json"
        assert len(json.loads(Path(path).read_text(encoding="utf-8"))["resources"]) == int(count)
    state = user_render_state_dir(load_inventory(root)) / "controlroom.json"  # outside the inventory
    secrets = json.loads(state.read_text(encoding="utf-8"))["passwords"]
    for entry in secrets.values():
        assert entry["result"] not in result.output


def test_render_names_and_out(tmp_path: Path) -> None:
    root = _inventory(tmp_path / "inv")
    out = tmp_path / "plans"
    result = CliRunner().invoke(
        app, ["-i", str(root), "render", "--no-charts", "controlroom", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert (out / "controlroom" / "plan.json").is_file()
    assert not (out / "alpha").exists()


@pytest.mark.parametrize("out", [False, True])
def test_a_workload_alone_renders_the_control_room_first_when_none_was(tmp_path: Path, out: bool) -> None:
    # The README's `fleet render payments-prod --show-secrets --out /tmp/plans`, on a fresh machine.
    root = _inventory(tmp_path / "inv")
    plans = tmp_path / "plans" if out else root / ".fleet" / "render"
    argv = ["-i", str(root), "render", "--no-charts", "alpha"] + (["--out", str(plans)] if out else [])
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert [line.split()[0] for line in result.stdout.splitlines()[:-1]] == ["controlroom", "alpha"]
    note = "controlroom: rendered first (no render of it here yet); its credentials feed alpha"
    assert note in result.stderr
    alpha = json.loads((plans / "alpha" / "plan.json").read_text(encoding="utf-8"))
    room = json.loads((plans / "controlroom" / "plan.json").read_text(encoding="utf-8"))
    assert alpha["resources"] and room["resources"]
    # Once the control room is rendered, a workload renders alone.
    again = CliRunner().invoke(app, argv)
    assert again.exit_code == 0, again.output
    assert [line.split()[0] for line in again.stdout.splitlines()[:-1]] == ["alpha"]


def test_show_secrets_writes_the_values(tmp_path: Path) -> None:
    root = _inventory(tmp_path / "inv")
    out = tmp_path / "plans"
    result = CliRunner().invoke(
        app, ["-i", str(root), "render", "--no-charts", "--all", "--out", str(out), "--show-secrets"]
    )
    assert result.exit_code == 0, result.output
    plan = json.loads((out / "controlroom" / "plan.json").read_text(encoding="utf-8"))
    password = plan["outputs"]["credential-alpha"]
    assert password not in result.output
    assert password in (out / "alpha" / "plan.json").read_text(encoding="utf-8")


def test_unknown_names_exit_2(tmp_path: Path) -> None:
    root = _inventory(tmp_path / "inv")
    result = CliRunner().invoke(app, ["-i", str(root), "render", "alpha", "nope"])
    assert result.exit_code == 2
    assert "unknown stack: nope" in result.output
    assert not (root / ".fleet" / "render").exists()
    both = CliRunner().invoke(app, ["-i", str(root), "render", "alpha", "--all"])
    assert both.exit_code == 2


@pytest.mark.parametrize("out", ["plans.json", "plans.json/sub"])
def test_an_out_that_is_a_file_is_refused_as_a_bad_flag(tmp_path: Path, out: str) -> None:
    # It said "<out>/.state/controlroom.json: unreadable render state (NotADirectoryError)", exit 1.
    root = _inventory(tmp_path / "inv")
    (tmp_path / "plans.json").write_text("{}")
    result = CliRunner().invoke(app, ["-i", str(root), "render", "--no-charts", "--out", str(tmp_path / out)])
    assert result.exit_code == 2, result.output
    assert result.output.splitlines() == [
        f"error: --out {tmp_path / out}: {tmp_path / 'plans.json'} is not a directory; "
        "give a directory for the plans"
    ]
    assert (tmp_path / "plans.json").read_text() == "{}"


# --- the charts, rendered for real ---------------------------------------------------------------


@pytest.fixture(scope="module")
def expanded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Result]]:
    """The example inventory rendered once with its charts expanded (redacted)."""
    with real_charts():
        root = copy_example(tmp_path_factory.mktemp("render") / "inv")
        out = root.parent / "plans"
        yield out, CliRunner().invoke(app, ["-i", str(root), "render", "--out", str(out)])


def _charts(out: Path, stack: str) -> dict[str, dict[str, Any]]:
    plan = json.loads((out / stack / "plan.json").read_text(encoding="utf-8"))
    return {r["name"]: r for r in plan["resources"] if r["type"] == "kubernetes:helm.sh/v4:Chart"}


def test_render_expands_every_chart_beside_its_values(expanded: tuple[Path, Result]) -> None:
    out, result = expanded
    assert result.exit_code == 0, result.output
    assert "chart objects" in result.stdout.splitlines()[0]
    charts = _charts(out, "payments-prod")
    assert sorted(charts) == [
        "alloy-chart",
        "alloy-events-chart",
        "grafana-chart",
        "loki-chart",
        "mimir-chart",
    ]
    events = charts["alloy-events-chart"]["rendered"]
    # The events collector: a second release of the Alloy chart, one Deployment.
    assert events["release"] == "alloy-events"
    assert [o["name"] for o in events["objects"] if o["kind"] == "Deployment"] == ["alloy-events"]
    mimir = charts["mimir-chart"]
    assert mimir["inputs"]["values"]["fullnameOverride"] == "mimir"
    rendered = mimir["rendered"]
    # The release helm.v4.Chart uses is its name input: what the chart's helpers name things by.
    assert (rendered["release"], rendered["namespace"], rendered["version"]) == ("mimir", "mimir", "6.0.0")
    kinds = {(o["kind"], o["namespace"], o["name"]) for o in rendered["objects"]}
    assert ("Service", "mimir", "mimir-gateway") in kinds
    assert ("StatefulSet", "mimir", "mimir-ingester") in kinds
    assert not any(name.endswith("-kafka") for _kind, _ns, name in kinds)  # classic architecture
    for entry in rendered["objects"]:
        assert entry["manifest"]["kind"] == entry["kind"]
        assert entry["manifest"]["metadata"]["name"] == entry["name"]
    (hook,) = rendered["hooks"]  # the chart's smoke test: Helm would run it, helm.v4.Chart never does
    assert hook["deployed"] is False and "test" in hook["hook"]


def test_a_chart_missing_from_the_cache_names_it_and_how_to_pull(tmp_path: Path) -> None:
    root = _inventory(tmp_path / "inv")
    _cache, helm = require_charts()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FLEET_CHART_CACHE", str(tmp_path / "empty"))
        patch.setenv("FLEET_HELM", helm)
        result = CliRunner().invoke(app, ["-i", str(root), "render"])
    assert result.exit_code == 1
    assert "chart grafana 10.1.4 is not in the chart cache" in result.output
    assert "fleet charts pull" in result.output
    assert not (root / ".fleet" / "render" / "controlroom").exists()


def test_render_uses_the_password_generations_the_journal_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fleet.journal import Journal, journal_url_for
    from fleet.journal.credentials import begin_rotation, finish_rotation

    monkeypatch.delenv("FLEET_DATABASE_URL", raising=False)
    root = _inventory(tmp_path / "inv")

    def passwords() -> list[str]:
        result = CliRunner().invoke(app, ["-i", str(root), "render", "controlroom", "--no-charts"])
        assert result.exit_code == 0, result.output
        plan = json.loads((root / ".fleet" / "render" / "controlroom" / "plan.json").read_text())
        found = [r for r in plan["resources"] if r["type"] == "random:index/randomPassword:RandomPassword"]
        return sorted(r["name"] for r in found if r["name"].startswith("cred-"))

    assert passwords() == ["cred-alpha"]  # nothing recorded: generation 0
    assert not (root / ".fleet" / "fleet.db").exists()  # and render created no journal
    with Journal(journal_url_for(root)) as journal:
        begin_rotation(journal, ["alpha"], "r-rotation")
    assert passwords() == ["cred-alpha", "cred-alpha-1"]  # rotating: both generations
    with Journal(journal_url_for(root)) as journal:
        finish_rotation(journal, "r-rotation")
    assert passwords() == ["cred-alpha-1"]  # rotated: the new one only


def test_the_readme_alerting_example_renders_offline_without_its_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CI renders without production paging keys: each unset variable is one warning naming the
    file and field, the plan holds a redacted placeholder, and no value leaks."""
    from inventories import README_ALERTING_VARIABLES, with_readme_alerting

    from kit.alerting.alertmanager import ENV_SECRET, placeholder

    for variable in README_ALERTING_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    root = with_readme_alerting(copy_example(tmp_path / "inv"))
    out = tmp_path / "plans"
    result = CliRunner().invoke(app, ["-i", str(root), "render", "--no-charts", "--all", "--out", str(out)])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert warnings == [
        "warning: fleet.yaml spec.alerting.receivers[oncall].pagerduty.routing_key: PAGERDUTY_ROUTING_KEY "
        "is not set; rendered with a placeholder; a real rollout needs it",
        "warning: fleet.yaml spec.alerting.receivers[payments].email.password: SMTP_PASSWORD "
        "is not set; rendered with a placeholder; a real rollout needs it",
    ]
    room = json.loads((out / "controlroom" / "plan.json").read_text(encoding="utf-8"))
    (secret,) = [
        r["inputs"]
        for r in room["resources"]
        if r["type"] == "kubernetes:core/v1:Secret" and r["inputs"]["metadata"]["name"] == ENV_SECRET
    ]
    assert secret["stringData"] == "[secret]"
    for stack in ("controlroom", *load_inventory(root).names):
        text = (out / stack / "plan.json").read_text(encoding="utf-8")
        assert "fleet-offline-placeholder" not in text
    assert "fleet-offline-placeholder" not in result.output

    # With the variables set, the real values are used (and still redacted); no warning.
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", "pd-r0uting-key-5521")
    monkeypatch.setenv("SMTP_PASSWORD", "smtp-pa55word-0917")
    shown = tmp_path / "shown"
    result = CliRunner().invoke(
        app, ["-i", str(root), "render", "--no-charts", "controlroom", "--out", str(shown), "--show-secrets"]
    )
    assert result.exit_code == 0, result.output
    assert "warning:" not in result.stderr
    text = (shown / "controlroom" / "plan.json").read_text(encoding="utf-8")
    assert "pd-r0uting-key-5521" in text and placeholder("PAGERDUTY_ROUTING_KEY") not in text
    assert "pd-r0uting-key-5521" not in result.output
