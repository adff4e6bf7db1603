"""Changing the fleet's version set: ``--to alloy=1.5.0,mimir=6.1.0`` into ``fleet.yaml``.

People write ``fleet.yaml``; an upgrade must leave every byte they wrote in place except the
versions it changes. ruamel.yaml's round-trip loader tells where each version scalar starts;
only that scalar's text is replaced (keeping its quoting style). The edited text is then loaded
again and checked twice before it is written: its data must equal the old data with exactly the
requested versions changed, and it must still be a valid ``fleet.yaml``. The file is replaced
atomically, so a reader sees the old file or the new one.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from fleet.errors import InvalidInventory, OperationError, UserError
from fleet.inventory.loader import FLEET_FILE, Inventory, parse_fleet, write_atomically
from fleet.inventory.models import COMPONENTS, VersionSet
from fleet.messages import plain_message

_PAIR = re.compile(r"\s*([A-Za-z]+)\s*=\s*(\S+)\s*")
# Where a plain scalar inside a flow mapping (`{alloy: 1.4.0, mimir: ...}`) or a block ends.
_PLAIN_END = re.compile(r"\s*(,|}|]|\s#|$)", re.MULTILINE)


def parse_changes(specs: str | Sequence[str]) -> dict[str, str]:
    """The components and versions of ``--to`` arguments: ``"alloy=1.5.0,mimir=6.1.0"``.

    Several arguments may be given; each holds comma-separated ``component=version`` pairs.
    Raises UserError for an unknown component, a version that is not a chart version, a
    component given twice with different versions, or nothing at all.
    """
    texts = [specs] if isinstance(specs, str) else list(specs)
    changes: dict[str, str] = {}
    for text in texts:
        for part in text.split(","):
            if not part.strip():
                continue
            match = _PAIR.fullmatch(part)
            if match is None:
                raise UserError(f"--to {part.strip()!r}: expected component=version, like alloy=1.5.0")
            component, version = match.group(1).lower(), match.group(2)
            if component not in COMPONENTS:
                raise UserError(
                    f"--to {part.strip()!r}: unknown component; use one of {', '.join(COMPONENTS)}"
                )
            if changes.get(component, version) != version:
                raise UserError(
                    f"--to: {component} is given two versions ({changes[component]} and {version})"
                )
            changes[component] = version
    if not changes:
        raise UserError("--to: no versions given; expected component=version pairs, like alloy=1.5.0")
    return changes


def apply_changes(current: VersionSet, changes: Mapping[str, str]) -> VersionSet:
    """``current`` with ``changes`` applied; UserError naming the bad version if one is invalid."""
    data = current.model_dump() | dict(changes)
    try:
        return VersionSet.model_validate(data)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        component = str(first["loc"][0]) if first["loc"] else "versions"
        raise UserError(f"--to {component}: {plain_message(first)}") from None


def edit_fleet_text(text: str, changes: Mapping[str, str]) -> str:
    """``fleet.yaml`` text with ``spec.versions`` set to ``changes``, every other byte unchanged.

    Pure. Raises UserError when the file has no ``spec.versions`` mapping holding the changed
    components, or when the edited text would not be a valid ``fleet.yaml`` (the messages name
    lines); OperationError if the edit could not be proven to change exactly these versions.
    """
    before = _load(text)
    versions = _versions_map(before)
    offsets = _line_offsets(text)
    edits: list[tuple[int, int, str]] = []
    for component, version in changes.items():
        if component not in versions:
            raise UserError(f"{FLEET_FILE}: spec.versions has no {component}; add it by hand first")
        line, column = versions.lc.value(component)
        start = offsets[line] + column
        end = _scalar_end(text, start)
        edits.append((start, end, _scalar(text[start:end], version)))
    edited = text
    for start, end, replacement in sorted(edits, reverse=True):
        edited = edited[:start] + replacement + edited[end:]

    expected = _plain(before)
    expected["spec"]["versions"].update(changes)
    if _plain(_load(edited)) != expected:
        raise OperationError(
            f"{FLEET_FILE}: could not change spec.versions in place (anchors or unusual YAML?); "
            "edit it by hand"
        )
    fleet, problems = parse_fleet(edited, FLEET_FILE)
    if fleet is None:
        raise InvalidInventory(problems)
    return edited


def with_version_set(inventory: Inventory, changes: Mapping[str, str]) -> Inventory:
    """``inventory`` as it will be once ``changes`` are written into its fleet.yaml, in memory:
    what an upgrade is planned and locked with before the file changes."""
    text = (inventory.root / FLEET_FILE).read_text(encoding="utf-8")
    fleet, _problems = parse_fleet(edit_fleet_text(text, changes), FLEET_FILE)
    assert fleet is not None  # edit_fleet_text has validated it
    return dataclasses.replace(inventory, fleet=fleet)


def write_version_set(root: Path, changes: Mapping[str, str]) -> VersionSet:
    """Write ``changes`` into ``<root>/fleet.yaml`` (see :func:`edit_fleet_text`), atomically.

    Returns the new version set. Nothing is written when anything is wrong, or when the file
    already holds these versions.
    """
    path = root.expanduser() / FLEET_FILE
    if not path.is_file():
        raise UserError(f"{path}: no fleet.yaml here")
    text = path.read_text(encoding="utf-8")
    edited = edit_fleet_text(text, changes)
    fleet, _problems = parse_fleet(edited, FLEET_FILE)
    assert fleet is not None  # edit_fleet_text has validated it
    if edited != text:
        write_atomically(path, edited)
    return fleet.spec.versions


def _load(text: str) -> Any:
    yaml = YAML(typ="rt")
    try:
        return yaml.load(text)
    except YAMLError as error:
        raise UserError(f"{FLEET_FILE}: invalid YAML: {str(error).splitlines()[0]}") from None


def _versions_map(document: Any) -> CommentedMap:
    spec = document.get("spec") if isinstance(document, CommentedMap) else None
    versions = spec.get("versions") if isinstance(spec, CommentedMap) else None
    if not isinstance(versions, CommentedMap):
        raise UserError(f"{FLEET_FILE}: spec.versions must be a mapping of component: version")
    return versions


def _line_offsets(text: str) -> list[int]:
    offsets = [0]
    for line in text.splitlines(keepends=True):
        offsets.append(offsets[-1] + len(line))
    return offsets


def _scalar_end(text: str, start: int) -> int:
    """The end offset of the one-line scalar token starting at ``start``."""
    quote = text[start] if start < len(text) else ""
    if quote == '"':
        index = start + 1
        while index < len(text) and text[index] not in '"\n':
            index += 2 if text[index] == "\\" else 1
        if index >= len(text) or text[index] != '"':
            raise OperationError(f"{FLEET_FILE}: a version spans several lines; edit it by hand")
        return index + 1
    if quote == "'":
        index = start + 1
        while index < len(text) and text[index] != "\n":
            if text[index] == "'":
                if text[index + 1 : index + 2] == "'":
                    index += 2
                    continue
                return index + 1
            index += 1
        raise OperationError(f"{FLEET_FILE}: a version spans several lines; edit it by hand")
    match = _PLAIN_END.search(text, start)
    assert match is not None  # `$` always matches at the end of a line
    return match.start()


def _scalar(old_token: str, version: str) -> str:
    """``version`` written in the quoting style of ``old_token``."""
    if old_token.startswith('"'):
        return f'"{version}"'
    if old_token.startswith("'"):
        return f"'{version}'"
    # A plain scalar must still read as a string (a chart version always does; stay careful).
    return version if isinstance(YAML(typ="safe").load(version), str) else f'"{version}"'


def _plain(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {str(key): _plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_plain(item) for item in node]
    if isinstance(node, str):
        return str(node)
    return node
