"""Run the workload program and its building blocks under Pulumi's mock runtime, from a real
inventory on disk (fixtures for tests/workloads and tests/kit, whose conftests import them).

The mocks stand in only for what the program cannot reach offline: the clouds (which assign ARNs,
client ids and resource names) and ``random`` (a password). The workload's central password is
handed to the program as an argument, as fleet's engines hand it (no stack configuration holds
it). Every resource the program declares is recorded with its inputs, as the engine receives them.
"""

from __future__ import annotations

import asyncio
import gc
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from inventories import VERSIONS
from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks
from pulumi.runtime.config import set_all_config

from fleet.inventory.loader import load_inventory
from fleet.inventory.models import WorkloadStack

ACCOUNT_ID = "123456789012"
SUBSCRIPTION_ID = "0b5e9f43-7c2a-4d8e-9a61-3f2d8c4b1e07"
TENANT_ID = "6f1d2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"
EKS_ISSUER = "https://oidc.eks.us-east-1.amazonaws.com/id/5C0FFEE0C0DE"
AKS_ISSUER = "https://eastus.oic.prod-aks.azure.com/tenant/issuer/"
FLEET_VERSIONS = VERSIONS
SECRET_SIG = "4dabf18193072939515e22adb298388d"
"""How the Pulumi wire format marks a secret value: ``{SECRET_SIG: <marker>, "value": ...}``."""


def unsecret(value: Any) -> Any:
    """``value`` with Pulumi's secret wrappers removed (recursively)."""
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return unsecret(value["value"])
        return {key: unsecret(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unsecret(item) for item in value]
    return value


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and SECRET_SIG in value


@dataclass
class Recorded:
    type: str
    name: str
    raw_inputs: dict[str, Any]

    @property
    def inputs(self) -> dict[str, Any]:
        return unsecret(self.raw_inputs)


class FleetMocks(Mocks):
    """The clouds and ``random``, as far as the program needs them."""

    def __init__(self) -> None:
        self.resources: list[Recorded] = []
        self.calls: list[str] = []
        self.oidc_issuer_enabled = True
        """Whether the looked-up clusters report an OIDC issuer."""

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.resources.append(Recorded(args.typ, args.name, dict(args.inputs)))
        inputs = unsecret(dict(args.inputs))
        state = dict(args.inputs)
        typ = args.typ
        if typ == "random:index/randomPassword:RandomPassword":
            state["result"] = secrets.token_urlsafe(48)[: int(inputs["length"])]
        elif typ == "aws:s3/bucket:Bucket":
            state["arn"] = f"arn:aws:s3:::{inputs['bucket']}"
        elif typ == "aws:iam/role:Role":
            state["arn"] = f"arn:aws:iam::{ACCOUNT_ID}:role/{inputs['name']}"
        elif typ.startswith("azure-native:"):
            state.update(self._azure(typ, inputs))
        return state.pop("id", f"{args.name}-id"), state

    def _azure(self, typ: str, inputs: dict[str, Any]) -> dict[str, Any]:
        group = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{inputs.get('resourceGroupName')}"
        if typ == "azure-native:resources:ResourceGroup":
            return {"name": inputs["resourceGroupName"]}
        if typ == "azure-native:storage:StorageAccount":
            return {"name": inputs["accountName"]}
        if typ == "azure-native:storage:BlobContainer":
            container = inputs["containerName"]
            account = inputs["accountName"]
            return {
                "name": container,
                "id": f"{group}/providers/Microsoft.Storage/storageAccounts/{account}"
                f"/blobServices/default/containers/{container}",
            }
        if typ == "azure-native:managedidentity:UserAssignedIdentity":
            return {
                "name": inputs["resourceName"],
                "clientId": str(uuid.uuid4()),
                "principalId": str(uuid.uuid4()),
            }
        return {}

    def call(self, args: MockCallArgs) -> dict[str, Any]:
        self.calls.append(args.token)
        enabled = self.oidc_issuer_enabled
        if args.token == "aws:eks/getCluster:getCluster":
            oidcs = [{"issuer": EKS_ISSUER}] if enabled else []
            return {"name": args.args["name"], "identities": [{"oidcs": oidcs}]}
        if args.token == "azure-native:containerservice:getManagedCluster":
            profile = {"enabled": True, "issuerURL": AKS_ISSUER} if enabled else {"enabled": False}
            return {"name": args.args["resourceName"], "oidcIssuerProfile": profile}
        return {}


@dataclass
class Rendered:
    """What one run of a program declared."""

    mocks: FleetMocks
    spec: WorkloadStack
    resources: list[Recorded] = field(default_factory=list)

    def of_type(self, typ: str) -> list[Recorded]:
        return [r for r in self.resources if r.type == typ]

    def one(self, typ: str, name: str) -> Recorded:
        matches = [r for r in self.resources if r.type == typ and r.name == name]
        assert len(matches) == 1, f"{len(matches)} resources of type {typ} named {name}"
        return matches[0]

    def chart(self, chart: str, release: str | None = None) -> dict[str, Any]:
        """The one release of ``chart`` (``release``: by name, default the chart's name when the
        chart is installed twice, as Alloy is with its events collector)."""
        charts = [r.inputs for r in self.of_type("kubernetes:helm.sh/v4:Chart") if r.inputs["chart"] == chart]
        if len(charts) > 1 or release is not None:
            charts = [c for c in charts if c.get("name") == (release or chart)]
        assert len(charts) == 1
        return charts[0]


def workload_document(name: str, cloud: str = "aws", **spec: Any) -> dict[str, Any]:
    """A workload YAML document; ``spec`` adds or overrides spec keys."""
    ids: dict[str, Any] = (
        {"region": "us-east-1", "account_id": ACCOUNT_ID}
        if cloud == "aws"
        else {"region": "eastus", "subscription_id": SUBSCRIPTION_ID, "tenant_id": TENANT_ID}
    )
    return {
        "apiVersion": "fleet/v1",
        "kind": "Workload",
        "name": name,
        "spec": {"cloud": cloud, **ids, **spec},
    }


def write_inventory(root: Path, workloads: list[dict[str, Any]]) -> None:
    fleet = {
        "apiVersion": "fleet/v1",
        "kind": "Fleet",
        "name": "demo",
        "spec": {
            "control_room": {
                "cloud": "aws",
                "region": "us-east-1",
                "account_id": ACCOUNT_ID,
                "domain": "ctrl.example.com",
            },
            "versions": FLEET_VERSIONS,
        },
    }
    (root / "fleet.yaml").write_text(yaml.safe_dump(fleet))
    (root / "workloads").mkdir()
    for document in workloads:
        (root / "workloads" / f"{document['name']}.yaml").write_text(yaml.safe_dump(document))


@pytest.fixture
def inventory_stack(tmp_path: Path) -> Callable[..., WorkloadStack]:
    """Build an inventory with the given workloads and return one workload's program input."""

    count = 0

    def build(document: dict[str, Any], *others: dict[str, Any]) -> WorkloadStack:
        nonlocal count
        count += 1
        root = tmp_path / f"inventory-{count}"
        root.mkdir()
        write_inventory(root, [document, *others])
        return load_inventory(root).workload_stack(document["name"])

    return build


@pytest.fixture
def credentials() -> dict[str, dict[str, str]]:
    """The central passwords of two workloads, fresh ones (the control room's
    ``credential-<workload>`` outputs)."""
    return {name: {"username": name, "password": secrets.token_urlsafe(24)} for name in ("web", "payments")}


@pytest.fixture
def pulumi_runtime() -> Iterator[Callable[..., FleetMocks]]:
    """Install fresh mocks for one test, with the stack configuration given (``secret_keys``: the
    secret ones; none by default: fleet's programs read none); the configuration is cleared after."""

    def install(
        stack: str = "web", config: dict[str, str] | None = None, secret_keys: tuple[str, ...] = ()
    ) -> FleetMocks:
        mocks = FleetMocks()
        pulumi.runtime.set_mocks(mocks, project="fleet-demo", stack=stack, preview=False)
        set_all_config(dict(config or {}), list(secret_keys))
        return mocks

    yield install
    set_all_config({}, [])


@pytest.fixture
def render(
    pulumi_runtime: Callable[..., FleetMocks], credentials: dict[str, dict[str, str]]
) -> Callable[..., Rendered]:
    """Run ``workload_program(spec, credential)`` under the mocks and return what it declared.
    ``credential``: what the program is handed, by default the workload's own password from
    ``credentials`` as a plain string (the program must mark it secret itself); ``config``: stack
    configuration to run with (none by default)."""
    from workloads.program import workload_program

    def run(
        spec: WorkloadStack,
        cluster: dict[str, str] | None = None,
        *,
        credential: Any = None,
        config: dict[str, str] | None = None,
    ) -> Rendered:
        cluster = {"oidc_issuer": EKS_ISSUER} if cluster is None else cluster
        settings = spec.workload.spec
        settings = settings.model_copy(update={"cluster": settings.cluster.model_copy(update=cluster)})
        spec = spec.model_copy(update={"workload": spec.workload.model_copy(update={"spec": settings})})
        mocks = pulumi_runtime(spec.workload.name, config, tuple(config or ()))
        given = credentials[spec.workload.name]["password"] if credential is None else credential

        @pulumi.runtime.test
        def program() -> None:
            workload_program(spec, given)

        program()
        return Rendered(mocks, spec, mocks.resources)

    return run


def _runtime_loop() -> asyncio.AbstractEventLoop:
    """The event loop ``@pulumi.runtime.test`` runs programs on (this thread's)."""
    return asyncio.get_event_loop_policy().get_event_loop()


def finish_failed_program() -> list[BaseException]:
    """After a program failed (``@pulumi.runtime.test`` re-raised its first error): run what it
    left running to its end, then read and return the error of every resource output nobody read.

    When a resource's registration fails, Pulumi's SDK fails every output of that resource with the
    error (``rpc.resolve_outputs_due_to_exception``), and of the resources that depend on it; the
    outputs no code reads hold an error nobody retrieves, which asyncio reports when it collects
    them ("Future exception was never retrieved", at the end of the run). A test that makes a
    program fail on purpose reads them here and asserts they all carry the error it expects.
    """
    loop = _runtime_loop()
    pending = asyncio.all_tasks(loop)
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    gc.collect()
    errors = []
    for item in gc.get_objects():
        if not isinstance(item, asyncio.Future) or item.get_loop() is not loop:
            continue
        if item.done() and not item.cancelled() and item._log_traceback:  # nobody has read its error
            error = item.exception()
            assert error is not None
            errors.append(error)
    return errors


@pytest.fixture(autouse=True)
def _no_work_left_behind() -> Iterator[None]:
    """A program run by a test leaves nothing running on the runtime's loop: work a failed program
    left would otherwise run during the next test's program, against that test's mocks. A test
    that fails a program on purpose settles it with :func:`finish_failed_program`."""
    yield
    left = [task for task in asyncio.all_tasks(_runtime_loop()) if not task.done()]
    if left:
        for task in left:
            task.cancel()
        _runtime_loop().run_until_complete(asyncio.gather(*left, return_exceptions=True))
        pytest.fail(f"the test left {len(left)} Pulumi tasks running; call finish_failed_program()")
