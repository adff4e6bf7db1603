"""The PulumiEngine: what runs here without the pulumi CLI for real, the rest against the CLI."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from inventories import fleet_yaml, workload_yaml
from pulumi import automation as auto
from pulumi.automation.errors import create_command_error
from pulumi.automation.events import EngineEvent, OpType

from fleet.engines.pulumi import (
    CredentialSource,
    PulumiEngine,
    ResourceDrift,
    describe_event,
    drift_of,
    failed_outcome,
    op_counts,
    preview_changes,
    preview_expect_no_changes,
    pulumi_env,
    qualified_stack_name,
    require_pulumi_cli,
    run_program,
    stack_config,
    stack_outputs,
    stack_target,
    stale_lock_reason,
)
from fleet.errors import MissingTool, OperationError, UserError
from fleet.inventory.loader import Inventory, load_inventory
from fleet.kinds import Action
from fleet.settings import Settings

PASSPHRASE = "correct horse battery staple"
WORKLOAD_SPEC = """\
  cloud: azure
  region: westeurope
  subscription_id: 0b5e9f43-7c2a-4d8e-9a61-3f2d8c4b1e07
  tenant_id: 7d1e4c2a-9b3f-4e8d-a6c5-2f1b0e9d8c7a
"""


def make_inventory(
    root: Path, backend: str = "file://./state", secrets_provider: str = "passphrase"
) -> Inventory:
    state = f"  state:\n    backend: {backend}\n    secrets_provider: {secrets_provider}\n"
    (root / "workloads").mkdir(parents=True)
    (root / "fleet.yaml").write_text(fleet_yaml(spec_extra=state))
    (root / "workloads" / "payments-prod.yaml").write_text(workload_yaml("payments-prod", WORKLOAD_SPEC))
    return load_inventory(root)


@pytest.fixture
def no_pulumi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE", "FLEET_PASSPHRASE"):
        monkeypatch.delenv(name, raising=False)


def command_error(stderr: str, stdout: str = "", code: int = 255) -> auto.CommandError:
    return create_command_error(auto.CommandResult(stdout=stdout, stderr=stderr, code=code))


# --- the CLI check -------------------------------------------------------------------------------


@pytest.mark.usefixtures("no_pulumi")
def test_missing_cli_is_one_line_saying_how_to_install() -> None:
    with pytest.raises(MissingTool) as caught:
        require_pulumi_cli()
    message = caught.value.message
    assert "\n" not in message
    assert "get.pulumi.com" in message
    assert "--dry-run" not in message  # each command names its own way on (tests/fleet/cli)


def test_cli_on_path_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cli = tmp_path / "bin" / "pulumi"
    cli.parent.mkdir()
    cli.write_text("#!/bin/sh\n")
    cli.chmod(0o755)
    monkeypatch.setenv("PATH", str(cli.parent))
    assert require_pulumi_cli() == str(cli)


@pytest.mark.usefixtures("no_pulumi")
def test_run_without_cli_fails_as_a_value_before_touching_anything(tmp_path: Path) -> None:
    inventory = make_inventory(tmp_path / "inv")
    outcome = PulumiEngine(Settings(passphrase=PASSPHRASE)).run(inventory, "controlroom", Action.up)
    assert not outcome.ok
    assert not outcome.transient
    assert outcome.error is not None and "pulumi CLI is not on PATH" in outcome.error
    assert not (inventory.root / "state").exists()
    assert not inventory.state_dir.exists()


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize("action", [Action.up, Action.preview])
def test_a_real_rollout_refuses_an_unset_receiver_secret_before_touching_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, action: Action
) -> None:
    """An offline render uses a placeholder; a real one never does: it stops before the CLI,
    the state backend or any lock is reached (PATH holds no pulumi: this check comes first)."""
    from inventories import README_ALERTING_VARIABLES, with_readme_alerting

    for variable in README_ALERTING_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("SMTP_PASSWORD", "smtp-pa55word-0917")
    root = make_inventory(tmp_path / "inv").root
    inventory = load_inventory(with_readme_alerting(root))
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    outcome = PulumiEngine(Settings(passphrase=PASSPHRASE)).run(inventory, "controlroom", action)
    assert not outcome.ok and not outcome.transient
    assert outcome.error == (
        "fleet.yaml spec.alerting.receivers[oncall].pagerduty.routing_key: PAGERDUTY_ROUTING_KEY is not "
        "set where this stack runs; export it (or use kubernetes: <secret>/<key>); nothing was changed"
    )
    assert "smtp-pa55word-0917" not in outcome.error
    assert not (inventory.root / "state").exists()
    assert not inventory.state_dir.exists()
    # A workload without local alerting reads none of the control room's receivers.
    workload = PulumiEngine(Settings(passphrase=PASSPHRASE)).run(inventory, "payments-prod", action)
    assert workload.error is not None and "pulumi CLI is not on PATH" in workload.error


@pytest.mark.usefixtures("no_pulumi", "clean_env")
def test_preflight_checks_the_cli_first(tmp_path: Path) -> None:
    with pytest.raises(MissingTool):
        PulumiEngine(Settings()).preflight(make_inventory(tmp_path / "inv"))


@pytest.mark.usefixtures("clean_env")
def test_preflight_without_passphrase_is_a_one_line_user_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli = tmp_path / "bin" / "pulumi"
    cli.parent.mkdir()
    cli.write_text("#!/bin/sh\n")
    cli.chmod(0o755)
    monkeypatch.setenv("PATH", str(cli.parent))
    with pytest.raises(UserError) as caught:
        PulumiEngine(Settings()).preflight(make_inventory(tmp_path / "inv"))
    assert "\n" not in caught.value.message
    assert "PULUMI_CONFIG_PASSPHRASE" in caught.value.message


# --- naming, workspace and environment ----------------------------------------------------------


@pytest.mark.usefixtures("clean_env")
def test_a_workload_target_reads_its_own_credential_from_the_control_room(tmp_path: Path) -> None:
    inventory = make_inventory(tmp_path / "inv")
    controlroom = qualified_stack_name(inventory, "controlroom")
    target = stack_target(inventory, "payments-prod", Settings(passphrase=PASSPHRASE))
    assert target.name == "organization/fleet-acme/payments-prod"
    assert target.project == "fleet-acme"
    assert target.credential == CredentialSource(controlroom, "credential-payments-prod")
    assert stack_target(inventory, "controlroom", Settings(passphrase=PASSPHRASE)).credential is None


@pytest.mark.usefixtures("clean_env")
def test_unknown_workload_is_a_user_error(tmp_path: Path) -> None:
    inventory = make_inventory(tmp_path / "inv")
    with pytest.raises(UserError, match="no workload named 'nope'"):
        stack_target(inventory, "nope", Settings(passphrase=PASSPHRASE))


@pytest.mark.usefixtures("clean_env")
def test_workspace_options_give_each_stack_its_own_work_dir(tmp_path: Path) -> None:
    inventory = make_inventory(tmp_path / "inv")
    target = stack_target(inventory, "payments-prod", Settings(passphrase=PASSPHRASE))
    options = target.workspace_options()
    assert options.work_dir == str(inventory.root / ".fleet" / "work" / "payments-prod")
    assert Path(options.work_dir).is_dir()
    assert options.secrets_provider == "passphrase"
    project = options.project_settings
    assert project is not None and project.backend is not None
    assert (project.name, project.runtime) == ("fleet-acme", "python")
    assert project.backend.url == f"file://{(inventory.root / 'state').resolve()}"
    assert (inventory.root / "state").is_dir()
    controlroom = stack_target(inventory, "controlroom", Settings(passphrase=PASSPHRASE))
    assert controlroom.work_dir != target.work_dir


@pytest.mark.usefixtures("clean_env")
def test_home_relative_file_backend_is_expanded_and_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    inventory = make_inventory(tmp_path / "inv", backend="file://~/.fleet/state")
    target = stack_target(inventory, "controlroom", Settings(passphrase=PASSPHRASE))
    state = tmp_path / "home" / ".fleet" / "state"
    assert target.backend == f"file://{state.resolve()}"
    assert state.is_dir()


@pytest.mark.usefixtures("clean_env")
def test_cloud_backend_and_kms_need_no_passphrase(tmp_path: Path) -> None:
    inventory = make_inventory(
        tmp_path / "inv", backend="s3://acme-state", secrets_provider="awskms://alias/fleet"
    )
    target = stack_target(inventory, "controlroom", Settings())
    assert target.backend == "s3://acme-state"
    assert target.secrets_provider == "awskms://alias/fleet"
    assert "PULUMI_CONFIG_PASSPHRASE" not in target.env


def test_passphrase_comes_from_the_environment_first(tmp_path: Path) -> None:
    state = make_inventory(tmp_path / "inv").fleet.spec.state
    env = pulumi_env(state, Settings(passphrase="from-settings"), {"PULUMI_CONFIG_PASSPHRASE": PASSPHRASE})
    assert env["PULUMI_CONFIG_PASSPHRASE"] == PASSPHRASE
    env = pulumi_env(state, Settings(), {"PULUMI_CONFIG_PASSPHRASE_FILE": "/run/secrets/pp"})
    assert env["PULUMI_CONFIG_PASSPHRASE_FILE"] == "/run/secrets/pp"
    assert "PULUMI_CONFIG_PASSPHRASE" not in env
    env = pulumi_env(state, Settings(passphrase=PASSPHRASE), {})
    assert env["PULUMI_CONFIG_PASSPHRASE"] == PASSPHRASE
    with pytest.raises(UserError):
        pulumi_env(state, Settings(), {"HOME": "/root"})


@pytest.mark.usefixtures("clean_env")
def test_passphrase_stays_out_of_reprs(tmp_path: Path) -> None:
    target = stack_target(make_inventory(tmp_path / "inv"), "controlroom", Settings(passphrase=PASSPHRASE))
    options = target.workspace_options()
    assert options.env_vars is not None and options.env_vars["PULUMI_CONFIG_PASSPHRASE"] == PASSPHRASE
    assert {**options.env_vars}["PULUMI_CONFIG_PASSPHRASE"] == PASSPHRASE  # how the CLI gets it
    for shown in (repr(target), repr(options.env_vars), str(options.env_vars), f"{target.env}"):
        assert PASSPHRASE not in shown
    assert "PULUMI_CONFIG_PASSPHRASE" in repr(options.env_vars)


@pytest.mark.usefixtures("clean_env")
def test_stack_config_carries_each_stacks_cloud_account(tmp_path: Path) -> None:
    inventory = make_inventory(tmp_path / "inv")
    controlroom = {k: v.value for k, v in stack_config(inventory, "controlroom").items()}
    assert controlroom == {"aws:region": "us-east-1", "aws:allowedAccountIds[0]": "123456789012"}
    workload = {k: v.value for k, v in stack_config(inventory, "payments-prod").items()}
    assert workload == {
        "azure-native:location": "westeurope",
        "azure-native:subscriptionId": "0b5e9f43-7c2a-4d8e-9a61-3f2d8c4b1e07",
        "azure-native:tenantId": "7d1e4c2a-9b3f-4e8d-a6c5-2f1b0e9d8c7a",
    }


# --- error classification -----------------------------------------------------------------------

LOCKED = (
    "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end "
    "or delete the lock file with `pulumi cancel`.\n"
    "  file:///srv/state/.pulumi/locks/organization/fleet-acme/controlroom/1.json: "
    "created by ops@worker-3 (pid 4242) at 2025-01-01T03:00:00Z\n"
)


def test_a_held_stack_lock_is_transient() -> None:
    error = command_error(LOCKED)
    assert isinstance(error, auto.ConcurrentUpdateError)
    outcome = failed_outcome("organization/fleet-acme/controlroom", error)
    assert (outcome.ok, outcome.transient) == (False, True)
    assert outcome.error is not None
    assert outcome.error.startswith("the stack is currently locked by 1 lock(s)")


def test_a_pulumi_cloud_conflict_is_transient() -> None:
    error = command_error("error: [409] Conflict: Another update is currently in progress.\n")
    assert isinstance(error, auto.ConcurrentUpdateError)
    assert failed_outcome("s", error).transient


def test_a_command_error_reports_the_diagnostic_not_the_banner() -> None:
    stderr = (
        "Updating (organization/fleet-acme/payments-prod):\n"
        "error: update failed\n"
        'error: kubernetes:core/v1:Secret mimir-auth: secrets "mimir-auth" is forbidden\n'
    )
    outcome = failed_outcome("payments-prod", command_error(stderr, stdout="Updating...\n"))
    assert (outcome.ok, outcome.transient) == (False, False)
    assert outcome.error == 'kubernetes:core/v1:Secret mimir-auth: secrets "mimir-auth" is forbidden'


def test_engine_diagnostics_are_preferred_to_stderr() -> None:
    error = command_error("error: update failed\n")
    diagnostics = [
        "update failed",
        "python inline source runtime error: no chart version for loki\nTraceback (most recent call last):",
    ]
    outcome = failed_outcome("payments-prod", error, diagnostics)
    assert outcome.error == "python inline source runtime error: no chart version for loki"


def test_an_inline_program_error_is_found_in_stdout() -> None:
    stdout = (
        "Updating (organization/fleet-acme/controlroom):\n"
        "Diagnostics:\n  pulumi:pulumi:Stack (fleet-acme-controlroom):\n"
        "    error: python inline source runtime error: KeyError: 'reader'\n"
    )
    error = command_error("error: update failed\n", stdout=stdout)
    assert isinstance(error, auto.InlineSourceRuntimeError)
    outcome = failed_outcome("controlroom", error)
    assert outcome.error == "python inline source runtime error: KeyError: 'reader'"
    assert not outcome.transient


@pytest.mark.parametrize(
    "stderr",
    [
        "error: failed to load checkpoint: read tcp 10.0.0.7:443: read: connection reset by peer",
        "error: could not get stack: blob (key .pulumi/meta.yaml): dial tcp: i/o timeout",
        "error: failed to save checkpoint: 503 Service Unavailable: SlowDown",
    ],
)
def test_network_trouble_with_the_backend_is_transient(stderr: str) -> None:
    outcome = failed_outcome("controlroom", command_error(stderr))
    assert (outcome.ok, outcome.transient) == (False, True)
    assert outcome.error == stderr.removeprefix("error: ")


def test_python_network_errors_are_transient_and_others_are_not() -> None:
    assert failed_outcome("s", ConnectionResetError(104, "Connection reset by peer")).transient
    assert failed_outcome("s", TimeoutError("timed out")).transient
    outcome = failed_outcome("s", ValueError("bad\nsecond line"))
    assert (outcome.transient, outcome.error) == (False, "ValueError: bad")


def test_the_passphrase_never_reaches_an_outcome() -> None:
    error = command_error(f"error: decrypting secret with passphrase {PASSPHRASE!r}: incorrect passphrase\n")
    outcome = failed_outcome("controlroom", error, secrets=(PASSPHRASE,))
    assert outcome.error is not None and "incorrect passphrase" in outcome.error
    assert PASSPHRASE not in json.dumps(outcome.to_json())


# --- events and change counts -------------------------------------------------------------------

SECRET_URN = (
    "urn:pulumi:payments-prod::fleet-acme::fleet:workload:Alloy$kubernetes:core/v1:Secret::mimir-auth"
)


def step_event(
    kind: str, op: str, type_: str = "kubernetes:core/v1:Secret", urn: str = SECRET_URN
) -> EngineEvent:
    state = {
        "type": type_,
        "urn": urn,
        "id": "",
        "parent": "",
        "provider": "",
        "inputs": {"stringData": {"password": "hunter2-secret"}},
        "outputs": {"stringData": {"password": "hunter2-secret"}},
    }
    metadata = {"op": op, "urn": urn, "type": type_, "provider": "", "new": state, "diffs": ["stringData"]}
    return EngineEvent.from_json({"sequence": 1, "timestamp": 0, kind: {"metadata": metadata}})


def test_resource_events_are_one_line_with_type_and_name_but_no_values() -> None:
    pre = step_event("resourcePreEvent", "create")
    done = step_event("resOutputsEvent", "create")
    assert describe_event(pre, Action.up) == "creating kubernetes:core/v1:Secret mimir-auth"
    assert describe_event(done, Action.up) == "created kubernetes:core/v1:Secret mimir-auth"
    assert describe_event(pre, Action.preview) == "would create kubernetes:core/v1:Secret mimir-auth"
    assert describe_event(done, Action.preview) is None
    assert describe_event(step_event("resourcePreEvent", "update"), Action.up) == (
        "updating kubernetes:core/v1:Secret mimir-auth"
    )
    assert describe_event(step_event("resourcePreEvent", "same"), Action.up) is None
    stack = step_event(
        "resourcePreEvent", "create", "pulumi:pulumi:Stack", "urn:pulumi:s::p::pulumi:pulumi:Stack::p-s"
    )
    assert describe_event(stack, Action.up) is None


def test_diagnostics_summaries_and_raw_output() -> None:
    def event(**payload: object) -> EngineEvent:
        return EngineEvent.from_json({"sequence": 2, "timestamp": 0, **payload})

    error = event(diagnosticEvent={"message": "error: boom\nmore", "color": "never", "severity": "error"})
    info = event(diagnosticEvent={"message": "installing plugins", "color": "never", "severity": "info"})
    summary = event(
        summaryEvent={
            "maybeCorrupt": False,
            "durationSeconds": 3,
            "resourceChanges": {"create": 2, "update": 1, "same": 5},
            "PolicyPacks": {},
        }
    )
    stdout = event(
        stdoutEvent={"message": "Updating (organization/fleet-acme/controlroom)", "color": "never"}
    )
    failed = event(
        resOpFailedEvent={
            "metadata": {"op": "update", "urn": SECRET_URN, "type": "kubernetes:core/v1:Secret"},
            "status": 1,
            "steps": 0,
        }
    )
    assert describe_event(error, Action.up) == "error: boom"
    assert describe_event(info, Action.up) is None
    assert describe_event(summary, Action.up) == "done: 2 create, 1 update"
    assert describe_event(stdout, Action.up) is None
    assert describe_event(failed, Action.up) == "failed to update kubernetes:core/v1:Secret mimir-auth"


def test_change_counts_from_previews_and_update_summaries() -> None:
    preview = auto.PreviewResult(
        stdout="", stderr="", change_summary={OpType.CREATE: 3, OpType.SAME: 2, OpType.DELETE: 0}
    )
    assert op_counts(preview.change_summary) == {"create": 3, "same": 2}
    assert op_counts({"update": 1, "same": 9}) == {"update": 1, "same": 9}
    assert op_counts(None) == {}


def test_drift_names_resources_and_properties_never_values() -> None:
    drift = drift_of(step_event("resourcePreEvent", "update"))
    assert drift == ResourceDrift("update", "kubernetes:core/v1:Secret", "mimir-auth", ("stringData",))
    assert str(drift) == "update kubernetes:core/v1:Secret mimir-auth (stringData)"
    assert "hunter2" not in str(drift)
    assert drift_of(step_event("resourcePreEvent", "same")) is None
    assert drift_of(step_event("resourcePreEvent", "read")) is None
    assert drift_of(step_event("resOutputsEvent", "update")) is None


# --- against the real CLI -------------------------------------------------------------------------

needs_cli = pytest.mark.skipif(shutil.which("pulumi") is None, reason="the pulumi CLI is not on PATH")


def _tiny_room() -> None:
    import pulumi

    pulumi.export("query_url", "https://mimir.ctrl.acme.example/prometheus")
    pulumi.export("reader", pulumi.Output.secret({"username": "fleet-reader", "password": "s3cr3t-reader"}))


def tiny_program(_password: str | None) -> Callable[[], None]:
    """A :data:`ProgramFor` of a program that needs no credential."""
    return _tiny_room


@pytest.mark.pulumi_cli
@needs_cli
@pytest.mark.usefixtures("clean_env")
def test_up_preview_and_outputs_on_a_file_backend(tmp_path: Path) -> None:
    inventory = make_inventory(tmp_path / "inv", backend=f"file://{tmp_path / 'state'}")
    settings = Settings(passphrase=PASSPHRASE)
    target = stack_target(inventory, "controlroom", settings)
    seen: list[str] = []
    outcome = run_program(target, tiny_program, Action.up, seen.append)
    assert outcome.ok, outcome.error
    assert outcome.changes == {"create": 1}
    assert outcome.summary["outputs"] == {
        "query_url": "https://mimir.ctrl.acme.example/prometheus",
        "reader": "[secret]",
    }
    assert "s3cr3t-reader" not in json.dumps(outcome.to_json()) + "".join(seen)
    assert stack_outputs(inventory, "controlroom", settings=settings)["reader"] == "[secret]"
    shown = stack_outputs(inventory, "controlroom", show_secrets=True, settings=settings)
    assert shown["reader"] == {"username": "fleet-reader", "password": "s3cr3t-reader"}
    again = run_program(target, tiny_program, Action.preview)
    assert (again.ok, again.changes) == (True, {"same": 1})


@pytest.mark.pulumi_cli
@needs_cli
@pytest.mark.usefixtures("clean_env")
def test_a_held_lock_is_a_transient_outcome(tmp_path: Path) -> None:
    state = tmp_path / "state"
    inventory = make_inventory(tmp_path / "inv", backend=f"file://{state}")
    target = stack_target(inventory, "controlroom", Settings(passphrase=PASSPHRASE))
    assert run_program(target, tiny_program, Action.up).ok
    lock = (
        state / ".pulumi" / "locks" / "organization" / "fleet-acme" / "controlroom" / f"{uuid.uuid4()}.json"
    )
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(
        json.dumps({"pid": 1, "username": "ops", "hostname": "worker-3", "timestamp": "2025-01-01T03:00:00Z"})
    )
    outcome = run_program(target, tiny_program, Action.up)
    assert (outcome.ok, outcome.transient) == (False, True)
    assert outcome.error is not None and "locked" in outcome.error


@pytest.mark.pulumi_cli
@needs_cli
@pytest.mark.usefixtures("clean_env")
def test_outputs_of_a_stack_never_deployed_is_an_operation_error(tmp_path: Path) -> None:
    inventory = make_inventory(tmp_path / "inv", backend=f"file://{tmp_path / 'state'}")
    with pytest.raises(OperationError, match="does not exist yet"):
        stack_outputs(inventory, "controlroom", settings=Settings(passphrase=PASSPHRASE))
    with pytest.raises(OperationError, match="does not exist yet"):
        preview_expect_no_changes(inventory, "controlroom", settings=Settings(passphrase=PASSPHRASE))


# --- a stale Pulumi lock left by an attempt fleet took over ---------------------------------------

HERE = "fleet-host-1"


def _locked_by(host: str, pid: int) -> str:
    return LOCKED.replace("ops@worker-3 (pid 4242)", f"ops@{host} (pid {pid})")


def test_a_lock_is_only_cancelled_when_the_previous_attempt_is_known_dead() -> None:
    def reason(stderr: str, previous_dead: bool = True, alive: bool = False) -> str | None:
        return stale_lock_reason(
            stderr, previous_dead=previous_dead, hostname=HERE, pid_alive=lambda _: alive
        )

    assert reason(LOCKED, previous_dead=False) is None  # someone's update: wait for it
    assert reason(_locked_by(HERE, 77), alive=True) is None  # an orphaned pulumi still updates here
    assert (
        reason(_locked_by(HERE, 77))
        == f"the lock of ops@{HERE} (pid 77) was left by the attempt fleet took over"
    )
    assert (
        reason(LOCKED, alive=True)
        == "the lock of ops@worker-3 (pid 4242) was left by the attempt fleet took over"
    )
    cloud = "error: [409] Conflict: Another update is currently in progress.\n"
    assert reason(cloud) == "the lock of an earlier update was left by the attempt fleet took over"


class _LockedStack:
    """A stand-in for the `pulumi` CLI behind a selected stack: locked until cancelled."""

    def __init__(self, stderr: str) -> None:
        self.stderr = stderr
        self.calls: list[str] = []

    def up(self, **_: object) -> object:
        self.calls.append("up")
        if "cancel" not in self.calls:
            raise command_error(self.stderr)
        summary = type("Summary", (), {"resource_changes": {"same": 1}})()
        return type("Up", (), {"summary": summary, "outputs": {}})()

    def cancel(self) -> None:
        self.calls.append("cancel")


@pytest.mark.parametrize("previous_dead", [True, False])
def test_run_program_cancels_a_stale_lock_and_runs_again_only_after_a_takeover(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, previous_dead: bool
) -> None:
    import fleet.engines.pulumi as engine

    stack = _LockedStack(_locked_by("worker-9", 4242))
    monkeypatch.setattr(engine, "require_pulumi_cli", lambda: "/usr/bin/pulumi")
    monkeypatch.setattr(engine, "_open", lambda target, program, **_: stack)
    target = stack_target(make_inventory(tmp_path / "inv"), "controlroom", Settings(passphrase=PASSPHRASE))

    outcome = run_program(target, tiny_program, Action.up, previous_dead=previous_dead)

    if previous_dead:
        assert stack.calls == ["up", "cancel", "up"]
        assert outcome.ok and outcome.summary["cancelled_lock"].startswith("the lock of ops@worker-9")
    else:
        assert stack.calls == ["up"]
        assert (outcome.ok, outcome.transient) == (False, True)


@pytest.mark.pulumi_cli
@needs_cli
@pytest.mark.usefixtures("clean_env")
def test_a_lock_left_by_a_dead_attempt_is_cancelled_for_real(tmp_path: Path) -> None:
    state = tmp_path / "state"
    inventory = make_inventory(tmp_path / "inv", backend=f"file://{state}")
    target = stack_target(inventory, "controlroom", Settings(passphrase=PASSPHRASE))
    assert run_program(target, tiny_program, Action.up).ok
    locks = state / ".pulumi" / "locks" / "organization" / "fleet-acme" / "controlroom"
    locks.mkdir(parents=True, exist_ok=True)
    (locks / f"{uuid.uuid4()}.json").write_text(
        json.dumps({"pid": 1, "username": "ops", "hostname": "worker-3", "timestamp": "2025-01-01T03:00:00Z"})
    )
    assert run_program(target, tiny_program, Action.up).transient
    outcome = run_program(target, tiny_program, Action.up, previous_dead=True)
    assert outcome.ok, outcome.error
    assert list(locks.iterdir()) == []


class _PreviewedStack:
    """A stand-in for the `pulumi` CLI behind a selected stack: records what it is asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, object]]] = []

    def preview(self, **options: object) -> None:
        self.calls.append(("preview", {k: v for k, v in options.items() if k != "on_event"}))

    def refresh(self, **options: object) -> None:
        self.calls.append(("refresh", options))

    def up(self, **options: object) -> None:
        self.calls.append(("up", options))


def test_drift_is_one_refreshing_preview_that_writes_no_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fleet.engines.pulumi as engine

    stack = _PreviewedStack()
    monkeypatch.setattr(engine, "require_pulumi_cli", lambda: "/usr/bin/pulumi")
    monkeypatch.setattr(engine, "_open", lambda target, program, create=True, **_: stack)
    inventory = make_inventory(tmp_path / "inv")

    assert preview_expect_no_changes(inventory, "controlroom", settings=Settings(passphrase=PASSPHRASE)) == []
    assert stack.calls == [("preview", {"color": "never", "refresh": True, "expect_no_changes": True})]


# --- a workload is handed its own credential, and no other ----------------------------------------

OWN = "Own0Password0Of0PaymentsProd0000000000000"
OTHER = "Other0Workloads0Password000000000000000"


class _Workspace:
    """A stand-in for a stack's workspace: the control room's outputs, as the CLI returns them."""

    def __init__(
        self, outputs: dict[str, auto.OutputValue] | None, settings: dict[str, object] | None = None
    ) -> None:
        self.outputs = outputs
        self.settings = settings
        self.asked: list[str] = []
        self.removed: list[str] = []
        self.program: Callable[[], None] | None = None

    def stack_settings(self, stack_name: str) -> auto.StackSettings:
        if self.settings is None:  # as the workspace answers before the file is written
            raise FileNotFoundError(f"failed to find stack settings file for {stack_name}")
        return auto.StackSettings(config=dict(self.settings))

    def stack_outputs(self, stack_name: str) -> dict[str, auto.OutputValue]:
        self.asked.append(stack_name)
        if self.outputs is None:  # as the CLI answers for a stack never deployed
            raise create_command_error(
                auto.CommandResult("", f"error: no stack named '{stack_name}' found", 255)
            )
        return self.outputs

    def remove_stack(self, stack_name: str) -> None:
        self.removed.append(stack_name)


class _Stack:
    """A stand-in for a selected stack: records its configuration; ``failure`` makes ``up`` fail."""

    def __init__(self, workspace: _Workspace, failure: str = "") -> None:
        self.name = "organization/fleet-acme/payments-prod"
        self.workspace = workspace
        self.config: dict[str, auto.ConfigValue] = {}
        self.failure = failure
        self.ran: list[str] = []
        self.config_calls: list[tuple[str, object]] = []
        """Every configuration command, with what it was given (as it would reach the CLI)."""

    def set_all_config(self, config: dict[str, auto.ConfigValue], *, path: bool = False) -> None:
        self.config_calls.append(("set_all_config", dict(config)))
        self.config.update(config)

    def set_config(self, key: str, value: auto.ConfigValue, *, path: bool = False) -> None:
        self.config_calls.append(("set_config", (key, value)))
        self.config[key] = value

    def remove_config(self, key: str, *, path: bool = False) -> None:
        self.config_calls.append(("remove_config", key))
        assert self.workspace.settings is not None and key in self.workspace.settings
        del self.workspace.settings[key]

    def up(self, **_: object) -> object:
        self.ran.append("up")
        if self.failure:
            raise command_error(self.failure)
        summary = type("Summary", (), {"resource_changes": {"create": 3}})()
        return type("Up", (), {"summary": summary, "outputs": {}})()

    def preview(self, **_: object) -> object:
        self.ran.append("preview")
        return type("Preview", (), {"change_summary": {"same": 3}})()

    def destroy(self, **_: object) -> object:
        self.ran.append("destroy")
        return type("Destroy", (), {"summary": type("Summary", (), {"resource_changes": {"delete": 3}})()})()

    def refresh(self, **_: object) -> object:
        self.ran.append("refresh")
        return type("Refresh", (), {"summary": type("Summary", (), {"resource_changes": {"same": 3}})()})()


def _control_room_outputs(**extra: auto.OutputValue) -> dict[str, auto.OutputValue]:
    return {
        "query_url": auto.OutputValue("https://mimir.ctrl.acme.example/prometheus", secret=False),
        "reader": auto.OutputValue({"username": "fleet-reader", "password": "r3ader"}, secret=True),
        "credential-payments-prod": auto.OutputValue(OWN, secret=True),
        "credential-analytics-prod": auto.OutputValue(OTHER, secret=True),
        **extra,
    }


@pytest.fixture
def fake_stack(monkeypatch: pytest.MonkeyPatch) -> Callable[..., _Stack]:
    """``create_or_select_stack`` / ``select_stack`` answered by one :class:`_Stack`."""
    import fleet.engines.pulumi as engine

    def install(
        outputs: dict[str, auto.OutputValue] | str | None = "default",
        failure: str = "",
        settings: dict[str, object] | None = None,
    ) -> _Stack:
        found = _control_room_outputs() if outputs == "default" else outputs
        stack = _Stack(_Workspace(found if isinstance(found, dict) else None, settings), failure)
        monkeypatch.setattr(engine, "require_pulumi_cli", lambda: "/usr/bin/pulumi")
        monkeypatch.setattr(engine.auto, "create_or_select_stack", lambda *_, **__: stack)
        monkeypatch.setattr(engine.auto, "select_stack", lambda *_, **__: stack)
        return stack

    return install


class _Handed:
    """A :data:`ProgramFor` that records the password each program it builds is given."""

    def __init__(self) -> None:
        self.passwords: list[str | None] = []

    def __call__(self, password: str | None) -> Callable[[], None]:
        self.passwords.append(password)
        return _tiny_room


def _no_password_in_config(stack: _Stack) -> None:
    """No configuration command carried a password (they would reach the CLI's command line)."""
    carried = repr([(name, _unmasked(given)) for name, given in stack.config_calls])
    assert OWN not in carried and OTHER not in carried and "r3ader" not in carried
    assert "fleet:centralPassword" not in stack.config


def _unmasked(given: object) -> object:
    if isinstance(given, dict):
        return {key: _unmasked(value) for key, value in given.items()}
    if isinstance(given, tuple):
        return tuple(_unmasked(value) for value in given)
    return given.value if isinstance(given, auto.ConfigValue) else given


@pytest.mark.usefixtures("clean_env")
def test_a_workload_run_hands_its_program_only_its_own_password_and_sets_none_as_config(
    tmp_path: Path, fake_stack: Callable[..., _Stack]
) -> None:
    stack = fake_stack()
    target = stack_target(make_inventory(tmp_path / "inv"), "payments-prod", Settings(passphrase=PASSPHRASE))
    handed = _Handed()
    seen: list[str] = []

    outcome = run_program(target, handed, Action.up, seen.append)

    assert outcome.ok, outcome.error
    assert stack.workspace.asked == ["organization/fleet-acme/controlroom"]  # the control room alone
    assert handed.passwords == [None, OWN]  # opened without one, then given its own to run
    assert stack.workspace.program is _tiny_room
    _no_password_in_config(stack)
    provider = stack_config(load_inventory(tmp_path / "inv"), "payments-prod")
    assert sorted(stack.config) == sorted(provider)
    assert OWN not in json.dumps(outcome.to_json()) + "".join(seen)


@pytest.mark.usefixtures("clean_env")
def test_the_real_workload_program_gets_the_password_as_a_secret_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pulumi

    import fleet.engines.pulumi as engine
    import workloads.program

    given: list[object] = []
    monkeypatch.setattr(
        workloads.program, "workload_program", lambda spec, credential, archives: given.append(credential)
    )
    program = engine.stack_program(make_inventory(tmp_path / "inv"), "payments-prod")

    with pytest.raises(OperationError, match="cannot run without its credential"):
        program(None)()
    assert given == []

    async def run() -> tuple[object, bool, object]:
        program(OWN)()  # on a running loop, as under the Pulumi runtime
        (credential,) = given
        assert isinstance(credential, pulumi.Output)
        return credential, await credential.is_secret(), await credential.future()

    loop = asyncio.new_event_loop()
    try:
        credential, secret, value = loop.run_until_complete(run())
    finally:
        loop.close()
    assert (secret, value) == (True, OWN)
    assert OWN not in repr(credential)


@pytest.mark.usefixtures("clean_env")
def test_a_failed_run_never_shows_the_password(tmp_path: Path, fake_stack: Callable[..., _Stack]) -> None:
    fake_stack(failure=f"error: the gateway refused basic auth payments-prod:{OWN}")
    target = stack_target(make_inventory(tmp_path / "inv"), "payments-prod", Settings(passphrase=PASSPHRASE))
    outcome = run_program(target, tiny_program, Action.up)
    assert not outcome.ok
    assert outcome.error is not None and "refused basic auth" in outcome.error
    assert OWN not in outcome.error


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize("action", [Action.destroy, Action.refresh])
def test_runs_that_do_not_run_the_program_read_no_credential(
    tmp_path: Path, fake_stack: Callable[..., _Stack], action: Action
) -> None:
    stack = fake_stack()
    target = stack_target(make_inventory(tmp_path / "inv"), "payments-prod", Settings(passphrase=PASSPHRASE))
    handed = _Handed()
    outcome = run_program(target, handed, action)
    assert outcome.ok, outcome.error
    assert stack.workspace.asked == []
    assert handed.passwords == [None]
    _no_password_in_config(stack)


@pytest.mark.usefixtures("clean_env")
def test_the_control_room_reads_no_credential(tmp_path: Path, fake_stack: Callable[..., _Stack]) -> None:
    stack = fake_stack(settings={"fleet:centralPassword": {"secure": "v1:never-touched"}})
    target = stack_target(make_inventory(tmp_path / "inv"), "controlroom", Settings(passphrase=PASSPHRASE))
    handed = _Handed()
    assert run_program(target, handed, Action.up).ok
    assert stack.workspace.asked == []
    assert handed.passwords == [None]
    assert [name for name, _ in stack.config_calls] == ["set_all_config"]  # its provider settings only


STALE = {"aws:region": "eu-west-1", "fleet:centralPassword": {"secure": "v1:c2FsdA==:ZW5jcnlwdGVk"}}


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize("action", [Action.up, Action.preview, Action.refresh, Action.destroy])
def test_a_password_an_earlier_version_left_in_the_settings_file_is_removed(
    tmp_path: Path, fake_stack: Callable[..., _Stack], action: Action
) -> None:
    stack = fake_stack(settings=dict(STALE))
    target = stack_target(make_inventory(tmp_path / "inv"), "payments-prod", Settings(passphrase=PASSPHRASE))
    assert run_program(target, tiny_program, action).ok
    assert ("remove_config", "fleet:centralPassword") in stack.config_calls
    assert stack.workspace.settings == {"aws:region": "eu-west-1"}
    _no_password_in_config(stack)


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize("settings", [None, {"aws:region": "eu-west-1"}])
def test_nothing_is_removed_when_no_password_was_left(
    tmp_path: Path, fake_stack: Callable[..., _Stack], settings: dict[str, object] | None
) -> None:
    stack = fake_stack(settings=settings)
    target = stack_target(make_inventory(tmp_path / "inv"), "payments-prod", Settings(passphrase=PASSPHRASE))
    assert run_program(target, tiny_program, Action.up).ok
    assert [name for name, _ in stack.config_calls] == ["set_all_config"]


@pytest.mark.usefixtures("clean_env")
def test_a_control_room_without_the_workloads_output_is_a_one_line_error(
    tmp_path: Path, fake_stack: Callable[..., _Stack]
) -> None:
    outputs = _control_room_outputs()
    del outputs["credential-payments-prod"]
    stack = fake_stack(outputs)
    target = stack_target(make_inventory(tmp_path / "inv"), "payments-prod", Settings(passphrase=PASSPHRASE))
    outcome = run_program(target, tiny_program, Action.up)
    assert (outcome.ok, outcome.transient) == (False, False)
    assert outcome.error == (
        "the control room publishes no credential-payments-prod output; "
        "roll it out first (fleet rollout controlroom), then this workload"
    )
    assert stack.ran == []  # the program never ran without its credential
    assert OTHER not in outcome.error


@pytest.mark.usefixtures("clean_env")
def test_previews_hand_the_workload_its_credential_too(
    tmp_path: Path, fake_stack: Callable[..., _Stack], monkeypatch: pytest.MonkeyPatch
) -> None:
    import fleet.engines.pulumi as engine

    stack = fake_stack()
    handed = _Handed()
    monkeypatch.setattr(engine, "stack_program", lambda *_, **__: handed)
    monkeypatch.setattr(engine, "chart_archives", lambda *_, **__: {})
    inventory = make_inventory(tmp_path / "inv")
    assert preview_changes(inventory, "payments-prod", settings=Settings(passphrase=PASSPHRASE)) == []
    assert handed.passwords == [None, OWN]
    assert stack.workspace.asked == ["organization/fleet-acme/controlroom"]
    _no_password_in_config(stack)


@pytest.mark.usefixtures("clean_env")
def test_a_workload_before_its_control_room_exists_is_a_one_line_error(
    tmp_path: Path, fake_stack: Callable[..., _Stack]
) -> None:
    stack = fake_stack(None)
    target = stack_target(make_inventory(tmp_path / "inv"), "payments-prod", Settings(passphrase=PASSPHRASE))
    outcome = run_program(target, tiny_program, Action.preview)
    assert not outcome.ok
    assert outcome.error == (
        "the control room (organization/fleet-acme/controlroom) does not exist yet; "
        "roll it out first (fleet rollout controlroom)"
    )
    assert stack.ran == []


def tiny_hub(_password: str | None) -> Callable[[], None]:
    def program() -> None:
        import pulumi

        pulumi.export("credential-payments-prod", pulumi.Output.secret(OWN))
        pulumi.export("credential-analytics-prod", pulumi.Output.secret(OTHER))

    return program


def tiny_spoke(password: str | None) -> Callable[[], None]:
    """Built as :func:`fleet.engines.pulumi.stack_program` builds a workload's program."""

    def program() -> None:
        import pulumi

        assert password is not None
        received = pulumi.Output.secret(password)
        pulumi.export("received", received)
        pulumi.export("length", received.apply(len))

    return program


@pytest.mark.pulumi_cli
@needs_cli
@pytest.mark.usefixtures("clean_env")
def test_a_workload_receives_its_own_credential_on_a_file_backend(tmp_path: Path) -> None:
    state = tmp_path / "state"
    inventory = make_inventory(tmp_path / "inv", backend=f"file://{state}")
    settings = Settings(passphrase=PASSPHRASE)
    assert run_program(stack_target(inventory, "controlroom", settings), tiny_hub, Action.up).ok
    seen: list[str] = []
    outcome = run_program(
        stack_target(inventory, "payments-prod", settings), tiny_spoke, Action.up, seen.append
    )
    assert outcome.ok, outcome.error
    shown = stack_outputs(inventory, "payments-prod", show_secrets=True, settings=settings)
    assert shown["received"] == OWN
    assert OWN not in json.dumps(outcome.to_json()) + "".join(seen)
    # Neither the workload's state nor its settings file hold another workload's password, and its own
    # only encrypted.
    files = [*state.rglob("*.json"), *(inventory.root / ".fleet" / "work" / "payments-prod").glob("Pulumi.*")]
    workload_files = [path for path in files if "payments-prod" in str(path)]
    assert workload_files
    for path in workload_files:
        text = path.read_text(encoding="utf-8", errors="replace")
        assert OTHER not in text and OWN not in text, path
    settings_file = inventory.root / ".fleet" / "work" / "payments-prod" / "Pulumi.payments-prod.yaml"
    assert "centralPassword" not in settings_file.read_text(encoding="utf-8")


@pytest.mark.pulumi_cli
@needs_cli
@pytest.mark.usefixtures("clean_env")
def test_a_password_left_as_config_by_an_earlier_version_is_removed_for_real(tmp_path: Path) -> None:
    inventory = make_inventory(tmp_path / "inv", backend=f"file://{tmp_path / 'state'}")
    settings = Settings(passphrase=PASSPHRASE)
    assert run_program(stack_target(inventory, "controlroom", settings), tiny_hub, Action.up).ok
    target = stack_target(inventory, "payments-prod", settings)
    legacy = auto.create_or_select_stack(
        target.name, project_name=target.project, program=tiny_spoke(OWN), opts=target.workspace_options()
    )
    legacy.set_config("fleet:centralPassword", auto.ConfigValue(OWN, secret=True))
    settings_file = target.work_dir / "Pulumi.payments-prod.yaml"
    assert "centralPassword" in settings_file.read_text(encoding="utf-8")
    assert run_program(target, tiny_spoke, Action.up).ok
    assert "centralPassword" not in settings_file.read_text(encoding="utf-8")
