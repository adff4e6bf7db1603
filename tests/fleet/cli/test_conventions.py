"""The command line's conventions, each run through the real CLI: global options anywhere,
version and completion, -o table|json|yaml, confirmation without a terminal, selectors, did you
mean, init and workload add, reserved words, help texts, and one meaning of --dry-run."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer
from fleet_services import fleet_command, fleet_env, run_fleet, write_script
from inventories import EXAMPLE_INVENTORY, copy_example
from ruamel.yaml import YAML
from typer.core import TyperGroup
from typer.testing import CliRunner

from fleet.cli.main import app
from fleet.inventory.models import COMMAND_WORDS
from fleet.journal import Journal, journal_url_for

runner = CliRunner()


def fleet(*args: str | Path, env: dict[str, str] | None = None, input: str | None = None) -> Any:
    return runner.invoke(app, [str(a) for a in args], env=env, input=input)


def yaml_load(text: str) -> Any:
    return YAML(typ="safe", pure=True).load(text)


@pytest.fixture
def inv(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "inv")


@pytest.fixture
def scripted(inv: Path, tmp_path: Path) -> dict[str, str]:
    """The environment of a real (scripted-engine) rollout of ``inv``: stacks succeed at once."""
    script = write_script(tmp_path / "script.json", default={"duration": 0})
    return {"FLEET_ENGINE": "scripted", "FLEET_ENGINE_SCRIPT": str(script), "FLEET_WORKERS": "2"}


def rollouts(inventory: Path) -> list[Any]:
    with Journal(journal_url_for(inventory)) as journal:
        return journal.list_rollouts()


# -- global options ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("-i", "{inv}", "validate"),
        ("validate", "-i", "{inv}"),
        ("validate", "--inventory", "{inv}"),
        ("validate", "--inventory={inv}"),
        ("validate", "-v", "-i", "{inv}", "--debug"),
        ("-v", "workload", "list", "-o", "json", "-i", "{inv}"),
    ],
)
def test_global_options_go_before_or_after_the_command(inv: Path, args: tuple[str, ...]) -> None:
    result = fleet(*(arg.format(inv=inv) for arg in args))
    assert result.exit_code == 0, result.output
    assert "ok: fleet" in result.stdout or json.loads(result.stdout)


def test_bare_commands_print_their_help_and_exit_0() -> None:
    for args in ((), ("workload",), ("upgrade",), ("charts",), ("rollout",)):
        result = fleet(*args)
        assert result.exit_code == 0, (args, result.output)
        assert result.stdout.startswith("Usage: fleet"), args


def _commands(command: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found = [(path, command)]
    if isinstance(command, TyperGroup):
        for name, sub in command.commands.items():
            if not sub.hidden:
                found += _commands(sub, (*path, name))
    return found


def test_every_help_has_examples_whole_summaries_and_no_placeholder_types() -> None:
    root = typer.main.get_command(app)
    commands = _commands(root)
    assert len(commands) > 25  # the walk reaches the subcommands
    problems = []
    for path, _command in commands:
        result = fleet(*path, "--help")
        where = " ".join(("fleet", *path))
        text = result.stdout
        if result.exit_code != 0:
            problems.append(f"{where} --help: exit {result.exit_code}")
        if not re.search(r"Examples:\n +(fleet |FLEET_\w+=|sed )", text):
            problems.append(f"{where}: no examples; add epilog=examples(...) (fleet/cli/help.py)")
        if found := re.search(r"<(list|dict|str|int|float|bool|path)\b[^>]*>", text, re.I):
            problems.append(f"{where}: a Python type in the help: {found[0]}")
        if found := re.search(r"\{[A-Za-z_]+\}", text):
            problems.append(f"{where}: a placeholder in the help: {found[0]}")
        if "..." in re.sub(r"\[?[A-Z_|-]+\]?\.\.\.", "", text):  # NAME... is fine, a cut summary is not
            problems.append(f"{where}: '...' in the help (a cut summary, or a metavar like [NAME]...)")
    assert not problems, "\n".join(problems)


def test_fleet_rollout_subcommands_are_all_reserved_workload_names() -> None:
    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    rollout = group.commands["rollout"]
    assert isinstance(rollout, TyperGroup)
    assert set(rollout.commands) <= COMMAND_WORDS


def test_a_workload_named_like_a_command_is_refused_with_its_line(inv: Path) -> None:
    source = (inv / "workloads/search-staging.yaml").read_text().replace("search-staging", "watch")
    (inv / "workloads/watch.yaml").write_text(source)
    result = fleet("validate", "-i", inv)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: workloads/watch.yaml:3: name: 'watch' is reserved")


# -- version and completion --------------------------------------------------------------------


def test_version_names_every_part_and_masks_the_journal_password(inv: Path) -> None:
    env = {"FLEET_DATABASE_URL": "postgresql+psycopg://fleet:s3cret@db.internal/fleet"}
    result = fleet("version", "-o", "json", "-i", inv, env={**env, "FLEET_HELM": str(inv / "no-helm")})
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert set(info) == {"fleet", "python", "pulumi_sdk", "helm", "journal"}
    assert info["journal"] == "postgresql+psycopg://fleet:***@db.internal/fleet"
    assert info["helm"].startswith("not found")
    assert re.fullmatch(r"\d+\.\d+\.\d+", info["pulumi_sdk"])
    short = fleet("--version", env=env)
    assert short.exit_code == 0 and "s3cret" not in short.stdout
    assert short.stdout.splitlines()[0].startswith("fleet: ")


def test_version_asks_the_real_helm_for_its_version() -> None:
    from fleet.charts.helm import helm_binary
    from fleet.errors import MissingTool

    try:
        helm = helm_binary()
    except MissingTool:
        pytest.skip("no helm here (make helm installs one)")
    result = fleet("version", "-o", "yaml")
    assert result.exit_code == 0, result.output
    assert re.match(r"v\d+\.\d+\.\d+", yaml_load(result.stdout)["helm"])
    assert str(helm) in yaml_load(result.stdout)["helm"]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_parse_in_their_shell_and_complete(shell: str, tmp_path: Path) -> None:
    binary = shutil.which(shell)
    if binary is None:
        pytest.skip(f"{shell} is not installed (.ci/apt-packages.txt lists it)")
    result = fleet("completion", shell)
    assert result.exit_code == 0, result.output
    script = tmp_path / f"fleet.{shell}"
    script.write_text(result.stdout)
    checked = subprocess.run([binary, "-n", str(script)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    # What the script asks `fleet` when the user presses TAB after `fleet rollout w`.
    env = {"_FLEET_COMPLETE": f"complete_{shell}", "COMP_WORDS": "fleet rollout w", "COMP_CWORD": "2"}
    env["_TYPER_COMPLETE_ARGS"] = "fleet rollout w"
    env["_TYPER_COMPLETE_FISH_ACTION"] = "get-args"
    answer = subprocess.run(
        fleet_command(), env={**fleet_env(tmp_path, script), **env}, capture_output=True, text=True
    )
    assert answer.returncode == 0, answer.stderr
    assert "watch" in answer.stdout


def test_completion_of_an_unknown_shell_is_a_user_error() -> None:
    result = fleet("completion", "tcsh")
    assert result.exit_code == 2
    assert result.stderr == "error: completion: unknown shell 'tcsh'; choose bash, zsh or fish\n"


# -- output formats ----------------------------------------------------------------------------


@pytest.mark.parametrize("command", [("workload", "list"), ("status",), ("history",), ("versions",)])
def test_json_and_yaml_carry_the_same_data(inv: Path, command: tuple[str, ...]) -> None:
    as_json = fleet(*command, "-o", "json", "-i", inv)
    as_yaml = fleet(*command, "-i", inv, "--output", "yaml")
    assert as_json.exit_code == as_yaml.exit_code == 0, as_json.output + as_yaml.output
    assert yaml_load(as_yaml.stdout) == json.loads(as_json.stdout)


def test_rollout_prints_its_id_and_result_and_history_shows_it_in_full(
    inv: Path, scripted: dict[str, str]
) -> None:
    started = fleet("rollout", "--all", "--yes", "-o", "json", "-i", inv, env=scripted)
    assert started.exit_code == 0, started.output
    document = json.loads(started.stdout)  # stdout holds the document only; the view went to stderr
    assert document["status"] == "succeeded"
    assert {s["stack"] for s in document["stack_states"]} == {
        "controlroom",
        "analytics-prod",
        "payments-prod",
        "search-staging",
    }
    rollout_id = document["id"]
    assert re.fullmatch(r"r-\d{8}-\d{4}-[0-9a-f]{4}", rollout_id)

    in_full = fleet("history", rollout_id, "-o", "yaml", "-i", inv)
    assert in_full.exit_code == 0, in_full.output
    assert yaml_load(in_full.stdout) == document
    shown = fleet("rollout", "show", rollout_id, "-i", inv)
    assert shown.exit_code == 0, shown.output
    for stack in ("controlroom", "analytics-prod", "payments-prod", "search-staging"):
        assert re.search(rf"\b{stack}\s+succeeded\b", shown.stdout), shown.stdout  # every stack, uncollapsed
    listed = fleet("rollout", "list", "-o", "json", "-i", inv)
    assert [row["id"] for row in json.loads(listed.stdout)] == [rollout_id]
    unknown = fleet("history", "r-20000101-0000-dead", "-i", inv)
    assert unknown.exit_code == 2 and "r-20000101-0000-dead" in unknown.stderr


def test_detach_with_json_prints_the_id_and_the_log(inv: Path, scripted: dict[str, str]) -> None:
    env = {**fleet_env(inv, Path(scripted["FLEET_ENGINE_SCRIPT"])), "FLEET_WORKERS": "2"}
    result = run_fleet(env, "rollout", "search-staging", "--yes", "--detach", "-o", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["log"].endswith(f"{document['id']}.log")
    watched = run_fleet(env, "rollout", "watch", document["id"], "-o", "json")
    assert (watched.returncode, json.loads(watched.stdout)["status"]) == (0, "succeeded")


# -- confirmation ------------------------------------------------------------------------------


def test_without_a_terminal_a_real_rollout_needs_yes_and_records_nothing(
    inv: Path, scripted: dict[str, str]
) -> None:
    result = fleet("rollout", "--all", "-i", inv, env=scripted)
    assert result.exit_code == 2
    assert result.stderr == (
        "error: Start this rollout: stdin is not a terminal, so nobody can confirm; pass --yes\n"
    )
    assert rollouts(inv) == []
    # A dry run changes nothing real: it needs no confirmation.
    dry = fleet("rollout", "search-staging", "--dry-run", "-i", inv)
    assert dry.exit_code == 0, dry.output


def test_without_a_terminal_upgrade_apply_needs_yes_and_writes_nothing(
    inv: Path, scripted: dict[str, str]
) -> None:
    before = (inv / "fleet.yaml").read_bytes()
    result = fleet("upgrade", "apply", "--to", "alloy=1.5.0", "-i", inv, env=scripted)
    assert result.exit_code == 2
    assert result.stderr.endswith("stdin is not a terminal, so nobody can confirm; pass --yes\n")
    assert (inv / "fleet.yaml").read_bytes() == before


def test_a_declined_prompt_says_nothing_changed_and_exits_1(inv: Path, tmp_path: Path) -> None:
    # stdin a pipe is no terminal; the pty tests (test_terminal.py) answer a real prompt. Here the
    # prompt's own wording and exit code, through a subprocess whose stdin is a terminal.
    import os
    import pty

    env = fleet_env(inv, write_script(tmp_path / "script.json"))
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            [*fleet_command(), "upgrade", "apply", "--to", "alloy=1.5.0"],
            env=env,
            stdin=terminal,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.write(controller, b"n\n")
        output, errors = process.communicate(timeout=60)
    finally:
        os.close(controller)
        os.close(terminal)
    assert process.returncode == 1, errors
    assert "Write fleet.yaml and upgrade? [y/N]" in errors
    assert errors.rstrip().endswith("Cancelled; nothing was changed.")
    assert "alloy 1.4.0 -> 1.5.0" in output
    assert b'alloy: "1.4.0"' in (inv / "fleet.yaml").read_bytes()


# -- selectors and names -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("ring=canary", {"search-staging"}),
        ("ring!=canary", {"analytics-prod", "payments-prod"}),
        ("team in (payments,search)", {"payments-prod", "search-staging"}),
        ("team notin (payments)", {"analytics-prod", "search-staging"}),
        ("!ring", {"analytics-prod", "payments-prod"}),
        ("environment=production,cloud=aws", {"payments-prod"}),
        ("region==eastus", {"analytics-prod"}),
    ],
)
def test_rollout_selects_with_kubectl_selectors(
    inv: Path, scripted: dict[str, str], selector: str, expected: set[str]
) -> None:
    result = fleet("rollout", "-l", selector, "--yes", "-o", "json", "-i", inv, env=scripted)
    assert result.exit_code == 0, result.output
    stacks = {s["stack"] for s in json.loads(result.stdout)["stack_states"]} - {"controlroom"}
    assert stacks == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("rollout", "paymnts-prod", "--dry-run"),
            "error: unknown workload: paymnts-prod; did you mean 'payments-prod'?",
        ),
        (("render", "serch-staging"), "error: unknown stack: serch-staging; did you mean 'search-staging'?"),
        (
            ("rollout", "-l", "rign=canary", "--dry-run"),
            "no workload has a label 'rign'; did you mean 'ring'?",
        ),
        (("rollout", "-l", "ring in canary", "--dry-run"), "error: bad label selector 'ring in canary'"),
        (
            ("rollout", "-l", "ring=canry", "--dry-run"),
            "no workload has ring='canry'; did you mean 'canary'?",
        ),
        (
            ("rollout", "-l", "environment in (stagin,development)", "--dry-run"),
            "no workload has environment='stagin'; did you mean 'staging'?",
        ),
    ],
)
def test_typos_get_one_line_with_a_did_you_mean(inv: Path, args: tuple[str, ...], message: str) -> None:
    result = fleet(*args, "-i", inv)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and result.stderr.count("\n") == 1, result.stderr


def test_a_fleet_without_workloads_says_how_to_go_on(inv: Path) -> None:
    for path in (inv / "workloads").iterdir():
        path.unlink()
    result = fleet("rollout", "--all", "--dry-run", "-i", inv)
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        "error: no workloads in the inventory (workloads/ is empty): onboard one with "
        "`fleet workload add FILE`, or roll out the control room alone with `fleet rollout controlroom`\n"
    )
    assert not (inv / ".fleet" / "fleet.db").exists()


def test_an_unknown_inventory_key_gets_a_did_you_mean(inv: Path) -> None:
    path = inv / "workloads/search-staging.yaml"
    path.write_text(path.read_text().replace("environment:", "enviroment:"))
    result = fleet("validate", "-i", inv)
    assert result.exit_code == 2
    assert "spec.enviroment: unknown key; did you mean 'environment'?" in result.stderr


# -- init and workload add ---------------------------------------------------------------------


def test_init_defaults_to_the_current_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = fleet("init")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "fleet.yaml").is_file() and (tmp_path / "workloads").is_dir()
    assert "run `fleet validate`" in result.stdout
    assert fleet("validate").exit_code == 0


def test_workload_add_reads_stdin_and_names_the_file_from_the_document(inv: Path, tmp_path: Path) -> None:
    text = (EXAMPLE_INVENTORY / "workloads/search-staging.yaml").read_text()
    from_stdin = fleet("workload", "add", "-", "-i", inv, input=text.replace("search-staging", "billing-dev"))
    assert from_stdin.exit_code == 0, from_stdin.output
    assert (inv / "workloads/billing-dev.yaml").read_text() == text.replace("search-staging", "billing-dev")
    odd_name = tmp_path / "new-cluster.yml"
    odd_name.write_text(text.replace("search-staging", "billing-prod"))
    from_file = fleet("workload", "add", odd_name, "-i", inv)
    assert from_file.exit_code == 0, from_file.output
    assert (inv / "workloads/billing-prod.yaml").read_text() == odd_name.read_text()
    assert fleet("validate", "-i", inv).stdout.startswith("ok: fleet acme")


# -- one meaning of --dry-run ------------------------------------------------------------------


def test_the_old_dry_run_flags_still_work_and_say_their_new_names(inv: Path) -> None:
    before = (inv / "fleet.yaml").read_bytes()
    upgrade = fleet("upgrade", "apply", "--to", "alloy=1.5.0", "--dry-run", "-i", inv)
    assert upgrade.exit_code == 0, upgrade.output
    assert "deprecated; it is now `--diff`" in upgrade.stderr
    assert (inv / "fleet.yaml").read_bytes() == before
    drift = fleet("drift", "search-staging", "--dry-run", "--no-record", "-i", inv)
    assert drift.exit_code == 0, drift.output
    assert "it is now `drift --offline`" in drift.stderr
    assert rollouts(inv) == []


def test_json_stdout_stays_parseable_when_the_prompt_is_skipped(inv: Path, scripted: dict[str, str]) -> None:
    # -o json puts the plan on stderr: stdout is exactly one document.
    result = run_fleet(
        {**fleet_env(inv, Path(scripted["FLEET_ENGINE_SCRIPT"])), "FLEET_WORKERS": "2"},
        "rollout",
        "search-staging",
        "--yes",
        "-o",
        "json",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "succeeded"
    assert "Rollout plan: " in result.stderr
