"""`fleet verify`'s engine: prove the data-path invariants (docs/architecture.md) from a render.

The proof reads the Alloy text a workload will run, parses it into its component graph
(:mod:`fleet.alloy_graph`) and walks the data path (``forward_to`` and other references to a
component's ``receiver``/``input``), so it checks the configuration itself rather than the model
that produced it. Discovery components and exporters (``prometheus.exporter.*``) hand over
targets, not data, so they are not on the data path: the ``prometheus.scrape`` that scrapes an
exporter's ``targets`` is the metric source, and an exporter whose targets no scrape collects is
reported.

1. Every log pipeline (``loki.source.*`` through ``loki.process``/``loki.relabel``) ends in
   ``loki.write`` components whose endpoints are in-cluster, and no log component forwards
   anywhere else.
2. Every metric source reaches both the local (in-cluster) and the central remote-write endpoint,
   every exporter is scraped, and no remote-write endpoint goes anywhere else.
3. The central endpoint authenticates with basic auth, username = the workload, password read
   from a ``remote.kubernetes.secret`` (or a ``password_file``); no credential in the text is a
   literal; no secret value appears in any rendered plan.
4. Every ``prometheus.remote_write`` and ``loki.write`` sets ``external_labels`` with
   ``workload = "<name>"``.
5. The control room's gateway htpasswd has exactly one bcrypt line per inventory workload.

Results are values (a list of :class:`Violation`), never exceptions: a configuration that cannot
be parsed is itself a violation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fleet.alloy_graph import AlloyGraph, endpoint_urls, string_value
from fleet.alloy_syntax import (
    AlloySyntaxError,
    Array,
    Binary,
    Block,
    Call,
    Expr,
    Literal,
    Object,
    Unary,
    reference_chain,
)
from fleet.models import CONTROLROOM

__all__ = [
    "HTPASSWD_SECRET",
    "REDACTED",
    "Violation",
    "check_htpasswd",
    "check_no_secret_leak",
    "check_plan_set",
    "check_workload_alloy",
    "is_in_cluster_url",
    "verify_plans",
]

HTPASSWD_SECRET = "mimir-gateway-htpasswd"
"""Name of the control room's Kubernetes Secret that holds the gateway's htpasswd."""
REDACTED = "[secret]"
"""What a plan rendered without ``--show-secrets`` holds in place of a secret value."""

_SECRET_TYPE = "kubernetes:core/v1:Secret"
_CONFIGMAP_TYPE = "kubernetes:core/v1:ConfigMap"
_IN_CLUSTER_SUFFIXES = (".svc", ".svc.cluster.local", ".cluster.local")
_BCRYPT = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")
_CREDENTIAL_ATTRIBUTES = ("password", "bearer_token", "credentials", "client_secret")
_ENV_FUNCTIONS = {("sys", "env"), ("env",)}


@dataclass(frozen=True)
class Violation:
    """One broken invariant: its number (1-5), where, and a one-line explanation.

    ``redacted`` marks an invariant that could not be proven because the plan hides the value the
    proof needs (rendered without ``--show-secrets``): not a defect of the stack, but not a proof.
    """

    invariant: int
    component: str
    message: str
    redacted: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "component", _one_line(self.component))
        object.__setattr__(self, "message", _one_line(self.message))


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


def is_in_cluster_url(url: str) -> bool:
    """True when ``url``'s host can only be reached inside the cluster.

    A single-label host (a Service in the same namespace) or one ending in ``.svc``,
    ``.svc.cluster.local`` or ``.cluster.local``.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not host:
        return False
    return "." not in host or host.endswith(_IN_CLUSTER_SUFFIXES)


def _describe_url(url: str) -> str:
    """The URL without any user info, for messages."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname or ''}{parts.path}"
    except ValueError:
        return "an unparseable URL"


# --- invariants 1-4 ----------------------------------------------------------------------------


def check_workload_alloy(text: str, workload: str, central_url: str) -> list[Violation]:
    """Prove invariants 1-4 for one workload's Alloy configuration text.

    ``central_url`` is the control room's push URL the workload must write to. An empty list
    means every invariant holds.
    """
    try:
        graph = AlloyGraph.from_text(text)
    except AlloySyntaxError as exc:
        return _unprovable(f"the Alloy config does not parse: {exc}")
    violations: list[Violation] = []
    violations += _check_logs(graph)
    violations += _check_metrics(graph, central_url)
    violations += _check_auth(graph, workload, central_url)
    violations += _check_workload_labels(graph, workload)
    return sorted(violations, key=lambda v: (v.invariant, v.component, v.message))


def _unprovable(reason: str, component: str = "alloy", redacted: bool = False) -> list[Violation]:
    return [
        Violation(invariant, component, f"cannot prove: {reason}", redacted) for invariant in (1, 2, 3, 4)
    ]


def _check_logs(graph: AlloyGraph) -> list[Violation]:
    violations: list[Violation] = []
    for component_id in graph.of_kind("loki."):
        for target in graph.edges[component_id]:
            if target not in graph.blocks:
                violations.append(
                    Violation(1, component_id, f"forwards logs to {target}, which is not defined")
                )
            elif not graph.blocks[target].name.startswith("loki."):
                violations.append(
                    Violation(1, component_id, f"forwards logs to {target}, which is not a loki component")
                )
    for source in graph.of_kind("loki.source."):
        for node in sorted(graph.reachable(source)):
            block = graph.blocks.get(node)
            is_end = block is not None and block.name.startswith("loki.") and not graph.edges[node]
            if is_end and block is not None and block.name != "loki.write":
                violations.append(Violation(1, source, f"log pipeline ends in {node}, not a loki.write"))
    for writer in graph.of_kind("loki.write"):
        urls = endpoint_urls(graph.blocks[writer])
        if not urls:
            violations.append(Violation(1, writer, "has no endpoint"))
        for url in urls:
            if url is None:
                violations.append(
                    Violation(1, writer, "endpoint url is not a string literal; cannot prove it")
                )
            elif not is_in_cluster_url(url):
                violations.append(
                    Violation(1, writer, f"sends logs out of the cluster to {_describe_url(url)}")
                )
    return violations


def _check_metrics(graph: AlloyGraph, central_url: str) -> list[Violation]:
    violations: list[Violation] = []
    central: set[str] = set()
    local: set[str] = set()
    for writer in graph.of_kind("prometheus.remote_write"):
        urls = endpoint_urls(graph.blocks[writer])
        if not urls:
            violations.append(Violation(2, writer, "has no endpoint"))
        for url in urls:
            if url is None:
                violations.append(
                    Violation(2, writer, "endpoint url is not a string literal; cannot prove it")
                )
            elif url == central_url:
                central.add(writer)
            elif is_in_cluster_url(url):
                local.add(writer)
            else:
                violations.append(
                    Violation(
                        2,
                        writer,
                        f"endpoint {_describe_url(url)} is neither in-cluster nor the central "
                        f"endpoint {_describe_url(central_url)}",
                    )
                )
    if not central:
        violations.append(
            Violation(
                2,
                "prometheus.remote_write",
                f"no prometheus.remote_write has the central endpoint {_describe_url(central_url)}",
            )
        )
    if not local:
        violations.append(Violation(2, "prometheus.remote_write", "no prometheus.remote_write is in-cluster"))
    sources = graph.metric_sources()
    if not sources:
        violations.append(Violation(2, "prometheus.scrape", "the config has no metric source"))
    for source in sources:
        reached = graph.reachable(source)
        if central and not reached & central:
            violations.append(Violation(2, source, "does not reach the central remote_write"))
        if local and not reached & local:
            violations.append(Violation(2, source, "does not reach an in-cluster remote_write"))
    # An exporter is collected by the scrapes of its targets, which are checked as sources above;
    # one that nothing scrapes sends its metrics nowhere.
    for exporter in graph.of_kind("prometheus.exporter."):
        if not graph.scrapes_of(exporter):
            violations.append(
                Violation(
                    2, exporter, "no prometheus.scrape scrapes its targets; its metrics reach no remote_write"
                )
            )
    return violations


def _literal_parts(expr: Expr) -> bool:
    """True when a string literal is part of the value itself (not a key or a variable name)."""
    if isinstance(expr, Literal):
        return isinstance(expr.value, str)
    if isinstance(expr, Binary):
        return _literal_parts(expr.left) or _literal_parts(expr.right)
    if isinstance(expr, Unary):
        return _literal_parts(expr.operand)
    if isinstance(expr, Array):
        return any(_literal_parts(item) for item in expr.items)
    if isinstance(expr, Object):
        return any(_literal_parts(value) for _, value in expr.fields)
    if isinstance(expr, Call):
        if reference_chain(expr.function) in _ENV_FUNCTIONS:
            return False
        return any(_literal_parts(arg) for arg in expr.args)
    return False


def _check_auth(graph: AlloyGraph, workload: str, central_url: str) -> list[Violation]:
    violations: list[Violation] = []
    for writer in graph.of_kind("prometheus.remote_write"):
        for endpoint in graph.blocks[writer].blocks("endpoint"):
            if string_value(endpoint.attribute("url")) == central_url:
                violations += _check_central_endpoint(graph, writer, endpoint, workload)
    for component_id, block in graph.blocks.items():
        for nested in block.walk():
            for name in _CREDENTIAL_ATTRIBUTES:
                value = nested.attribute(name)
                if value is not None and _literal_parts(value):
                    violations.append(
                        Violation(3, component_id, f"{nested.name}.{name} is a literal in the text")
                    )
    return violations


def _check_central_endpoint(
    graph: AlloyGraph, writer: str, endpoint: Block, workload: str
) -> list[Violation]:
    auths = endpoint.blocks("basic_auth")
    if len(auths) != 1:
        found = "no basic_auth" if not auths else f"{len(auths)} basic_auth blocks"
        return [Violation(3, writer, f"central endpoint has {found}, expected one")]
    auth = auths[0]
    violations: list[Violation] = []
    username = string_value(auth.attribute("username"))
    if username != workload:
        shown = "not a string literal" if username is None else repr(username)
        violations.append(Violation(3, writer, f"basic_auth username is {shown}, expected {workload!r}"))
    password = auth.attribute("password")
    has_file = auth.attribute("password_file") is not None
    if password is None and not has_file:
        violations.append(Violation(3, writer, "basic_auth has no password or password_file"))
    elif (
        password is not None
        # A literal is reported by the credential scan; anything else must read the Secret.
        and not _literal_parts(password)
        and not graph.reads_kubernetes_secret(password)
    ):
        violations.append(
            Violation(3, writer, "basic_auth password is not read from a remote.kubernetes.secret")
        )
    return violations


def _check_workload_labels(graph: AlloyGraph, workload: str) -> list[Violation]:
    violations: list[Violation] = []
    for writer in graph.of_kind("prometheus.remote_write", "loki.write"):
        labels = graph.blocks[writer].attribute("external_labels")
        if not isinstance(labels, Object):
            violations.append(Violation(4, writer, "has no external_labels object"))
            continue
        value = labels.get("workload")
        if value is None:
            violations.append(Violation(4, writer, "external_labels has no workload label"))
        elif string_value(value) != workload:
            shown = "not a string literal" if string_value(value) is None else repr(string_value(value))
            violations.append(
                Violation(4, writer, f"external label workload is {shown}, expected {workload!r}")
            )
    return violations


# --- invariant 5 -------------------------------------------------------------------------------


def check_htpasswd(content: str, expected_users: Iterable[str]) -> list[Violation]:
    """Prove invariant 5: exactly one bcrypt ``user:hash`` line per expected user.

    Messages name users and line numbers, never hashes.
    """
    expected = set(expected_users)
    violations: list[Violation] = []
    counts: dict[str, int] = {}
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        user, colon, hashed = line.partition(":")
        if not colon or not user:
            violations.append(Violation(5, f"htpasswd line {number}", "is not a user:hash line"))
            continue
        counts[user] = counts.get(user, 0) + 1
        if counts[user] == 2:
            violations.append(Violation(5, f"htpasswd:{user}", "has more than one line"))
        if not _BCRYPT.fullmatch(hashed):
            violations.append(Violation(5, f"htpasswd:{user}", f"line {number} is not a bcrypt hash"))
        if user not in expected and counts[user] == 1:
            violations.append(Violation(5, f"htpasswd:{user}", "is not a workload in the inventory"))
    for user in sorted(expected - counts.keys()):
        violations.append(Violation(5, f"htpasswd:{user}", "workload has no htpasswd line"))
    return violations


# --- plans -------------------------------------------------------------------------------------


def _walk_values(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every string in a JSON-like value (keys included) with its path."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield f"{path}.{key}", str(key)
            yield from _walk_values(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for position, item in enumerate(value):
            yield from _walk_values(item, f"{path}[{position}]")


def check_no_secret_leak(
    plans: Mapping[str, dict[str, Any]], secrets: Iterable[str]
) -> list[tuple[str, Violation]]:
    """Find any of ``secrets`` anywhere in any plan (invariant 3), as ``(stack, violation)``.

    Messages say where a secret appears, never which one or what it is.
    """
    needles = [secret for secret in dict.fromkeys(secrets) if secret]
    found: list[tuple[str, Violation]] = []
    if not needles:
        return found
    for stack, plan in sorted(plans.items()):
        for key, value in plan.items():
            if key == "resources" and isinstance(value, list):
                for position, resource in enumerate(value):
                    name = (
                        str(resource.get("name", position))
                        if isinstance(resource, Mapping)
                        else str(position)
                    )
                    places = _walk_values(resource, f"resources[{position}]")
                    found += _leaks(stack, name, places, needles)
            else:
                found += _leaks(stack, key, _walk_values(value, key), needles)
    return found


def _leaks(
    stack: str, component: str, places: Iterable[tuple[str, str]], needles: list[str]
) -> list[tuple[str, Violation]]:
    return [
        (stack, Violation(3, component, f"a secret value appears in {path}"))
        for path, text in places
        if any(needle in text for needle in needles)
    ]


def _resources(plan: Mapping[str, Any], type_token: str) -> list[Mapping[str, Any]]:
    resources = plan.get("resources")
    if not isinstance(resources, list):
        return []
    return [r for r in resources if isinstance(r, Mapping) and r.get("type") == type_token]


def _inputs(resource: Mapping[str, Any]) -> Mapping[str, Any]:
    inputs = resource.get("inputs")
    return inputs if isinstance(inputs, Mapping) else {}


def _check_controlroom(plan: Mapping[str, Any], workloads: Iterable[str]) -> list[Violation]:
    for secret in _resources(plan, _SECRET_TYPE):
        metadata = _inputs(secret).get("metadata")
        if isinstance(metadata, Mapping) and metadata.get("name") == HTPASSWD_SECRET:
            break
    else:
        return [Violation(5, CONTROLROOM, f"the plan has no Secret named {HTPASSWD_SECRET}")]
    component = str(secret.get("name", HTPASSWD_SECRET))
    string_data = _inputs(secret).get("stringData")
    content = string_data.get(".htpasswd") if isinstance(string_data, Mapping) else string_data
    if content == REDACTED:
        return [
            Violation(
                5,
                component,
                "the plan is redacted; run `fleet verify` without a render directory, "
                "or render with --show-secrets",
                redacted=True,
            )
        ]
    if not isinstance(content, str):
        return [Violation(5, component, 'the Secret has no stringData[".htpasswd"] text')]
    return check_htpasswd(content, workloads)


def _alloy_configs(plan: Mapping[str, Any]) -> list[tuple[str, Any]]:
    configs: list[tuple[str, Any]] = []
    for configmap in _resources(plan, _CONFIGMAP_TYPE):
        data = _inputs(configmap).get("data")
        if isinstance(data, Mapping):
            for key, text in sorted(data.items()):
                if str(key).endswith(".alloy"):
                    configs.append((f"{configmap.get('name', 'configmap')}/{key}", text))
    return configs


def _check_workload_plan(stack: str, plan: Mapping[str, Any], central_url: str) -> list[Violation]:
    configs = _alloy_configs(plan)
    if not configs:
        return _unprovable("the plan has no ConfigMap with an .alloy config", stack)
    violations: list[Violation] = []
    for where, text in configs:
        if text == REDACTED:
            violations += _unprovable(f"{where} is redacted in the plan", where, redacted=True)
        elif not isinstance(text, str):
            violations += _unprovable(f"{where} is not text", where)
        else:
            violations += check_workload_alloy(text, stack, central_url)
    return violations


def check_plan_set(plans: Mapping[str, Any], workloads: Iterable[str]) -> dict[str, list[Violation]]:
    """The stacks of the inventory (the control room and ``workloads``) that have no plan.

    A stack without a plan proves nothing: each missing one gets the invariants it would prove.
    """
    missing: dict[str, list[Violation]] = {}
    if CONTROLROOM not in plans:
        missing[CONTROLROOM] = [Violation(5, CONTROLROOM, "cannot prove: no plan was rendered")]
    for workload in sorted(set(workloads)):
        if workload not in plans:
            missing[workload] = _unprovable("no plan was rendered", workload)
    return missing


def verify_plans(
    plans: Mapping[str, dict[str, Any]],
    workloads: Mapping[str, str],
    secrets: Iterable[str] = (),
) -> dict[str, list[Violation]]:
    """Prove the five invariants over rendered plans; every stack in ``plans`` gets a list.

    ``plans`` maps stack name to plan (the ``controlroom`` stack, and workload stacks named after
    their workload); ``workloads`` maps every inventory workload to its central push URL;
    ``secrets`` are values that must appear in no plan. Workloads without a plan are not
    checked (only the htpasswd of the control room covers every workload).
    """
    results: dict[str, list[Violation]] = {}
    for stack, plan in sorted(plans.items()):
        if stack == CONTROLROOM:
            results[stack] = _check_controlroom(plan, workloads)
        elif stack in workloads:
            results[stack] = _check_workload_plan(stack, plan, workloads[stack])
        else:
            results[stack] = [
                Violation(2, stack, "the stack is not a workload in the inventory; nothing to prove")
            ]
    for stack, violation in check_no_secret_leak(plans, secrets):
        results.setdefault(stack, []).append(violation)
    return results
