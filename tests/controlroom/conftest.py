"""Render the control-room program under the RenderEngine's mocks, for an inventory in tmp_path.

The fixture returns plans with secrets shown, plus the persisted state, so tests can check real
values: passwords, bcrypt hashes, chart values, cloud resources.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import inventories
import pytest
from inventories import AWS_ROOM, AZURE_ROOM, fleet_yaml

from fleet.engines.render import RenderEngine, default_programs
from fleet.inventory.loader import load_inventory
from fleet.inventory.models import CredentialGeneration


def write_inventory(root: Path, cloud: str, workloads: list[str], replicas: int = 3) -> Path:
    """A valid inventory with the control room on ``cloud`` and AWS workloads named ``workloads``."""
    fleet = fleet_yaml(
        AWS_ROOM if cloud == "aws" else AZURE_ROOM,
        room_extra="    cluster: {kubeconfig: /etc/kube/ctrl.yaml, context: ctrl}\n"
        f"    mimir: {{replicas: {replicas}, retention: 120d}}\n",
    )
    return inventories.write_inventory(root, workloads, fleet=fleet)


@dataclass
class Rendered:
    plan: dict[str, Any]
    state: dict[str, Any]

    def resources(self, type_: str) -> list[dict[str, Any]]:
        return [r for r in self.plan["resources"] if r["type"] == type_]

    def resource(self, name: str, type_: str | None = None) -> dict[str, Any]:
        """The one resource named ``name`` (of type ``type_``, where several share the name)."""
        (found,) = [
            r for r in self.plan["resources"] if r["name"] == name and (type_ is None or r["type"] == type_)
        ]
        return found

    def kubernetes(self, kind: str, name: str) -> dict[str, Any]:
        (found,) = [
            r["inputs"]
            for r in self.resources(f"kubernetes:core/v1:{kind}")
            if r["inputs"]["metadata"]["name"] == name
        ]
        return found

    def chart(self, name: str) -> dict[str, Any]:
        return self.resource(name)["inputs"]


RenderControlRoom = Callable[..., Rendered]


@pytest.fixture
def render_controlroom(tmp_path: Path) -> RenderControlRoom:
    """Render the control room for ``cloud`` and ``workloads`` (re-rendering reuses the state)."""
    out = tmp_path / "render"
    engine = RenderEngine(out, show_secrets=True, programs=default_programs())

    def render(
        cloud: str = "aws",
        workloads: tuple[str, ...] = ("alpha", "beta"),
        replicas: int = 3,
        credentials: dict[str, CredentialGeneration] | None = None,
    ) -> Rendered:
        root = write_inventory(tmp_path / "inventory", cloud, list(workloads), replicas)
        inventory = dataclasses.replace(load_inventory(root), credentials=credentials or {})
        path = engine.render(inventory, "controlroom")
        state = json.loads((out / ".state" / "controlroom.json").read_text(encoding="utf-8"))
        return Rendered(plan=json.loads(path.read_text(encoding="utf-8")), state=state)

    return render
