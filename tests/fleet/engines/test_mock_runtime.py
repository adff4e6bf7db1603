from __future__ import annotations

from collections.abc import Callable

import bcrypt
import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random
import pytest

from fleet.engines.mock_runtime import Recorder, cloud_context, is_secret, run_program, unwrapped
from fleet.errors import OperationError
from fleet.inventory.models import CloudAccount

AWS = CloudAccount(cloud="aws", region="eu-west-1", account_id="210987654321")


def _run(program: Callable[[], None], recorder: Recorder, config: dict[str, str] | None = None) -> None:
    run_program(program, "fleet-acme", recorder.stack, recorder, config or {"aws:region": "eu-west-1"})


class Bundle(pulumi.ComponentResource):
    def __init__(self, name: str) -> None:
        super().__init__("fleet:test:Bundle", name)
        k8s.core.v1.ConfigMap(f"{name}-cm", data={"replicas": "3"}, opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({})


def test_resources_are_recorded_with_their_parent_and_inputs() -> None:
    def program() -> None:
        Bundle("bundle")
        k8s.core.v1.Namespace("alloy", metadata={"name": "alloy"})
        pulumi.export("answer", 42)
        pulumi.export("token", pulumi.Output.secret("s3cr3t"))

    recorder = Recorder("alpha", cloud_context(AWS))
    _run(program, recorder)
    recorded = {name: (type_, parent, inputs) for type_, name, parent, inputs in recorder.resources}
    assert recorded["bundle"][:2] == ("fleet:test:Bundle", None)
    assert recorded["bundle-cm"][:2] == ("kubernetes:core/v1:ConfigMap", "bundle")
    assert recorded["bundle-cm"][2]["data"] == {"replicas": "3"}
    assert recorded["alloy"][1] is None
    outputs = recorder.stack_outputs or {}
    assert unwrapped(outputs) == {"answer": 42, "token": "s3cr3t"}
    assert is_secret(outputs["token"]) and not is_secret(outputs["answer"])


def test_the_mocks_answer_like_the_stacks_cloud() -> None:
    def program() -> None:
        role = aws.iam.Role("reader", name="reader", assume_role_policy="{}")
        cluster = aws.eks.get_cluster_output(name="alpha-eks")
        k8s.core.v1.ConfigMap(
            "ids",
            data={
                "role": role.arn,
                "issuer": cluster.identities.apply(lambda ids: ids[0].oidcs[0].issuer),
            },
        )

    recorder = Recorder("alpha", cloud_context(AWS))
    _run(program, recorder)
    (data,) = [inputs["data"] for _, name, _, inputs in recorder.resources if name == "ids"]
    assert data["role"] == "arn:aws:iam::210987654321:role/reader"
    assert data["issuer"].startswith("https://oidc.eks.eu-west-1.amazonaws.com/id/")


def _password_program() -> None:
    random.RandomPassword("cred", length=20, special=False)


def test_a_random_password_is_reused_while_its_inputs_are_unchanged() -> None:
    first = Recorder("controlroom", cloud_context(AWS))
    _run(_password_program, first)
    ((key, entry),) = first.passwords.items()
    assert len(entry["result"]) == 20 and entry["result"].isalnum()
    assert bcrypt.checkpw(entry["result"].encode(), entry["bcryptHash"].encode())

    again = Recorder("controlroom", cloud_context(AWS), first.passwords)
    _run(_password_program, again)
    assert again.passwords == first.passwords

    changed = Recorder("controlroom", cloud_context(AWS), {key: {**entry, "inputs": {"length": 8}}})
    _run(_password_program, changed)
    assert changed.passwords[key]["result"] != entry["result"]


def test_a_stack_reference_fails_the_run() -> None:
    def program() -> None:
        pulumi.StackReference("organization/fleet-acme/controlroom")

    with pytest.raises(OperationError, match="read no other stack"):
        _run(program, Recorder("alpha", cloud_context(AWS)))


def test_secret_config_reaches_the_program_as_a_secret() -> None:
    def program() -> None:
        config = pulumi.Config("fleet")
        k8s.core.v1.Secret("auth", string_data={"password": config.require_secret("centralPassword")})
        k8s.core.v1.ConfigMap("plain", data={"region": pulumi.Config("aws").require("region")})

    recorder = Recorder("alpha", cloud_context(AWS))
    config = {"aws:region": "eu-west-1", "fleet:centralPassword": "hunter2hunter2"}
    run_program(program, "fleet-acme", "alpha", recorder, config, ["fleet:centralPassword"])
    inputs = {name: value for _, name, _, value in recorder.resources}
    assert is_secret(inputs["auth"]["stringData"])
    assert unwrapped(inputs["auth"]["stringData"]) == {"password": "hunter2hunter2"}
    assert inputs["plain"]["data"] == {"region": "eu-west-1"}


def test_a_failed_run_leaves_nothing_behind_for_the_next() -> None:
    def failing() -> None:
        def fail(_: str) -> str:
            raise ValueError("lookup failed")

        k8s.core.v1.ConfigMap("cm", data={"value": pulumi.Output.from_input("x").apply(fail)})

    with pytest.raises(ValueError, match="lookup failed"):
        _run(failing, Recorder("alpha", cloud_context(AWS)))

    def working() -> None:
        k8s.core.v1.ConfigMap("cm", data={"value": "ok"})

    recorder = Recorder("beta", cloud_context(AWS))
    _run(working, recorder)
    assert [(name, inputs["data"]) for _, name, _, inputs in recorder.resources] == [("cm", {"value": "ok"})]


def test_the_program_reads_the_config_it_was_given() -> None:
    def program() -> None:
        k8s.core.v1.ConfigMap("cm", data={"region": pulumi.Config("aws").require("region")})

    recorder = Recorder("alpha", cloud_context(AWS))
    _run(program, recorder, {"aws:region": "ap-south-1"})
    assert recorder.resources[0][3]["data"] == {"region": "ap-south-1"}
