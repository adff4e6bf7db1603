"""RenderEngine: run the stacks' Pulumi programs offline, under Pulumi's mock runtime, and write
what they would deploy as a plan per stack.

Every resource the program registers is recorded with its type token, name, parent and inputs
(the values the provider would receive), then written to ``<out>/<stack>/plan.json``::

    {"stack": ..., "resources": [{"type": ..., "name": ..., "parent": ..., "inputs": {...}}],
     "outputs": {...}}

Values that were secret Outputs, and every ``RandomPassword`` result, are written as
``"[secret]"`` unless ``show_secrets``. Like Pulumi state, the control room's random values and
its outputs persist in a render state file, ``controlroom.json`` (mode 0600 in a 0700 directory,
never printed): re-rendering is stable, and each workload is rendered with the password the control
room's htpasswd was built from: its own ``credential-<workload>`` output alone
(:func:`workload_credential`), handed to the program as a secret Output, as the Pulumi engine
does (no stack configuration holds it). The
state holds passwords in plaintext, so it never lives in the inventory (which is kept in git): it
is in the user's state directory,
``$XDG_STATE_HOME/fleet/render/<fleet>-<hash of the inventory's path>/`` (``~/.local/state`` by
default), or in ``<out>/.state/`` when plans go to an explicit ``out_dir``.

Each program runs under :func:`fleet.engines.mock_runtime.run_program`, isolated from every other
render in the process.

A render needs no real receiver secret: an ``env:`` reference whose variable is unset is rendered
as a marked placeholder (``kit.alerting.alertmanager.placeholder``; a secret like any other, so
redacted in plans), and a warning names the file, the field and the variable once per variable.
A real rollout still refuses it (``fleet.engines.receiver_secrets``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fleet.engines import parallel
from fleet.engines.base import REDACTED, EventSink, StackOutcome
from fleet.engines.mock_runtime import Recorder, cloud_context, is_secret, run_program, unwrapped
from fleet.engines.receiver_secrets import unset_receiver_secrets
from fleet.errors import FleetError, OperationError, UserError
from fleet.inventory.loader import write_atomically
from fleet.inventory.models import (
    CONTROLROOM,
    CloudAccount,
    ControlRoomStack,
    WorkloadStack,
    credential_output,
    pulumi_project,
)
from fleet.kinds import Action

if TYPE_CHECKING:
    import pulumi

    from fleet.inventory.loader import Inventory

__all__ = [
    "PLAN_FILE",
    "REDACTED",
    "Plan",
    "Programs",
    "RenderEngine",
    "load_plans",
    "render_all",
    "render_secrets",
    "workload_credential",
]

PLAN_FILE = "plan.json"
STATE_DIR = ".state"
STATE_FILE = "controlroom.json"
STATE_VERSION = 1

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Programs:
    """The program functions the engine runs; the real ones unless a test passes its own."""

    controlroom: Callable[[ControlRoomStack], None]
    workload: Callable[[WorkloadStack, pulumi.Input[str]], None]
    """Given the workload's spec and its central password (a secret Output)."""


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

    def document(self) -> dict[str, Any]:
        """The plan as plain JSON data, as ``plan.json`` and the journal's recorded renders hold it
        (tuples become lists): what a comparison with a recorded render needs."""
        return json.loads(json.dumps(self.to_json()))


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
    def load(cls, directory: Path) -> _ControlRoomState | None:
        path = directory / STATE_FILE
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

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)
        text = json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n"
        write_atomically(directory / STATE_FILE, text, mode=0o600)

    def password_values(self) -> list[str]:
        return [str(entry["result"]) for entry in self.passwords.values() if entry.get("result")]


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


def workload_credential(workload: str, state: _ControlRoomState | None) -> str:
    """The central password a workload is rendered with: its own, read from the rendered control
    room's ``credential-<workload>`` output (no other output is handed on). OperationError when
    the control room has not been rendered with this workload."""
    if state is None:
        raise OperationError(
            f"{workload}: the control room has not been rendered; render it first "
            f"(fleet render {CONTROLROOM}) so the workload can read its credential"
        )
    password = state.outputs.get(credential_output(workload))
    if not isinstance(password, str) or not password:
        raise OperationError(
            f"{workload}: the control room has no credential for this workload; roll out or "
            f"render the control room first (fleet render {CONTROLROOM})"
        )
    return password


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
        jobs: int = 0,
        warn_unset_secrets: bool = True,
    ) -> None:
        self.out_dir = out_dir
        self.warn_unset_secrets = warn_unset_secrets
        self.show_secrets = show_secrets
        self._programs = programs
        self.jobs = jobs
        """Processes for the workloads of a render of many (0: every core; 1: this process only).
        Only the default programs travel to other processes."""
        self._own_programs = programs is not None
        self._warned: set[str] = set()
        """The unset secret variables already warned about (once per variable per engine)."""

    @property
    def programs(self) -> Programs:
        if self._programs is None:
            self._programs = default_programs()
        return self._programs

    def directory(self, inventory: Inventory) -> Path:
        """Where plans go: ``out_dir``, or ``<inventory>/.fleet/render``."""
        return self.out_dir if self.out_dir is not None else inventory.state_dir / "render"

    def state_directory(self, inventory: Inventory) -> Path:
        """Where the render state lives: ``<out_dir>/.state``, or the user's state directory."""
        if self.out_dir is not None:
            return self.out_dir / STATE_DIR
        return user_render_state_dir(inventory)

    def has_control_room_render(self, inventory: Inventory) -> bool:
        """Whether a render of the control room is kept (its credentials, which a workload's render
        reads) where this engine keeps the render state."""
        return _ControlRoomState.load(self.state_directory(inventory)) is not None

    def run(
        self,
        inventory: Inventory,
        stack: str,
        action: Action,
        events: EventSink | None = None,
        *,
        previous_dead: bool = False,
    ) -> StackOutcome:
        """Render ``stack`` (``preview`` and ``up`` both render; nothing is deployed; a render
        takes no lock, so ``previous_dead`` changes nothing)."""
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
        rendered, state_dir = self._render_all(inventory, stacks, events, on_rendered)
        return self._write(self.directory(inventory), state_dir, rendered, events)

    def render_plans(
        self,
        inventory: Inventory,
        stacks: Iterable[str] | None = None,
        events: EventSink | None = None,
    ) -> dict[str, Plan]:
        """Render ``stacks`` like :meth:`render_many`, but keep the plans in memory: for a look
        that records nothing (a preview, an offline drift check). No plan is written, so nothing
        lands in the inventory; only the control room's render state is kept (outside it) so that
        later renders agree with this one."""
        rendered, state_dir = self._render_all(inventory, stacks, events, None)
        self._save_state(state_dir, rendered)
        return {name: result.plan for name, result in rendered.items()}

    def _render_all(
        self,
        inventory: Inventory,
        stacks: Iterable[str] | None,
        events: EventSink | None,
        on_rendered: Callable[[str, Plan], None] | None,
    ) -> tuple[dict[str, _Rendered], Path]:
        names = _stack_names(inventory, stacks)
        self._warn_unset_secrets(inventory, names)
        state_dir = self.state_directory(inventory)
        state = _ControlRoomState.load(state_dir)
        rendered: dict[str, _Rendered] = {}
        jobs = self.jobs or parallel.default_jobs()
        if CONTROLROOM in names and not self._own_programs:
            names.remove(CONTROLROOM)
            rendered[CONTROLROOM] = self._render_logged(inventory, CONTROLROOM, state, events, on_rendered)
            state = rendered[CONTROLROOM].state
        if not self._own_programs and parallel.worth_a_pool(len(names), jobs):
            if events is not None:
                events(f"rendering {len(names)} stacks in {jobs} processes")
            level = logging.getLogger("fleet").getEffectiveLevel()
            for name, plan in parallel.render_in_pool(self, inventory, names, state, jobs, level):
                rendered[name] = _Rendered(plan, None)
                if on_rendered is not None:
                    on_rendered(name, plan)
            rendered = {name: rendered[name] for name in _stack_names(inventory, rendered)}
        else:
            for name in names:
                result = self._render_logged(inventory, name, state, events, on_rendered)
                if result.state is not None:
                    state = result.state
                rendered[name] = result
        return rendered, state_dir

    def _warn_unset_secrets(self, inventory: Inventory, names: Iterable[str]) -> None:
        if not self.warn_unset_secrets:
            return
        for name in names:
            for unset in unset_receiver_secrets(inventory, name, os.environ):
                if unset.variable in self._warned:
                    continue
                self._warned.add(unset.variable)
                log.warning(
                    "%s: %s is not set; rendered with a placeholder; a real rollout needs it",
                    unset.where,
                    unset.variable,
                )

    def _write(
        self, out_dir: Path, state_dir: Path, rendered: Mapping[str, _Rendered], events: EventSink | None
    ) -> dict[str, Path]:
        paths: dict[str, Path] = {}
        self._save_state(state_dir, rendered)
        for name, result in rendered.items():
            path = out_dir / name / PLAN_FILE
            text = json.dumps(result.plan.to_json(), indent=2, ensure_ascii=False) + "\n"
            # A plan with secrets shown is for its owner's eyes only.
            write_atomically(path, text, mode=0o600 if self.show_secrets else None)
            paths[name] = path
            if events is not None:
                events(f"wrote {path} ({len(result.plan.resources)} resources)")
        return paths

    @staticmethod
    def _save_state(state_dir: Path, rendered: Mapping[str, _Rendered]) -> None:
        for result in rendered.values():
            if result.state is not None:
                result.state.save(state_dir)

    def _render_logged(
        self,
        inventory: Inventory,
        stack: str,
        state: _ControlRoomState | None,
        events: EventSink | None,
        on_rendered: Callable[[str, Plan], None] | None,
    ) -> _Rendered:
        if events is not None:
            events(f"rendering {stack}")
        result = self.render_stack(inventory, stack, state)
        if on_rendered is not None:
            on_rendered(stack, result.plan)
        return result

    def render_stack(self, inventory: Inventory, stack: str, state: _ControlRoomState | None) -> _Rendered:
        """Render one stack in memory (the unit of work, here or in a pool's process)."""
        return self._render_one(inventory, stack, state)

    def _render_one(self, inventory: Inventory, stack: str, state: _ControlRoomState | None) -> _Rendered:
        project = pulumi_project(inventory.fleet.name)
        if stack == CONTROLROOM:
            spec = inventory.controlroom_stack()
            room = spec.control_room
            recorder = Recorder(stack, cloud_context(room), state.passwords if state is not None else None)
            config = render_config(inventory.fleet.name, stack, room)
            self._execute(lambda: self.programs.controlroom(spec), project, stack, recorder, config)
            outputs = recorder.stack_outputs or {}
            new_state = _ControlRoomState(
                passwords=dict(sorted(recorder.passwords.items())),
                outputs=unwrapped(outputs),
                secret_outputs=sorted(k for k, v in outputs.items() if is_secret(v)),
            )
            return _Rendered(self._plan(stack, recorder, new_state), new_state)

        workload_spec = inventory.workload_stack(stack)
        workload = workload_spec.workload.spec
        recorder = Recorder(stack, cloud_context(workload))
        config = render_config(inventory.fleet.name, stack, workload)
        password = workload_credential(stack, state)
        import pulumi  # here: only a render needs it, never `fleet --help`

        self._execute(
            lambda: self.programs.workload(workload_spec, pulumi.Output.secret(password)),
            project,
            stack,
            recorder,
            config,
        )
        return _Rendered(self._plan(stack, recorder, state), None)

    @staticmethod
    def _execute(
        program: Callable[[], None],
        project: str,
        stack: str,
        recorder: Recorder,
        config: Mapping[str, str],
    ) -> None:
        from kit.alerting.alertmanager import offline_placeholders

        def offline() -> None:
            # Here, in the program's own thread and context: an unset env: secret is a placeholder.
            with offline_placeholders():
                program()

        try:
            run_program(offline, project, stack, recorder, config)
        except FleetError:
            raise
        except Exception as exc:
            # The message names the failure; program errors never carry secret values.
            raise OperationError(f"{stack}: the program failed: {type(exc).__name__}: {exc}") from exc

    def _plan(self, stack: str, recorder: Recorder, state: _ControlRoomState | None) -> Plan:
        secret_values = frozenset(state.password_values() if state is not None else ()) | frozenset(
            entry["result"] for entry in recorder.passwords.values()
        )
        show = self.show_secrets
        resources = [
            {
                "type": type_,
                "name": name,
                "parent": parent,
                "provider": recorder.providers.get((type_, name)),
                "inputs": _plain(inputs, show, secret_values),
            }
            for type_, name, parent, inputs in recorder.resources
        ]
        resources.sort(key=lambda r: (r["parent"] or "", r["type"], r["name"]))
        outputs = _plain(recorder.stack_outputs or {}, show, secret_values)
        return Plan(stack=stack, resources=resources, outputs=outputs)


def render_all(
    inventory: Inventory,
    stacks: Iterable[str] | None,
    out_dir: Path,
    show_secrets: bool = False,
    *,
    programs: Programs | None = None,
    events: EventSink | None = None,
    on_rendered: Callable[[str, Plan], None] | None = None,
    warn_unset_secrets: bool = True,
) -> dict[str, Path]:
    """Render ``stacks`` (every stack when None) into ``out_dir``, the control room first.

    Returns each stack's plan path. Plans are written only when every stack rendered.
    ``warn_unset_secrets``: warn about unset ``env:`` receiver secrets (off for a second render of
    the same inventory).
    """
    engine = RenderEngine(
        out_dir, show_secrets=show_secrets, programs=programs, warn_unset_secrets=warn_unset_secrets
    )
    return engine.render_many(inventory, stacks, events, on_rendered)


def render_secrets(out_dir: Path) -> list[str]:
    """Every random secret the control room's render holds (passwords), for leak checks.

    The values stay in memory: callers must never print or log them.
    """
    state = _ControlRoomState.load(out_dir / STATE_DIR)
    return state.password_values() if state is not None else []


def user_render_state_dir(inventory: Inventory, environ: Mapping[str, str] | None = None) -> Path:
    """The render state of ``inventory`` in the user's state directory (see the module docstring).

    A state left inside the inventory by an older fleet (``.fleet/render/.state``) is moved here
    the first time, so the rendered credentials stay the same.
    """
    env = os.environ if environ is None else environ
    base = Path(env.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    root = inventory.root.resolve()
    key = hashlib.sha256(str(root).encode()).hexdigest()[:12]
    directory = base / "fleet" / "render" / f"{inventory.fleet.name}-{key}"
    legacy = root / ".fleet" / "render" / STATE_DIR / STATE_FILE
    if legacy.is_file() and not (directory / STATE_FILE).exists():
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)
        os.replace(legacy, directory / STATE_FILE)
    return directory


def load_plans(out_dir: Path) -> dict[str, dict[str, Any]]:
    """The plans under ``out_dir``, by stack name."""
    plans: dict[str, dict[str, Any]] = {}
    if not out_dir.is_dir():
        return plans
    for path in sorted(out_dir.glob(f"*/{PLAN_FILE}")):
        plans[path.parent.name] = json.loads(path.read_text(encoding="utf-8"))
    return plans
