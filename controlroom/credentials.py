"""The workloads' credentials for the central Mimir: one random password per workload, a reader
password for the query path, and the gateway's two htpasswd Secrets built from their bcrypt hashes.

The write-path htpasswd holds exactly the inventory's workloads (invariant 5 in docs/architecture.md); the
read path has its own file with only the reader, so a workload's credential cannot query and the
reader cannot write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

HTPASSWD_SECRET = "mimir-gateway-htpasswd"
READER_HTPASSWD_SECRET = "mimir-gateway-reader-htpasswd"
ROTATION_HTPASSWD_SECRET = "mimir-gateway-rotation-htpasswd"
"""The second write-path htpasswd the gateway asks when the first refuses: the next passwords of
workloads whose credential is being rotated (old and new both authenticate during the overlap).
Empty while nothing rotates."""
HTPASSWD_KEY = ".htpasswd"
READER_USERNAME = "fleet-reader"
PASSWORD_LENGTH = 40


def htpasswd(hashes: Mapping[str, str]) -> str:
    """htpasswd text: one ``user:bcrypt-hash`` line per user, sorted by user."""
    return "".join(f"{user}:{hashes[user]}\n" for user in sorted(hashes))


def _password(name: str, opts: pulumi.ResourceOptions) -> random.RandomPassword:
    # Letters and digits only: safe in htpasswd, URLs and Alloy strings without escaping.
    return random.RandomPassword(name, length=PASSWORD_LENGTH, special=False, opts=opts)


def _htpasswd_secret(
    resource_name: str,
    secret_name: str,
    namespace: pulumi.Input[str],
    text: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> k8s.core.v1.Secret:
    """A Secret the gateway mounts: ``text`` under the key ``.htpasswd``."""
    return k8s.core.v1.Secret(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=secret_name,
            namespace=namespace,
            labels={"app.kubernetes.io/managed-by": "fleet"},
        ),
        type="Opaque",
        string_data={HTPASSWD_KEY: text},
        opts=opts,
    )


@dataclass(frozen=True)
class CredentialsArgs:
    workloads: Sequence[str]
    """The inventory's workload names; each is a username and a Mimir tenant."""
    namespace: pulumi.Input[str]
    """Namespace of the Mimir gateway, where its htpasswd Secrets live."""


class Credentials(pulumi.ComponentResource):
    """Per-workload passwords, the reader password, and the gateway's htpasswd Secrets."""

    credentials: pulumi.Output[dict[str, dict[str, str]]]
    """Secret: ``{workload: {"username": workload, "password": ...}}``."""
    reader: pulumi.Output[dict[str, str]]
    """Secret: ``{"username": "fleet-reader", "password": ...}``."""
    reader_password: pulumi.Output[str]
    htpasswd_secret: k8s.core.v1.Secret
    reader_htpasswd_secret: k8s.core.v1.Secret
    rotation_htpasswd_secret: k8s.core.v1.Secret

    def __init__(self, name: str, args: CredentialsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fleet:controlroom:Credentials", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        workloads = sorted(set(args.workloads))
        # Names fixed by the contract with the workloads' StackReference and with `fleet verify`.
        passwords = {workload: _password(f"cred-{workload}", child) for workload in workloads}
        reader = _password("reader", child)

        hashes: dict[str, Any] = {workload: p.bcrypt_hash for workload, p in passwords.items()}
        write_file: pulumi.Output[str] = pulumi.Output.secret(pulumi.Output.all(**hashes).apply(htpasswd))
        reader_file: pulumi.Output[str] = pulumi.Output.secret(
            reader.bcrypt_hash.apply(lambda h: htpasswd({READER_USERNAME: h}))
        )
        self.htpasswd_secret = _htpasswd_secret(
            f"{name}-htpasswd", HTPASSWD_SECRET, args.namespace, write_file, child
        )
        self.reader_htpasswd_secret = _htpasswd_secret(
            f"{name}-reader-htpasswd", READER_HTPASSWD_SECRET, args.namespace, reader_file, child
        )
        # Always mounted, so the gateway's fallback never reads a missing file (a 500, not a 401).
        self.rotation_htpasswd_secret = _htpasswd_secret(
            f"{name}-rotation-htpasswd", ROTATION_HTPASSWD_SECRET, args.namespace, "", child
        )

        results: dict[str, Any] = {workload: p.result for workload, p in passwords.items()}
        self.credentials = pulumi.Output.secret(
            pulumi.Output.all(**results).apply(
                lambda found: {w: {"username": w, "password": found[w]} for w in sorted(found)}
            )
        )
        self.reader_password = pulumi.Output.secret(reader.result)
        self.reader = pulumi.Output.secret(
            reader.result.apply(lambda password: {"username": READER_USERNAME, "password": password})
        )
        self.register_outputs({"credentials": self.credentials, "reader": self.reader})
