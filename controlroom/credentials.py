"""The workloads' credentials for the central Mimir: one random password per workload, a reader
password for the query path, and the gateway's two htpasswd Secrets built from their bcrypt hashes
(at a cost chosen for long random machine passwords: see ``BCRYPT_COST``).

The write-path htpasswd holds exactly the inventory's workloads (invariant 5 in docs/architecture.md); the
read path has its own file with only the reader, so a workload's credential cannot query and the
reader cannot write.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import bcrypt
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
"""40 letters and digits: 238 bits of randomness."""
BCRYPT_COST = 5
"""The gateway checks one bcrypt hash per request, so the cost is CPU per request, and with the
default 10 eight clients sending wrong passwords slowed every push tenfold. A high cost protects
guessable human passwords from an attacker holding the hashes; these passwords are 238-bit random
strings no amount of hashing speed makes guessable, so cost 5 (~3 ms a check instead of ~80 ms)
gives up nothing and keeps the gateway's CPU for pushes. ``$2a$`` is the prefix every crypt(3)
that nginx may call knows (glibc's libxcrypt on Debian, musl's on the Alpine gateway image)."""

_STANDARD_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_BCRYPT_B64 = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def htpasswd_hash(password: str, cost: int = BCRYPT_COST) -> str:
    """The bcrypt hash of ``password`` for an htpasswd line, the same for the same password.

    The salt is derived from the password (HMAC-SHA256), so re-rendering does not churn the
    Secret. A salt only defeats precomputed tables and tells equal passwords apart; neither
    applies to unique 238-bit random passwords.
    """
    digest = hmac.new(password.encode(), b"fleet-htpasswd-salt", hashlib.sha256).digest()[:16]
    salt = base64.b64encode(digest).decode()[:22].translate(str.maketrans(_STANDARD_B64, _BCRYPT_B64))
    return bcrypt.hashpw(password.encode(), f"$2a${cost:02d}${salt}".encode()).decode()


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

        hashes: dict[str, Any] = {w: p.result.apply(htpasswd_hash) for w, p in passwords.items()}
        write_file: pulumi.Output[str] = pulumi.Output.secret(pulumi.Output.all(**hashes).apply(htpasswd))
        reader_file: pulumi.Output[str] = pulumi.Output.secret(
            reader.result.apply(lambda password: htpasswd({READER_USERNAME: htpasswd_hash(password)}))
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
