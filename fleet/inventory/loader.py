"""The inventory: a directory with ``fleet.yaml`` and ``workloads/<name>.yaml`` files.

:func:`load_inventory` reads and checks everything at once and reports every problem it finds,
one ``file:line: field: message`` line each, as :class:`~fleet.errors.InvalidInventory`.
"""

from __future__ import annotations

import gc
import os
import re
import secrets
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from fleet.errors import InvalidInventory, UserError, did_you_mean
from fleet.inventory.fastyaml import Unsupported, fast_load
from fleet.inventory.files import (
    FLEET_FILE,
    WORKLOADS_DIR,
    file_problem,
    workload_entries,
    workload_name_problem,
    workloads_dir_problem,
)
from fleet.inventory.models import (
    CONTROLROOM,
    ControlRoomStack,
    CredentialGeneration,
    Fleet,
    Workload,
    WorkloadStack,
)
from fleet.inventory.yamlfile import MAX_ECHO, Document, DocumentError, parse_text, read_text, shorten
from fleet.messages import plain_message

M = TypeVar("M", bound=BaseModel)


def stack_work_dir(root: Path, stack: str) -> Path:
    """``<root>/.fleet/work/<stack>``: where the Pulumi engine keeps one stack's workspace
    (``Pulumi.yaml`` and the stack's settings file; the stack's state lives in the backend)."""
    return root / ".fleet" / "work" / stack


@dataclass(frozen=True)
class Inventory:
    """A loaded, valid inventory."""

    root: Path
    fleet: Fleet
    workloads: tuple[Workload, ...]
    credentials: Mapping[str, CredentialGeneration] = field(default_factory=dict)
    """The workloads' password generations, from the journal (``fleet credentials rotate``);
    empty when read from files alone: every workload on generation 0."""

    @cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(w.name for w in self.workloads)

    @cached_property
    def _by_name(self) -> dict[str, Workload]:
        # workload(name) runs once per stack: a lookup, not a scan (10^8 compares at 10,000 stacks)
        return {w.name: w for w in self.workloads}

    def workload(self, name: str) -> Workload:
        workload = self._by_name.get(name)
        if workload is not None:
            return workload
        raise UserError(f"no workload named {name!r} in {self.root / WORKLOADS_DIR}")

    @property
    def state_dir(self) -> Path:
        """``<inventory>/.fleet``: the journal, renders and work dirs live here."""
        return self.root / ".fleet"

    def work_dir(self, stack: str) -> Path:
        """The Pulumi workspace directory of ``stack`` (:func:`stack_work_dir`)."""
        return stack_work_dir(self.root, stack)

    def controlroom_stack(self) -> ControlRoomStack:
        """The control-room program's input."""
        return ControlRoomStack(
            fleet=self.fleet.name,
            control_room=self.fleet.spec.control_room,
            versions=self.fleet.spec.versions,
            workloads=self.names,
            alerting=self.fleet.spec.alerting,
            tenant_limits={name: self.workload(name).spec.central.limits for name in self.names},
            charts=self.fleet.spec.charts,
            credentials={name: self.credentials[name] for name in self.names if name in self.credentials},
        )

    def workload_stack(self, name: str) -> WorkloadStack:
        """One workload program's input: its versions are the fleet's with its pins applied."""
        workload = self.workload(name)
        return WorkloadStack(
            fleet=self.fleet.name,
            workload=workload,
            versions=self.fleet.spec.versions.with_pins(workload.spec.versions),
            push_url=self.fleet.spec.control_room.push_url,
            thresholds=workload.spec.alerting.thresholds or self.fleet.spec.alerting.thresholds,
            charts=self.fleet.spec.charts,
        )

    def stacks(self) -> tuple[str, ...]:
        """Every stack: the control room, then the workloads by name."""
        return (CONTROLROOM, *self.names)


def _display(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _field(loc: Iterable[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds: itself, or the model inside ``list[...]``, ``... | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in getattr(annotation, "__args__", ()):
        found = _model_in(argument)
        if found is not None:
            return found
    return None


def _allowed_keys(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    current: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int):
            continue  # an item of a list: ``current`` is already the list's model
        fields = current.model_fields if current is not None else {}
        info = next((f for n, f in fields.items() if (f.alias or n) == part), None)
        current = _model_in(info.annotation) if info is not None else None
        if current is None:
            return []
    return [f.alias or n for n, f in (current.model_fields if current is not None else {}).items()]


SECRET_INLINE = (
    "a secret is never written into the inventory; refer to it: {env: VARIABLE} or "
    "{kubernetes: <secret>/<key>}"
)
"""What a receiver's secret field given as a value is told (the value is never repeated)."""

_SAID_OF_THE_VALUE = frozenset(
    {"string_pattern_mismatch", "too_short", "too_long", "string_too_short", "string_too_long"}
)
"""Pydantic's checks of a value's form: said as ``'<value>' <what it must be>``."""
_BOUNDS = frozenset({"greater_than_equal", "greater_than", "less_than_equal", "less_than"})


def _problems(model: type[BaseModel], error: ValidationError, doc: Document, where: str) -> list[str]:
    problems = []
    for item in error.errors(include_url=False):
        loc = tuple(p for p in item["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        message = item["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        value = item.get("input")
        if isinstance(value, str) and len(value) > MAX_ECHO:  # a validator quoting a huge value
            message = message.replace(repr(value), shorten(repr(value)))
        kind = item["type"]
        if kind == "extra_forbidden":
            allowed = _allowed_keys(model, loc[:-1])
            hint = f"; allowed keys: {', '.join(allowed)}" if allowed else ""
            guess = did_you_mean(str(loc[-1]), allowed) if loc else ""
            message = f"unknown key{guess or ' (a typo?)'}{hint}"
        elif kind == "missing":
            message = "required field is missing"
        elif kind == "string_type":
            # Quoting makes a number or a boolean a string; a list or a mapping needs rewriting.
            quote = "; quote the value" if not isinstance(value, list | dict) else ""
            message = f"expected a string, got {shorten(repr(value))}{quote}"
        elif loc and loc[-1] == "[key]" and kind in ("literal_error", "enum"):
            # A key of a mapping whose keys are fixed names (resources: {<component>: ...}).
            key, loc = loc[-2], loc[:-2]
            allowed = re.findall(r"'([^']*)'", str(item.get("ctx", {}).get("expected", "")))
            guess = did_you_mean(str(key), allowed)
            message = (
                f"unknown key {shorten(repr(key))}{guess or ' (a typo?)'}; allowed keys: {', '.join(allowed)}"
            )
        elif kind in ("model_type", "model_attributes_type"):
            if item.get("ctx", {}).get("class_name") == "SecretRef":
                message = SECRET_INLINE
            else:
                keys = _allowed_keys(model, loc)
                listed = f" (keys: {', '.join(keys)})" if keys else ""
                # A string is never repeated: where a mapping belongs it may be a receiver's secret URL.
                got = "a string" if isinstance(value, str) else shorten(repr(value))
                message = f"expected a mapping{listed}, got {got}"
        elif kind in _BOUNDS:
            message = f"{plain_message(item)}, got {shorten(repr(value))}"
        elif kind in _SAID_OF_THE_VALUE:
            message = f"{shorten(repr(value))} {plain_message(item)}"
        elif kind in ("literal_error", "enum"):
            expected = str(item.get("ctx", {}).get("expected", ""))
            guess = did_you_mean(value, re.findall(r"'([^']*)'", expected)) if isinstance(value, str) else ""
            message = f"expected {expected}, got {shorten(repr(value))}{guess}"
        elif kind in _STRICT_TYPES:
            message = f"expected {_STRICT_TYPES[kind]}, got {shorten(repr(item['input']))}"
        elif kind == "value_error" and ": " in message:
            # Cross-field checks name the field they are about: "account_id: required when ..."
            head, rest = message.split(": ", 1)
            if head.isidentifier():
                loc, message = (*loc, head), rest
        line = doc.line_of(loc)
        problems.append(f"{where}:{line}: {_field(loc)}: {message}")
    return problems


_STRICT_TYPES = {
    "int_type": "an integer",
    "bool_type": "true or false",
    "float_type": "a number",
    "dict_type": "a mapping",
    "list_type": "a list",
}
"""Pydantic's strict type errors, in the inventory's words (``replicas: true`` is not 1)."""


def _parse(model: type[M], text: str, where: str) -> tuple[M | None, list[str], Document | None]:
    try:
        doc = parse_text(text)
    except DocumentError as exc:
        return None, [exc.at(where)], None
    if not isinstance(doc.data, dict):
        return (
            None,
            [f"{where}:1: (document): expected a mapping with apiVersion, kind, name, spec"],
            doc,
        )
    try:
        return model.model_validate(doc.data), [], doc
    except ValidationError as exc:
        return None, _problems(model, exc, doc, where), doc


def parse_workload(text: str, where: str) -> tuple[Workload | None, list[str], Document | None]:
    """Parse and check one workload document; returns it (or None) and its problems."""
    return _parse(Workload, text, where)


def fast_workload(text: str) -> Workload | None:
    """The fast path: ``text`` as a valid Workload, or None when it is not one or the fast
    reader declines it. No line numbers: :func:`parse_workload` reads the file again for those."""
    try:
        data = fast_load(text)
    except Unsupported:
        return None
    if not isinstance(data, dict):
        return None
    try:
        return Workload.model_validate(data)
    except ValidationError:
        return None


def parse_fleet(text: str, where: str) -> tuple[Fleet | None, list[str]]:
    """Parse and check a ``fleet.yaml`` document; returns it (or None) and its problems."""
    fleet, problems, _doc = _parse(Fleet, text, where)
    return fleet, problems


def _read(path: Path, root: Path, where: str) -> tuple[str | None, list[str]]:
    """The text of the inventory file ``path``, or the one problem that keeps it from being read."""
    problem = file_problem(path, root)
    if problem is not None:
        return None, [f"{where}: {problem}"]
    try:
        return read_text(path), []
    except DocumentError as exc:
        return None, [exc.at(where)]


def load_workload_file(path: Path, root: Path) -> tuple[Workload | None, list[str]]:
    """One entry of ``<root>/workloads``: its workload, or None and its problems."""
    where = _display(path, root)
    name_problem = workload_name_problem(path)
    if name_problem is not None:
        return None, [f"{where}: {name_problem}"]
    text, problems = _read(path, root, where)
    if text is None:
        return None, problems
    fast = fast_workload(text)
    if fast is not None and fast.name == path.name.removesuffix(".yaml"):
        return fast, []
    # A problem, or beyond the fast reader: the full loader says where.
    workload, problems, doc = parse_workload(text, where)
    if workload is None or doc is None:
        return None, problems
    if workload.name != path.name.removesuffix(".yaml"):
        # File names are unique, so this also keeps two files from holding one workload.
        return None, [
            f"{where}:{doc.line_of(('name',))}: name: {workload.name!r} differs from the file name; "
            f"rename the file to {WORKLOADS_DIR}/{workload.name}.yaml or change name"
        ]
    return workload, []


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while an inventory loads, as it was after.

    Loading allocates a few hundred objects per file and frees them by reference counting (no
    cycles), yet every few hundred allocations the collector runs, and each of its passes walks
    the objects allocated so far: at 10,000 workloads, three quarters of pydantic's time (1.2 s
    of CPU; 0.3 s with the collector off). Any cycle made meanwhile is collected later. The
    collector then sees the inventory's objects once more, unless the caller, keeping the
    inventory to the end (the CLI), freezes them (``gc.freeze``).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_inventory(root: Path) -> Inventory:
    """Load and check the inventory at ``root``; raises InvalidInventory listing every problem.

    Every entry of ``workloads/`` is a workload file or a problem (see :mod:`fleet.inventory.files`).
    """
    with _collector_paused():
        return _load_inventory(root)


def _load_inventory(root: Path) -> Inventory:
    root = root.expanduser()
    fleet_path = root / FLEET_FILE
    if root.is_file():
        raise UserError(
            f"{root}: a file, not an inventory directory; "
            f"pass the directory that holds {FLEET_FILE} (--inventory {root.parent})"
        )
    if not fleet_path.is_symlink() and not fleet_path.exists():
        raise UserError(
            f"{fleet_path}: no fleet.yaml here; pass --inventory DIR (or set FLEET_INVENTORY), "
            "or create one with `fleet init DIR`"
        )
    fleet: Fleet | None = None
    text, problems = _read(fleet_path, root, FLEET_FILE)
    if text is not None:
        fleet, problems = parse_fleet(text, FLEET_FILE)
    directory_problem = workloads_dir_problem(root)
    if directory_problem is not None:
        problems.append(f"{WORKLOADS_DIR}: {directory_problem}")
    workloads: list[Workload] = []
    for path in workload_entries(root) if directory_problem is None else []:
        workload, found = load_workload_file(path, root)
        problems.extend(found)
        if workload is not None:
            workloads.append(workload)
    if problems:
        raise InvalidInventory(problems)
    assert fleet is not None
    return Inventory(root=root, fleet=fleet, workloads=tuple(sorted(workloads, key=lambda w: w.name)))


def write_atomically(path: Path, text: str, *, mode: int | None = None) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never half.

    ``mode`` (e.g. ``0o600`` for a file with secrets) is set before any byte is written; without
    it, a file that exists keeps its mode and a new one gets what the umask allows (as an editor
    would write it), not the 0600 of a bare temporary file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode is None and path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
    while True:
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
            break
        except FileExistsError:
            continue
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


OnboardingCheck = Callable[[Inventory, Workload, str, Document], list[str]]
"""A further check of a workload about to be added: ``(inventory, workload, where, doc)`` to the
problems, as ``file:line: field: message`` lines (the CLI's checks the charts)."""


def add_workload(
    root: Path, source: Path, text: str | None = None, *, check: OnboardingCheck | None = None
) -> Workload:
    """Onboard the workload in ``source`` (or ``text``, read from ``source`` when None; the CLI
    passes stdin's text for ``-``): check it against the schema, the inventory and ``check``, then
    write it to ``workloads/<name>.yaml``, named from its ``name``, atomically. Nothing is written
    when anything is wrong, in the new file or in the inventory."""
    inventory = load_inventory(root)
    if text is None:
        if not source.is_file():
            raise UserError(f"{source}: {'not a regular file' if source.exists() else 'no such file'}")
        try:
            text = read_text(source)
        except DocumentError as exc:
            raise UserError(exc.at(str(source))) from None
    workload, problems, doc = parse_workload(text, str(source))
    if workload is None or doc is None:
        raise InvalidInventory(problems)
    line = doc.line_of(("name",))
    if workload.name in inventory.names:
        raise InvalidInventory(
            [
                f"{source}:{line}: name: workload {workload.name!r} already exists in "
                f"{WORKLOADS_DIR}/{workload.name}.yaml; choose another name or edit that file"
            ]
        )
    problems = check(inventory, workload, str(source), doc) if check is not None else []
    if problems:
        raise InvalidInventory(problems)
    target = root / WORKLOADS_DIR / f"{workload.name}.yaml"
    if target.exists():  # e.g. an unparseable leftover with that name
        raise UserError(f"{_display(target, root)} already exists; remove it or choose another name")
    write_atomically(target, text)
    return workload


__all__ = [
    "CONTROLROOM",
    "Inventory",
    "add_workload",
    "load_inventory",
    "parse_fleet",
    "parse_workload",
    "workload_entries",
    "write_atomically",
]
