"""A workload's generated Alloy configuration, and ways to break it on purpose, for the proofs'
tests (tests/fleet/verify)."""

from __future__ import annotations

import re
from typing import Any

from fleet.verify.dataflow import check_workload_alloy
from workloads.alloy_config import AlloyPipeline, render_alloy_config

CENTRAL = "https://mimir.ctrl.example.com/api/v1/push"
WORKLOAD = "shop"


def render(**changes: Any) -> str:
    fields: dict[str, Any] = {
        "workload": WORKLOAD,
        "local_metrics_url": "http://mimir-gateway.mimir.svc.cluster.local/api/v1/push",
        "central_metrics_url": CENTRAL,
        "central_secret_namespace": "alloy",
        **changes,
    }
    return render_alloy_config(AlloyPipeline(**fields))


GOOD = render(central_metric_filters=("up", "kube_.*"), namespaces=("payments",))


def broken(old: str, new: str, text: str = GOOD) -> str:
    assert old in text, f"{old!r} is not in the config"
    return text.replace(old, new)


def retarget(text: str, component: str, targets: str) -> str:
    """``text`` with the ``forward_to`` of the block headed ``component`` set to ``[targets]``."""
    start = text.index(component)
    match = re.compile(r"forward_to\s*=\s*\[[^\]]*\]").search(text, start)
    assert match is not None
    return text[: match.start()] + f"forward_to = [{targets}]" + text[match.end() :]


def found(text: str) -> set[tuple[int, str]]:
    return {(v.invariant, v.component) for v in check_workload_alloy(text, WORKLOAD, CENTRAL)}
