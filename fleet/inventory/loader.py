"""The inventory: a directory with ``fleet.yaml`` and ``workloads/<name>.yaml`` files.

:func:`load_inventory` reads and checks everything at once and reports every problem it finds,
one ``file:line: field: message`` line each, as :class:`~fleet.errors.InvalidInventory`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from fleet.errors import InvalidInventory, UserError
from fleet.inventory.models import (
    CONTROLROOM,
    ControlRoomStack,
    Fleet,
    Workload,
    WorkloadStack,
    pulumi_project,
)
from fleet.inventory.yamlfile import Document, YamlSyntaxError, parse_text

FLEET_FILE = "fleet.yaml"
WORKLOADS_DIR = "workloads"
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Inventory:
    """A loaded, valid inventory."""

    root: Path
    fleet: Fleet
    workloads: tuple[Workload, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(w.name for w in self.workloads)

    def workload(self, name: str) -> Workload:
        for workload in self.workloads:
            if workload.name == name:
                return workload
        raise UserError(f"no workload named {name!r} in {self.root / WORKLOADS_DIR}")

    @property
    def state_dir(self) -> Path:
        """``<inventory>/.fleet``: the journal, renders and work dirs live here."""
        return self.root / ".fleet"

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
        )

    def workload_stack(self, name: str) -> WorkloadStack:
        """One workload program's input: its versions are the fleet's with its pins applied."""
        workload = self.workload(name)
        return WorkloadStack(
            fleet=self.fleet.name,
            workload=workload,
            versions=self.fleet.spec.versions.with_pins(workload.spec.versions),
            push_url=self.fleet.spec.control_room.push_url,
            controlroom_stack=f"organization/{pulumi_project(self.fleet.name)}/{CONTROLROOM}",
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


def _allowed_keys(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    current: Any = model
    for part in loc:
        fields = getattr(current, "model_fields", None)
        if fields is None or isinstance(part, int):
            return []
        info = next((f for n, f in fields.items() if (f.alias or n) == part), None)
        if info is None:
            return []
        annotation = info.annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        current = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if current is None:
            return []
    fields = getattr(current, "model_fields", {})
    return [f.alias or n for n, f in fields.items()]


def _problems(model: type[BaseModel], error: ValidationError, doc: Document, where: str) -> list[str]:
    problems = []
    for item in error.errors(include_url=False):
        loc = tuple(p for p in item["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        message = item["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        kind = item["type"]
        if kind == "extra_forbidden":
            allowed = _allowed_keys(model, loc[:-1])
            hint = f"; allowed keys: {', '.join(allowed)}" if allowed else ""
            message = f"unknown key (a typo?){hint}"
        elif kind == "missing":
            message = "required field is missing"
        elif kind == "string_type":
            message = f"expected a string, got {item['input']!r}; quote the value"
        elif kind == "value_error" and ": " in message:
            # Cross-field checks name the field they are about: "account_id: required when ..."
            head, rest = message.split(": ", 1)
            if head.isidentifier():
                loc, message = (*loc, head), rest
        line = doc.line_of(loc)
        problems.append(f"{where}:{line}: {_field(loc)}: {message}")
    return problems


def _parse(model: type[M], text: str, where: str) -> tuple[M | None, list[str], Document | None]:
    try:
        doc = parse_text(text)
    except YamlSyntaxError as exc:
        return None, [f"{where}:{exc.line}: {exc.message}"], None
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


def parse_fleet(text: str, where: str) -> tuple[Fleet | None, list[str]]:
    """Parse and check a ``fleet.yaml`` document; returns it (or None) and its problems."""
    fleet, problems, _doc = _parse(Fleet, text, where)
    return fleet, problems


def workload_files(root: Path) -> list[Path]:
    """The workload files of an inventory, sorted by name."""
    directory = root / WORKLOADS_DIR
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def load_inventory(root: Path) -> Inventory:
    """Load and check the inventory at ``root``; raises InvalidInventory listing every problem."""
    root = root.expanduser()
    fleet_path = root / FLEET_FILE
    if not fleet_path.is_file():
        raise UserError(
            f"{fleet_path}: no fleet.yaml here; pass --inventory DIR (or set FLEET_INVENTORY), "
            "or create one with `fleet init DIR`"
        )
    fleet, problems = parse_fleet(fleet_path.read_text(encoding="utf-8"), FLEET_FILE)
    workloads: list[Workload] = []
    seen: dict[str, str] = {}
    for path in workload_files(root):
        where = _display(path, root)
        workload, found, doc = parse_workload(path.read_text(encoding="utf-8"), where)
        problems.extend(found)
        if workload is None or doc is None:
            continue
        line = doc.line_of(("name",))
        if workload.name != path.stem:
            problems.append(
                f"{where}:{line}: name: {workload.name!r} differs from the file name; "
                f"rename the file to {WORKLOADS_DIR}/{workload.name}.yaml or change name"
            )
        elif workload.name in seen:
            problems.append(
                f"{where}:{line}: name: duplicate workload {workload.name!r}, also in {seen[workload.name]}"
            )
        else:
            seen[workload.name] = where
            workloads.append(workload)
    if problems:
        raise InvalidInventory(problems)
    assert fleet is not None
    return Inventory(root=root, fleet=fleet, workloads=tuple(sorted(workloads, key=lambda w: w.name)))


def write_atomically(path: Path, text: str, *, mode: int | None = None) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never half.

    ``mode`` (e.g. ``0o600`` for a file with secrets) is set before any byte is written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
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


def add_workload(root: Path, source: Path) -> Workload:
    """Onboard the workload in ``source``: check it against the schema and the inventory, then
    write it to ``workloads/<name>.yaml`` atomically. Nothing is written when anything is wrong."""
    inventory = load_inventory(root)
    if not source.is_file():
        raise UserError(f"{source}: no such file")
    text = source.read_text(encoding="utf-8")
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
    if source.stem != workload.name:
        raise InvalidInventory(
            [
                f"{source}:{line}: name: {workload.name!r} differs from the file name; "
                f"name the file {workload.name}.yaml or change name"
            ]
        )
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
    "write_atomically",
]
