"""Webhook notifications about rollouts.

fleet.yaml may name ``spec.notifications.webhook: URL``; when a rollout halts, fails or finishes
the manager POSTs one JSON document there (:func:`build_payload`, :func:`send_webhook`). A
notification is a courtesy: the caller logs a failed one as a warning and never fails a rollout
because of it.

The payload is plain data about the rollout and never carries secrets. The URL itself is treated
as one: chat webhooks (Slack, Teams, Discord) carry their token in the path, and a URL may carry
``user:password@``, sent as HTTP basic auth. Error messages name only the scheme and host.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from http.client import HTTPException
from typing import Any, Protocol

from fleet.errors import OperationError
from fleet.http import basic_auth, describe, mask_userinfo, no_redirect_opener, one_line

SCHEMA_VERSION = 1
EVENTS = ("started", "halted", "failed", "finished", "cancelled", "resumed")

_ERROR_LIMIT = 500
_OPENER = no_redirect_opener()


class StackResult(Protocol):
    """What a notification reports of one stack: the journal's :class:`~fleet.journal.StackState`
    has these (its status is a string enum)."""

    @property
    def stack(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def error(self) -> str | None: ...


def build_payload(
    *,
    rollout_id: str,
    kind: str,
    event: str,
    dry_run: bool,
    stacks: Sequence[StackResult],
    reason: str | None = None,
    started_by: str | None = None,
    started_at: datetime | None = None,
    finished_at: datetime | None = None,
) -> dict[str, Any]:
    """The JSON document announcing ``event`` for a rollout. Pure.

    ``kind`` is the rollout's kind (``"deploy"``, ``"upgrade"``, ``"destroy"``...), ``event``
    one of :data:`EVENTS`, ``reason`` a one-line why (a halt's gate failure, say). Stack errors
    and the reason are cut to one line of at most 500 characters, and any ``user:password@`` in
    a URL inside them is masked; they must otherwise already be free of secrets, as every
    fleet error message is. Times must be tz-aware and are written in UTC (ISO 8601).

    ``text`` is a one-line summary, which Slack- and Mattermost-style webhooks display as is.
    """
    if event not in EVENTS:
        raise ValueError(f"event {event!r} is not one of {', '.join(EVENTS)}")
    counts = Counter(str(outcome.status) for outcome in stacks)
    summary = ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
    clean_reason = _clean(reason)
    text = f"fleet {kind} rollout {rollout_id} {event}"
    if dry_run:
        text += " (dry run)"
    if summary:
        text += f": {summary}"
    if clean_reason:
        text += f" ({clean_reason})"
    return {
        "version": SCHEMA_VERSION,
        "rollout": rollout_id,
        "kind": kind,
        "event": event,
        "dry_run": dry_run,
        "text": text,
        "reason": clean_reason,
        "started_by": started_by,
        "started_at": _iso(started_at),
        "finished_at": _iso(finished_at),
        "counts": dict(sorted(counts.items())),
        "stacks": [
            {"stack": outcome.stack, "status": str(outcome.status), "error": _clean(outcome.error)}
            for outcome in stacks
        ],
    }


def validate_webhook_url(url: str) -> None:
    """Raise ValueError (one line, without the URL's secret parts) unless ``url`` is http(s)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("the webhook URL must be an http:// or https:// URL with a host")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError(f"the webhook URL for {parts.hostname} has an invalid port") from None


def send_webhook(
    url: str,
    payload: dict[str, Any],
    *,
    timeout_s: float = 10,
    retries: int = 2,
    backoff_s: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """POST ``payload`` as JSON to ``url``; raise OperationError (one line) if it fails.

    A connection failure, a timeout, HTTP 429 or a 5xx answer is retried up to ``retries``
    times, waiting ``backoff_s``, then twice that, and so on. Other answers outside 2xx fail at
    once; redirects are not followed (the POST and its credentials go to ``url`` only).
    """
    try:
        validate_webhook_url(url)
    except ValueError as error:
        raise OperationError(f"webhook not sent: {error}") from None
    target, headers, where = _split_credentials(url)
    headers["Content-Type"] = "application/json"
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    attempts = 1 + max(0, retries)
    problem = ""
    for attempt in range(1, attempts + 1):
        problem, retryable = _post_once(target, body, headers, timeout_s)
        if not problem:
            return
        if not retryable:
            break
        if attempt < attempts:
            sleep(backoff_s * 2 ** (attempt - 1))
    tries = "1 attempt" if attempt == 1 else f"{attempt} attempts"
    raise OperationError(f"webhook to {where} failed: {problem} ({tries})")


def _post_once(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> tuple[str, bool]:
    """One POST: ``("", False)`` on success, else a one-line problem and whether to retry."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _OPENER.open(request, timeout=timeout_s) as response:
            response.read()
    except urllib.error.HTTPError as error:
        retryable = error.code == 429 or error.code >= 500
        return f"HTTP {error.code} {one_line(str(error.reason), _ERROR_LIMIT)}".rstrip(), retryable
    except urllib.error.URLError as error:
        return f"cannot connect: {describe(error.reason, _ERROR_LIMIT)}", True
    except (TimeoutError, ConnectionError) as error:
        return f"cannot connect: {describe(error, _ERROR_LIMIT)}", True
    except HTTPException as error:
        return f"bad response: {type(error).__name__}", True
    return "", False


def _split_credentials(url: str) -> tuple[str, dict[str, str], str]:
    """The URL without user-info, the headers carrying it, and a printable ``scheme://host``."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    headers = {"User-Agent": "fleet-notify"}
    if parts.username is not None:
        user = urllib.parse.unquote(parts.username)
        password = urllib.parse.unquote(parts.password or "")
        headers["Authorization"] = basic_auth(user, password)
    target = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    return target, headers, f"{parts.scheme}://{netloc}"


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    return one_line(mask_userinfo(text), _ERROR_LIMIT)


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError(f"{moment.isoformat()} must be timezone-aware")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
