"""Running a Pulumi program offline, under Pulumi's in-process mock runtime, and recording what it
registers.

A :class:`Recorder` collects every resource the program registers (type token, name, parent and
the inputs the provider would receive), the stack's outputs, and the values of the
``RandomPassword`` resources (persisted ones are reused while their inputs are unchanged). The
mocks answer like the stack's cloud (ARNs, Azure resource ids, OIDC issuers). No program reads
another stack: a ``StackReference`` fails the render (a workload's program is handed its credential
as an argument instead).

Each run gets a fresh :mod:`contextvars` context, a thread of its own with its own event loop and
thread pool, and fresh runtime state, so nothing of one stack's Pulumi runtime leaks into the
next, and the cost of a workload's run does not grow with the size of the fleet.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import hashlib
import logging
import secrets
import string
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import bcrypt

from fleet.errors import OperationError
from fleet.inventory.models import CloudAccount

__all__ = [
    "BCRYPT_ROUNDS",
    "RANDOM_PASSWORD",
    "STACK_REFERENCE",
    "Recorder",
    "cloud_context",
    "is_secret",
    "run_program",
    "unwrapped",
]

RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
STACK_REFERENCE = "pulumi:pulumi:StackReference"
BCRYPT_ROUNDS = 10
"""The cost Pulumi's random provider uses for ``bcrypt_hash``."""
_SPECIAL = "!@#$%&*()-_=+[]{}<>:?"
_ORGANIZATION = "organization"
_log = logging.getLogger("fleet.render.pulumi")


def unwrapped(value: Any) -> Any:
    """A deserialized value with every secret marker removed (for the private state)."""
    from pulumi.runtime import rpc

    if rpc.is_rpc_secret(value):
        return unwrapped(rpc.unwrap_rpc_secret(value))
    if isinstance(value, Mapping):
        return {str(k): unwrapped(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [unwrapped(v) for v in value]
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


def is_secret(value: Any) -> bool:
    """True when ``value`` is a deserialized secret Output."""
    from pulumi.runtime import rpc

    return bool(rpc.is_rpc_secret(value))


def cloud_context(account: CloudAccount) -> dict[str, str]:
    """What the mocks need to answer like the stack's cloud: its region and account ids."""
    return {
        "region": account.region,
        "account_id": account.account_id or "",
        "subscription_id": account.subscription_id or "",
        "tenant_id": account.tenant_id or "",
    }


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


class Recorder:
    """Collects one render's resources and stack outputs; shared by the mocks and the monitor."""

    def __init__(
        self, stack: str, context: Mapping[str, str], previous: Mapping[str, dict[str, Any]] | None = None
    ) -> None:
        """``context`` is the stack's :func:`cloud_context`; ``previous`` the persisted random
        passwords by URN key, reused while their inputs are unchanged."""
        self.stack = stack
        self.context = dict(context)
        self.lock = threading.Lock()
        self.resources: list[tuple[str, str, str | None, dict[str, Any]]] = []
        self.providers: dict[tuple[str, str], str] = {}
        """The provider each resource is created through, by (type, name): the provider
        resource's name (``cluster``), as Pulumi resolves it from ``opts`` or the parent."""
        self.stack_outputs: dict[str, Any] | None = None
        self.previous = previous if previous is not None else {}
        self.passwords: dict[str, dict[str, Any]] = {}

    def record(self, type_: str, name: str, parent: str, inputs: dict[str, Any], provider: str = "") -> None:
        """Record one registered resource; ``provider`` is Pulumi's provider reference
        (``<urn>::<id>``) or empty for the default provider."""
        with self.lock:
            self.resources.append((type_, name, _parent_name(parent), inputs))
            if provider:
                self.providers[(type_, name)] = provider.split("::")[-2] if "::" in provider else provider

    def password(self, urn: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """The random password at ``urn``: the persisted one while its inputs are unchanged."""
        key = _urn_key(urn)
        settings = unwrapped(dict(inputs))
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

    def __init__(self, recorder: Recorder) -> None:
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
            wanted = unwrapped(inputs.get("name") or name)
            raise OperationError(
                f"stack reference {wanted!r}: fleet's programs read no other stack "
                "(a workload's program is handed its own credential by the engine)"
            )
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
            package = request.type.split(":")[0]
            provider = request.provider or dict(getattr(request, "providers", {}) or {}).get(package, "")
            self.fleet_mocks.recorder.record(request.type, request.name, request.parent, inputs, provider)
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
            return self.fleet_mocks.call(args.token, unwrapped(args.args)), []

    return RecordingMonitor


_MONITOR: type | None = None


def run_program(
    program: Callable[[], None],
    project: str,
    stack: str,
    recorder: Recorder,
    config: Mapping[str, str],
    secret_keys: Iterable[str] = (),
) -> None:
    """Run ``program`` to completion under the mock runtime, recording into ``recorder``.

    ``config`` is the stack configuration the program reads; ``secret_keys`` name its secret
    values (the program reads them as secret Outputs, as under Pulumi). The run gets a fresh context and a
    thread of its own, so its event loops never touch the caller's thread (which may be running
    its own loop, or a ``@pulumi.runtime.test`` test next); its exception is re-raised here.
    """
    secret = tuple(secret_keys)
    run = functools.partial(_run_program_here, program, project, stack, recorder, config, secret)
    contextvars.Context().run(_run_in_thread, run, f"render-{stack}")


def _run_in_thread(run: Callable[[], None], thread_name: str) -> None:
    failure: list[BaseException] = []

    def body() -> None:
        try:
            run()
        except BaseException as exc:  # handed to the calling thread below
            failure.append(exc)

    worker = threading.Thread(target=body, name=thread_name)
    worker.start()
    worker.join()
    if failure:
        raise failure[0]


def _run_program_here(
    program: Callable[[], None],
    project: str,
    stack: str,
    recorder: Recorder,
    config: Mapping[str, str],
    secret_keys: tuple[str, ...],
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
    set_all_config(dict(config), list(secret_keys))

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
