"""``fleet charts pull`` and ``fleet charts list`` as a user runs them, against a real Helm chart
repository served over HTTP on loopback (archives from ../shared/charts, ``index.yaml`` written
by the real ``helm repo index``)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from chart_repository import (
    build_repository,
    closed_port,
    oci_registry,
    self_signed_certificate,
    serve,
    shared_charts,
    silent_server,
)
from typer.testing import CliRunner

from fleet.cli.main import app

runner = CliRunner()

VERSIONS = {"alloy": "1.4.0", "mimir": "6.0.0", "loki": "6.46.0", "grafana": "10.1.4"}
NEEDED = {
    "alloy-1.4.0.tgz",
    "mimir-distributed-6.0.0.tgz",
    "loki-6.46.0.tgz",
    "loki-6.30.1.tgz",
    "grafana-10.1.4.tgz",
}


@pytest.fixture(scope="module")
def repositories(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A web server with three repositories built from ../shared/charts: ``/charts`` (relative
    archive URLs), ``/abs`` (absolute URLs into ``/files``), ``/bad-digest`` (loki's digest wrong)."""
    archives = sorted(shared_charts().glob("*.tgz"))
    root = tmp_path_factory.mktemp("web")
    with serve(root) as base:
        build_repository(root / "charts", archives)
        build_repository(root / "abs", archives, url=f"{base}/files")
        (root / "files").mkdir()
        for archive in (root / "abs").glob("*.tgz"):
            archive.rename(root / "files" / archive.name)
        shutil.copytree(root / "charts", root / "bad-digest")
        index = root / "bad-digest" / "index.yaml"
        text = index.read_text()
        start = text.index("digest:", text.index("\n  loki:"))
        index.write_text(text[:start] + "digest: " + "f" * 64 + text[text.index("\n", start) :])
        yield base


def inventory(root: Path, repository: str, *, versions: dict[str, str] = VERSIONS) -> Path:
    """An inventory (the control room and workloads ``web``, pinning loki 6.30.1, and ``api``)
    whose four charts come from ``repository``."""
    (root / "workloads").mkdir(parents=True)
    pinned = ", ".join(f'{c}: "{v}"' for c, v in versions.items())
    sources = "".join(
        f"    {c}: {{repository: {repository}}}\n" for c in ("alloy", "mimir", "loki", "grafana")
    )
    (root / "fleet.yaml").write_text(
        "apiVersion: fleet/v1\nkind: Fleet\nname: acme\nspec:\n  control_room:\n"
        '    cloud: aws\n    region: us-east-1\n    account_id: "123456789012"\n'
        "    domain: ctrl.acme.example\n"
        f"  versions: {{{pinned}}}\n"
        f"  charts:\n{sources}"
    )
    (root / "workloads" / "web.yaml").write_text(
        "apiVersion: fleet/v1\nkind: Workload\nname: web\nspec:\n"
        '  cloud: aws\n  region: eu-west-1\n  account_id: "210987654321"\n'
        '  versions: {loki: "6.30.1"}\n'
    )
    (root / "workloads" / "api.yaml").write_text(
        "apiVersion: fleet/v1\nkind: Workload\nname: api\nspec:\n"
        '  cloud: aws\n  region: eu-west-1\n  account_id: "210987654321"\n'
    )
    return root


def fleet(cache: Path, *args: str | Path):  # type: ignore[no-untyped-def]
    return runner.invoke(app, [str(a) for a in args], env={"FLEET_CHART_CACHE": str(cache)})


def files(cache: Path) -> set[str]:
    """Every file in the cache, relative (hidden partial files included)."""
    return {str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file()} if cache.exists() else set()


@pytest.mark.parametrize("layout", ["charts", "abs"])
def test_pull_downloads_every_version_the_inventory_uses(
    repositories: str, tmp_path: Path, layout: str
) -> None:
    inv = inventory(tmp_path / "inv", f"{repositories}/{layout}")
    cache = tmp_path / "cache"
    result = fleet(cache, "-i", inv, "charts", "pull", "--all")
    assert result.exit_code == 0, result.output
    assert "pulled 5 chart version(s)" in result.stdout
    assert "[5/5] pulling" in result.stderr
    archives = {p.name for p in cache.glob("*.tgz")}
    assert archives == NEEDED
    for name in archives:  # byte for byte what the repository serves
        assert (cache / name).read_bytes() == (shared_charts() / name).read_bytes()
    assert files(cache) == NEEDED | {"index/127.0.0.1_" + f"{repositories.rsplit(':', 1)[1]}_{layout}.json"}

    again = fleet(cache, "-i", inv, "charts", "pull")
    assert again.exit_code == 0, again.output
    assert "pulled 0 chart version(s)" in again.stdout and "5 already cached" in again.stdout
    assert "fetching" not in again.stderr  # nothing to fetch: no network at all

    index = cache / "index" / f"127.0.0.1_{repositories.rsplit(':', 1)[1]}_{layout}.json"
    index.unlink()
    refreshed = fleet(cache, "-i", inv, "charts", "pull", "--refresh")
    assert refreshed.exit_code == 0, refreshed.output
    assert "fetching the index of" in refreshed.stderr and index.is_file()


def test_pull_of_named_stacks_takes_only_their_charts(repositories: str, tmp_path: Path) -> None:
    inv = inventory(tmp_path / "inv", f"{repositories}/charts")
    cache = tmp_path / "cache"
    result = fleet(cache, "-i", inv, "charts", "pull", "controlroom")
    assert result.exit_code == 0, result.output
    # The control room's Mimir, Grafana and collector (an Alloy); no Loki.
    assert {p.name for p in cache.glob("*.tgz")} == {
        "alloy-1.4.0.tgz",
        "mimir-distributed-6.0.0.tgz",
        "grafana-10.1.4.tgz",
    }
    assert fleet(cache, "-i", inv, "charts", "pull", "nope").exit_code == 2


def test_a_version_the_repository_does_not_publish_stops_the_pull(repositories: str, tmp_path: Path) -> None:
    inv = inventory(tmp_path / "inv", f"{repositories}/charts", versions={**VERSIONS, "mimir": "6.0.6"})
    cache = tmp_path / "cache"
    result = fleet(cache, "-i", inv, "charts", "pull")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        f"error: fleet.yaml:10: spec.versions.mimir: mimir-distributed 6.0.6 is not published in "
        f"{repositories}/charts; its newest there: 6.0.0"
    )
    assert not list(cache.glob("*.tgz"))  # nothing downloaded
    assert "Traceback" not in result.output

    # Now cached, the index answers `fleet validate` too, offline.
    validate = fleet(cache, "-i", inv, "validate")
    assert validate.exit_code == 2
    assert "fleet.yaml:10: spec.versions.mimir: mimir-distributed 6.0.6 is not published" in validate.stderr


def test_a_repository_that_is_down_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{closed_port()}/charts"
    inv = inventory(tmp_path / "inv", down)
    cache = tmp_path / "cache"
    result = fleet(cache, "-i", inv, "charts", "pull")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == f"error: cannot reach {down}/index.yaml: connection refused"
    assert files(cache) == set()


def test_a_repository_that_never_answers_times_out(tmp_path: Path) -> None:
    with silent_server() as base:
        inv = inventory(tmp_path / "inv", base)
        cache = tmp_path / "cache"
        result = fleet(cache, "-i", inv, "charts", "pull", "--timeout", "1")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == f"error: cannot reach {base}/index.yaml: timed out"
    assert files(cache) == set()


def test_an_archive_whose_digest_differs_is_not_stored(repositories: str, tmp_path: Path) -> None:
    inv = inventory(tmp_path / "inv", f"{repositories}/bad-digest")
    cache = tmp_path / "cache"
    result = fleet(cache, "-i", inv, "charts", "pull")
    assert result.exit_code == 1
    assert "differs from the index's ffff" in result.stderr
    names = files(cache)
    assert "loki-6.46.0.tgz" not in names and not [n for n in names if n.startswith(".")]  # no partial file
    assert "loki-6.30.1.tgz" in names  # pulled before, whole and checked


def test_pull_from_an_oci_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """OCI charts come through the real ``helm pull`` from a registry on loopback (HTTPS with a
    self-signed certificate that helm trusts through SSL_CERT_FILE)."""
    cert, key = self_signed_certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    with oci_registry(sorted(shared_charts().glob("*.tgz")), cert, key) as registry:
        inv = inventory(tmp_path / "inv", registry)
        cache = tmp_path / "cache"
        result = fleet(cache, "-i", inv, "charts", "pull", "--timeout", "90")
    assert result.exit_code == 0, result.output
    assert files(cache) == NEEDED  # no index for OCI, no leftovers
    for name in NEEDED:
        assert (cache / name).read_bytes() == (shared_charts() / name).read_bytes()


def test_an_oci_registry_that_is_down_is_one_line(tmp_path: Path) -> None:
    """OCI charts come through the real ``helm pull``; its failure is one line, nothing stored."""
    registry = f"oci://127.0.0.1:{closed_port()}/charts"
    inv = inventory(tmp_path / "inv", registry)
    cache = tmp_path / "cache"
    result = fleet(cache, "-i", inv, "charts", "pull", "--timeout", "90")
    assert result.exit_code == 1
    line = result.stderr.splitlines()[-1]
    assert line.startswith(f"error: helm pull {registry}/alloy --version 1.4.0: "), line
    assert "connection refused" in line
    assert files(cache) == set()


def test_pull_from_a_folder_then_list(tmp_path: Path) -> None:
    inv = inventory(tmp_path / "inv", "https://grafana.github.io/helm-charts")
    cache = tmp_path / "cache"
    before = json.loads(fleet(cache, "-i", inv, "charts", "list", "--output", "json").stdout)
    assert before["cache"] == str(cache)
    assert [(r["chart"], r["version"], r["cached"]) for r in before["charts"]] == [
        ("alloy", "1.4.0", False),
        ("mimir-distributed", "6.0.0", False),
        ("loki", "6.30.1", False),
        ("loki", "6.46.0", False),
        ("grafana", "10.1.4", False),
    ]

    result = fleet(cache, "-i", inv, "charts", "pull", "--from", shared_charts())
    assert result.exit_code == 0, result.output
    assert "imported 7 chart archive(s) and 2 index(es)" in result.stdout

    after = json.loads(fleet(cache, "-i", inv, "charts", "list", "-o", "json").stdout)
    rows = {(r["chart"], r["version"]): r for r in after["charts"]}
    assert all(r["cached"] for r in rows.values())
    loki = rows[("loki", "6.30.1")]
    assert loki["stacks"] == ["web"] and loki["places"] == ["workloads/web.yaml:8: spec.versions.loki"]
    assert loki["published"] is True and loki["path"] == str(cache / "loki-6.30.1.tgz")
    assert rows[("mimir-distributed", "6.0.0")]["stacks"] == ["controlroom", "api", "web"]
    assert not rows[("alloy", "1.11.1")]["needed"]  # in the cache, not used by this inventory

    table = fleet(cache, "-i", inv, "charts", "list")
    assert "5 of 5 chart version(s) the inventory needs are in" in table.stdout


def test_pull_from_a_folder_missing_a_version_fails_naming_it(tmp_path: Path) -> None:
    folder = tmp_path / "offline"
    folder.mkdir()
    shutil.copy2(shared_charts() / "alloy-1.4.0.tgz", folder)
    inv = inventory(tmp_path / "inv", "https://grafana.github.io/helm-charts")
    cache = tmp_path / "cache"
    result = fleet(cache, "-i", inv, "charts", "pull", "--from", folder)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        f"error: still not cached (not in {folder}): mimir-distributed 6.0.0, loki 6.30.1, loki 6.46.0, "
        "grafana 10.1.4"
    )
    assert {p.name for p in cache.glob("*.tgz")} == {"alloy-1.4.0.tgz"}


def test_pull_from_a_folder_rejects_a_mislabelled_archive(tmp_path: Path) -> None:
    folder = tmp_path / "offline"
    folder.mkdir()
    shutil.copy2(shared_charts() / "loki-6.30.1.tgz", folder / "loki-6.46.0.tgz")
    inv = inventory(tmp_path / "inv", "https://grafana.github.io/helm-charts")
    cache = tmp_path / "cache"
    result = fleet(cache, "-i", inv, "charts", "pull", "--from", folder)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        "error: loki-6.46.0.tgz: the archive holds loki 6.30.1, not loki 6.46.0; nothing was stored"
    )
    assert files(cache) == set()


def test_validate_names_the_repository_that_publishes_a_version(tmp_path: Path) -> None:
    """grafana 12.11.1 is published only by grafana-community: with Grafana's repository configured
    and both snapshot indexes cached, `fleet validate` says where to point spec.charts."""
    cache = tmp_path / "cache"
    inv = inventory(
        tmp_path / "inv",
        "https://grafana.github.io/helm-charts",
        versions={**VERSIONS, "grafana": "12.11.1"},
    )
    assert fleet(cache, "-i", inv, "charts", "pull", "--from", shared_charts()).exit_code == 0
    result = fleet(cache, "-i", inv, "validate")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        "error: fleet.yaml:10: spec.versions.grafana: grafana 12.11.1 is not published in "
        "https://grafana.github.io/helm-charts; it is published in "
        "https://grafana-community.github.io/helm-charts: set spec.charts.grafana.repository in fleet.yaml"
    )
