"""Grafana's Helm charts from their configured repositories, and the value formats their configs share."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from fleet.inventory.durations import parse_duration
from fleet.inventory.models import ControlRoomStack, WorkloadStack

Component = Literal["alloy", "mimir", "loki", "grafana"]
"""The four components whose charts a stack installs."""


class ChartPin(TypedDict):
    """Where a component's chart comes from: the ``version``, ``repository`` and ``archive``
    arguments every component's Args takes."""

    version: str
    repository: str
    archive: str | None


def chart_pin(
    spec: ControlRoomStack | WorkloadStack, archives: Mapping[str, str], component: Component
) -> ChartPin:
    """``component``'s chart in ``spec``: its version in the version set, its repository
    (``spec.charts``) and the cached archive the deploying engine gives for it, if any."""
    return {
        "version": getattr(spec.versions, component),
        "repository": spec.charts.repository(component),
        "archive": archives.get(component),
    }


def chart_source(chart: str, repository: str, archive: str | None = None) -> dict[str, Any]:
    """``helm.v4.Chart`` arguments that name ``chart`` in ``repository``, or the local chart
    archive ``archive`` when one is given.

    An archive (an absolute path to a ``.tgz`` from fleet's chart cache, chosen by the engine
    that deploys) is the chart reference itself: the provider's Helm loads it from disk and
    never contacts the repository. Otherwise an HTTP repository is passed as
    ``repositoryOpts.repo``, and an OCI registry path (``oci://registry/path``) is the chart
    reference itself, as ``helm pull`` takes it.
    """
    if archive is not None:
        return {"chart": archive}
    if repository.startswith("oci://"):
        return {"chart": f"{repository.rstrip('/')}/{chart}"}
    return {"chart": chart, "repository_opts": k8s.helm.v4.RepositoryOptsArgs(repo=repository)}


def merged(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` merged in, maps merged key by key (``extra`` wins elsewhere)."""
    result = dict(base)
    for key, value in extra.items():
        known = result.get(key)
        if isinstance(known, Mapping) and isinstance(value, Mapping):
            result[key] = merged(known, value)
        else:
            result[key] = value
    return result


def grafana_chart(
    name: str,
    *,
    release: str,
    chart: str,
    version: str,
    repository: str,
    namespace: pulumi.Input[str],
    values: Mapping[str, Any],
    opts: pulumi.ResourceOptions,
    archive: str | None = None,
) -> k8s.helm.v4.Chart:
    """One of Grafana's charts at an exact version, from ``repository`` (``spec.charts`` in
    fleet.yaml), or from the cached archive ``archive`` of that version when the deploying
    engine gives one (see :func:`chart_source`), installed as release ``release``.

    ``helm.v4.Chart`` renders client-side, so a preview diffs every object the chart makes and
    an update waits for each object's readiness. Its release name is its ``name`` input, else the
    Pulumi resource's name (``name`` here): the release is always given, so the names the
    chart's helpers derive from it (``.Release.Name``, subcharts' fullnames) are the ones fleet
    documents and ``fleet verify`` proves.
    """
    return k8s.helm.v4.Chart(
        name,
        k8s.helm.v4.ChartArgs(
            name=release,
            version=version,
            namespace=namespace,
            values=dict(values),
            **chart_source(chart, repository, archive),
        ),
        opts=opts,
    )


def gateway_url(release: str, namespace: str) -> str:
    """The in-cluster URL of release ``release``'s gateway Service (port 80) in ``namespace``.

    Grafana's Mimir and Loki charts both name it ``<fullname>-gateway``, and the fullname is the
    release name (``fullnameOverride`` or the release itself).
    """
    return f"http://{release}-gateway.{namespace}.svc.cluster.local"


def hours(duration: str, *, multiple: int = 1) -> str:
    """``duration`` (a fleet duration like ``30d`` or ``1h30m``) as whole hours, rounded up to
    a multiple of ``multiple`` hours: the one form both Mimir and Loki parse (``720h``).

    Zero stays ``0s``, which both read as "keep forever".
    """
    seconds = parse_duration(duration)
    if seconds == 0:
        return "0s"
    whole = math.ceil(seconds / 3600)
    return f"{max(multiple, math.ceil(whole / multiple) * multiple)}h"
