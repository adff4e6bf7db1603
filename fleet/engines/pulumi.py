"""PulumiEngine: runs a stack's program for real through the Automation API (``pulumi.automation``).

Each stack gets its own Pulumi workspace directory, ``<inventory>/.fleet/work/<stack>``, because
``create_or_select_stack`` rewrites ``Pulumi.yaml`` and the stack's settings file there. Pulumi's
Python runtime keeps per-run state, so a process runs one stack at a time (``_ONE_STACK``).
Failures come back as :class:`~fleet.engines.base.StackOutcome` values; the CLI's own errors are
reduced to one useful line, and nothing secret (the passphrase, secret outputs, raw engine events)
ever reaches an outcome or the event sink.

A workload's program references no other stack: before a run that executes it (``up``,
``preview``), the engine reads the control room's ``credential-<workload>`` output
(:func:`hand_credential`) and hands it to the inline program as an argument, a secret Output built
in this process (:data:`ProgramFor`). Nothing is set as stack configuration, so the password is on
no command line and in no settings file; the workload's state holds its own password (encrypted)
and no other workload's. A ``fleet:centralPassword`` left in a settings file by fleet versions that
set it as configuration is removed the next time the stack is opened (:func:`drop_stale_credential`).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pulumi
from pulumi import automation as auto
from pulumi.automation.events import EngineEvent, OpType, StepEventMetadata

from fleet.engines.base import REDACTED, EventSink, StackOutcome
from fleet.engines.receiver_secrets import require_receiver_secrets
from fleet.errors import FleetError, MissingTool, OperationError, UserError
from fleet.inventory.models import (
    CHARTS,
    CONTROLROOM,
    ControlRoomStack,
    StateSettings,
    credential_output,
    pulumi_project,
)
from fleet.kinds import Action
from fleet.settings import Settings

if TYPE_CHECKING:
    from fleet.charts.deploy import ChartOrigin
    from fleet.inventory.loader import Inventory

INSTALL_HINT = (
    "install it with `curl -fsSL https://get.pulumi.com | sh` "
    "(https://www.pulumi.com/docs/iac/download-install/)"
)
PASSPHRASE_VARS = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")

log = logging.getLogger(__name__)

_ONE_STACK = threading.Lock()
STALE_PASSWORD_CONFIG = "fleet:centralPassword"
"""Where fleet versions before inline credentials kept a workload's password (secret stack
configuration); removed from a settings file wherever it is still found."""

ProgramFor = Callable[[str | None], Callable[[], None]]
"""A stack's inline program, given the workload's central password (None: the control room, or a
command that runs no program: ``refresh``, ``destroy``, reading outputs)."""
_LOCK_CREATOR = re.compile(r"created by (?P<user>\S+?)@(?P<host>\S+) \(pid (?P<pid>\d+)\)")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|<\{%[a-z]*%\}>")
_TRANSIENT = re.compile(
    r"timed? ?out|timeout|connection (reset|refused)|broken pipe|temporary failure|"
    r"TLS handshake|unexpected EOF|too many requests|\b(429|502|503|504)\b|"
    r"service ?unavailable|SlowDown|RequestTimeout|throttl",
    re.IGNORECASE,
)
_GENERIC = re.compile(
    r"^(error: )?((update|preview|refresh|destroy) failed|one or more errors occurred|"
    r"an error occurred while advancing the (preview|update)|"
    r"program failed with an unhandled exception:?)\s*$",
    re.IGNORECASE,
)
_NO_CHANGES_EXPECTED = "no changes were expected"
_VERBS = {  # op: (in progress, done, in a preview)
    OpType.CREATE: ("creating", "created", "would create"),
    OpType.UPDATE: ("updating", "updated", "would update"),
    OpType.DELETE: ("deleting", "deleted", "would delete"),
    OpType.REPLACE: ("replacing", "replaced", "would replace"),
    OpType.CREATE_REPLACEMENT: ("creating replacement", "created replacement", "would create replacement"),
    OpType.DELETE_REPLACED: ("deleting replaced", "deleted replaced", "would delete replaced"),
    OpType.READ: ("reading", "read", "would read"),
    OpType.REFRESH: ("refreshing", "refreshed", "would refresh"),
    OpType.IMPORT: ("importing", "imported", "would import"),
}


_DRIFT_OPS = {OpType.CREATE, OpType.UPDATE, OpType.DELETE, OpType.REPLACE, OpType.IMPORT}
_RUNS_PROGRAM = {Action.up, Action.preview}
"""The actions that run the program (``refresh`` and ``destroy`` work from the state alone)."""


def require_pulumi_cli() -> str:
    """The path of the ``pulumi`` CLI; raises MissingTool (one line: how to install it) if absent."""
    path = shutil.which("pulumi")
    if path is None:
        raise MissingTool(f"the pulumi CLI is not on PATH; {INSTALL_HINT}")
    return path


class SecretEnv(dict[str, str]):
    """Environment variables for the ``pulumi`` CLI; its repr names the keys, never the values
    (``LocalWorkspace.__repr__`` prints its ``env_vars``)."""

    def __repr__(self) -> str:
        return "SecretEnv(" + ", ".join(sorted(self)) + ")"


def pulumi_env(state: StateSettings, settings: Settings, environ: Mapping[str, str]) -> SecretEnv:
    """The CLI's environment: update checks off, and the passphrase when the secrets provider is
    ``passphrase`` (from the environment first, then Settings); a missing one is a UserError."""
    env = SecretEnv(PULUMI_SKIP_UPDATE_CHECK="true")
    if state.secrets_provider != "passphrase":
        return env
    from_environ = {name: environ[name] for name in PASSPHRASE_VARS if name in environ}
    if from_environ:
        env.update(from_environ)
    elif settings.passphrase is not None:
        env["PULUMI_CONFIG_PASSPHRASE"] = settings.passphrase
    else:
        raise UserError(
            "the state's secrets provider is passphrase but no passphrase is set; "
            "export PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE or FLEET_PASSPHRASE)"
        )
    return env


def backend_url(state: StateSettings, root: Path) -> str:
    """The backend URL with ``file://`` paths made absolute (``~`` expanded, relative paths
    resolved against the inventory) and the directory created."""
    if not state.backend.startswith("file://"):
        return state.backend
    path = Path(state.backend.removeprefix("file://")).expanduser()
    if not path.is_absolute():
        path = root / path
    path.mkdir(parents=True, exist_ok=True)
    return f"file://{path.resolve()}"


def qualified_stack_name(inventory: Inventory, stack: str) -> str:
    """``organization/<project>/<stack>``: the name self-managed backends (file, s3, azblob) know a
    stack by (a workload's credential is read from the control room by it)."""
    return f"organization/{pulumi_project(inventory.fleet.name)}/{stack}"


def stack_config(inventory: Inventory, stack: str) -> dict[str, auto.ConfigValue]:
    """Provider configuration for the stack's cloud account (set with ``path=True``)."""
    account = inventory.fleet.spec.control_room if stack == CONTROLROOM else inventory.workload(stack).spec
    if account.cloud == "aws":
        return {
            "aws:region": auto.ConfigValue(account.region),
            "aws:allowedAccountIds[0]": auto.ConfigValue(str(account.account_id)),
        }
    return {
        "azure-native:location": auto.ConfigValue(account.region),
        "azure-native:subscriptionId": auto.ConfigValue(str(account.subscription_id)),
        "azure-native:tenantId": auto.ConfigValue(str(account.tenant_id)),
    }


@dataclass(frozen=True)
class CredentialSource:
    """Where a workload stack's central password comes from: one output of the control room."""

    stack: str
    """The control room's fully qualified stack name."""
    output: str
    """``credential-<workload>``: the one output read."""


@dataclass(frozen=True)
class StackTarget:
    """Where and how one stack runs: everything ``create_or_select_stack`` needs but the program."""

    name: str
    """The fully qualified stack name."""
    project: str
    backend: str
    secrets_provider: str
    work_dir: Path
    env: SecretEnv = field(repr=False)
    config: Mapping[str, auto.ConfigValue] = field(default_factory=dict)
    credential: CredentialSource | None = None
    """A workload's: the control-room output its central password is read from before a run of
    its program (None for the control room)."""

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values to scrub from anything shown: the passphrase, when it is given inline."""
        passphrase = self.env.get("PULUMI_CONFIG_PASSPHRASE")
        return (passphrase,) if passphrase else ()

    def workspace_options(self) -> auto.LocalWorkspaceOptions:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        return auto.LocalWorkspaceOptions(
            work_dir=str(self.work_dir),
            env_vars=self.env,
            secrets_provider=self.secrets_provider,
            project_settings=auto.ProjectSettings(
                name=self.project,
                runtime="python",
                main=str(self.work_dir),
                backend=auto.ProjectBackend(url=self.backend),
            ),
        )


def stack_target(
    inventory: Inventory,
    stack: str,
    settings: Settings | None = None,
    environ: Mapping[str, str] | None = None,
) -> StackTarget:
    """The target for ``stack`` of ``inventory``; raises UserError for an unknown workload or a
    missing passphrase. Creates the file backend's directory."""
    if stack != CONTROLROOM:
        inventory.workload(stack)
    state = inventory.fleet.spec.state
    return StackTarget(
        name=qualified_stack_name(inventory, stack),
        project=pulumi_project(inventory.fleet.name),
        backend=backend_url(state, inventory.root),
        secrets_provider=state.secrets_provider,
        work_dir=inventory.work_dir(stack),
        env=pulumi_env(state, settings or Settings(), os.environ if environ is None else environ),
        config=stack_config(inventory, stack),
        credential=None
        if stack == CONTROLROOM
        else CredentialSource(qualified_stack_name(inventory, CONTROLROOM), credential_output(stack)),
    )


def chart_origins(inventory: Inventory, stack: str, settings: Settings | None = None) -> list[ChartOrigin]:
    """Where each chart ``stack`` installs comes from: the chart cache's checked archive of the
    version it asks for, else its repository (see :mod:`fleet.charts.deploy`). Raises
    CachedChartMismatch, or ChartNotCachedOffline under ``FLEET_CHARTS_OFFLINE``."""
    from fleet.charts.cache import ChartCache, default_cache_dir
    from fleet.charts.deploy import ChartInstall
    from fleet.charts.deploy import chart_origins as origins_in
    from fleet.upgrade.skew import desired_versions

    charts = inventory.fleet.spec.charts
    wanted = [
        ChartInstall(component, CHARTS[component], version, charts.repository(component))
        for component, version in desired_versions(inventory, stack).items()
    ]
    offline = (settings or Settings()).charts_offline
    return origins_in(ChartCache(default_cache_dir()), wanted, offline=offline)


def chart_archives(inventory: Inventory, stack: str, settings: Settings | None = None) -> dict[str, str]:
    """Per component of ``stack``, the cached archive to install it from (:func:`chart_origins`);
    a component left out installs from its repository."""
    from fleet.charts.deploy import local_archives

    return local_archives(chart_origins(inventory, stack, settings))


def stack_program(inventory: Inventory, stack: str, archives: Mapping[str, str] | None = None) -> ProgramFor:
    """The inline program for ``stack``, installing charts from ``archives`` (component: local
    archive, from :func:`chart_archives`) or, for a component not in it, from its repository;
    a workload's is given its central password, which it receives as a secret Output. The program
    modules are imported when it runs."""
    spec = inventory.controlroom_stack() if stack == CONTROLROOM else inventory.workload_stack(stack)
    local = dict(archives or {})

    def program_for(password: str | None) -> Callable[[], None]:
        def program() -> None:
            if isinstance(spec, ControlRoomStack):
                from controlroom.program import controlroom_program

                controlroom_program(spec, local)
                return
            if password is None:
                raise OperationError(f"{stack}: the workload's program cannot run without its credential")
            from workloads.program import workload_program

            workload_program(spec, pulumi.Output.secret(password), local)

        return program

    return program_for


def _resource_name(meta: StepEventMetadata) -> str:
    return meta.urn.rsplit("::", 1)[-1] if meta.urn else "?"


def describe_event(event: EngineEvent, action: Action) -> str | None:
    """A one-line progress message for an engine event, or None for events not worth showing.
    Only types, names, operations and error text: never property values."""
    if event.resource_pre_event or event.res_outputs_event:
        step = event.resource_pre_event or event.res_outputs_event
        assert step is not None
        meta = step.metadata
        verbs = _VERBS.get(meta.op)
        if verbs is None or meta.type == "pulumi:pulumi:Stack":
            return None
        if action is Action.preview:
            if event.res_outputs_event:
                return None
            verb = verbs[2]
        else:
            verb = verbs[0] if event.resource_pre_event else verbs[1]
        return f"{verb} {meta.type} {_resource_name(meta)}"
    if event.res_op_failed_event:
        meta = event.res_op_failed_event.metadata
        return f"failed to {meta.op.value} {meta.type} {_resource_name(meta)}"
    if event.diagnostic_event and event.diagnostic_event.severity == "error":
        line = _first_line(event.diagnostic_event.message).removeprefix("error: ")
        return f"error: {line}" if line else None
    if event.summary_event:
        counts = op_counts(event.summary_event.resource_changes)
        done = ", ".join(f"{n} {op}" for op, n in counts.items() if op != "same") or "no changes"
        return f"done: {done}"
    return None


def op_counts(changes: Mapping[Any, int] | None) -> dict[str, int]:
    """Change counts keyed by operation name (``create``, ``same``, ...), zero counts dropped."""
    return {
        (op.value if isinstance(op, OpType) else str(op)): int(n) for op, n in (changes or {}).items() if n
    }


def _clean(text: str) -> str:
    return _ANSI.sub("", text).strip()


def _first_line(message: str) -> str:
    lines = [_clean(line) for line in message.splitlines()]
    useful = [line for line in lines if line and not _GENERIC.match(line)]
    return useful[0] if useful else ""


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def error_line(stderr: str, diagnostics: Iterable[str] = (), stdout: str = "") -> str:
    """The most useful line of a failed command: the first specific error diagnostic, else the
    first specific ``error:`` line of stderr (then stdout), else stderr's first non-empty line."""
    for message in diagnostics:
        line = _first_line(message)
        if line:
            return line.removeprefix("error: ")
    lines = [_clean(line) for line in stderr.splitlines()]
    for text in (lines, [_clean(line) for line in stdout.splitlines()]):
        errors = [line for line in text if line.startswith("error:") and not _GENERIC.match(line)]
        if errors:
            return errors[0].removeprefix("error: ")
    return next((line for line in lines if line), "").removeprefix("error: ")


def command_output(error: auto.CommandError) -> tuple[str, str]:
    """``(stdout, stderr)`` of a failed command (the exception keeps only their text)."""
    head, _, stderr = str(error).partition("\n stderr: ")
    return head.partition("\n stdout: ")[2], stderr


def failed_outcome(
    stack: str, error: BaseException, diagnostics: Iterable[str] = (), secrets: Iterable[str] = ()
) -> StackOutcome:
    """Classify a failure: lock held or network trouble is transient, everything else is not."""
    secrets = tuple(secrets)
    if isinstance(error, auto.ConcurrentUpdateError):
        line = error_line(command_output(error)[1]) or "the stack is locked by another update"
        return StackOutcome(stack=stack, ok=False, error=_scrub(line, secrets), transient=True)
    if isinstance(error, auto.CommandError):
        stdout, stderr = command_output(error)
        line = error_line(stderr, diagnostics, stdout) or "pulumi failed"
        transient = bool(_TRANSIENT.search(stderr))
        return StackOutcome(stack=stack, ok=False, error=_scrub(line, secrets), transient=transient)
    if isinstance(error, FleetError):
        return StackOutcome(stack=stack, ok=False, error=_scrub(error.message, secrets))
    transient = isinstance(error, ConnectionError | TimeoutError)
    line = _first_line(str(error)) or type(error).__name__
    message = f"{type(error).__name__}: {line}"
    return StackOutcome(stack=stack, ok=False, error=_scrub(message, secrets), transient=transient)


def central_password(outputs: Mapping[str, auto.OutputValue], source: CredentialSource) -> str:
    """The one password ``source`` names, out of the control room's outputs; OperationError when
    the control room publishes none for the workload (it was not rolled out since the workload
    was added, or not by this version of fleet)."""
    found = outputs.get(source.output)
    if found is None or not isinstance(found.value, str) or not found.value:
        raise OperationError(
            f"the control room publishes no {source.output} output; roll it out first "
            f"(fleet rollout {CONTROLROOM}), then this workload"
        )
    return found.value


def hand_credential(stack: auto.Stack, source: CredentialSource) -> str:
    """Read the workload's own password from the control room (through the workload's own
    workspace, so no other stack's files are touched) and return it; the caller hands it to the
    inline program. The control room's other outputs are dropped here: they never reach the
    workload's program, state or output."""
    try:
        outputs = stack.workspace.stack_outputs(source.stack)
    except auto.StackNotFoundError:
        raise OperationError(
            f"the control room ({source.stack}) does not exist yet; "
            f"roll it out first (fleet rollout {CONTROLROOM})"
        ) from None
    return central_password(outputs, source)


def drop_stale_credential(stack: auto.Stack) -> bool:
    """Remove a ``fleet:centralPassword`` an earlier fleet version left in the stack's settings
    file (read from the file itself, so no value is decrypted); True when one was removed."""
    try:
        settings = stack.workspace.stack_settings(stack.name)
    except FileNotFoundError:
        return False
    if STALE_PASSWORD_CONFIG not in (settings.config or {}):
        return False
    stack.remove_config(STALE_PASSWORD_CONFIG)
    log.info("stack %s: removed the stale %s from its settings file", stack.name, STALE_PASSWORD_CONFIG)
    return True


def _open(
    target: StackTarget,
    program: ProgramFor,
    create: bool = True,
    *,
    runs_program: bool = False,
    secrets: list[str] | None = None,
) -> auto.Stack:
    """Create or select the stack and set its configuration. ``runs_program``: the next command
    runs the program (``up``, ``preview``), so a workload's program is handed its central password
    (appended to ``secrets``, which everything shown is scrubbed of); it is never set as stack
    configuration."""
    opener = auto.create_or_select_stack if create else auto.select_stack
    stack = opener(
        target.name, project_name=target.project, program=program(None), opts=target.workspace_options()
    )
    if target.credential is not None:
        drop_stale_credential(stack)
    if runs_program and target.credential is not None:
        password = hand_credential(stack, target.credential)
        if secrets is not None:
            secrets.append(password)
        stack.workspace.program = program(password)
    if target.config:
        stack.set_all_config(dict(target.config), path=True)
    return stack


def _forward(
    action: Action, events: EventSink | None, secrets: Iterable[str], seen: Callable[[EngineEvent], None]
) -> Callable[[EngineEvent], None]:
    def on_event(event: EngineEvent) -> None:
        seen(event)
        line = describe_event(event, action)
        if events is not None and line:
            events(_scrub(line, secrets))

    return on_event


def _outputs(outputs: Mapping[str, auto.OutputValue], show_secrets: bool) -> dict[str, Any]:
    return {key: out.value if show_secrets or not out.secret else REDACTED for key, out in outputs.items()}


def stale_lock_reason(
    stderr: str,
    *,
    previous_dead: bool,
    hostname: str | None = None,
    pid_alive: Callable[[int], bool] | None = None,
) -> str | None:
    """Why the Pulumi stack lock a ``ConcurrentUpdateError`` reports may be cancelled, or None.

    Only when fleet knows the attempt that last ran the stack is dead (``previous_dead``: its
    worker stopped heart-beating or was reported lost, and this attempt took the stack over), and
    no process the lock names still runs on this machine (a ``pulumi`` orphaned by a killed
    worker may still be updating). Anyone else's lock is waited for, as before.
    """
    if not previous_dead:
        return None
    from fleet.journal.locks import pid_is_alive

    alive = pid_alive or pid_is_alive
    here = hostname or socket.gethostname()
    creators = list(_LOCK_CREATOR.finditer(stderr))
    for creator in creators:
        if creator["host"] == here and alive(int(creator["pid"])):
            return None
    named = ", ".join(f"{c['user']}@{c['host']} (pid {c['pid']})" for c in creators) or "an earlier update"
    return f"the lock of {named} was left by the attempt fleet took over"


def _act(
    stack: auto.Stack, action: Action, common: Mapping[str, Any], summary: dict[str, Any]
) -> dict[str, int]:
    if action is Action.preview:
        return op_counts(stack.preview(**common).change_summary)
    if action is Action.up:
        up = stack.up(show_secrets=False, suppress_outputs=True, **common)
        summary["outputs"] = _outputs(up.outputs, show_secrets=False)
        return op_counts(up.summary.resource_changes)
    if action is Action.refresh:
        return op_counts(stack.refresh(show_secrets=False, **common).summary.resource_changes)
    changes = op_counts(stack.destroy(show_secrets=False, **common).summary.resource_changes)
    stack.workspace.remove_stack(stack.name)  # offboarding: nothing of the stack is left in the backend
    summary["removed"] = True
    return changes


def run_program(
    target: StackTarget,
    program: ProgramFor,
    action: Action,
    events: EventSink | None = None,
    *,
    previous_dead: bool = False,
) -> StackOutcome:
    """Run ``action`` on ``target`` with the inline ``program`` (given the workload's central
    password when it runs); failures come back as values.

    ``previous_dead``: fleet knows the attempt that ran this stack before is dead, so a Pulumi
    stack lock it left behind is cancelled (``pulumi cancel``) and the action run once more
    (:func:`stale_lock_reason` decides).
    """
    diagnostics: list[str] = []

    def collect(event: EngineEvent) -> None:
        if event.diagnostic_event and event.diagnostic_event.severity == "error":
            diagnostics.append(event.diagnostic_event.message)

    secrets = list(target.secrets)
    on_event = _forward(action, events, secrets, collect)
    summary: dict[str, Any] = {"action": action.value}
    try:
        with _ONE_STACK:
            require_pulumi_cli()
            stack = _open(target, program, runs_program=action in _RUNS_PROGRAM, secrets=secrets)
            common: dict[str, Any] = {"color": "never", "on_event": on_event}
            try:
                changes = _act(stack, action, common, summary)
            except auto.ConcurrentUpdateError as error:
                reason = stale_lock_reason(command_output(error)[1], previous_dead=previous_dead)
                if reason is None:
                    raise
                log.warning("stack %s: cancelling its Pulumi lock: %s", target.name, reason)
                stack.cancel()
                summary["cancelled_lock"] = reason
                changes = _act(stack, action, common, summary)
    except Exception as error:
        return failed_outcome(target.name, error, diagnostics, secrets)
    return StackOutcome(stack=target.name, ok=True, changes=changes, summary=summary)


class PulumiEngine:
    """Runs stacks with the Pulumi Automation API; needs the ``pulumi`` CLI on PATH."""

    name = "pulumi"

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()

    def preflight(self, inventory: Inventory) -> None:
        """Fail fast, before anything is touched: the CLI is installed and the passphrase known."""
        require_pulumi_cli()
        pulumi_env(inventory.fleet.spec.state, self.settings, os.environ)

    def run(
        self,
        inventory: Inventory,
        stack: str,
        action: Action,
        events: EventSink | None = None,
        *,
        previous_dead: bool = False,
    ) -> StackOutcome:
        """Run ``action`` on ``stack`` (``controlroom`` or a workload name); ``previous_dead``:
        see :func:`run_program`."""
        from fleet.charts.deploy import local_archives

        try:
            if action in _RUNS_PROGRAM:
                # Before any lock or state is touched: the program would stop half-way without it.
                require_receiver_secrets(inventory, stack, os.environ)
            require_pulumi_cli()
            target = stack_target(inventory, stack, self.settings)
            origins = chart_origins(inventory, stack, self.settings) if action is not Action.destroy else []
            program = stack_program(inventory, stack, local_archives(origins))
        except FleetError as error:
            return StackOutcome(stack=stack, ok=False, error=error.message)
        outcome = run_program(target, program, action, events, previous_dead=previous_dead)
        if not origins:
            return outcome
        # The journal keeps which bytes each chart was installed from.
        charts = {origin.install.component: origin.describe() for origin in origins}
        return replace(outcome, summary={**outcome.summary, "charts": charts})


def _fail(error: Exception, target: StackTarget, secrets: Iterable[str] = ()) -> OperationError:
    if isinstance(error, auto.StackNotFoundError):
        return OperationError(f"stack {target.name} does not exist yet; deploy it first")
    outcome = failed_outcome(target.name, error, secrets=(*target.secrets, *secrets))
    return OperationError(f"{target.name}: {outcome.error}")


def stack_outputs(
    inventory: Inventory, stack: str, show_secrets: bool = False, settings: Settings | None = None
) -> dict[str, Any]:
    """A deployed stack's outputs; secret ones are ``"[secret]"`` unless ``show_secrets``
    (health gates read the control room's ``query_url`` and ``reader``). Raises OperationError."""
    require_pulumi_cli()
    target = stack_target(inventory, stack, settings)
    try:
        with _ONE_STACK:
            selected = _open(target, stack_program(inventory, stack), create=False)
            return _outputs(selected.outputs(), show_secrets)
    except Exception as error:
        raise _fail(error, target) from None


@dataclass(frozen=True)
class ResourceDrift:
    """A resource whose live state differs from the program: the operation that would fix it,
    and the names (never the values) of the properties that differ."""

    op: str
    type: str
    name: str
    properties: tuple[str, ...] = ()

    def __str__(self) -> str:
        changed = f" ({', '.join(self.properties)})" if self.properties else ""
        return f"{self.op} {self.type} {self.name}{changed}"


def drift_of(event: EngineEvent) -> ResourceDrift | None:
    """The drift a preview's resource event reports, if any."""
    if event.resource_pre_event is None:
        return None
    meta = event.resource_pre_event.metadata
    if meta.op not in _DRIFT_OPS or meta.type == "pulumi:pulumi:Stack":
        return None
    return ResourceDrift(meta.op.value, meta.type, _resource_name(meta), tuple(meta.diffs or ()))


def preview_expect_no_changes(
    inventory: Inventory, stack: str, settings: Settings | None = None, events: EventSink | None = None
) -> list[ResourceDrift]:
    """Drift detection that writes nothing: one ``pulumi preview --refresh --expect-no-changes``
    (the preview reads the live resources into an in-memory copy of the state; unlike ``pulumi
    refresh``, it never saves it). Returns the resources that differ (empty: no drift)."""
    require_pulumi_cli()
    require_receiver_secrets(inventory, stack, os.environ)
    target = stack_target(inventory, stack, settings)
    drifted: list[ResourceDrift] = []
    secrets = list(target.secrets)

    def collect(event: EngineEvent) -> None:
        found = drift_of(event)
        if found is not None:
            drifted.append(found)

    on_preview = _forward(Action.preview, events, secrets, collect)
    try:
        program = stack_program(inventory, stack, chart_archives(inventory, stack, settings))
        with _ONE_STACK:
            selected = _open(target, program, create=False, runs_program=True, secrets=secrets)
            selected.preview(color="never", on_event=on_preview, refresh=True, expect_no_changes=True)
    except auto.CommandError as error:
        if not (drifted and _NO_CHANGES_EXPECTED in command_output(error)[1]):
            raise _fail(error, target, secrets) from None
    except Exception as error:
        raise _fail(error, target, secrets) from None
    return drifted


def preview_changes(
    inventory: Inventory, stack: str, settings: Settings | None = None, events: EventSink | None = None
) -> list[ResourceDrift]:
    """``pulumi preview`` of ``stack``: the resources an update would create, update, replace or
    delete (operation, type, name and the names of the properties that differ; never values)."""
    require_pulumi_cli()
    require_receiver_secrets(inventory, stack, os.environ)
    target = stack_target(inventory, stack, settings)
    found: list[ResourceDrift] = []
    secrets = list(target.secrets)

    def collect(event: EngineEvent) -> None:
        change = drift_of(event)
        if change is not None:
            found.append(change)

    try:
        program = stack_program(inventory, stack, chart_archives(inventory, stack, settings))
        with _ONE_STACK:
            selected = _open(target, program, runs_program=True, secrets=secrets)
            on_event = _forward(Action.preview, events, secrets, collect)
            selected.preview(color="never", on_event=on_event)
    except Exception as error:
        raise _fail(error, target, secrets) from None
    return found


__all__ = [
    "CredentialSource",
    "ProgramFor",
    "PulumiEngine",
    "ResourceDrift",
    "StackTarget",
    "chart_archives",
    "chart_origins",
    "preview_changes",
    "preview_expect_no_changes",
    "require_pulumi_cli",
    "stack_outputs",
    "stale_lock_reason",
]
