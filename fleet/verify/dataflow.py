"""The data-path proof of one workload: invariants 1-4 (docs/architecture.md) from its Alloy text.

The proof reads the Alloy text a workload will run, parses it into its component graph
(:mod:`fleet.verify.graph`) and walks the data path (``forward_to`` and other references to a
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

Invariant 5 (the control room's htpasswd) and the search for leaked secrets span several plans:
:mod:`fleet.verify.plans`.

Results are values (a list of :class:`Violation`), never exceptions: a configuration that cannot
be parsed is itself a violation.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from fleet.verify.graph import AlloyGraph, endpoint_urls, string_value
from kit.alloy.syntax import (
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

__all__ = ["Violation", "check_events_alloy", "check_workload_alloy", "is_in_cluster_url", "unprovable"]


_IN_CLUSTER_SUFFIXES = (".svc", ".svc.cluster.local", ".cluster.local")
_CREDENTIAL_ATTRIBUTES = ("password", "bearer_token", "credentials", "client_secret")
_ENV_FUNCTIONS = {("sys", "env"), ("env",)}


@dataclass(frozen=True)
class Violation:
    """One broken invariant: its number (1-5) or name (the object proofs, e.g. ``references``),
    where, and a one-line explanation.

    ``redacted`` marks an invariant that could not be proven because the plan hides the value the
    proof needs (rendered without ``--show-secrets``): not a defect of the stack, but not a proof.
    """

    invariant: int | str
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
        return unprovable(f"the Alloy config does not parse: {exc}")
    violations: list[Violation] = []
    violations += _check_logs(graph)
    violations += _check_metrics(graph, central_url)
    violations += _check_auth(graph, workload, central_url)
    violations += _check_workload_labels(graph, workload)
    return sorted(violations, key=lambda v: (v.invariant, v.component, v.message))


def check_events_alloy(text: str, workload: str) -> list[Violation]:
    """Prove the events collector's configuration: logs only, so invariants 1 (its logs end in
    in-cluster ``loki.write`` components), 3 (no credential literal) and 4 (every writer labels
    with the workload) hold, it reads Kubernetes events, and it has no metric component (its
    metrics would bypass invariant 2's proof, which belongs to the workload's main Alloy)."""
    try:
        graph = AlloyGraph.from_text(text)
    except AlloySyntaxError as exc:
        return [
            Violation(invariant, "alloy-events", f"cannot prove: the Alloy config does not parse: {exc}")
            for invariant in (1, 3, 4)
        ]
    violations = _check_logs(graph) + _check_workload_labels(graph, workload)
    violations += _check_credential_literals(graph)
    if not graph.of_kind("loki.source.kubernetes_events"):
        violations.append(Violation(1, "alloy-events", "reads no loki.source.kubernetes_events"))
    for component in graph.of_kind("prometheus."):
        violations.append(
            Violation(2, component, "the events collector sends logs only; metrics belong to the main Alloy")
        )
    return sorted(violations, key=lambda v: (str(v.invariant), v.component, v.message))


def unprovable(reason: str, component: str = "alloy", redacted: bool = False) -> list[Violation]:
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
    return violations + _check_credential_literals(graph)


def _check_credential_literals(graph: AlloyGraph) -> list[Violation]:
    violations: list[Violation] = []
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
