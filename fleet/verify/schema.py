"""Kubernetes' own schemas for each object, strict (no unknown fields), for a cluster version.

The schemas are kubernetes-validate's (the OpenAPI schemas of each Kubernetes release, with
``additionalProperties: false`` in the strict set). Its ``validate`` reads and compiles two
schema files per object; a stack has hundreds of objects and a handful of kinds, so the
compiled validator of each (version, kind) is kept.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources
from typing import Any

import jsonschema
from referencing import Registry, Resource

__all__ = ["SchemaProblem", "UnknownKind", "schema_problems"]


class UnknownKind(Exception):
    """Kubernetes (at that version) has no schema for this apiVersion and kind."""


class SchemaProblem(Exception):
    """The object breaks its kind's schema."""


def _schema_dir(version: str) -> str:
    from kubernetes_validate.utils import all_versions, major_minor

    wanted = major_minor(version)
    known = [
        v
        for v in all_versions()
        if tuple(map(int, major_minor(v).split("."))) <= tuple(map(int, wanted.split(".")))
    ]
    if not known:
        raise UnknownKind(f"kubernetes-validate has no schemas for Kubernetes {version}")
    return f"v{known[-1]}-local-strict"


def _load(path: str) -> Any:
    return json.loads(resources.files("kubernetes_validate").joinpath(path).read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=8)
def _definitions(schema_dir: str) -> Resource[Any]:
    return Resource.from_contents(_load(f"kubernetes-json-schema/{schema_dir}/_definitions.json"))


@functools.lru_cache(maxsize=512)
def _validator(schema_dir: str, kind: str, api_version: str) -> jsonschema.protocols.Validator:
    # rbac.authorization.k8s.io/v1 -> rbac-v1, as the schema files are named
    flat = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = _load(f"kubernetes-json-schema/{schema_dir}/{kind.lower()}-{flat}.json")
    except FileNotFoundError:
        raise UnknownKind(f"no schema for {api_version} {kind}") from None
    registry: Registry[Any] = Resource.from_contents(schema) @ Registry()
    registry = _definitions(schema_dir) @ registry
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def schema_problems(manifest: dict[str, Any], version: str) -> list[str]:
    """Every way ``manifest`` breaks its kind's strict schema at Kubernetes ``version``
    (``path: message``). Raises UnknownKind when Kubernetes has no such kind."""
    validator = _validator(_schema_dir(version), str(manifest.get("kind")), str(manifest.get("apiVersion")))
    problems = []
    for error in validator.iter_errors(manifest):
        where = ".".join(str(p) for p in error.absolute_path) or "(object)"
        problems.append(f"{where}: {error.message}")
    return problems
