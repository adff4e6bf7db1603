"""RenderEngine: run the stacks' Pulumi programs offline, under Pulumi's mock runtime, and write
what they would deploy as a plan per stack.

Every resource the program registers is recorded with its type token, name, parent and inputs
(the values the provider would receive), then written to ``<out>/<stack>/plan.json``::

    {"stack": ..., "resources": [{"type": ..., "name": ..., "parent": ..., "inputs": {...}}],
     "outputs": {...}}

Values that were secret Outputs, and every ``RandomPassword`` result, are written as
``"[secret]"`` unless ``show_secrets``. Like Pulumi state, the control room's random values and
its outputs persist in ``<out>/.state/controlroom.json`` (mode 0600, never printed): re-rendering
is stable, and the workloads' StackReferences read the same credentials the control room's
htpasswd was built from.

Each render runs in a fresh :mod:`contextvars` context with its own event loop and thread pool, so
nothing of one stack's Pulumi runtime leaks into the next, and the cost of a workload's render
does not grow with the size of the fleet.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import hashlib
import json
import logging
import secrets
import string
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import bcrypt

from fleet.engines.base import Action, EventSink, StackOutcome
from fleet.errors import FleetError, OperationError, UserError
from fleet.inventory import write_atomically
from fleet.models import CONTROLROOM, CloudAccount, ControlRoomStack, WorkloadStack, pulumi_project

if TYPE_CHECKING:
    from fleet.inventory import Inventory

__all__ = [
    "PLAN_FILE",
    "REDACTED",
    "Plan",
    "Programs",
    "RenderEngine",
    "load_plans",
    "render_all",
    "render_secrets",
]

PLAN_FILE = "plan.json"
REDACTED = "[secret]"
STATE_DIR = ".state"
STATE_FILE = "controlroom.json"
STATE_VERSION = 1
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
STACK_REFERENCE = "pulumi:pulumi:StackReference"
BCRYPT_ROUNDS = 10
"""The cost Pulumi's random provider uses for ``bcrypt_hash``."""
_SPECIAL = "!@#$%&*()-_=+[]{}<>:?"
_ORGANIZATION = "organization"
_log = logging.getLogger("fleet.render.pulumi")


@dataclass(frozen=True)
class Programs:
    """The program functions the engine runs; the real ones unless a test passes its own."""

    controlroom: Callable[[ControlRoomStack], None]
    workload: Callable[[WorkloadStack], None]


def default_programs() -> Programs:
    """The control-room and workload programs (imported on first use)."""
    from controlroom.program import controlroom_program
    from workloads.program import workload_program

    return Programs(controlroom=controlroom_program, workload=workload_program)


@dataclass(frozen=True)
class Plan:
    """One rendered stack: what the engine writes to ``plan.json`` (already redacted or not)."""

    stack: str
    resources: list[dict[str, Any]]
    outputs: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"stack": self.stack, "resources": self.resources, "outputs": self.outputs}


@dataclass
class _ControlRoomState:
    """The control room's persisted random values and outputs (holds secrets: never printed)."""

    passwords: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"_ControlRoomState(passwords={len(self.passwords)}, outputs={sorted(self.outputs)})"

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "passwords": self.passwords,
            "outputs": self.outputs,
            "secret_outputs": self.secret_outputs,
        }

    @classmethod
    def load(cls, out_dir: Path) -> _ControlRoomState | None:
        path = out_dir / STATE_DIR / STATE_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise OperationError(f"{path}: unreadable render state ({type(exc).__name__})") from None
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            raise OperationError(f"{path}: not a render state this version of fleet understands")
        return cls(
            passwords=dict(data.get("passwords") or {}),
            outputs=dict(data.get("outputs") or {}),
            secret_outputs=list(data.get("secret_outputs") or []),
        )

    def save(self, out_dir: Path) -> None:
        directory = out_dir / STATE_DIR
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)
        text = json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n"
        write_atomically(directory / STATE_FILE, text, mode=0o600)

    def password_values(self) -> list[str]:
        return [str(entry["result"]) for entry in self.passwords.values() if entry.get("result")]


# --- recording values --------------------------------------------------------------------------


def _plain(value: Any, show_secrets: bool, secret_values: frozenset[str]) -> Any:
    """A recorded value as JSON-ready data: secrets redacted, integral floats as ints, keys sorted."""
    from pulumi import Resource
    from pulumi.runtime import rpc

    if rpc.is_rpc_secret(value):
        inner = rpc.unwrap_rpc_secret(value)
        return _plain(inner, show_secrets, secret_values) if show_secrets else REDACTED
    if isinstance(value, Mapping):
        return {str(k): _plain(value[k], show_secrets, secret_values) for k in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return [_plain(item, show_secrets, secret_values) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and not show_secrets and value in secret_values:
        return REDACTED
    if isinstance(value, Resource):
        return f"resource:{value._name}"
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _unwrapped(value: Any) -> Any:
    """A deserialized value with every secret marker removed (for the private state)."""
    from pulumi.runtime import rpc

    if rpc.is_rpc_secret(value):
        return _unwrapped(rpc.unwrap_rpc_secret(value))
    if isinstance(value, Mapping):
        return {str(k): _unwrapped(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_unwrapped(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _urn_key(urn: str) -> str:
    """A URN without its stack and project: stable across stacks, unique within one."""
    parts = urn.split("::", 2)
    return parts[2] if len(parts) == 3 else urn


def _parent_name(parent_urn: str) -> str | None:
    if not parent_urn:
        return None
    parts = parent_urn.split("::")
    if len(parts) < 4 or parts[2].split("$")[-1] == "pulumi:pulumi:Stack":
        return None
    return parts[-1]


# --- the mock runtime --------------------------------------------------------------------------


def _generate_password(inputs: Mapping[str, Any]) -> str:
    def flag(key: str) -> bool:
        value = inputs.get(key)
        return True if value is None else bool(value)

    alphabet = ""
    if flag("lower"):
        alphabet += string.ascii_lowercase
    if flag("upper"):
        alphabet += string.ascii_uppercase
    if flag("numeric"):
        alphabet += string.digits
    if flag("special"):
        alphabet += str(inputs.get("overrideSpecial") or _SPECIAL)
    length = int(inputs.get("length") or 16)
    return "".join(secrets.choice(alphabet or string.ascii_letters) for _ in range(length))


def _stable_uuid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "fleet-render:" + "/".join(parts)))


class _Recorder:
    """Collects one render's resources and stack outputs; shared by the mocks and the monitor."""

    def __init__(self, stack: str, context: Mapping[str, str], state: _ControlRoomState | None) -> None:
        self.stack = stack
        self.context = dict(context)
        self.lock = threading.Lock()
        self.resources: list[tuple[str, str, str | None, dict[str, Any]]] = []
        self.stack_outputs: dict[str, Any] | None = None
        self.previous = state.passwords if state is not None else {}
        self.passwords: dict[str, dict[str, Any]] = {}
        self.reference_outputs: dict[str, Any] | None = None
        self.reference_secret_names: list[str] = []
        self.reference_name: str | None = None

    def record(self, type_: str, name: str, parent: str, inputs: dict[str, Any]) -> None:
        with self.lock:
            self.resources.append((type_, name, _parent_name(parent), inputs))

    def password(self, urn: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """The random password at ``urn``: the persisted one while its inputs are unchanged."""
        key = _urn_key(urn)
        settings = _unwrapped(dict(inputs))
        with self.lock:
            known = self.previous.get(key)
        if known is not None and known.get("inputs") == settings:
            entry = known
        else:
            result = _generate_password(settings)
            hashed = bcrypt.hashpw(result.encode(), bcrypt.gensalt(rounds=BCRYPT_ROUNDS)).decode()
            entry = {"inputs": settings, "result": result, "bcryptHash": hashed}
        with self.lock:
            self.passwords[key] = entry
        return entry


class _Mocks:
    """Realistic outputs for the resources and invokes the programs use."""

    def __init__(self, recorder: _Recorder) -> None:
        self.recorder = recorder

    def new_resource(self, args: Any, urn: str) -> tuple[str, dict[str, Any]]:
        from pulumi.runtime import rpc

        typ: str = args.typ
        name: str = args.name
        inputs: dict[str, Any] = dict(args.inputs)
        outputs = dict(inputs)
        context = self.recorder.context
        if typ == RANDOM_PASSWORD:
            entry = self.recorder.password(urn, inputs)
            outputs["result"] = rpc.wrap_rpc_secret(entry["result"])
            outputs["bcryptHash"] = rpc.wrap_rpc_secret(entry["bcryptHash"])
            return f"{name}-id", outputs
        if typ == STACK_REFERENCE:
            return self._stack_reference(inputs, name)
        if typ == "aws:s3/bucket:Bucket":
            bucket = str(inputs.get("bucket") or name)
            outputs.update(bucket=bucket, arn=f"arn:aws:s3:::{bucket}")
            return bucket, outputs
        if typ == "aws:iam/role:Role":
            role = str(inputs.get("name") or name)
            account = context.get("account_id", "000000000000")
            outputs.update(name=role, arn=f"arn:aws:iam::{account}:role/{role}")
            return role, outputs
        if typ.startswith("azure-native:"):
            return self._azure(typ, name, inputs, outputs)
        return f"{name}-id", outputs

    def _stack_reference(self, inputs: Mapping[str, Any], name: str) -> tuple[str, dict[str, Any]]:
        recorder = self.recorder
        wanted = str(_unwrapped(inputs.get("name") or name))
        if recorder.reference_outputs is None or wanted != recorder.reference_name:
            raise OperationError(f"stack reference {wanted!r}: no rendered stack of that name")
        return wanted, {
            "name": wanted,
            "outputs": recorder.reference_outputs,
            "secretOutputNames": list(recorder.reference_secret_names),
        }

    def _azure(
        self, typ: str, name: str, inputs: Mapping[str, Any], outputs: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        subscription = self.recorder.context.get("subscription_id", "00000000-0000-0000-0000-000000000000")
        group = str(inputs.get("resourceGroupName") or name)
        if typ == "azure-native:resources:ResourceGroup":
            outputs["name"] = group
            return f"/subscriptions/{subscription}/resourceGroups/{group}", outputs
        if typ == "azure-native:storage:StorageAccount":
            account = str(inputs.get("accountName") or name)
            outputs["name"] = account
            outputs["primaryEndpoints"] = {"blob": f"https://{account}.blob.core.windows.net/"}
            return (
                f"/subscriptions/{subscription}/resourceGroups/{group}/providers/"
                f"Microsoft.Storage/storageAccounts/{account}"
            ), outputs
        if typ == "azure-native:storage:BlobContainer":
            container = str(inputs.get("containerName") or name)
            account = str(inputs.get("accountName") or "")
            outputs["name"] = container
            return (
                f"/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.Storage/"
                f"storageAccounts/{account}/blobServices/default/containers/{container}"
            ), outputs
        if typ == "azure-native:managedidentity:UserAssignedIdentity":
            identity = str(inputs.get("resourceName") or name)
            outputs.update(
                name=identity,
                clientId=_stable_uuid(self.recorder.stack, identity, "client"),
                principalId=_stable_uuid(self.recorder.stack, identity, "principal"),
                tenantId=self.recorder.context.get("tenant_id", ""),
            )
            return (
                f"/subscriptions/{subscription}/resourceGroups/{group}/providers/"
                f"Microsoft.ManagedIdentity/userAssignedIdentities/{identity}"
            ), outputs
        return f"/subscriptions/{subscription}/resourceGroups/{group}/{name}", outputs

    def call(self, token: str, args: Mapping[str, Any]) -> dict[str, Any]:
        context = self.recorder.context
        region = context.get("region", "us-east-1")
        if token == "aws:eks/getCluster:getCluster":
            cluster = str(args.get("name"))
            seed = f"{context.get('account_id')}/{cluster}"
            digest = hashlib.sha256(seed.encode()).hexdigest()[:32].upper()
            issuer = f"https://oidc.eks.{region}.amazonaws.com/id/{digest}"
            return {
                "name": cluster,
                "arn": f"arn:aws:eks:{region}:{context.get('account_id')}:cluster/{cluster}",
                "identities": [{"oidcs": [{"issuer": issuer}]}],
                "status": "ACTIVE",
            }
        if token == "azure-native:containerservice:getManagedCluster":
            cluster = str(args.get("resourceName"))
            issuer = (
                f"https://{region}.oic.prod-aks.azure.com/{context.get('tenant_id')}/"
                f"{_stable_uuid(cluster, 'issuer')}/"
            )
            profile = {"enabled": True, "issuerURL": issuer}
            return {"name": cluster, "location": region, "oidcIssuerProfile": profile}
        return {}


def _monitor_class() -> type:
    """A MockMonitor that records what the program registers (built on first use)."""
    from pulumi.runtime import mocks, rpc
    from pulumi.runtime.proto import resource_pb2
    from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

    class RecordingMonitor(mocks.MockMonitor):
        def __init__(self, fleet_mocks: _Mocks) -> None:
            super().__init__(_PulumiMocks(fleet_mocks))
            self.fleet_mocks = fleet_mocks

        def _register(self, request: Any, resource_id: str | None, custom: bool) -> tuple[str, str, Any]:
            _ensure_event_loop()
            urn = self.make_urn(request.parent, request.type, request.name)
            inputs = rpc.deserialize_properties(request.properties if resource_id else request.object)
            self.fleet_mocks.recorder.record(request.type, request.name, request.parent, inputs)
            args = mocks.MockResourceArgs(
                typ=request.type,
                name=request.name,
                inputs=inputs,
                provider=request.provider,
                resource_id=resource_id,
                custom=custom,
            )
            id_, state = self.fleet_mocks.new_resource(args, urn)
            self.resources[urn] = mocks.MockMonitor.ResourceRegistration(urn, id_, state)
            return urn, id_, _sync_await(rpc.serialize_properties(state, {}))

        def RegisterResource(self, request: Any) -> Any:
            if request.type == "pulumi:pulumi:Stack":
                return super().RegisterResource(request)
            urn, id_, state = self._register(request, None, bool(request.custom))
            return resource_pb2.RegisterResourceResponse(urn=urn, id=id_, object=state)

        def ReadResource(self, request: Any) -> Any:
            urn, _id, state = self._register(request, request.id, True)
            return resource_pb2.ReadResourceResponse(urn=urn, properties=state)

        def RegisterResourceOutputs(self, request: Any) -> Any:
            if request.urn.split("::")[2] == "pulumi:pulumi:Stack":
                _ensure_event_loop()
                self.fleet_mocks.recorder.stack_outputs = rpc.deserialize_properties(request.outputs)
            return super().RegisterResourceOutputs(request)

    class _PulumiMocks(mocks.Mocks):
        def __init__(self, fleet_mocks: _Mocks) -> None:
            self.fleet_mocks = fleet_mocks

        def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
            raise AssertionError("resources are registered through RecordingMonitor")

        def call(self, args: mocks.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
            return self.fleet_mocks.call(args.token, _unwrapped(args.args)), []

    return RecordingMonitor


_MONITOR: type | None = None


def _run_program(
    program: Callable[[], None], project: str, stack: str, recorder: _Recorder, config: Mapping[str, str]
) -> None:
    """Run ``program`` to completion under the mock runtime.

    The run gets a thread of its own, so its event loops never touch the caller's thread (which
    may be running its own loop, or a ``@pulumi.runtime.test`` test next); its exception is
    re-raised here.
    """
    failure: list[BaseException] = []

    def body() -> None:
        try:
            _run_program_here(program, project, stack, recorder, config)
        except BaseException as exc:  # handed to the calling thread below
            failure.append(exc)

    worker = threading.Thread(target=body, name=f"render-{stack}")
    worker.start()
    worker.join()
    if failure:
        raise failure[0]


def _run_program_here(
    program: Callable[[], None], project: str, stack: str, recorder: _Recorder, config: Mapping[str, str]
) -> None:
    global _MONITOR
    from pulumi.runtime import mocks, settings
    from pulumi.runtime.config import set_all_config
    from pulumi.runtime.rpc_manager import RPCManager
    from pulumi.runtime.stack import run_in_stack

    if _MONITOR is None:
        _MONITOR = _monitor_class()
    monitor = _MONITOR(_Mocks(recorder))
    features = set(monitor.GetDeploymentInfo(None).supportedFeatures)
    settings.configure(
        mocks.MockSettings(
            monitor=monitor,
            monitor_features=features,
            engine=mocks.MockEngine(_log),
            project=project,
            stack=stack,
            dry_run=False,
            organization=_ORGANIZATION,
            callbacks=None,
        )
    )
    settings.ROOT.set(None)
    # configure() leaves the pending-output set and the RPC manager alone; after a failed run they
    # still hold tasks bound to its closed event loop, which would fail every later run.
    settings.SETTINGS.outputs = set()
    settings.SETTINGS.rpc_manager = RPCManager()
    set_all_config(dict(config), [])

    # The runtime talks to the monitor from worker threads that each get an event loop; own
    # those threads and loops so that every one of them is closed when the render ends.
    loops: list[asyncio.AbstractEventLoop] = []
    loops_lock = threading.Lock()

    def thread_loop() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        with loops_lock:
            loops.append(loop)

    loop = asyncio.new_event_loop()
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=8, initializer=thread_loop)
    loop.set_default_executor(executor)
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(run_in_stack(program))
    finally:
        # After a failure, outputs still waiting on the failed one would be garbage-collected
        # while pending; cancel them and let them finish.
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        executor.shutdown(wait=True)
        for thread_owned in loops:
            thread_owned.close()
        loop.close()
        asyncio.set_event_loop(None)


def render_config(fleet: str, stack: str, account: CloudAccount) -> dict[str, str]:
    """The stack configuration a render runs with: the cloud provider's settings, as the Pulumi
    engine sets them."""
    if account.cloud == "aws":
        return {"aws:region": account.region, "aws:allowedAccountIds": json.dumps([account.account_id])}
    return {
        "azure-native:location": account.region,
        "azure-native:subscriptionId": str(account.subscription_id),
        "azure-native:tenantId": str(account.tenant_id),
    }


def _cloud_context(account: CloudAccount) -> dict[str, str]:
    """What the mocks need to answer like the stack's cloud: its region and account ids."""
    return {
        "region": account.region,
        "account_id": account.account_id or "",
        "subscription_id": account.subscription_id or "",
        "tenant_id": account.tenant_id or "",
    }


# --- the engine --------------------------------------------------------------------------------


@dataclass
class _Rendered:
    plan: Plan
    state: _ControlRoomState | None
    """The control room's new state (None for a workload)."""


def _stack_names(inventory: Inventory, stacks: Iterable[str] | None) -> list[str]:
    known = inventory.stacks()
    if stacks is None:
        return list(known)
    wanted = list(dict.fromkeys(stacks))
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise UserError(
            f"unknown stack{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}; "
            f"the stacks are {CONTROLROOM} and the workloads in {inventory.root / 'workloads'}"
        )
    return sorted(wanted, key=lambda name: (name != CONTROLROOM, name))


class RenderEngine:
    """Renders stacks offline; ``run`` writes ``<out>/<stack>/plan.json``."""

    name = "render"

    def __init__(
        self,
        out_dir: Path | None = None,
        *,
        show_secrets: bool = False,
        programs: Programs | None = None,
    ) -> None:
        self.out_dir = out_dir
        self.show_secrets = show_secrets
        self._programs = programs

    @property
    def programs(self) -> Programs:
        if self._programs is None:
            self._programs = default_programs()
        return self._programs

    def directory(self, inventory: Inventory) -> Path:
        """Where plans go: ``out_dir``, or ``<inventory>/.fleet/render``."""
        return self.out_dir if self.out_dir is not None else inventory.state_dir / "render"

    def run(
        self, inventory: Inventory, stack: str, action: Action, events: EventSink | None = None
    ) -> StackOutcome:
        """Render ``stack`` (``preview`` and ``up`` both render; nothing is deployed)."""
        if action not in (Action.preview, Action.up):
            return StackOutcome(
                stack=stack,
                ok=False,
                error=f"the render engine only renders plans; {action.value} needs the pulumi engine",
            )
        try:
            path = self.render(inventory, stack, events)
        except FleetError as exc:
            return StackOutcome(stack=stack, ok=False, error=exc.message)
        plan = json.loads(path.read_text(encoding="utf-8"))
        count = len(plan["resources"])
        return StackOutcome(
            stack=stack, ok=True, changes={"create": count}, summary={"resources": count, "plan": str(path)}
        )

    def render(self, inventory: Inventory, stack: str, events: EventSink | None = None) -> Path:
        """Render one stack and write its plan (and, for the control room, its state)."""
        return self.render_many(inventory, [stack], events)[stack]

    def render_many(
        self,
        inventory: Inventory,
        stacks: Iterable[str] | None = None,
        events: EventSink | None = None,
        on_rendered: Callable[[str, Plan], None] | None = None,
    ) -> dict[str, Path]:
        """Render ``stacks`` (all when None), control room first; write every plan only when all
        succeeded, so a failure leaves the previous render as it was. Raises UserError for an
        unknown stack, OperationError when a stack cannot be rendered."""
        names = _stack_names(inventory, stacks)
        out_dir = self.directory(inventory)
        state = _ControlRoomState.load(out_dir)
        rendered: dict[str, _Rendered] = {}
        for name in names:
            if events is not None:
                events(f"rendering {name}")
            result = self._render_one(inventory, name, state)
            if result.state is not None:
                state = result.state
            rendered[name] = result
            if on_rendered is not None:
                on_rendered(name, result.plan)
        return self._write(out_dir, rendered, events)

    def _write(
        self, out_dir: Path, rendered: Mapping[str, _Rendered], events: EventSink | None
    ) -> dict[str, Path]:
        paths: dict[str, Path] = {}
        for result in rendered.values():
            if result.state is not None:
                result.state.save(out_dir)
        for name, result in rendered.items():
            path = out_dir / name / PLAN_FILE
            text = json.dumps(result.plan.to_json(), indent=2, ensure_ascii=False) + "\n"
            # A plan with secrets shown is for its owner's eyes only.
            write_atomically(path, text, mode=0o600 if self.show_secrets else None)
            paths[name] = path
            if events is not None:
                events(f"wrote {path} ({len(result.plan.resources)} resources)")
        return paths

    def _render_one(self, inventory: Inventory, stack: str, state: _ControlRoomState | None) -> _Rendered:
        project = pulumi_project(inventory.fleet.name)
        if stack == CONTROLROOM:
            spec = inventory.controlroom_stack()
            room = spec.control_room
            recorder = _Recorder(stack, _cloud_context(room), state)
            config = render_config(inventory.fleet.name, stack, room)
            self._execute(lambda: self.programs.controlroom(spec), project, stack, recorder, config)
            outputs = recorder.stack_outputs or {}
            new_state = _ControlRoomState(
                passwords=dict(sorted(recorder.passwords.items())),
                outputs=_unwrapped(outputs),
                secret_outputs=sorted(k for k, v in outputs.items() if _is_secret(v)),
            )
            return _Rendered(self._plan(stack, recorder, new_state), new_state)

        workload_spec = inventory.workload_stack(stack)
        if state is None:
            raise OperationError(
                f"{stack}: the control room has not been rendered; render it first "
                f"(fleet render {CONTROLROOM}) so the workload can read its credential"
            )
        credentials = state.outputs.get("credentials")
        if not isinstance(credentials, Mapping) or stack not in credentials:
            raise OperationError(
                f"{stack}: the control room has no credential for this workload; roll out or "
                f"render the control room first (fleet render {CONTROLROOM})"
            )
        workload = workload_spec.workload.spec
        recorder = _Recorder(stack, _cloud_context(workload), None)
        recorder.reference_name = workload_spec.controlroom_stack
        recorder.reference_outputs = state.outputs
        recorder.reference_secret_names = state.secret_outputs
        config = render_config(inventory.fleet.name, stack, workload)
        self._execute(lambda: self.programs.workload(workload_spec), project, stack, recorder, config)
        return _Rendered(self._plan(stack, recorder, state), None)

    @staticmethod
    def _execute(
        program: Callable[[], None], project: str, stack: str, recorder: _Recorder, config: Mapping[str, str]
    ) -> None:
        try:
            contextvars.Context().run(_run_program, program, project, stack, recorder, config)
        except FleetError:
            raise
        except Exception as exc:
            # The message names the failure; program errors never carry secret values.
            raise OperationError(f"{stack}: the program failed: {type(exc).__name__}: {exc}") from exc

    def _plan(self, stack: str, recorder: _Recorder, state: _ControlRoomState | None) -> Plan:
        secret_values = frozenset(state.password_values() if state is not None else ()) | frozenset(
            entry["result"] for entry in recorder.passwords.values()
        )
        show = self.show_secrets
        resources = [
            {
                "type": type_,
                "name": name,
                "parent": parent,
                "inputs": _plain(inputs, show, secret_values),
            }
            for type_, name, parent, inputs in recorder.resources
        ]
        resources.sort(key=lambda r: (r["parent"] or "", r["type"], r["name"]))
        outputs = _plain(recorder.stack_outputs or {}, show, secret_values)
        return Plan(stack=stack, resources=resources, outputs=outputs)


def _is_secret(value: Any) -> bool:
    from pulumi.runtime import rpc

    return bool(rpc.is_rpc_secret(value))


def render_all(
    inventory: Inventory,
    stacks: Iterable[str] | None,
    out_dir: Path,
    show_secrets: bool = False,
    *,
    programs: Programs | None = None,
    events: EventSink | None = None,
    on_rendered: Callable[[str, Plan], None] | None = None,
) -> dict[str, Path]:
    """Render ``stacks`` (every stack when None) into ``out_dir``, the control room first.

    Returns each stack's plan path. Plans are written only when every stack rendered.
    """
    engine = RenderEngine(out_dir, show_secrets=show_secrets, programs=programs)
    return engine.render_many(inventory, stacks, events, on_rendered)


def render_secrets(out_dir: Path) -> list[str]:
    """Every random secret the control room's render holds (passwords), for leak checks.

    The values stay in memory: callers must never print or log them.
    """
    state = _ControlRoomState.load(out_dir)
    return state.password_values() if state is not None else []


def load_plans(out_dir: Path) -> dict[str, dict[str, Any]]:
    """The plans under ``out_dir``, by stack name."""
    plans: dict[str, dict[str, Any]] = {}
    if not out_dir.is_dir():
        return plans
    for path in sorted(out_dir.glob(f"*/{PLAN_FILE}")):
        plans[path.parent.name] = json.loads(path.read_text(encoding="utf-8"))
    return plans
