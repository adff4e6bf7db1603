"""`helm template` on the real chart archives: documents parsed, hooks told apart, one run per
distinct input, Helm's own reason when a chart refuses its values."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from charts import real_charts

from fleet.charts import helm
from fleet.charts.helm import helm_binary, load_yaml, template
from fleet.errors import MissingTool, OperationError


@pytest.fixture(scope="module")
def cache() -> object:
    with real_charts() as path:
        yield path


def test_documents_and_hooks(cache: Path) -> None:
    rendered = template(
        cache / "grafana-10.1.4.tgz", release="grafana", namespace="grafana", values={}, kube_version="1.31"
    )
    kinds = {
        (item.manifest["kind"], item.manifest["metadata"]["name"]) for item in rendered if item.hook is None
    }
    assert ("Deployment", "grafana") in kinds
    assert all(item.source.startswith("grafana/templates/") for item in rendered)
    hooks = [item for item in rendered if item.hook is not None]
    assert hooks and all("test" in str(item.hook) for item in hooks)


def test_the_same_inputs_render_once(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = cache / "alloy-1.4.0.tgz"
    values = {"fullnameOverride": "once"}
    first = template(archive, release="alloy", namespace="alloy", values=values, kube_version="1.31")
    monkeypatch.setenv("FLEET_HELM", "/nonexistent/helm")  # a second run would fail
    again = template(archive, release="alloy", namespace="alloy", values=values, kube_version="1.31")
    assert again == first
    with pytest.raises(OperationError, match="FLEET_HELM=/nonexistent/helm"):
        template(archive, release="alloy", namespace="alloy", values={"other": 1}, kube_version="1.31")


def test_helms_reason_in_one_line(cache: Path) -> None:
    with pytest.raises(OperationError) as caught:
        template(
            cache / "mimir-distributed-6.0.0.tgz",
            release="mimir",
            namespace="mimir",
            values={"global": {"podLabels": {"azure.workload.identity/use": "true"}}},
            kube_version="1.31",
        )
    message = str(caught.value)
    assert message.startswith("mimir-distributed-6.0.0.tgz: helm template failed: YAML parse error")
    assert "\n" not in message


def test_the_kube_version_is_helms_capabilities(cache: Path) -> None:
    with pytest.raises(OperationError, match="kubeVersion"):  # the chart needs >= 1.29
        template(
            cache / "mimir-distributed-6.0.0.tgz", release="m", namespace="m", values={}, kube_version="1.25"
        )


def test_yaml_is_read_as_the_api_server_reads_it() -> None:
    # Kubernetes' YAML reader turns unquoted yes/on into booleans; dates stay text.
    assert load_yaml("a: yes\nb: 2024-04-01\nc: '1'\n") == {"a": True, "b": "2024-04-01", "c": "1"}
    assert helm.HOOK_ANNOTATION == "helm.sh/hook"


def _executable(path: Path, version: str = "v4.1.4") -> Path:
    """A stand-in ``helm`` that reports ``version``."""
    path.write_text(f"#!/bin/sh\necho {version}\n")
    path.chmod(0o755)
    return path


def test_fleet_helm_wins_over_path(tmp_path: Path) -> None:
    chosen = _executable(tmp_path / "my-helm")
    (tmp_path / "bin").mkdir()
    _executable(tmp_path / "bin" / "helm")
    env = {"FLEET_HELM": str(chosen), "PATH": str(tmp_path / "bin")}
    assert helm_binary(env) == str(chosen)


def test_helm_on_path(tmp_path: Path) -> None:
    found = _executable(tmp_path / "helm")
    assert helm_binary({"PATH": str(tmp_path)}) == str(found)


def test_fleet_helm_that_is_not_executable_is_one_line_naming_it(tmp_path: Path) -> None:
    with pytest.raises(MissingTool) as caught:
        helm_binary({"FLEET_HELM": str(tmp_path / "nope"), "PATH": ""})
    assert "FLEET_HELM=" in caught.value.message and "\n" not in caught.value.message


@pytest.mark.parametrize("version", ["v3.17.0", "garbage"])
def test_a_helm_that_is_not_v4_is_refused(tmp_path: Path, version: str) -> None:
    _executable(tmp_path / "helm", version)
    with pytest.raises(MissingTool) as caught:
        helm_binary({"PATH": str(tmp_path)})
    assert "fleet needs Helm v4" in caught.value.message and "\n" not in caught.value.message


def test_missing_helm_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.executable", str(tmp_path / "python"))  # no venv helm beside it
    with pytest.raises(MissingTool) as caught:
        helm_binary({"PATH": str(tmp_path)})
    assert "no helm on PATH" in caught.value.message
    assert "FLEET_HELM" in caught.value.message and "\n" not in caught.value.message


def test_the_venv_helm_is_helm_v4() -> None:
    """`make test` installs Helm v4 into the venv (scripts/install-helm.py); the tests render with it."""
    helm = helm_binary()  # FLEET_HELM: the venv's, set for every chart test (conftest.py)
    version = subprocess.run(
        [helm, "version", "--template", "{{.Version}}"], capture_output=True, text=True, check=True
    ).stdout
    assert version.startswith("v4."), version
