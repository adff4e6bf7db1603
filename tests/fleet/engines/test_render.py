from __future__ import annotations

import json
import stat
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import pytest
from inventories import write_inventory

from fleet.engines.render import (
    PLAN_FILE,
    REDACTED,
    Programs,
    RenderEngine,
    _ControlRoomState,
    load_plans,
    render_all,
    render_secrets,
    workload_credential,
)
from fleet.errors import OperationError, UserError
from fleet.inventory.loader import Inventory, load_inventory
from fleet.inventory.models import ControlRoomStack, WorkloadStack, credential_output
from fleet.kinds import Action


def _inventory(root: Path, workloads: list[str]) -> Inventory:
    return load_inventory(write_inventory(root, workloads))


# A tiny hub and spoke with the same credential flow as the real programs: one secret output per
# workload in the control room, read by the engine and handed to the workload's program.
def tiny_controlroom(spec: ControlRoomStack) -> None:
    passwords = {w: random.RandomPassword(f"cred-{w}", length=24, special=False) for w in spec.workloads}
    k8s.core.v1.Secret(
        "htpasswd",
        metadata={"name": "mimir-gateway-htpasswd", "namespace": "mimir"},
        string_data={
            ".htpasswd": pulumi.Output.all(*[p.bcrypt_hash for p in passwords.values()]).apply("".join)
        },
    )
    pulumi.export("tenants", list(spec.workloads))
    for workload, password in passwords.items():
        pulumi.export(credential_output(workload), pulumi.Output.secret(password.result))


def tiny_workload(spec: WorkloadStack, password: pulumi.Input[str]) -> None:
    name = spec.workload.name
    k8s.core.v1.Secret(
        "mimir-auth",
        metadata={"name": "mimir-auth", "namespace": "alloy"},
        string_data={"username": name, "password": password},
    )
    k8s.core.v1.ConfigMap("alloy", metadata={"name": "alloy", "namespace": "alloy"}, data={"workload": name})


TINY = Programs(controlroom=tiny_controlroom, workload=tiny_workload)


def test_plans_have_the_contract_format(tmp_path: Path) -> None:
    inventory = _inventory(tmp_path / "inv", ["alpha", "beta"])
    paths = render_all(inventory, None, tmp_path / "out", programs=TINY)
    assert list(paths) == ["controlroom", "alpha", "beta"]
    for stack, path in paths.items():
        assert path == tmp_path / "out" / stack / PLAN_FILE
        plan = json.loads(path.read_text(encoding="utf-8"))
        assert list(plan) == ["stack", "resources", "outputs"]
        assert plan["stack"] == stack
        for resource in plan["resources"]:
            assert list(resource) == ["type", "name", "parent", "provider", "inputs"]
    alpha = json.loads(paths["alpha"].read_text(encoding="utf-8"))
    types = {r["name"]: r["type"] for r in alpha["resources"]}
    assert types == {"mimir-auth": "kubernetes:core/v1:Secret", "alloy": "kubernetes:core/v1:ConfigMap"}
    (config,) = [r for r in alpha["resources"] if r["name"] == "alloy"]
    assert config["inputs"]["data"] == {"workload": "alpha"}


def test_no_password_in_any_plan_and_the_state_is_private(tmp_path: Path) -> None:
    inventory = _inventory(tmp_path / "inv", ["alpha", "beta"])
    out = tmp_path / "out"
    render_all(inventory, None, out, programs=TINY)
    secrets = render_secrets(out)
    assert len(secrets) == 2 and all(len(s) == 24 for s in secrets)
    for path in out.glob(f"*/{PLAN_FILE}"):
        text = path.read_text(encoding="utf-8")
        assert not any(secret in text for secret in secrets)
    plans = load_plans(out)
    assert plans["controlroom"]["outputs"]["credential-alpha"] == REDACTED
    assert plans["controlroom"]["outputs"]["credential-beta"] == REDACTED
    (auth,) = [r for r in plans["alpha"]["resources"] if r["name"] == "mimir-auth"]
    assert auth["inputs"]["stringData"] == REDACTED
    state = out / ".state" / "controlroom.json"
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert stat.S_IMODE(state.parent.stat().st_mode) == 0o700


def test_workloads_receive_the_control_rooms_credential(tmp_path: Path) -> None:
    inventory = _inventory(tmp_path / "inv", ["alpha", "beta"])
    out = tmp_path / "out"
    render_all(inventory, None, out, show_secrets=True, programs=TINY)
    plans = load_plans(out)
    outputs = plans["controlroom"]["outputs"]
    credentials = {w: outputs[credential_output(w)] for w in ("alpha", "beta")}
    for workload, password in credentials.items():
        (secret,) = [r for r in plans[workload]["resources"] if r["name"] == "mimir-auth"]
        assert secret["inputs"]["stringData"] == {"username": workload, "password": password}
    assert sorted(render_secrets(out)) == sorted(credentials.values())


def test_a_workload_is_handed_its_own_credential_and_no_other(tmp_path: Path) -> None:
    inventory = _inventory(tmp_path / "inv", ["alpha", "beta"])
    engine = RenderEngine(tmp_path / "out", programs=TINY)
    engine.render(inventory, "controlroom")
    state = _ControlRoomState.load(engine.state_directory(inventory))
    assert state is not None
    alpha, beta = (state.outputs[credential_output(w)] for w in ("alpha", "beta"))
    assert alpha != beta
    assert workload_credential("alpha", state) == alpha
    assert workload_credential("beta", state) == beta


def test_the_workload_program_is_handed_a_secret_output_and_no_configuration(tmp_path: Path) -> None:
    read: list[object] = []

    def inspecting(spec: WorkloadStack, credential: pulumi.Input[str]) -> None:
        read.append(pulumi.Config("fleet").get("centralPassword"))
        assert isinstance(credential, pulumi.Output)
        # Derived from the credential and unlike any known password: redacted only if it is secret.
        pulumi.export("reversed", credential.apply(lambda value: value[::-1]))
        tiny_workload(spec, credential)

    programs = Programs(tiny_controlroom, inspecting)
    inventory = _inventory(tmp_path / "inv", ["alpha"])
    render_all(inventory, None, tmp_path / "shown", show_secrets=True, programs=programs)
    shown = load_plans(tmp_path / "shown")
    own = shown["controlroom"]["outputs"]["credential-alpha"]
    assert shown["alpha"]["outputs"]["reversed"] == own[::-1]
    (auth,) = [r for r in shown["alpha"]["resources"] if r["name"] == "mimir-auth"]
    assert auth["inputs"]["stringData"]["password"] == own
    render_all(inventory, None, tmp_path / "hidden", programs=programs)
    hidden = load_plans(tmp_path / "hidden")
    assert hidden["alpha"]["outputs"]["reversed"] == REDACTED
    assert read == [None, None]  # no stack configuration holds it


def test_a_program_that_references_another_stack_does_not_render(tmp_path: Path) -> None:
    def peeking(spec: WorkloadStack, _credential: pulumi.Input[str]) -> None:
        pulumi.StackReference("organization/fleet-acme/controlroom")

    inventory = _inventory(tmp_path / "inv", ["alpha"])
    engine = RenderEngine(tmp_path / "out", programs=Programs(tiny_controlroom, peeking))
    assert engine.run(inventory, "controlroom", Action.up).ok
    outcome = engine.run(inventory, "alpha", Action.up)
    assert not outcome.ok
    assert "read no other stack" in str(outcome.error)


def test_rerendering_is_stable(tmp_path: Path) -> None:
    inventory = _inventory(tmp_path / "inv", ["alpha"])
    out = tmp_path / "out"
    first = {
        s: p.read_text(encoding="utf-8")
        for s, p in render_all(inventory, None, out, True, programs=TINY).items()
    }
    second = {
        s: p.read_text(encoding="utf-8")
        for s, p in render_all(inventory, None, out, True, programs=TINY).items()
    }
    assert first == second


def test_a_workload_without_a_credential_is_not_ok(tmp_path: Path) -> None:
    out = tmp_path / "out"
    engine = RenderEngine(out, programs=TINY)
    before = engine.run(_inventory(tmp_path / "inv", ["alpha"]), "alpha", Action.preview)
    assert not before.ok and "render it first" in str(before.error)
    assert engine.run(_inventory(tmp_path / "inv", ["alpha"]), "controlroom", Action.up).ok
    outcome = engine.run(_inventory(tmp_path / "inv", ["alpha", "beta"]), "beta", Action.preview)
    assert not outcome.ok
    assert "no credential for this workload" in str(outcome.error) and "control room first" in str(
        outcome.error
    )
    assert not (out / "beta").exists()
    ok = engine.run(_inventory(tmp_path / "inv", ["alpha", "beta"]), "alpha", Action.preview)
    assert ok.ok and ok.changes == {"create": 2} and ok.summary["resources"] == 2  # no stack reference


def test_only_preview_and_up_render(tmp_path: Path) -> None:
    outcome = RenderEngine(tmp_path / "out", programs=TINY).run(
        _inventory(tmp_path / "inv", []), "controlroom", Action.destroy
    )
    assert not outcome.ok and "pulumi engine" in str(outcome.error)


def test_unknown_stacks_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="unknown stack: nope"):
        render_all(_inventory(tmp_path / "inv", ["alpha"]), ["nope"], tmp_path / "out", programs=TINY)


def test_a_failure_writes_nothing(tmp_path: Path) -> None:
    def broken(spec: WorkloadStack, _credential: pulumi.Input[str]) -> None:
        k8s.core.v1.ConfigMap("ok", data={"a": "b"})
        raise RuntimeError("cannot build this workload")

    out = tmp_path / "out"
    with pytest.raises(OperationError, match="alpha: the program failed: RuntimeError: cannot build"):
        render_all(
            _inventory(tmp_path / "inv", ["alpha"]), None, out, programs=Programs(tiny_controlroom, broken)
        )
    assert not out.exists()


def test_a_failed_output_does_not_break_later_runs(tmp_path: Path) -> None:
    # A lookup that fails inside an Output leaves tasks behind in Pulumi's runtime; the next
    # runs in the same process (a worker renders many stacks) must not trip over them.
    def failing_lookup(spec: WorkloadStack, _credential: pulumi.Input[str]) -> None:
        def fail(_: str) -> str:
            raise ValueError("the cluster reports no OIDC issuer")

        k8s.core.v1.ConfigMap("cm", data={"issuer": pulumi.Output.from_input("x").apply(fail)})

    inventory = _inventory(tmp_path / "inv", ["alpha", "beta"])
    engine = RenderEngine(tmp_path / "out", programs=TINY)
    broken = RenderEngine(tmp_path / "out", programs=Programs(tiny_controlroom, failing_lookup))
    assert engine.run(inventory, "controlroom", Action.up).ok
    failed = broken.run(inventory, "alpha", Action.up)
    assert not failed.ok and "no OIDC issuer" in (failed.error or "")
    for stack in ("controlroom", "alpha", "beta"):
        outcome = engine.run(inventory, stack, Action.up)
        assert outcome.ok, outcome.error


def test_runs_do_not_share_state(tmp_path: Path) -> None:
    inventory = _inventory(tmp_path / "inv", ["alpha", "beta"])
    engine = RenderEngine(tmp_path / "out", programs=TINY)
    engine.render(inventory, "controlroom")
    alpha = json.loads(engine.render(inventory, "alpha").read_text(encoding="utf-8"))
    beta = json.loads(engine.render(inventory, "beta").read_text(encoding="utf-8"))
    assert [r["name"] for r in alpha["resources"]] == [r["name"] for r in beta["resources"]]
    (config,) = [r for r in beta["resources"] if r["name"] == "alloy"]
    assert config["inputs"]["data"] == {"workload": "beta"}


def test_the_real_programs_render(tmp_path: Path) -> None:
    inventory = _inventory(tmp_path / "inv", ["alpha"])
    out = tmp_path / "out"
    paths = render_all(inventory, None, out)
    secrets = render_secrets(out)
    assert secrets
    plans = load_plans(out)
    assert set(plans) == {"controlroom", "alpha"}
    for path in paths.values():
        assert not any(secret in path.read_text(encoding="utf-8") for secret in secrets)
    (auth,) = [
        r
        for r in plans["alpha"]["resources"]
        if r["type"] == "kubernetes:core/v1:Secret" and r["inputs"]["metadata"]["name"] == "mimir-auth"
    ]
    assert auth["inputs"]["stringData"] == REDACTED


def test_the_real_workload_program_reads_only_its_own_credential(tmp_path: Path) -> None:
    """What the workload program reads, inspected in its full render (secrets shown): no stack
    reference, its own password in its Alloy Secret, no other workload's password anywhere."""
    inventory = _inventory(tmp_path / "inv", ["alpha", "beta"])
    out = tmp_path / "out"
    render_all(inventory, None, out, show_secrets=True)
    plans = load_plans(out)
    outputs = plans["controlroom"]["outputs"]
    assert "credentials" not in outputs  # one output per workload, not a map of them all
    own = {w: outputs[credential_output(w)] for w in ("alpha", "beta")}
    for workload, other in (("alpha", "beta"), ("beta", "alpha")):
        plan = plans[workload]
        assert [r for r in plan["resources"] if r["type"] == "pulumi:pulumi:StackReference"] == []
        (auth,) = [
            r
            for r in plan["resources"]
            if r["type"] == "kubernetes:core/v1:Secret" and r["inputs"]["metadata"]["name"] == "mimir-auth"
        ]
        assert auth["inputs"]["stringData"] == {"username": workload, "password": own[workload]}
        text = json.dumps(plan)
        assert own[other] not in text
