"""Reading Helm repository indexes: the real snapshots of Grafana's two repositories, and the
shapes ``helm repo index`` writes."""

from __future__ import annotations

import pytest
from chart_repository import SNAPSHOT_FILES, snapshot_index

from fleet.charts.index import ChartEntry, RepositoryIndex, index_url, parse_index, repository_key
from fleet.errors import UserError
from fleet.inventory.models import GRAFANA_COMMUNITY_REPOSITORY, GRAFANA_REPOSITORY

CHARTS = {"alloy", "loki", "grafana", "mimir-distributed"}


def test_repository_key_is_the_snapshot_file_name() -> None:
    for repository, name in SNAPSHOT_FILES.items():
        assert f"{repository_key(repository)}.yaml.gz" == name
    assert repository_key("https://user:secret@charts.example.com/a/b/") == "charts.example.com_a_b"
    assert index_url("https://charts.example.com/x/") == "https://charts.example.com/x/index.yaml"


def test_the_grafana_chart_moved_to_grafana_community() -> None:
    """The fact spec.charts' defaults rest on: Grafana's repository stops at grafana 10.5.15."""
    grafana = snapshot_index(GRAFANA_REPOSITORY)
    community = snapshot_index(GRAFANA_COMMUNITY_REPOSITORY)
    assert grafana.versions("grafana")[0] == "10.5.15"
    assert grafana.entry("grafana", "12.11.1") is None
    assert community.entry("grafana", "12.11.1") is not None
    assert community.entry("grafana", "10.1.4") is not None
    assert grafana.entry("mimir-distributed", "6.0.0") is not None
    assert community.versions("mimir-distributed") == []
    assert set(grafana.entries) == CHARTS  # only fleet's charts are kept


def test_entries_carry_the_archive_url_and_digest() -> None:
    entry = snapshot_index(GRAFANA_REPOSITORY).entry("loki", "6.46.0")
    assert entry is not None
    assert entry.urls == (
        "https://github.com/grafana/helm-charts/releases/download/helm-loki-6.46.0/loki-6.46.0.tgz",
    )
    assert entry.digest is not None and len(entry.digest) == 64


def test_relative_archive_urls_resolve_against_the_repository() -> None:
    index = RepositoryIndex("http://127.0.0.1:8080/charts", {})
    entry = ChartEntry("1.4.0", ("alloy-1.4.0.tgz",))
    assert index.archive_url(entry) == "http://127.0.0.1:8080/charts/alloy-1.4.0.tgz"
    absolute = ChartEntry("1.4.0", ("https://files.example.com/alloy-1.4.0.tgz",))
    assert index.archive_url(absolute) == "https://files.example.com/alloy-1.4.0.tgz"


def test_an_index_in_another_layout_is_read_whole() -> None:
    """JSON (valid YAML) or other indentation: no fast path, the same answer."""
    text = b'{"apiVersion": "v1", "entries": {"alloy": [{"version": "1.4.0", "urls": ["a.tgz"]}]}}'
    index = parse_index(text, "https://charts.example.com", CHARTS)
    assert index.versions("alloy") == ["1.4.0"] and index.entry("alloy", "1.4.0") == ChartEntry(
        "1.4.0", ("a.tgz",), None
    )


def test_scalars_stay_the_text_they_are_written_as() -> None:
    """A digest of digits keeps its leading zeros; a version like 1.10 is not the number 1.1."""
    text = (
        b"apiVersion: v1\nentries:\n  alloy:\n  - version: 1.10\n    digest: 0000123\n    urls:\n"
        b"    - alloy-1.10.tgz\n  - version: 1.4.0\n    digest: null\n    urls: []\n"
    )
    index = parse_index(text, "https://charts.example.com", CHARTS)
    assert index.entry("alloy", "1.10") == ChartEntry("1.10", ("alloy-1.10.tgz",), "0000123")
    assert index.entry("alloy", "1.4.0") == ChartEntry("1.4.0", (), None)


def test_the_json_form_round_trips() -> None:
    index = snapshot_index(GRAFANA_COMMUNITY_REPOSITORY)
    again = RepositoryIndex.from_json(index.to_json())
    assert again == RepositoryIndex(index.repository, index.entries, index.generated)
    assert again.versions("grafana") == index.versions("grafana")


@pytest.mark.parametrize("data", [b"<html>not found</html>", b"- a\n- b\n", b"\xff\xfe", b"entries: ["])
def test_something_else_is_one_line_naming_the_repository(data: bytes) -> None:
    with pytest.raises(UserError) as caught:
        parse_index(data, "https://charts.example.com", CHARTS)
    message = caught.value.message
    assert message.startswith("https://charts.example.com/index.yaml: not a Helm repository index")
    assert "\n" not in message
