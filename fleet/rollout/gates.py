"""Health gates: is the control room receiving these workloads' series again?

After each wave of an upgrade the rollout asks the control-room Mimir, through the Prometheus HTTP
API it serves under ``/prometheus``, whether every upgraded workload's series are arriving. Every
series carries an external label naming its workload (``workload="<name>"``), so one instant
query answers for the whole wave::

    group by (workload) (count_over_time({workload=~"w1|w2"}[5m]))

returns one sample per workload that wrote anything in the last five minutes; the others are
*silent*. The gate never raises for what the server does: wrong credentials, an unreachable
server, a bad response and silent workloads all come back as a failed :class:`GateResult` whose
``reason`` is one line without secrets. Only invalid arguments raise (:class:`UserError`).

Only the standard library is used (``urllib``); HTTP and HTTPS both work, with the system's CA
certificates or a given CA file. Redirects are not followed, so credentials are only ever sent
to ``base_url``.
"""

from __future__ import annotations

import json
import logging
import re
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from http.client import HTTPException
from typing import Any, Literal, Required, TypedDict, Unpack

from fleet.errors import UserError
from fleet.http import DETAIL_LIMIT, basic_auth, describe, no_redirect_opener, one_line, without_userinfo
from fleet.inventory.durations import format_duration, parse_duration

log = logging.getLogger(__name__)

GateCause = Literal["silent", "credentials", "unreachable", "bad_response"]

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# Mimir's tenant IDs: at most 150 of these characters, and not "." or "..".
_TENANT_ID = re.compile(r"[a-zA-Z0-9!\-_.*'()]{1,150}")


@dataclass(frozen=True)
class GateResult:
    """The answer of a gate.

    ``silent`` names the workloads whose series are not arriving (empty unless ``cause`` is
    ``"silent"``). ``reason`` is one line for a log or a rollout record. ``cause`` is None when
    the gate passed, else what failed: ``"silent"`` (the server answered; some workloads are
    missing), ``"credentials"`` (HTTP 401/403), ``"unreachable"`` (connection refused, DNS,
    TLS, timeout) or ``"bad_response"`` (any other status, or a body that is not a Prometheus
    vector).
    """

    passed: bool
    silent: tuple[str, ...]
    reason: str
    cause: GateCause | None = None


def mimir_query_base(domain: str) -> str:
    """The Prometheus API root of the control-room Mimir at ``domain``: ``base_url`` for the gate."""
    return f"https://mimir.{domain}/prometheus"


def receiving_query(workloads: Sequence[str], window_s: float, *, label: str = "workload") -> str:
    """The PromQL query returning one sample per workload with samples in the last ``window_s``.

    Workload names are matched literally whatever characters they hold: every character other
    than a letter, digit or underscore is written as an RE2 ``\\x{...}`` escape.
    """
    if not _LABEL_NAME.fullmatch(label):
        raise UserError(f"{label!r} is not a Prometheus label name")
    pattern = "|".join(_literal_regex(name) for name in dict.fromkeys(workloads))
    # Inside a PromQL double-quoted string a backslash must itself be escaped.
    quoted = '"' + pattern.replace("\\", "\\\\") + '"'
    millis = max(1, round(window_s * 1000))
    return f"group by ({label}) (count_over_time({{{label}=~{quoted}}}[{millis}ms]))"


def check_receiving(
    base_url: str,
    workloads: Sequence[str],
    *,
    username: str,
    password: str,
    lookback: str | float = "5m",
    since: datetime | None = None,
    tenant_header: bool = False,
    label: str = "workload",
    timeout_s: float = 10,
    ca_file: str | None = None,
) -> GateResult:
    """Ask the Prometheus API at ``base_url`` whether every workload wrote a sample recently.

    ``base_url`` is the API root: ``https://mimir.<domain>/prometheus`` for Mimir (see
    :func:`mimir_query_base`), ``http://host:9090`` for a plain Prometheus. A workload passes
    when it has a sample within ``lookback`` of now, and, when ``since`` (tz-aware) is given,
    no older than ``since`` (compared with this machine's clock): pass the end of the wave as
    ``since`` so that samples written before the upgrade do not count.

    With ``tenant_header`` the query carries ``X-Scope-OrgID: w1|w2|...``, for a Mimir with
    tenant federation whose tenants are the workloads. ``ca_file`` (PEM) replaces the system's
    CA certificates for an HTTPS server with a private CA.
    """
    names = tuple(dict.fromkeys(workloads))
    if not names:
        return GateResult(True, (), "no workloads to check")
    url = _query_url(base_url)
    try:
        window_s = parse_duration(lookback) if isinstance(lookback, str) else float(lookback)
    except ValueError as error:
        raise UserError(f"lookback: {error}") from None
    if since is not None:
        if since.tzinfo is None:
            raise UserError("since must be timezone-aware")
        window_s = min(window_s, time.time() - since.timestamp())
    if window_s <= 0:
        silent = ", ".join(names)
        return GateResult(False, names, f"silent: {silent} (since is in the future)", "silent")
    headers = {
        "Authorization": basic_auth(username, password),
        "Accept": "application/json",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    if tenant_header:
        headers["X-Scope-OrgID"] = _tenant_ids(names)
    body = urllib.parse.urlencode({"query": receiving_query(names, window_s, label=label)})

    payload = _post(no_redirect_opener(ca_file), url, body.encode(), headers, timeout_s)
    if isinstance(payload, GateResult):
        return _scrubbed(payload, password)
    try:
        seen = _workloads_in_vector(payload, label)
    except ValueError as error:
        return _scrubbed(_failure("bad_response", f"bad response from {url}: {error}"), password)
    silent_names = tuple(name for name in names if name not in seen)
    if silent_names:
        return GateResult(False, silent_names, f"silent: {', '.join(silent_names)}", "silent")
    noun = "workload" if len(names) == 1 else "workloads"
    return GateResult(True, (), f"receiving series from {len(names)} {noun}")


class QueryOptions(TypedDict, total=False):
    """The keyword arguments of :func:`check_receiving`, which :func:`wait_until_receiving` passes on."""

    username: Required[str]
    password: Required[str]
    lookback: str | float
    since: datetime | None
    tenant_header: bool
    label: str
    timeout_s: float
    ca_file: str | None


def wait_until_receiving(
    base_url: str,
    workloads: Sequence[str],
    *,
    deadline_s: float,
    interval_s: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    **options: Unpack[QueryOptions],
) -> GateResult:
    """Run :func:`check_receiving` (with ``options``) every ``interval_s`` until it passes or
    ``deadline_s`` passes.

    Returns the first passing result, or the last failing one with how long it waited. Wrong
    credentials end the wait at once: waiting does not fix them. ``clock`` and ``sleep`` are
    injectable for tests.
    """
    started = clock()
    checks = 0
    while True:
        result = check_receiving(base_url, workloads, **options)
        checks += 1
        if result.passed or result.cause == "credentials":
            return result
        elapsed = clock() - started
        remaining = deadline_s - elapsed
        if remaining <= 0:
            noun = "check" if checks == 1 else "checks"
            waited = f"after {format_duration(elapsed)} and {checks} {noun}"
            return replace(result, reason=f"{result.reason} ({waited})")
        log.debug("gate not passed yet (%s); next check in %.0fs", result.reason, interval_s)
        sleep(min(interval_s, remaining))


def _literal_regex(text: str) -> str:
    return "".join(
        ch if ch.isascii() and (ch.isalnum() or ch == "_") else f"\\x{{{ord(ch):x}}}" for ch in text
    )


def _tenant_ids(names: tuple[str, ...]) -> str:
    for name in names:
        if not _TENANT_ID.fullmatch(name) or name in (".", ".."):
            raise UserError(f"workload {name!r} is not a valid Mimir tenant ID")
    return "|".join(names)


def _query_url(base_url: str) -> str:
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"{without_userinfo(base_url)!r} is not an http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise UserError(f"{without_userinfo(base_url)!r}: pass the credentials separately, not in the URL")
    return base_url.rstrip("/") + "/api/v1/query"


def _post(
    opener: urllib.request.OpenerDirector,
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout_s: float,
) -> Any:
    """POST and decode the JSON answer; a failed :class:`GateResult` for any failure."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with opener.open(request, timeout=timeout_s) as response:
            raw = response.read()
    except urllib.error.HTTPError as error:
        detail = _error_detail(error.read())
        if error.code in (401, 403):
            return _failure("credentials", f"{url} rejected the credentials (HTTP {error.code}{detail})")
        return _failure("bad_response", f"bad response from {url}: HTTP {error.code}{detail}")
    except urllib.error.URLError as error:
        return _failure("unreachable", f"cannot reach {url}: {describe(error.reason)}")
    except (TimeoutError, ssl.SSLError, ConnectionError) as error:
        return _failure("unreachable", f"cannot reach {url}: {describe(error)}")
    except HTTPException as error:
        return _failure("bad_response", f"bad response from {url}: {type(error).__name__}")
    try:
        return json.loads(raw)
    except ValueError:
        return _failure("bad_response", f"bad response from {url}: not JSON")


def _workloads_in_vector(payload: Any, label: str) -> set[str]:
    """The workloads named by a successful instant-vector response; ValueError if it is not one."""
    if not isinstance(payload, dict) or payload.get("status") != "success":
        error = payload.get("error") if isinstance(payload, dict) else None
        raise ValueError(f"query failed: {one_line(str(error))}" if error else "no success status")
    data = payload.get("data")
    if not isinstance(data, dict) or data.get("resultType") != "vector":
        raise ValueError("result is not an instant vector")
    seen: set[str] = set()
    for sample in data.get("result") or []:
        try:
            name = sample["metric"][label]
            value = float(sample["value"][1])
        except (KeyError, IndexError, TypeError, ValueError):
            raise ValueError(f"a sample without a {label} label and a value") from None
        if value > 0:
            seen.add(str(name))
    return seen


def _error_detail(raw: bytes) -> str:
    """``": <message>"`` from a Prometheus error body, or from a short plain-text one."""
    try:
        message = json.loads(raw).get("error")
    except (ValueError, AttributeError):
        message = raw.decode("utf-8", "replace") if len(raw) <= DETAIL_LIMIT else None
    return f": {one_line(str(message))}" if message and str(message).strip() else ""


def _failure(cause: GateCause, reason: str) -> GateResult:
    return GateResult(False, (), one_line(reason), cause)


def _scrubbed(result: GateResult, password: str) -> GateResult:
    """Belt and braces: a server that echoes the password back must not put it in a reason."""
    if password and password in result.reason:
        return replace(result, reason=result.reason.replace(password, "***"))
    return result
