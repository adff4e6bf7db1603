"""kube-state-metrics in Alloy's namespace: the Kubernetes object metrics (``kube_*``) Alloy
scrapes and the workload dashboards read, on every namespace (:mod:`kit.kube_state_metrics`, the
objects the control room's collector runs too).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from kit.kube_state_metrics import kube_state_metrics
from kit.sizing import Sizing


@dataclass(frozen=True)
class KubeStateMetricsArgs:
    namespace: pulumi.Input[str]
    sizing: Sizing = field(default_factory=Sizing)


class KubeStateMetrics(pulumi.ComponentResource):
    """kube-state-metrics: a ServiceAccount, its read-only ClusterRole, one Deployment."""

    def __init__(self, name: str, args: KubeStateMetricsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("fleet:workload:KubeStateMetrics", name, None, opts)
        self.deployment = kube_state_metrics(name, args.namespace, parent=self, sizing=args.sizing)
        self.register_outputs({})
