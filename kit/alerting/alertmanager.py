"""The Alertmanager configuration built from ``spec.alerting``, and how its secrets reach the pods.

The configuration never holds a secret: every secret field is Alertmanager's ``*_file`` variant
(``url_file``, ``api_url_file``, ``routing_key_file``, ``api_key_file``, ``auth_password_file``,
``credentials_file``) pointing into :data:`SECRETS_DIR`. The files come from one projected volume
(:func:`secrets_volume`): the values fleet read from the environment at rollout time
(:func:`environment_secrets`, written into the Secret :data:`ENV_SECRET`) and keys of Secrets that
already exist in the namespace (kept there by a secret store), each under the reference's id.

Mimir accepts ``*_file`` fields only in configurations it reads from a file (its fallback
configuration or local storage), never in ones uploaded through its API; fleet installs the
configuration in Mimir's read-only ``local`` Alertmanager store, as the rule-owning tenant's
(``controlroom.alerting`` says why not the fallback).

An offline render (``fleet render``, ``fleet verify``, dry runs) needs no real secret: inside
:func:`offline_placeholders` an unset ``env`` reference reads as :func:`placeholder` (a marked,
obviously fake value, still a secret Output, so plans redact it). Everywhere else, a real rollout
included, an unset one is :class:`MissingSecret`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from fleet.inventory.models import (
    UNROUTED_RECEIVER,
    AlertRouting,
    EmailReceiver,
    OpsgenieReceiver,
    PagerDutyReceiver,
    Receiver,
    SecretRef,
    SlackReceiver,
    WebhookReceiver,
)
from kit.alerting.rules import dump_yaml

__all__ = [
    "ENV_SECRET",
    "SECRETS_DIR",
    "EnvSecret",
    "MissingSecret",
    "alertmanager_config",
    "alertmanager_yaml",
    "env_secrets",
    "environment_secrets",
    "offline_placeholders",
    "placeholder",
    "secret_refs",
    "secrets_volume",
    "unset_env_secrets",
]

SECRETS_DIR = "/etc/fleet/alertmanager-secrets"
"""Where Alertmanager finds the receivers' secrets, one file per reference id."""
ENV_SECRET = "fleet-alertmanager-receivers"
"""The Secret holding the receiver secrets fleet read from the environment."""
SECRETS_VOLUME = "fleet-receiver-secrets"

# Alerts about the hub's own ingestion explain the workloads' silence: do not page for both.
_INHIBIT = (
    ("FleetHubPushErrors", ("FleetWorkloadSilent",)),
    ("FleetGatewayUnauthorized", ("FleetWorkloadSilent",)),
)


class MissingSecret(ValueError):
    """A receiver's secret is not where its reference says (the message never holds a value)."""


_OFFLINE: ContextVar[bool] = ContextVar("fleet_offline_secret_placeholders", default=False)


@contextmanager
def offline_placeholders() -> Iterator[None]:
    """Within this block (an offline render), an unset ``env`` secret reads as :func:`placeholder`
    instead of raising :class:`MissingSecret`."""
    token = _OFFLINE.set(True)
    try:
        yield
    finally:
        _OFFLINE.reset(token)


def placeholder(variable: str) -> str:
    """The value an offline render uses for the unset environment variable ``variable``."""
    return f"fleet-offline-placeholder:{variable}-is-not-set"


@dataclass(frozen=True)
class EnvSecret:
    """One ``env`` reference of the receivers: where it is written and the variable it reads."""

    ref_id: str
    field: str
    """Its place in ``spec.alerting``, e.g. ``spec.alerting.receivers[oncall].pagerduty.routing_key``."""
    variable: str


def env_secrets(routing: AlertRouting) -> list[EnvSecret]:
    """Every ``env`` reference of ``routing``'s receivers, in the order the file lists them."""
    found: list[EnvSecret] = []
    for receiver in routing.receivers:
        for kind, integration in receiver.integrations().items():
            for field_name, value in integration:
                if isinstance(value, SecretRef) and value.env is not None:
                    found.append(
                        EnvSecret(
                            ref_id=receiver.secret_id(kind, field_name),
                            field=f"spec.alerting.receivers[{receiver.name}].{kind}.{field_name}",
                            variable=value.env,
                        )
                    )
    return found


def unset_env_secrets(routing: AlertRouting, environ: Mapping[str, str]) -> list[EnvSecret]:
    """The ``env`` references whose variable is unset or empty in ``environ``."""
    return [secret for secret in env_secrets(routing) if not environ.get(secret.variable, "")]


def secret_refs(routing: AlertRouting) -> dict[str, SecretRef]:
    """Every secret reference of ``routing``'s receivers, by id (``<receiver>-<kind>-<field>``)."""
    refs: dict[str, SecretRef] = {}
    for receiver in routing.receivers:
        refs.update(receiver.secrets())
    return refs


def _file(receiver: Receiver, kind: str, field: str) -> str:
    return f"{SECRETS_DIR}/{receiver.secret_id(kind, field)}"


def _webhook(receiver: Receiver, webhook: WebhookReceiver) -> dict[str, Any]:
    config: dict[str, Any] = {"send_resolved": True}
    if isinstance(webhook.url, SecretRef):
        config["url_file"] = _file(receiver, "webhook", "url")
    else:
        config["url"] = webhook.url
    if webhook.bearer_token is not None:
        config["http_config"] = {
            "authorization": {
                "type": "Bearer",
                "credentials_file": _file(receiver, "webhook", "bearer_token"),
            }
        }
    return config


def _slack(receiver: Receiver, slack: SlackReceiver) -> dict[str, Any]:
    config: dict[str, Any] = {"send_resolved": True, "api_url_file": _file(receiver, "slack", "api_url")}
    if slack.channel is not None:
        config["channel"] = slack.channel
    return config


def _pagerduty(receiver: Receiver, _: PagerDutyReceiver) -> dict[str, Any]:
    return {"send_resolved": True, "routing_key_file": _file(receiver, "pagerduty", "routing_key")}


def _opsgenie(receiver: Receiver, opsgenie: OpsgenieReceiver) -> dict[str, Any]:
    config: dict[str, Any] = {"send_resolved": True, "api_key_file": _file(receiver, "opsgenie", "api_key")}
    if opsgenie.api_url is not None:
        config["api_url"] = opsgenie.api_url
    return config


def _email(receiver: Receiver, email: EmailReceiver) -> dict[str, Any]:
    config: dict[str, Any] = {
        "send_resolved": True,
        "to": email.to,
        "from": email.sender,
        "smarthost": email.smarthost,
        "require_tls": email.require_tls,
    }
    if email.username is not None:
        config["auth_username"] = email.username
        config["auth_password_file"] = _file(receiver, "email", "password")
    return config


def _receiver(receiver: Receiver) -> dict[str, Any]:
    config: dict[str, Any] = {"name": receiver.name}
    if receiver.webhook is not None:
        config["webhook_configs"] = [_webhook(receiver, receiver.webhook)]
    if receiver.slack is not None:
        config["slack_configs"] = [_slack(receiver, receiver.slack)]
    if receiver.pagerduty is not None:
        config["pagerduty_configs"] = [_pagerduty(receiver, receiver.pagerduty)]
    if receiver.opsgenie is not None:
        config["opsgenie_configs"] = [_opsgenie(receiver, receiver.opsgenie)]
    if receiver.email is not None:
        config["email_configs"] = [_email(receiver, receiver.email)]
    return config


def alertmanager_config(routing: AlertRouting) -> dict[str, Any]:
    """Alertmanager's configuration for ``routing``: the route tree, the receivers, inhibitions."""
    routes = []
    for route in routing.routes:
        entry: dict[str, Any] = {"receiver": route.receiver}
        if route.matchers:
            entry["matchers"] = list(route.matchers)
        if route.group_by is not None:
            entry["group_by"] = list(route.group_by)
        if route.continue_:
            entry["continue"] = True
        routes.append(entry)
    top: dict[str, Any] = {
        "receiver": routing.receiver or UNROUTED_RECEIVER,
        "group_by": list(routing.group_by),
        "group_wait": routing.group_wait,
        "group_interval": routing.group_interval,
        "repeat_interval": routing.repeat_interval,
    }
    if routes:
        top["routes"] = routes
    receivers = [_receiver(receiver) for receiver in routing.receivers]
    if routing.receiver is None:
        receivers.insert(0, {"name": UNROUTED_RECEIVER})
    inhibit = [
        {
            "source_matchers": [f'alertname="{source}"'],
            "target_matchers": [f'alertname=~"{"|".join(targets)}"'],
        }
        for source, targets in _INHIBIT
    ]
    return {"route": top, "receivers": receivers, "inhibit_rules": inhibit}


def alertmanager_yaml(routing: AlertRouting) -> str:
    """:func:`alertmanager_config` as the YAML file Alertmanager reads."""
    return dump_yaml(alertmanager_config(routing))


def environment_secrets(
    routing: AlertRouting, environ: Mapping[str, str], source: str = "fleet.yaml"
) -> dict[str, str]:
    """The values of ``routing``'s ``env`` references, by reference id, read from ``environ``.

    Raises :class:`MissingSecret` naming ``source`` (the file), the field and the variable when
    one is unset or empty, except inside :func:`offline_placeholders`, where it reads as
    :func:`placeholder`.
    """
    values: dict[str, str] = {}
    for secret in env_secrets(routing):
        value = environ.get(secret.variable, "")
        if not value:
            if not _OFFLINE.get():
                raise MissingSecret(
                    f"{source} {secret.field}: {secret.variable} is not set where this stack runs; "
                    "export it (or use kubernetes: <secret>/<key>)"
                )
            value = placeholder(secret.variable)
        values[secret.ref_id] = value
    return values


def secrets_volume(routing: AlertRouting) -> dict[str, Any] | None:
    """The projected volume that puts every receiver secret at ``SECRETS_DIR/<id>``; None without secrets."""
    from_env: list[dict[str, str]] = []
    existing: dict[str, list[dict[str, str]]] = {}
    for ref_id, ref in secret_refs(routing).items():
        if ref.env is not None:
            from_env.append({"key": ref_id, "path": ref_id})
        else:
            assert ref.kubernetes is not None
            name, _, key = ref.kubernetes.partition("/")
            existing.setdefault(name, []).append({"key": key, "path": ref_id})
    sources: list[dict[str, Any]] = []
    if from_env:
        sources.append({"secret": {"name": ENV_SECRET, "items": from_env}})
    sources += [{"secret": {"name": name, "items": items}} for name, items in sorted(existing.items())]
    if not sources:
        return None
    return {"name": SECRETS_VOLUME, "projected": {"sources": sources, "defaultMode": 0o440}}


def secrets_mount() -> dict[str, Any]:
    """Where :func:`secrets_volume` is mounted in the Alertmanager container."""
    return {"name": SECRETS_VOLUME, "mountPath": SECRETS_DIR, "readOnly": True}
