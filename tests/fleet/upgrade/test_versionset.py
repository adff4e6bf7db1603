"""Version-set changes: parsing ``--to`` and editing fleet.yaml in place, byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest
from inventories import EXAMPLE_INVENTORY as EXAMPLE
from inventories import copy_example

from fleet.errors import InvalidInventory, UserError
from fleet.inventory.loader import load_inventory
from fleet.inventory.models import VersionSet
from fleet.upgrade.versionset import apply_changes, edit_fleet_text, parse_changes, write_version_set

BLOCK = """\
# Production fleet.
apiVersion: fleet/v1
kind: Fleet
name: acme   # the fleet's name
spec:
  control_room:
    cloud: aws
    region: us-east-1
    account_id: "123456789012"
    domain: ctrl.acme.example
  versions:
      # chart versions, bumped by `fleet upgrade apply`
      alloy: 1.4.0      # pinned after the 1.3 regression
      mimir: '6.0.0'
      loki:   "6.46.0"
      grafana: "10.1.4"
  rollout: {canary: 1, wave_size: "50%"}   # keep canaries small
"""


def test_parse_changes_accepts_several_pairs_and_flags() -> None:
    assert parse_changes("alloy=1.5.0, mimir=6.1.0") == {"alloy": "1.5.0", "mimir": "6.1.0"}
    assert parse_changes(["alloy=1.5.0", "loki=6.47.0,alloy=1.5.0"]) == {"alloy": "1.5.0", "loki": "6.47.0"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("prometheus=2.0.0", "unknown component; use one of alloy, mimir, loki, grafana"),
        ("alloy", "expected component=version"),
        ("alloy=1.5.0,alloy=1.6.0", "alloy is given two versions (1.5.0 and 1.6.0)"),
        ("", "no versions given"),
    ],
)
def test_parse_changes_rejects_bad_input(text: str, message: str) -> None:
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_changes(text)


def test_apply_changes_validates_versions() -> None:
    current = VersionSet(alloy="1.4.0", mimir="6.0.0", loki="6.46.0", grafana="10.1.4")
    assert apply_changes(current, {"alloy": "1.5.0"}).alloy == "1.5.0"
    with pytest.raises(UserError, match=r"--to alloy: 'latest' is not a chart version"):
        apply_changes(current, {"alloy": "latest"})


def test_edit_changes_only_the_version_scalars_and_keeps_their_quotes() -> None:
    edited = edit_fleet_text(BLOCK, {"alloy": "1.5.0", "mimir": "6.1.0", "loki": "6.47.1"})
    assert edited == (
        BLOCK.replace("alloy: 1.4.0      #", "alloy: 1.5.0      #")
        .replace("mimir: '6.0.0'", "mimir: '6.1.0'")
        .replace('loki:   "6.46.0"', 'loki:   "6.47.1"')
    )


def test_edit_in_a_flow_mapping_keeps_the_rest_of_the_line() -> None:
    text = (EXAMPLE / "fleet.yaml").read_text()
    edited = edit_fleet_text(text, {"grafana": "10.2.0", "alloy": "1.5.0"})
    assert edited == text.replace(
        'versions: {alloy: "1.4.0", mimir: "6.0.0", loki: "6.46.0", grafana: "10.1.4"}',
        'versions: {alloy: "1.5.0", mimir: "6.0.0", loki: "6.46.0", grafana: "10.2.0"}',
    )


def test_edit_plain_scalars_in_a_flow_mapping() -> None:
    text = BLOCK.replace(
        """  versions:
      # chart versions, bumped by `fleet upgrade apply`
      alloy: 1.4.0      # pinned after the 1.3 regression
      mimir: '6.0.0'
      loki:   "6.46.0"
      grafana: "10.1.4"
""",
        "  versions: {alloy: 1.4.0,mimir: 6.0.0 , loki: 6.46.0, grafana: 10.1.4}  # flow\n",
    )
    edited = edit_fleet_text(text, {"mimir": "6.1.0-rc.1", "grafana": "10.2.0"})
    assert "versions: {alloy: 1.4.0,mimir: 6.1.0-rc.1 , loki: 6.46.0, grafana: 10.2.0}  # flow\n" in edited
    assert edited.replace("6.1.0-rc.1", "6.0.0").replace("10.2.0", "10.1.4") == text


def test_edit_rejects_a_file_without_versions() -> None:
    with pytest.raises(UserError, match=r"spec\.versions must be a mapping"):
        edit_fleet_text("apiVersion: fleet/v1\nspec: {}\n", {"alloy": "1.5.0"})


def test_edit_validates_the_result_with_line_numbers() -> None:
    with pytest.raises(InvalidInventory) as caught:
        edit_fleet_text(BLOCK, {"alloy": "not-a-version"})
    assert caught.value.problems == [
        "fleet.yaml:13: spec.versions.alloy: 'not-a-version' is not a chart version; "
        "expected a semantic version like 1.11.1"
    ]


def test_write_version_set_on_the_example_inventory(tmp_path: Path) -> None:
    root = tmp_path / "inv"
    copy_example(root)
    before = (root / "fleet.yaml").read_bytes()
    versions = write_version_set(root, {"alloy": "1.5.0"})
    assert versions.alloy == "1.5.0"
    assert (root / "fleet.yaml").read_bytes() == before.replace(b'alloy: "1.4.0"', b'alloy: "1.5.0"')
    assert load_inventory(root).fleet.spec.versions.alloy == "1.5.0"
    assert sorted(p.name for p in root.iterdir()) == ["fleet.yaml", "workloads"]  # no temp files left


def test_write_version_set_writes_nothing_when_invalid(tmp_path: Path) -> None:
    root = tmp_path / "inv"
    copy_example(root)
    before = (root / "fleet.yaml").read_bytes()
    with pytest.raises(InvalidInventory):
        write_version_set(root, {"mimir": "six"})
    assert (root / "fleet.yaml").read_bytes() == before
