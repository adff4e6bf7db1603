"""The inventory's data model: ``fleet.yaml`` (a :class:`Fleet`) and ``workloads/*.yaml``
(one :class:`Workload` each), plus the small specs handed to the Pulumi programs.

Everything here is plain pydantic: no I/O, no Pulumi, safe to import from the programs.
Unknown keys are errors (``extra="forbid"``) so a typo never passes silently.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

import re2
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from fleet.inventory.durations import check_prometheus_duration, parse_duration

COMPONENTS: tuple[str, ...] = ("alloy", "mimir", "loki", "grafana")
CONTROLROOM = "controlroom"
"""The control room's stack name; reserved, so no workload may take it."""
COMMAND_WORDS = frozenset({"start", "watch", "resume", "cancel", "list", "show", "help"})
"""``fleet rollout``'s subcommands: no workload may be called so, or ``fleet rollout watch`` would
be ambiguous (tests/fleet/cli/test_conventions.py checks the CLI adds none without reserving it)."""

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_VERSION = re.compile(r"^v?\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$")
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


def _dns_label(value: str) -> str:
    if len(value) > 63 or not _DNS_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a DNS-1123 label; use lowercase letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters"
        )
    return value


def _duration(value: str) -> str:
    parse_duration(value)
    return value


def _at_most(limit: str, hint: str = "") -> AfterValidator:
    def check(value: str) -> str:
        if parse_duration(value) > parse_duration(limit):
            raise ValueError(f"{value!r} is too long; at most {limit}{hint}")
        return value

    return AfterValidator(check)


def _version(value: str) -> str:
    if not _VERSION.match(value):
        raise ValueError(f"{value!r} is not a chart version; expected a semantic version like 1.11.1")
    return value


def _region(value: str) -> str:
    if len(value) > 50 or not re.fullmatch(r"[a-z]{2,}[a-z0-9-]*[a-z0-9]", value):
        raise ValueError(f"{value!r} is not a cloud region; expected a name like us-east-1 or eastus")
    return value


# Region names by their shape, not a list that goes stale as clouds open regions. AWS: an area,
# optional partition words and a direction, then a number (us-east-1, us-gov-west-1,
# cn-northwest-1, eusc-de-east-1, us-isob-east-1). Azure: one lowercase word, digits allowed
# (westeurope, eastus2, usgovvirginia, chinanorth3). The two shapes never overlap.
REGION_SHAPES: dict[str, tuple[re.Pattern[str], str]] = {
    "aws": (re.compile(r"[a-z]{2,4}(-[a-z]+)+-[0-9]{1,2}"), "us-east-1, us-gov-west-1 or ap-southeast-2"),
    "azure": (re.compile(r"[a-z][a-z0-9]*"), "westeurope, eastus2 or usgovvirginia"),
}
CLOUD_NAMES = {"aws": "AWS", "azure": "Azure"}


def region_problem(cloud: str, region: str) -> str | None:
    """Why ``region`` is not shaped like one of ``cloud``'s regions, or None."""
    pattern, examples = REGION_SHAPES[cloud]
    if pattern.fullmatch(region):
        return None
    other = next((c for c, (p, _) in REGION_SHAPES.items() if c != cloud and p.fullmatch(region)), None)
    hint = f" ({region!r} looks like an {CLOUD_NAMES[other]} region: cloud: {other}?)" if other else ""
    return f"{region!r} is not an {CLOUD_NAMES[cloud]} region; use a name like {examples}{hint}"


def _account_id(value: str) -> str:
    if not re.fullmatch(r"\d{12}", value):
        raise ValueError(f'{value!r} is not an AWS account id; expected 12 digits, quoted: "123456789012"')
    return value


def _uuid(value: str) -> str:
    if not _UUID.match(value):
        raise ValueError(f"{value!r} is not a UUID like 0b5e9f43-7c2a-4d8e-9a61-3f2d8c4b1e07")
    return value


def re2_problem(pattern: str) -> str | None:
    """Why Alloy would refuse ``pattern`` as a relabel regex, or None when it compiles.

    Alloy compiles relabel regexes with Go's regexp (RE2 syntax: no lookarounds, no
    backreferences) and, like Prometheus, anchors them as ``^(?s:<pattern>)$``; google-re2 binds
    the same engine family.
    """
    options = re2.Options()
    options.log_errors = False  # the error comes back as a value, not on stderr
    try:
        re2.compile(f"^(?s:{pattern})$", options=options)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        return (
            f"{pattern!r} is not a regex Alloy compiles ({reason}); Alloy uses Go's RE2 syntax: "
            "no lookarounds (?= (?! (?<=, no backreferences"
        )
    return None


def _regex(value: str) -> str:
    problem = re2_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _prometheus_duration(value: str) -> str:
    checked = check_prometheus_duration(value)
    parse_duration(checked)  # and within fleet's bound (3650d), like every duration
    return checked


def _unit_needed(value: object) -> object:
    """YAML reads ``rotate_every: 90`` as a number: say that a duration needs its unit (quoting
    the number, which the generic advice for a string field would suggest, is no better)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value == 0:
            return "0"
        raise ValueError(f"{value!r} has no unit; expected a number and a unit: 90s, 5m, 4h, {value!r}d")
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
Duration = Annotated[str, BeforeValidator(_unit_needed), AfterValidator(_duration)]
StorageDuration = Annotated[str, BeforeValidator(_unit_needed), AfterValidator(_prometheus_duration)]
"""A duration that reaches Mimir's or Loki's configuration: in the form they parse."""
ChartVersion = Annotated[str, AfterValidator(_version)]
Regex = Annotated[str, AfterValidator(_regex)]
"""A relabel regex as Alloy compiles it: Go's RE2 syntax, fully anchored."""
Region = Annotated[str, AfterValidator(_region)]
AwsAccountId = Annotated[str, AfterValidator(_account_id)]
Uuid = Annotated[str, AfterValidator(_uuid)]
Cloud = Literal["aws", "azure"]
Environment = Literal["production", "staging", "development"]


class Model(BaseModel):
    """Base for every inventory model: strict about unknown keys and about types (``replicas:
    true`` is not 1, ``system_logs: "yes"`` is not true), immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class VersionSet(Model):
    """Helm chart versions of the four components: the fleet's pinned version set."""

    alloy: ChartVersion
    mimir: ChartVersion
    loki: ChartVersion
    grafana: ChartVersion

    def with_pins(self, pins: VersionPins) -> VersionSet:
        """This version set with a workload's pins applied."""
        return self.model_copy(update=pins.model_dump(exclude_none=True))


class VersionPins(Model):
    """A workload's optional per-component overrides of the fleet's version set."""

    alloy: ChartVersion | None = None
    mimir: ChartVersion | None = None
    loki: ChartVersion | None = None
    grafana: ChartVersion | None = None

    def pinned(self) -> dict[str, str]:
        return self.model_dump(exclude_none=True)


CHARTS: dict[str, str] = {
    "alloy": "alloy",
    "mimir": "mimir-distributed",
    "loki": "loki",
    "grafana": "grafana",
}
"""The Helm chart each component is installed from."""

GRAFANA_REPOSITORY = "https://grafana.github.io/helm-charts"
GRAFANA_COMMUNITY_REPOSITORY = "https://grafana-community.github.io/helm-charts"
# Where each chart is published today: Grafana's repository stops at grafana 10.5.15, newer
# versions of the grafana chart are published by the grafana-community repository only.
DEFAULT_REPOSITORIES: dict[str, str] = {
    "alloy": GRAFANA_REPOSITORY,
    "mimir": GRAFANA_REPOSITORY,
    "loki": GRAFANA_REPOSITORY,
    "grafana": GRAFANA_COMMUNITY_REPOSITORY,
}


def _repository(value: str) -> str:
    if not re.fullmatch(r"(https?|oci)://[^\s/@]+(/[^\s]*)?", value):
        raise ValueError(
            f"{value!r} is not a chart repository; use an https:// Helm repository URL "
            "(the folder that holds index.yaml) or an oci:// registry path"
        )
    return value.rstrip("/")


Repository = Annotated[str, AfterValidator(_repository)]


class ChartSource(Model):
    """Where one component's chart comes from."""

    repository: Repository = Field(
        description="Helm repository URL (https://…, the folder of its index.yaml) or oci://registry/path"
    )


def _source(component: str) -> ChartSource:
    return ChartSource(repository=DEFAULT_REPOSITORIES[component])


class ChartSources(Model):
    """``spec.charts``: each component's chart repository; defaults are where each is published."""

    alloy: ChartSource = Field(default_factory=lambda: _source("alloy"))
    mimir: ChartSource = Field(default_factory=lambda: _source("mimir"))
    loki: ChartSource = Field(default_factory=lambda: _source("loki"))
    grafana: ChartSource = Field(default_factory=lambda: _source("grafana"))

    def repository(self, component: str) -> str:
        """The repository of ``component``'s chart."""
        source: ChartSource = getattr(self, component)
        return source.repository


def _cidr(value: str) -> str:
    try:
        ipaddress.ip_network(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a network like 10.0.0.0/8 or fd00::/8") from None
    return value


Cidr = Annotated[str, AfterValidator(_cidr)]
Port = Annotated[int, Field(ge=1, le=65535)]


class EgressTarget(Model):
    """Addresses outside the cluster's pods that some of fleet's pods must reach, and their ports."""

    cidrs: list[Cidr] = Field(default_factory=lambda: ["0.0.0.0/0"], min_length=1)
    ports: list[Port] = Field(default_factory=lambda: [443], min_length=1)


class ApiServerTarget(EgressTarget):
    ports: list[Port] = Field(default_factory=lambda: [443, 6443], min_length=1)
    """443 on EKS and AKS; 6443 where the API server listens on kubeadm's port."""


class NotificationTarget(EgressTarget):
    ports: list[Port] = Field(default_factory=lambda: [443, 587], min_length=1)
    """HTTPS for webhooks, Slack, PagerDuty and Opsgenie; SMTP submission for e-mail."""


class Egress(Model):
    """Where fleet's pods may connect to (NetworkPolicies): DNS and the stack's own pods always;
    these addresses for the pods that need them. The defaults (anywhere, on the HTTPS port) hold
    on every cloud; narrow them to your API server's, object store's and hub's ranges."""

    restricted: bool = Field(
        default=True, description="Deny every other egress; false: no egress policy at all"
    )
    api_server: ApiServerTarget = Field(
        default_factory=ApiServerTarget,
        description="The Kubernetes API server (Alloy, the events collector, kube-state-metrics, "
        "the rollout-operator, Loki's rules sidecar)",
    )
    object_storage: EgressTarget = Field(
        default_factory=EgressTarget,
        description="The bucket's endpoint and the cloud's token service (Mimir, Loki)",
    )
    control_room: EgressTarget = Field(
        default_factory=EgressTarget, description="Workloads: the hub's ingress (Alloy's remote write)"
    )
    notifications: NotificationTarget = Field(
        default_factory=NotificationTarget,
        description="Alertmanager's receivers (webhooks, Slack, PagerDuty, SMTP): the control room's, "
        "and a workload's with local alerting",
    )


class Cluster(Model):
    """How to reach a Kubernetes cluster, and which managed cluster (EKS/AKS) it is.

    Every field is optional: the ambient kubeconfig, and the cluster's OIDC issuer (for IRSA or
    workload identity) looked up by the cluster's name.
    """

    kubeconfig: str | None = None
    context: str | None = None
    ingress_namespace: DnsLabel = Field(
        default="ingress-nginx",
        description="The ingress controller's namespace: NetworkPolicies admit it to the gateway and Grafana",
    )
    name: DnsLabel | None = Field(
        default=None, description="The EKS/AKS cluster's name; default: the stack's name"
    )
    resource_group: str | None = Field(
        default=None, description="Azure: the AKS cluster's resource group; default: fleet-<fleet>-<stack>"
    )
    oidc_issuer: str | None = Field(
        default=None, description="The cluster's service-account token issuer URL; default: looked up"
    )
    egress: Egress = Field(default_factory=Egress, description="What fleet's pods may connect to")
    kubernetes_version: str = Field(
        default="1.31",
        pattern=r"^1\.[0-9]{2}$",
        description="The cluster's Kubernetes minor version (charts render and validate for it)",
    )

    @field_validator("oidc_issuer")
    @classmethod
    def _issuer(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https://[^\s/]+", value):
            raise ValueError(f"{value!r} is not an https:// issuer URL")
        return value

    @field_validator("resource_group")
    @classmethod
    def _group(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[-\w.()]{1,89}[-\w()]", value):
            raise ValueError(f"{value!r} is not an Azure resource group name")
        return value


def _check_cluster(cloud: str, cluster: Cluster) -> None:
    if cloud == "aws" and cluster.resource_group is not None:
        raise ValueError("cluster: resource_group is only for azure clusters; remove it")


class CloudAccount(Model):
    """Cloud-specific identity fields, checked against ``cloud``."""

    cloud: Cloud
    region: Region
    account_id: AwsAccountId | None = None
    subscription_id: Uuid | None = None
    tenant_id: Uuid | None = None

    @model_validator(mode="after")
    def _cloud_fields(self) -> CloudAccount:
        problem = region_problem(self.cloud, self.region)
        if problem is not None:
            raise ValueError(f"region: {problem}")
        if self.cloud == "aws":
            if self.account_id is None:
                raise ValueError("account_id: required when cloud is aws (12 digits)")
            for extra in ("subscription_id", "tenant_id"):
                if getattr(self, extra) is not None:
                    raise ValueError(f"{extra}: only valid when cloud is azure; remove it")
        else:
            missing = [f for f in ("subscription_id", "tenant_id") if getattr(self, f) is None]
            if missing:
                raise ValueError(f"{missing[0]}: required when cloud is azure (a UUID)")
            if self.account_id is not None:
                raise ValueError("account_id: only valid when cloud is aws; remove it")
        return self


Size = Literal["small", "medium", "large"]
SizedComponent = Literal[
    "alloy",
    "alloy-events",
    "mimir-distributor",
    "mimir-ingester",
    "mimir-querier",
    "mimir-query-frontend",
    "mimir-query-scheduler",
    "mimir-store-gateway",
    "mimir-compactor",
    "mimir-ruler",
    "mimir-alertmanager",
    "mimir-overrides-exporter",
    "mimir-gateway",
    "loki-write",
    "loki-read",
    "loki-backend",
    "loki-gateway",
    "grafana",
    "kube-state-metrics",
    "hub-collector",
]
"""The components whose requests a size sets (``kit/sizing.py``) and a stack may override."""
_CPU = re.compile(r"^(\d+m|\d+(\.\d+)?)$")
_MEMORY = re.compile(r"^\d+(\.\d+)?(Ki|Mi|Gi|Ti)$")


class ResourceRequest(Model):
    """A component's requests (its limits follow: 4 times the CPU, 2 times the memory)."""

    cpu: str = Field(description="CPU: 500m or 2")
    memory: str = Field(description="Memory: 512Mi or 4Gi")

    @field_validator("cpu", mode="before")
    @classmethod
    def _cpu(cls, value: object) -> str:
        text = str(value)
        if not _CPU.match(text):
            raise ValueError(f"{text!r} is not a CPU quantity like 500m or 2")
        return text

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str) -> str:
        if not _MEMORY.match(value):
            raise ValueError(f"{value!r} is not a memory quantity like 512Mi or 4Gi")
        return value


class MetricLimits(Model):
    """Ingestion limits of one Mimir tenant (Mimir's ``max_global_series_per_user``,
    ``ingestion_rate`` and ``ingestion_burst_size``). Past them Mimir answers 4xx, which remote
    write does not retry: the samples are dropped."""

    series: int = Field(default=800_000, ge=1_000, le=1_000_000_000, description="Active series")
    samples_per_second: int = Field(
        default=100_000, ge=100, le=100_000_000, description="Samples/s (the burst allows 10 s of it)"
    )

    @property
    def burst(self) -> int:
        return 10 * self.samples_per_second


class LocalMetricLimits(MetricLimits):
    """The workload's own Mimir takes every series of the cluster (no central filter)."""

    series: int = Field(default=2_000_000, ge=1_000, le=1_000_000_000, description="Active series")
    samples_per_second: int = Field(
        default=200_000, ge=100, le=100_000_000, description="Samples/s (the burst allows 10 s of it)"
    )


class LogLimits(Model):
    """Ingestion limits of the workload's Loki (``ingestion_rate_mb``, ``ingestion_burst_size_mb``,
    ``max_global_streams_per_user``, ``per_stream_rate_limit``). Past them Loki answers 429, which
    Alloy retries, then drops."""

    megabytes_per_second: int = Field(default=16, ge=1, le=10_000, description="MB/s of log lines")
    streams: int = Field(default=50_000, ge=100, le=10_000_000, description="Active streams")
    stream_megabytes_per_second: int = Field(default=5, ge=1, le=1_000, description="MB/s per stream")


_KAFKA_ADDRESS = re.compile(r"^[A-Za-z0-9.-]+:\d{1,5}(,[A-Za-z0-9.-]+:\d{1,5})*$")


class MimirKafka(Model):
    """Mimir's ingest storage on a Kafka the platform runs (replicated, durable), not the
    chart's demo broker."""

    address: str = Field(description="Bootstrap broker(s) as host:port[,host:port]")
    topic: str = Field(default="mimir-ingest", pattern=r"^[A-Za-z0-9._-]{1,249}$")

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        if not _KAFKA_ADDRESS.match(value):
            raise ValueError(f"{value!r} is not host:port (or several, comma-separated)")
        return value

    def ports(self) -> tuple[int, ...]:
        """The brokers' ports (what Mimir's egress must reach)."""
        return tuple(sorted({int(broker.rsplit(":", 1)[1]) for broker in self.address.split(",")}))


class MimirSettings(Model):
    replicas: int = Field(default=1, ge=1, le=50, description="Ingester (and distributor) replicas")
    retention: StorageDuration = Field(default="30d", description="How long metrics are kept")
    limits: LocalMetricLimits = Field(default_factory=LocalMetricLimits)
    kafka: MimirKafka | None = Field(
        default=None, description="Ingest storage on this Kafka; none: the classic architecture"
    )


class LokiSettings(Model):
    replicas: int = Field(default=1, ge=1, le=50, description="Write/read/backend replicas")
    retention: StorageDuration = Field(default="7d", description="How long logs are kept")
    limits: LogLimits = Field(default_factory=LogLimits)


class GrafanaSettings(Model):
    hostname: str | None = Field(default=None, description="Ingress hostname; none: no ingress")
    tls: HubCertificate | None = Field(
        default=None, description="The Ingress's certificate (cert-manager issuer or an existing Secret)"
    )

    @field_validator("hostname")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        if value is not None and not _DOMAIN.match(value):
            raise ValueError(f"{value!r} is not a hostname like grafana.example.com")
        return value


class Toleration(Model):
    """A Kubernetes toleration (``key``, ``operator``, ``value``, ``effect``)."""

    key: str | None = None
    operator: Literal["Exists", "Equal"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None

    def kubernetes(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class AlloySettings(Model):
    tolerations: list[Toleration] = Field(
        default_factory=lambda: [Toleration(operator="Exists")],
        description="Where Alloy may run; default: every node, whatever its taints",
    )
    namespaces: list[DnsLabel] = Field(
        default_factory=list,
        description="Namespaces Alloy scrapes and collects logs from; empty: all",
    )
    system_logs: bool = Field(default=True, description="Collect the nodes' systemd journal")
    events: bool = Field(
        default=True,
        description="Collect Kubernetes events into the local Loki (one collector per cluster)",
    )


class CentralExport(Model):
    """Which metrics go to the control room: all by default, or those whose name matches."""

    metrics: list[Regex] = Field(
        default_factory=list, description="Metric-name regexes sent to the control room; empty: all"
    )
    limits: MetricLimits = Field(
        default_factory=MetricLimits, description="This workload's tenant limits in the central Mimir"
    )


class ControlRoomMimir(Model):
    replicas: int = Field(default=3, ge=1, le=100)
    retention: StorageDuration = "90d"
    kafka: MimirKafka | None = Field(
        default=None, description="Ingest storage on this Kafka; none: the classic architecture"
    )


class ControlRoomGateway(Model):
    """The hub's authenticating gateway (nginx): request rates and the proxies it trusts."""

    rate_per_workload: int = Field(
        default=100, ge=1, le=100_000, description="Requests/s per credential (burst: twice as many)"
    )
    rate_per_address: int = Field(
        default=200, ge=1, le=100_000, description="Requests/s per client address (burst: twice as many)"
    )
    trusted_proxies: list[Annotated[str, AfterValidator(_cidr)]] = Field(
        default_factory=lambda: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"],
        description="Networks of the ingress controller's pods: their X-Forwarded-For names the client",
    )


class HubCertificate(Model):
    """Where the hub's TLS certificate for ``mimir.<domain>`` comes from: exactly one of a
    cert-manager ``cluster_issuer`` or ``issuer`` (in the Mimir namespace), or an existing
    ``kubernetes.io/tls`` ``secret`` in the Mimir namespace."""

    cluster_issuer: str | None = Field(default=None, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    issuer: str | None = Field(default=None, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    secret: str | None = Field(default=None, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    ingress_class: str | None = Field(
        default=None, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", description="The Ingress's class"
    )

    @model_validator(mode="after")
    def _one_source(self) -> HubCertificate:
        given = [f for f in ("cluster_issuer", "issuer", "secret") if getattr(self, f) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of cluster_issuer, issuer (cert-manager) or secret (an existing TLS Secret)"
            )
        return self


class ControlRoom(CloudAccount):
    domain: str = Field(description="Central push endpoint is https://mimir.<domain>/api/v1/push")
    cluster: Cluster = Field(default_factory=Cluster)
    mimir: ControlRoomMimir = Field(default_factory=ControlRoomMimir)
    size: Size = Field(default="medium", description="small | medium | large: every container's requests")
    resources: dict[SizedComponent, ResourceRequest] = Field(default_factory=dict)
    gateway: ControlRoomGateway = Field(default_factory=ControlRoomGateway)
    tls: HubCertificate | None = Field(
        default=None, description="The certificate of https://mimir.<domain>; none: nothing provides it"
    )

    @model_validator(mode="after")
    def _cluster(self) -> ControlRoom:
        _check_cluster(self.cloud, self.cluster)
        return self

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        if not _DOMAIN.match(value):
            raise ValueError(f"{value!r} is not a DNS domain like ctrl.example.com")
        return value

    @property
    def push_url(self) -> str:
        return f"https://mimir.{self.domain}/api/v1/push"

    @property
    def query_url(self) -> str:
        return f"https://mimir.{self.domain}/prometheus"


class StateSettings(Model):
    backend: str = "file://~/.fleet/state"
    secrets_provider: str = "passphrase"

    @field_validator("backend")
    @classmethod
    def _backend(cls, value: str) -> str:
        if not value.startswith(("file://", "s3://", "azblob://", "gs://", "https://")):
            raise ValueError(f"{value!r} is not a Pulumi backend URL; use file://, s3:// or azblob://")
        return value

    @field_validator("secrets_provider")
    @classmethod
    def _secrets(cls, value: str) -> str:
        if value != "passphrase" and not value.startswith(
            ("awskms://", "azurekeyvault://", "gcpkms://", "hashivault://")
        ):
            raise ValueError(
                f"{value!r} is not a secrets provider; use passphrase, awskms://… or azurekeyvault://…"
            )
        return value


def _wave_size_type(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{value!r} is not a wave size; use a count like 5 or a share like 25%")
    return value


def _wave_size(value: int | str) -> int | str:
    if isinstance(value, int):
        if value < 1:
            raise ValueError("must be at least 1")
        return value
    match = re.fullmatch(r"(\d+)%", value)
    if not match or not 1 <= int(match.group(1)) <= 100:
        raise ValueError(f"{value!r} is not a wave size; use a count like 5 or a share like 25%")
    return value


MAX_BAKE = "24h"
"""The longest ``bake_time`` and ``canary_bake_time``: a rollout holds its stacks' locks and its
coordinator waits through every bake, so a longer watch is a rollout of its own (the canary ring
first, the rest once it has been watched), not a pause inside one."""


class RolloutPolicy(Model):
    canary: int = Field(default=1, ge=0, description="Stacks in the canary wave; 0: none")
    wave_size: Annotated[int | str, BeforeValidator(_wave_size_type), AfterValidator(_wave_size)] = Field(
        default="25%", description="Stacks per wave after the canary: a count or a percentage"
    )
    max_parallel: int = Field(default=8, ge=1, le=1000, description="Stacks updated at once")
    failure_budget: int = Field(default=0, ge=0, description="Failures tolerated before halting")
    bake_time: Annotated[Duration, _at_most(MAX_BAKE)] = Field(
        default="0s", description=f"Pause between waves (at most {MAX_BAKE})"
    )
    canary_bake_time: Annotated[
        Duration,
        _at_most(
            MAX_BAKE,
            "; to watch a canary longer, roll it out on its own first (fleet rollout -l ring=canary)",
        ),
    ] = Field(
        default="5m",
        description="How long the canary wave runs before its health gate judges it and the next wave "
        f"starts (real deploys only; at least bake_time, at most {MAX_BAKE})",
    )


class UpgradeSchedule(Model):
    schedule: str = Field(description="Cron expression (5 fields) in `timezone`")
    window: Duration = Field(
        default="4h",
        description="How long each firing's window stays open; at most the gap between two firings",
    )
    timezone: str = "UTC"

    @model_validator(mode="after")
    def _check(self) -> UpgradeSchedule:
        from fleet.schedule.windows import check_window_fits, validate_schedule

        validate_schedule(self.schedule, self.window, self.timezone)
        check_window_fits(self.schedule, self.window)
        return self


class DriftSchedule(Model):
    """``spec.drift``: when ``fleet beat`` checks every stack for drift, and how."""

    schedule: str = Field(description="Cron expression (5 fields) in `timezone`")
    timezone: str = "UTC"
    dry_run: bool = Field(
        default=False,
        description="Compare fresh renders with the last recorded ones (offline) instead of "
        "refreshing the live stacks",
    )

    @model_validator(mode="after")
    def _check(self) -> DriftSchedule:
        from fleet.schedule.windows import validate_schedule

        # A check is an instant, not a window: any positive length validates the cron and zone.
        validate_schedule(self.schedule, "1m", self.timezone)
        return self


class HealthGate(Model):
    enabled: bool = True
    timeout: Duration = "10m"
    interval: Duration = "30s"
    lookback: Duration = "5m"


class Notifications(Model):
    # Webhook URLs often carry a token in their path: keep them out of reprs and logs.
    webhook: str | None = Field(default=None, repr=False)

    @field_validator("webhook")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None:
            from fleet.notify import validate_webhook_url

            validate_webhook_url(value)
        return value


# --- alerting ---------------------------------------------------------------------------------

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_RECEIVER_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_MATCHER = re.compile(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*$')
_PROM_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SMARTHOST = re.compile(r"^[A-Za-z0-9.-]+:\d{1,5}$")


class SecretRef(Model):
    """Where a receiver's secret is read at rollout time: never the secret itself.

    ``env``: an environment variable of the process that runs the stack (the CLI or a
    ``fleet worker``); fleet copies it into a Kubernetes Secret beside Alertmanager.
    ``kubernetes``: ``<secret>/<key>`` of a Secret that already exists in the Alertmanager's
    namespace (kept there by a secret store: External Secrets, a CSI driver, Vault); fleet only
    mounts it. Either way Alertmanager reads the value from a mounted file (``*_file``).
    """

    env: str | None = Field(default=None, description="Environment variable holding the secret")
    kubernetes: str | None = Field(
        default=None, description="<secret>/<key> of an existing Secret in the Alertmanager's namespace"
    )

    @field_validator("env")
    @classmethod
    def _env(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            # Never repeated: a value that is no name is likely the secret itself.
            raise ValueError(
                "not an environment variable name like PAGERDUTY_KEY "
                "(the secret itself? name the variable that holds it)"
            )
        return value

    @field_validator("kubernetes")
    @classmethod
    def _kubernetes(cls, value: str | None) -> str | None:
        if value is None:
            return value
        name, _, key = value.partition("/")
        if not key or len(name) > 253 or not _DNS_LABEL.match(name) or not _SECRET_KEY.match(key):
            raise ValueError(
                "not <secret>/<key> like alertmanager-pagerduty/routing-key "
                "(the secret itself? name the Secret and key that hold it)"
            )
        return value

    @model_validator(mode="after")
    def _one(self) -> SecretRef:
        if (self.env is None) == (self.kubernetes is None):
            raise ValueError("give exactly one of env: VARIABLE or kubernetes: <secret>/<key>")
        return self

    @property
    def source(self) -> str:
        """Where the secret comes from, for messages (never its value)."""
        return f"env {self.env}" if self.env is not None else f"Secret {self.kubernetes}"


class WebhookReceiver(Model):
    url: str | SecretRef = Field(
        description="The webhook URL: an https:// URL, or a secret reference when the URL carries a token"
    )
    bearer_token: SecretRef | None = Field(default=None, description="Sent as Authorization: Bearer")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | SecretRef) -> str | SecretRef:
        if isinstance(value, str) and not re.match(r"^https?://[^\s/@]+(/\S*)?$", value):
            raise ValueError(
                f"{value!r} is not an http(s) URL without credentials; "
                "use url: {env: VARIABLE} for a URL that carries a secret"
            )
        return value


class SlackReceiver(Model):
    api_url: SecretRef = Field(description="The Slack incoming-webhook URL: a secret")
    channel: str | None = Field(default=None, description="#channel or @user; default: the webhook's")


class PagerDutyReceiver(Model):
    routing_key: SecretRef = Field(description="The Events API v2 integration key: a secret")


class OpsgenieReceiver(Model):
    api_key: SecretRef = Field(description="The Opsgenie API key: a secret")
    api_url: str | None = Field(default=None, description="e.g. https://api.eu.opsgenie.com/ for the EU")

    @field_validator("api_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https://[^\s/]+(/\S*)?$", value):
            raise ValueError(f"{value!r} is not an https:// URL")
        return value


class EmailReceiver(Model):
    to: str = Field(description="Recipient address")
    sender: str = Field(alias="from", description="Sender address")
    smarthost: str = Field(description="SMTP server as host:port")
    username: str | None = None
    password: SecretRef | None = Field(default=None, description="SMTP password: a secret")
    require_tls: bool = True

    @field_validator("to", "sender")
    @classmethod
    def _address(cls, value: str) -> str:
        if not _EMAIL.match(value):
            raise ValueError(f"{value!r} is not an e-mail address")
        return value

    @field_validator("smarthost")
    @classmethod
    def _host(cls, value: str) -> str:
        if not _SMARTHOST.match(value):
            raise ValueError(f"{value!r} is not host:port, like smtp.example.com:587")
        return value

    @model_validator(mode="after")
    def _auth(self) -> EmailReceiver:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together; give both or neither")
        return self


RECEIVER_KINDS: tuple[str, ...] = ("webhook", "slack", "pagerduty", "opsgenie", "email")
UNROUTED_RECEIVER = "fleet-unrouted"
"""The receiver alerts go to when no route and no default receiver is given: it notifies nobody
(the alerts are still listed in Alertmanager). Reserved: no declared receiver may take the name."""


class Receiver(Model):
    """A named contact point: one or more integrations Alertmanager notifies together."""

    name: str
    webhook: WebhookReceiver | None = None
    slack: SlackReceiver | None = None
    pagerduty: PagerDutyReceiver | None = None
    opsgenie: OpsgenieReceiver | None = None
    email: EmailReceiver | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if len(value) > 63 or not _RECEIVER_NAME.match(value):
            raise ValueError(f"{value!r} is not a receiver name; use lowercase letters, digits and '-'")
        if value == UNROUTED_RECEIVER:
            raise ValueError(f"{value!r} is reserved for alerts no route takes; choose another name")
        return value

    @model_validator(mode="after")
    def _some(self) -> Receiver:
        if not self.integrations():
            raise ValueError(f"receiver {self.name!r}: give at least one of {', '.join(RECEIVER_KINDS)}")
        return self

    def integrations(self) -> dict[str, Model]:
        """The integrations this receiver has, by kind."""
        return {kind: value for kind in RECEIVER_KINDS if (value := getattr(self, kind)) is not None}

    def secret_id(self, kind: str, field_name: str) -> str:
        """The stable id of one of this receiver's secrets: ``<receiver>-<kind>-<field>``."""
        return f"{self.name}-{kind}-{field_name.replace('_', '-')}"

    def secrets(self) -> dict[str, SecretRef]:
        """Every secret of this receiver, by :meth:`secret_id`."""
        found: dict[str, SecretRef] = {}
        for kind, integration in self.integrations().items():
            for field_name, value in integration:
                if isinstance(value, SecretRef):
                    found[self.secret_id(kind, field_name)] = value
        return found


def _matcher(value: str) -> str:
    if not _MATCHER.match(value):
        raise ValueError(f'{value!r} is not a matcher like severity="critical" or workload=~"pay.*"')
    return value


def _label_name(value: str) -> str:
    if not _PROM_LABEL.match(value):
        raise ValueError(f"{value!r} is not a label name")
    return value


Matcher = Annotated[str, AfterValidator(_matcher)]
LabelName = Annotated[str, AfterValidator(_label_name)]


class AlertRoute(Model):
    """Alerts matching every matcher go to ``receiver`` (first match wins unless ``continue``)."""

    receiver: str
    matchers: list[Matcher] = Field(default_factory=list, description='e.g. severity="critical"')
    group_by: list[LabelName] | None = None
    continue_: bool = Field(default=False, alias="continue")


class AlertThresholds(Model):
    """When the shipped rules fire."""

    silent_after: Duration = Field(default="10m", description="A workload with no series this long is silent")
    write_failure_ratio: float = Field(
        default=0.01, gt=0, le=1, description="Share of samples or log lines an Alloy writer fails or drops"
    )
    reject_ratio: float = Field(
        default=0.01, gt=0, le=1, description="Share of samples or log lines Mimir or Loki rejects"
    )
    write_lag: Duration = Field(default="10m", description="How far an Alloy writer may fall behind")
    pending: Duration = Field(default="10m", description="How long a condition holds before it alerts")
    compactor_stale_after: Duration = Field(
        default="24h", description="The hub's compactor has not succeeded for this long"
    )

    @field_validator("silent_after", "write_lag", "pending", "compactor_stale_after")
    @classmethod
    def _positive(cls, value: str) -> str:
        if parse_duration(value) < 60:
            raise ValueError(f"{value!r} is too short; alerts are evaluated every minute, use 1m or more")
        return value


class AlertRouting(Model):
    """Where alerts go: a default receiver, routes by matchers, and the receivers."""

    receiver: str | None = Field(
        default=None, description="Default receiver; none: alerts are only shown in Alertmanager"
    )
    group_by: list[LabelName] = Field(default_factory=lambda: ["alertname", "workload"])
    group_wait: Duration = "30s"
    group_interval: Duration = "5m"
    repeat_interval: Duration = "4h"
    routes: list[AlertRoute] = Field(default_factory=list)
    receivers: list[Receiver] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> AlertRouting:
        names = [receiver.name for receiver in self.receivers]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"receivers: {duplicates[0]!r} is declared twice")
        wanted = [("receiver", self.receiver)] + [
            (f"routes[{index}].receiver", route.receiver) for index, route in enumerate(self.routes)
        ]
        for where, name in wanted:
            if name is not None and name not in names:
                known = ", ".join(names) or "none declared"
                raise ValueError(f"{where}: no receiver named {name!r} (receivers: {known})")
        return self


class Alerting(AlertRouting):
    """``spec.alerting`` in fleet.yaml: the control room's rules and where their alerts go."""

    thresholds: AlertThresholds = Field(default_factory=AlertThresholds)


class LocalAlerting(AlertRouting):
    """``spec.alerting`` in a workload file: rules on the workload's own Mimir and Loki (off by default)."""

    enabled: bool = False
    logs: bool = Field(default=True, description="Also run the log-based rules on the local Loki")
    thresholds: AlertThresholds | None = Field(default=None, description="Default: the fleet's")


class CredentialSchedule(Model):
    """``spec.credentials``: how often ``fleet beat`` rotates the workloads' central passwords."""

    rotate_every: Duration | None = Field(
        default=None, description="Rotate every deployed workload's password this often, e.g. 90d"
    )


class FleetSpec(Model):
    control_room: ControlRoom
    state: StateSettings = Field(default_factory=StateSettings)
    versions: VersionSet
    charts: ChartSources = Field(default_factory=ChartSources)
    rollout: RolloutPolicy = Field(default_factory=RolloutPolicy)
    upgrades: UpgradeSchedule | None = None
    drift: DriftSchedule | None = None
    credentials: CredentialSchedule = Field(default_factory=CredentialSchedule)
    health: HealthGate = Field(default_factory=HealthGate)
    notifications: Notifications = Field(default_factory=Notifications)
    alerting: Alerting = Field(default_factory=Alerting)


class Fleet(Model):
    """``fleet.yaml``: the control room, state backend, version set and rollout policy."""

    api_version: Literal["fleet/v1"] = Field(alias="apiVersion")
    kind: Literal["Fleet"]
    name: DnsLabel
    spec: FleetSpec


class WorkloadSpec(CloudAccount):
    size: Size = Field(default="medium", description="small | medium | large: every container's requests")
    resources: dict[SizedComponent, ResourceRequest] = Field(
        default_factory=dict, description="Per-component requests that override the size's"
    )
    environment: Environment = "production"
    labels: dict[str, str] = Field(default_factory=dict)
    cluster: Cluster = Field(default_factory=Cluster)
    versions: VersionPins = Field(default_factory=VersionPins)
    mimir: MimirSettings = Field(default_factory=MimirSettings)
    loki: LokiSettings = Field(default_factory=LokiSettings)
    grafana: GrafanaSettings = Field(default_factory=GrafanaSettings)
    alloy: AlloySettings = Field(default_factory=AlloySettings)
    central: CentralExport = Field(default_factory=CentralExport)
    alerting: LocalAlerting = Field(default_factory=LocalAlerting)

    @model_validator(mode="after")
    def _cluster(self) -> WorkloadSpec:
        _check_cluster(self.cloud, self.cluster)
        return self

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key, val in value.items():
            if len(key) > 63 or not _LABEL_KEY.match(key):
                raise ValueError(f"label key {key!r} is not a valid Kubernetes label key")
            if key in SELECTOR_FIELDS:
                raise ValueError(
                    f"label {key!r} would be hidden by the field spec.{key}, which selectors "
                    f"(-l {key}=...) read instead; rename the label"
                )
            if len(val) > 63 or not _LABEL_VALUE.match(val):
                raise ValueError(f"label {key}={val!r}: value is not a valid Kubernetes label value")
        return value


SELECTOR_FIELDS = ("environment", "cloud", "region")
"""Workload fields a selector reads by name (fleet/rollout/selectors.py): no label may take one."""


def _workload_name(value: str) -> str:
    _dns_label(value)
    if len(value) > 40:
        raise ValueError(f"{value!r} is {len(value)} characters; a workload name has at most 40")
    if value == CONTROLROOM:
        raise ValueError(f"{CONTROLROOM!r} is reserved for the control room; choose another name")
    if value in COMMAND_WORDS:
        raise ValueError(f"{value!r} is reserved (`fleet rollout {value}` is a command); choose another name")
    return value


class Workload(Model):
    """``workloads/<name>.yaml``: one workload cluster."""

    api_version: Literal["fleet/v1"] = Field(alias="apiVersion")
    kind: Literal["Workload"]
    name: Annotated[str, AfterValidator(_workload_name)]
    spec: WorkloadSpec


# --- what the programs are given -------------------------------------------------------------


def credential_output(workload: str) -> str:
    """The control-room output holding ``workload``'s central password (secret): the next one
    while its credential rotates, else the current one. fleet's engines read it right before they
    run the workload and hand it to the workload's program as an argument, so no workload reads
    the control room itself."""
    return f"credential-{workload}"


class CredentialGeneration(Model):
    """Which generation of a workload's central password is current, and the next one while a
    rotation overlaps them (``fleet credentials rotate``); generation 0 is the first password."""

    generation: int = Field(default=0, ge=0)
    next: int | None = Field(default=None, ge=1)


class ControlRoomStack(Model):
    """Everything the control-room program needs, as plain data."""

    fleet: str
    control_room: ControlRoom
    versions: VersionSet
    workloads: tuple[str, ...]
    alerting: Alerting = Field(default_factory=Alerting)
    tenant_limits: dict[str, MetricLimits] = Field(default_factory=dict)
    """Each workload's limits in the central Mimir (its ``central.limits``)."""
    charts: ChartSources = Field(default_factory=ChartSources)
    credentials: dict[str, CredentialGeneration] = Field(default_factory=dict)
    """Per workload, its password generations (absent: generation 0, not rotating)."""


class WorkloadStack(Model):
    """Everything one workload program needs, as plain data."""

    fleet: str
    workload: Workload
    versions: VersionSet
    push_url: str
    thresholds: AlertThresholds = Field(default_factory=AlertThresholds)
    """The local rules' thresholds: the workload's own, else the fleet's."""
    charts: ChartSources = Field(default_factory=ChartSources)


def pulumi_project(fleet_name: str) -> str:
    """The Pulumi project every stack of a fleet lives in."""
    return f"fleet-{fleet_name}"
